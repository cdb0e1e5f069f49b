// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import Foundation
import PartdCompanions
import PartdServer
import PartdShuffle
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

    @Test("the typed-array example does what the README says")
    func typedArrays() async throws {
        let path = scratchPath("readme-arrays")
        defer { removeTree(path) }
        let arrays = ArrayStore(over: CompressedStore(.lz4, over: try DirectoryStore(path: path)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for step in 0..<4 {
                group.addTask {
                    for p in 0..<8 {
                        let x = try NDArray<Float>([Float](repeating: Float(step), count: 100 * 4), shape: [100, 4])
                        let ids = StringArray((0..<100).map { "step \(step) row \($0)" })
                        let times = NDArray((0..<100).map { Timestamp<Microseconds>(Int64(step * 100 + $0)) })
                        try arrays.append(["x-\(p)": x])
                        try arrays.append(["ids-\(p)": ids])
                        try arrays.append(["at-\(p)": times])
                    }
                }
            }
            try await group.waitForAll()
        }
        let x = try arrays.get("x-0", as: NDArray<Float>.self)
        #expect(x.shape == [400, 4])
        #expect(Set(x.elements) == [0, 1, 2, 3])
        let ids = try arrays.get("ids-0", as: StringArray.self)
        #expect(ids.count == 400 && Set(ids).count == 400)
        let times = try arrays.get("at-7", as: NDArray<Timestamp<Microseconds>>.self)
        #expect(times.elements.map(\.rawValue).sorted() == Array(0..<400))
        let error = #expect(throws: PartdError.self) { try arrays.append(["x-0": NDArray<Float>([1, 2, 3])]) }
        #expect(error?.code == .typeMismatch && error?.key == "x-0")
    }

    @Test("the shuffle, server and companion examples do what the README says")
    func laterLayers() throws {
        let chunks = (0..<3).map { c in
            try! Table([Column("id", (0..<100).map { Int64(($0 * 7 + c) % 13) }), Column("x", (0..<100).map { Double($0) })])
        }
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 64, options: ShuffleOptions(memory: .megabytes(256)))
        try shuffle.add(contentsOf: chunks)
        let part = try shuffle.partition(7)
        #expect(part.schema == chunks[0].schema)
        let sums = try shuffle.groupBy(["id"]).aggregate([.sum("x"), .count, .mean("x")])
        #expect(sums.rowCount == 13)
        try shuffle.close()

        let orderChunks = (0..<2).map { c in
            try! Table([Column("customer", (0..<50).map { Int64(($0 + c) % 9) }), Column("amount", (0..<50).map { Double($0) })])
        }
        let customerChunks = [try Table([Column("customer", (0..<6).map(Int64.init)), Column("name", strings: ["a", "b", "c", "d", "e", "f"])])]
        let orders = try Shuffle<Table>(by: ["customer"], partitions: 64)
        let customers = try Shuffle<Table>(by: ["customer"], partitions: 64)
        try orders.add(contentsOf: orderChunks)
        try customers.add(contentsOf: customerChunks)
        let joined = try orders.join(customers, on: ["customer"], kind: .left)
        #expect(joined.rowCount == 100 && joined.columns.map(\.name) == ["customer", "amount", "name"])
        // Customers 0-5 of 0-8 have names: 35 of each chunk's 50 orders.
        #expect((0..<100).filter { joined["name"]!.isValid($0) }.count == 70)

        let socket = scratchPath("readme.sock")
        let server = try StoreServer.start(serving: MemoryStore(), on: [.unixSocket(socket)])
        defer { try? server.shutdown() }
        let store = try RemoteStore(connectingTo: .unixSocket(socket))
        try store.append(["part-0": [1, 2, 3]])
        let tables = TableStore(over: store)
        try tables.append(["t": chunks[0]])
        #expect(try tables.get("t") == chunks[0])

        let cachePath = scratchPath("readme-cache")
        defer { removeTree(cachePath) }
        let cache = try SpillDictionary<PartdKey, [Double]>(path: cachePath, memoryBudget: .megabytes(64))
        try cache.set([1, 2, 3], for: .tuple("run", 7))
        #expect(try cache[.tuple("run", 7)] == [1, 2, 3])
        try cache.flush()

        let dbPath = scratchPath("readme-db")
        defer { removeTree(dbPath) }
        let db = try DatasetDirectory(path: dbPath)
        try db.entry("run-7").write([0.5, 0.25], metadata: ["model": "lstm", "epochs": 12])
        #expect(try db.entry("run-7").metadata()["model"] == "lstm")
    }

    /// Every `swift` block of the README, type-checked with the package's built modules
    /// (names a block uses without defining, such as `chunks`, are declared first), as the top-level code
    /// of a user's `main.swift`, warnings as errors: a user copies them into a package of their own, which
    /// shows warnings (a result left unused was one).
    @Test("every Swift code block of the README compiles")
    func readmeBlocksCompile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        let blocks = readme.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        try #require(blocks.count >= 5)
        let fm = FileManager.default
        var arguments = ["swiftc", "-typecheck", "-warnings-as-errors", "-swift-version", "6", "-I", productsDirectory + "/Modules"]
        var maps: [String] = []
        // (*-tool.build holds SwiftPM's host-tool copies of the same modules, built for the macro: skipped)
        for entry in (try? fm.contentsOfDirectory(atPath: productsDirectory)) ?? []
        where entry.hasSuffix(".build") && !entry.hasSuffix("-tool.build") {
            let map = productsDirectory + "/" + entry + "/module.modulemap"
            if fm.fileExists(atPath: map) { maps.append(map) }
        }
        for directory in [root + "/Sources", root + "/.build/checkouts"] {
            let enumerator = fm.enumerator(atPath: directory)
            while let path = enumerator?.nextObject() as? String {
                if path.hasSuffix("module.modulemap"), !path.contains(".build/") { maps.append(directory + "/" + path) }
            }
        }
        for map in maps { arguments += ["-Xcc", "-fmodule-map-file=" + map] }
        // The @MessagePackRecord macro's plugin, built with the tests.
        arguments += ["-load-plugin-executable", productsDirectory + "/PartdRecordMacros-tool#PartdRecordMacros"]
        for (index, block) in blocks.enumerated() {
            // Built without the macro's targets (PARTD_WITHOUT_MACROS=1), a block using them cannot be type-checked.
            if block.contains("import PartdRecords"), !fm.fileExists(atPath: productsDirectory + "/Modules/PartdRecords.swiftmodule") {
                continue
            }
            let prelude = block.contains("hunks")
                ? "import PartdTyped\nlet chunks: [Table] = [], orderChunks: [Table] = [], customerChunks: [Table] = []\n" : ""
            let file = scratchPath("readme-block-\(index)") + ".swift"
            defer { try? fm.removeItem(atPath: file) }
            try (prelude + block).write(toFile: file, atomically: true, encoding: .utf8)
            let result = try run("/usr/bin/env", arguments + [file])
            #expect(result.status == 0, "README block \(index + 1) does not compile:\n\(block)\n\(result.output)")
        }
    }
}
