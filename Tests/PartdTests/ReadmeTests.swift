// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import PartdTyped
import Testing

@Suite("README")
struct ReadmeTests {
    @Test("the four-step example does what the README says")
    func fourSteps() throws {
        let path = scratchPath("readme")
        defer { removeTree(path) }
        // 1. A store: in memory, on a directory, or in memory spilling to a directory.
        let store = SpillingStore(spillingTo: try DirectoryStore(path: path), availableMemory: .megabytes(64))
        // 2. Append batches: each key's bytes go on the end of what it holds.
        try store.append(["part-0": [1, 2, 3], "part-1": [4]])
        try store.append(["part-0": [5, 6]])
        // 3. Read a key back whole (a missing key reads as []).
        let bytes = try store.get("part-0")
        #expect(bytes == [1, 2, 3, 5, 6])
        // 4. List, measure, delete, drop.
        #expect(try store.keys() == ["part-0", "part-1"])
        #expect(try store.byteCount(of: "part-1") == 1)
        try store.drop()
        #expect(try store.keys() == [])
        // Compression wraps any store.
        let compressed = CompressedStore(.blosc(BloscSettings(typeSize: 8)), over: store)
        try compressed.append(["x": [UInt8](repeating: 7, count: 10_000)])
        #expect(try compressed.get("x") == [UInt8](repeating: 7, count: 10_000))
    }

    @Test("the typed-store example does what the README says")
    func typedStores() throws {
        let path = scratchPath("readme-typed")
        defer { removeTree(path) }
        let tables = TableStore(over: try DirectoryStore(path: path))
        let t = try Table([Column("id", [1, 2, 3] as [Int64]), Column("name", categorical: ["a", "b", "a"])])
        try tables.append(["p0": t.slice(0..<2), "p1": t.slice(2..<3)])
        let names = try tables.get("p0", columns: ["name"])
        #expect(names.columns.map(\.name) == ["name"])
        #expect(names.rowCount == 2)
        #expect(Array(names["name"]!.categorical!) == ["a", "b"])
    }
}
