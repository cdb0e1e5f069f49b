// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompanions
import PartdCompression
import PartdShuffle
import PartdTyped
import Synchronization
import Testing

/// What a package that depends on swift-partd met when it was written from the README alone.
@Suite("a user's package")
struct ConsumerTests {
    @Test("interpolated strings are keys, as in store.append([\"part-\\(i)\": bytes])")
    func interpolatedKeys() throws {
        let store = MemoryStore()
        for i in 0..<3 {
            try store.append(["part-\(i)": [UInt8(i)]])
        }
        let i = 1
        #expect(try store.get("part-\(i)") == [1])
        #expect(try store.keys() == ["part-0", "part-1", "part-2"])
        let key: PartdKey = "part-\(i)"
        #expect(key == PartdKey("part-1") && key.description == "\"part-1\"")
        #expect(PartdKey.tuple("run-\(i)", 7) == .tuple("run-1", 7))
        // Nested key lists and sort keys too.
        let tree: KeyTree = ["part-\(i)", ["part-\(i + 1)"]]
        #expect(tree == ["part-1", ["part-2"]])
        #expect(try store.get(nested: tree) == store.get(nested: ["part-1", ["part-2"]]))
        let table = try Table([Column("v1", [3, 1, 2] as [Int64])])
        #expect(try table.sorted(by: ["v\(i)"])["v1"]!.values(as: Int64.self) == [1, 2, 3])
    }

    @Test("interpolated strings are metadata values")
    func interpolatedMetadata() throws {
        let path = scratchPath("consumer-metadata")
        defer { removeTree(path) }
        let db = try DatasetDirectory(path: path)
        let run = 7
        try db.entry("run-\(run)").write([0.5], metadata: ["name": "run-\(run)", "epochs": 12])
        #expect(try db.entry("run-7").metadata()["name"] == .string("run-7"))
    }
}

extension ConsumerTests {
    @Test("string and categorical columns from [String] values, not only literals")
    func stringColumnsFromArrays() throws {
        let names = (0..<3).map { "n\($0)" }
        let table = try Table([Column("name", strings: names), Column("city", categorical: ["a", "b", "a"].map { $0 })])
        #expect(table["name"]!.strings.map(Array.init) == ["n0", "n1", "n2"])
        #expect(table["city"]!.categorical.map(Array.init) == ["a", "b", "a"])
        #expect(Column("x", strings: names) == Column("x", strings: StringArray(names)))
        // Literals still make the same columns.
        #expect(Column("x", strings: ["a"]) == Column("x", strings: StringArray(["a"])))
        #expect(Column("x", categorical: ["a"]) == Column("x", categorical: CategoricalArray(["a"])))
    }
}

extension ConsumerTests {
    @Test("tables, arrays, string arrays, timestamps and JSON metadata print what they hold, not their storage")
    func descriptions() throws {
        let t = try Table([Column("id", [1, 2, 3] as [Int64]), Column("name", categorical: ["a", "b", "a"])])
        #expect("\(t)" == "3 rows (id: <i8, name: categorical)")
        #expect("\(t.slice(0..<1))" == "1 row (id: <i8, name: categorical)")
        #expect("\(StringArray(["a", "b"]))" == #"["a", "b"]"#)
        #expect("\(t["name"]!.categorical!)" == #"["a", "b", "a"]"#)
        // Arrays as their elements (and shape); timestamps as NumPy prints datetime64 (values from numpy 2).
        #expect("\(NDArray<Double>([1, 2]))" == "[1.0, 2.0]")
        #expect("\(try NDArray<Int32>([1, 2, 3, 4], shape: [2, 2]))" == "[1, 2, 3, 4] (shape [2, 2])")
        #expect("\(Timestamp<Microseconds>(1_733_475_000_123_456))" == "2024-12-06T08:50:00.123456")
        #expect("\(Timestamp<Microseconds>(-1))" == "1969-12-31T23:59:59.999999")
        #expect("\(Timestamp<Seconds>(0))" == "1970-01-01T00:00:00")
        #expect("\(Timestamp<Milliseconds>(-94_608_001))" == "1969-12-30T21:43:11.999")
        #expect("\(Timestamp<Seconds>(951_782_400))" == "2000-02-29T00:00:00")
        #expect("\(Timestamp<Seconds>(253_402_300_799))" == "9999-12-31T23:59:59")
        #expect("\(Timestamp<Seconds>(-62_135_596_800))" == "0001-01-01T00:00:00")
        #expect("\(Timestamp<Nanoseconds>(1))" == "1970-01-01T00:00:00.000000001")
        #expect("\(Timestamp<Nanoseconds>(.min))" == "NaT")
        // Metadata prints as JSON on one line (keys sorted; what JSON cannot hold as Swift writes it).
        let metadata: JSONValue = ["name": "run-3", "tags": ["a", "b"], "epochs": 10, "loss": .number(.nan), "none": nil,
                                   "empty": [:], "nested": ["x": [1.5, true]]]
        #expect("\(metadata)" == #"{"empty": {}, "epochs": 10, "loss": nan, "name": "run-3", "nested": {"x": [1.5, true]}, "none": null, "tags": ["a", "b"]}"#)
    }
}

extension ConsumerTests {
    /// The bodies of mapPartitions, groupByPartitions, joinPartitions, sortedPartitions and distinctPartitions
    /// run on several threads at once. They are `@Sendable`, so that a body adding to a captured `var` (a data
    /// race the compiler let through) no longer compiles; what they share goes through a lock.
    @Test("error.localizedDescription, as apps show errors, says what went wrong, not \"The operation could not be completed\"")
    func localizedDescriptions() throws {
        let error = expectPartdError(.notADirectory) { try DirectoryStore(path: "/dev/null/store") }
        let shown = (error as (any Error)?)?.localizedDescription
        #expect(shown == error.map { "\($0)" })
        #expect(shown?.contains("/dev/null") == true, "\(shown ?? "")")
        let bad = MessagePackError(offset: 3, message: "a str that is not UTF-8")
        #expect((bad as any Error).localizedDescription == "MessagePack error at byte 3: a str that is not UTF-8")
    }

    @Test("partition bodies are @Sendable and run on several threads; a Mutex collects what they share")
    func sendablePartitionBodies() throws {
        let table = try Table([Column("k", (0..<4_000).map { Int64($0 % 97) }), Column("v", (0..<4_000).map(Double.init))])
        let seen = Mutex<[Int: Int]>([:])
        let shuffle = try Shuffle<Table>(by: ["k"], partitions: 8)
        try shuffle.add(table)
        let counts = try shuffle.mapPartitions { p, part in
            seen.withLock { $0[p] = part.rowCount }
            return part.rowCount
        }
        #expect(counts.reduce(0, +) == 4_000 && seen.withLock { $0.count } == 8)
        let groups = Mutex(0)
        let sizes = try shuffle.groupByPartitions(["k"], [.count]) { _, part in
            groups.withLock { $0 += part.rowCount }
            return part.rowCount
        }
        #expect(sizes.reduce(0, +) == 97 && groups.withLock { $0 } == 97)
        let body: @Sendable (Int, Table) throws -> Int = { $1.rowCount }
        let left = try Shuffle<Table>(by: ["k"], partitions: 4), right = try Shuffle<Table>(by: ["k"], partitions: 4)
        try left.add(table)
        try right.add(table.slice(0..<97))
        #expect(try left.joinPartitions(right, on: ["k"], body).reduce(0, +) == 4_000)
        let events = try Shuffle<Table>(by: ["k"], partitions: 4)
        try events.add(table)
        #expect(try events.distinctPartitions(by: ["k"], body).reduce(0, +) == 97)
        let sorting = try Shuffle<Table>(sortingBy: ["v"], boundaries: try table.sortBoundaries(by: ["v"], partitions: 4))
        try sorting.add(table)
        #expect(try sorting.sortedPartitions(body).reduce(0, +) == 4_000)
    }
}
