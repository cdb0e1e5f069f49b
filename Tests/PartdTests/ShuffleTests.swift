// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdShuffle
import PartdTestSupport
import PartdTyped
import Testing

/// A random table for shuffles: a nullable Int64 key with few distinct values,
/// a nullable string key, a categorical, and values to aggregate.
func shuffleTable(rows: Int, seed: UInt64, keys: Int64 = 50) -> Table {
    var rng = SplitMix64(seed: seed)
    let ids = (0..<rows).map { _ in Int64.random(in: 0..<keys, using: &rng) }
    let idValid = BitArray((0..<rows).map { _ in Int.random(in: 0..<10, using: &rng) != 0 })
    let xs = (0..<rows).map { _ in Double(Int.random(in: -1000...1000, using: &rng)) / 4 }
    let xValid = BitArray((0..<rows).map { _ in Int.random(in: 0..<7, using: &rng) != 0 })
    let ns = (0..<rows).map { _ in Int32.random(in: -5...5, using: &rng) }
    let names = (0..<rows).map { _ in "k\(Int.random(in: 0..<4, using: &rng))" }
    let nameValid = BitArray((0..<rows).map { _ in Int.random(in: 0..<9, using: &rng) != 0 })
    return try! Table([
        Column("id", ids, validity: idValid),
        Column("name", strings: StringArray(names), validity: nameValid),
        Column("color", categorical: CategoricalArray(names.map { $0 + "c" })),
        Column("x", xs, validity: xValid),
        Column("n", ns),
        Column("when", ns.map { Timestamp<Milliseconds>(Int64($0) * 1000) }),
    ])
}

/// One row of a table as text, for comparing tables as multisets of rows.
func rowText(_ table: Table, _ row: Int) -> String {
    table.columns.map { column -> String in
        guard column.isValid(row) else { return "null" }
        switch column.type {
        case .string: return column.strings![row]
        case .categorical: return column.categorical![row]
        case .fixed(.float64): return "\(column.values(as: Double.self)![row])"
        case .fixed(.int64): return "\(column.values(as: Int64.self)![row])"
        case .fixed(.int32): return "\(column.values(as: Int32.self)![row])"
        case .fixed(.datetime(.milliseconds)): return "\(column.values(as: Timestamp<Milliseconds>.self)![row].rawValue)"
        default: return "?"
        }
    }.joined(separator: "|")
}

func rowMultiset(_ table: Table) -> [String] { (0..<table.rowCount).map { rowText(table, $0) }.sorted() }

/// The partition one row's keys name, computed row by row from the public hash rules.
func referencePartition(_ table: Table, _ row: Int, keys: [String], count: Int) -> Int {
    let hashes = keys.map { name -> UInt64 in
        let column = table[name]!
        guard column.isValid(row) else { return PartitionHash.null }
        switch column.type {
        case .string: return column.strings![row].partitionHash
        case .categorical: return column.categorical![row].partitionHash
        case .fixed(.int64): return column.values(as: Int64.self)![row].partitionHash
        case .fixed(.int32): return column.values(as: Int32.self)![row].partitionHash
        case .fixed(.float64): return column.values(as: Double.self)![row].partitionHash
        default: return 0
        }
    }
    let hash = hashes.dropFirst().reduce(hashes[0]) { PartitionHash.combine($0, $1) }
    return PartitionHash.partition(of: hash, count: count)
}

func directoryExists(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}

struct ShuffleTestError: Error {}

@Suite("Partition hash")
struct PartitionHashTests {
    // The integer and float vectors were computed independently (SplitMix64's finaliser in
    // Python); the string ones are XXH3-64's published values for "" and "abc" with seed 0.
    @Test("hash values are pinned (format 1): the same on every machine and run")
    func vectors() {
        #expect(PartitionHash.mix(0) == 0)
        #expect(PartitionHash.hash(Int64(0)) == 0)
        #expect(PartitionHash.hash(Int64(1)) == 0x5692_161D_100B_05E5)
        #expect(PartitionHash.hash(Int64(-1)) == 0xB4D0_55FC_F2CB_BD7B)
        #expect(PartitionHash.hash(Int64(123_456_789)) == 0xF21C_87D4_233F_FD60)
        #expect(PartitionHash.hash(1.5) == 0xE72B_41D4_576E_3468)
        #expect(PartitionHash.hash("") == 0x2D06_8005_38D3_94C2)
        #expect(PartitionHash.hash("abc") == 0x78AF_5F94_892F_3950)
        #expect(PartitionHash.combine(PartitionHash.hash(Int64(1)), PartitionHash.hash("abc")) == 0x4C5F_9F6F_13F8_A908)
        #expect(PartitionHash.partition(of: PartitionHash.hash(Int64(1)), count: 64) == 21)
        #expect(PartitionHash.partition(of: UInt64.max, count: 64) == 63)
        #expect(PartitionHash.partition(of: 0, count: 64) == 0)
        // Inputs of 1 KiB and more go through libxxhash's AVX2 dispatch on x86-64: the same values as the
        // plain (SSE2) entry point gave for these bytes (byte i = i * 7).
        let long = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(PartitionHash.hash(bytes: long[0..<1023]) == 0x2CC3_EB48_D98F_537F)
        #expect(PartitionHash.hash(bytes: long[0..<1024]) == 0xDC5A_CF0B_043C_445B)
        #expect(PartitionHash.hash(bytes: long[...]) == 0x8FB0_47A8_9E81_0965)
    }

    @Test("equal values of different types hash alike; -0.0, NaNs and nulls are canonical")
    func equalValues() {
        #expect(5.0.partitionHash == Int64(5).partitionHash)
        #expect(Int8(-3).partitionHash == Int64(-3).partitionHash)
        #expect(UInt16(7).partitionHash == Int(7).partitionHash)
        #expect(Float(2.5).partitionHash == 2.5.partitionHash)
        #expect((-0.0).partitionHash == 0.0.partitionHash)
        #expect(Double.nan.partitionHash == (-Double.nan).partitionHash)
        #expect(Timestamp<Seconds>(9).partitionHash == Int64(9).partitionHash)
        #expect(true.partitionHash == Int64(1).partitionHash)
        #expect((nil as Int?).partitionHash == PartitionHash.null)
        #expect(CompositeKey(1, "a").partitionHash == PartitionHash.combine(1.partitionHash, "a".partitionHash))
        #expect(CompositeKey(1, "a").partitionHash != CompositeKey("a", 1).partitionHash)
    }
}

@Suite("Shuffle", .serialized)
struct ShuffleTests {
    @Test("every row lands in exactly the partition its key's hash names, and partitions equal a row-by-row split",
          arguments: [(["id"], 7), (["name", "id"], 16), (["color"], 3), (["x"], 1), (["name", "id"], 1024)])
    func partitionsMatchReference(keys: [String], count: Int) throws {
        let chunks = (0..<5).map { shuffleTable(rows: [0, 1, 300, 2_000, 45][$0], seed: UInt64($0) + 1) }
        let shuffle = try Shuffle<Table>(by: keys, partitions: count, options: ShuffleOptions(memory: .kilobytes(8)))
        defer { try? shuffle.close() }
        try shuffle.add(contentsOf: chunks)
        var expected = [[String]](repeating: [], count: count)
        for chunk in chunks {
            for row in 0..<chunk.rowCount {
                expected[referencePartition(chunk, row, keys: keys, count: count)].append(rowText(chunk, row))
            }
        }
        var total = 0
        for p in 0..<count {
            let part = try shuffle.partition(p)
            total += part.rowCount
            #expect(part.schema == chunks[0].schema)
            #expect(rowMultiset(part) == expected[p].sorted(), "partition \(p)")
            for row in 0..<part.rowCount {
                #expect(referencePartition(part, row, keys: keys, count: count) == p)
            }
        }
        #expect(total == chunks.reduce(0) { $0 + $1.rowCount })
        #expect(shuffle.store.statistics.spilledBytes > 0)
    }

    @Test("a categorical and a string column of the same values partition alike")
    func categoricalMatchesStrings() throws {
        let names = (0..<500).map { "v\($0 % 37)" }
        let a = try Table([Column("k", strings: StringArray(names))])
        let b = try Table([Column("k", categorical: CategoricalArray(names))])
        let sa = try Shuffle<Table>(by: ["k"], partitions: 8)
        let sb = try Shuffle<Table>(by: ["k"], partitions: 8)
        defer { try? sa.close(); try? sb.close() }
        try sa.add(a)
        try sb.add(b)
        for p in 0..<8 {
            #expect(try sa.partition(p).rowCount == sb.partition(p).rowCount)
        }
    }

    @Test("partitions that received nothing, and more partitions than rows, read as empty tables with the schema")
    func emptyPartitions() throws {
        let table = shuffleTable(rows: 3, seed: 9)
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 40)
        defer { try? shuffle.close() }
        try shuffle.add(table)
        let parts = try (0..<40).map { try shuffle.partition($0) }
        #expect(parts.reduce(0) { $0 + $1.rowCount } == 3)
        #expect(parts.filter { $0.rowCount == 0 }.count >= 37)
        #expect(parts.allSatisfy { $0.schema == table.schema })
        #expect(try shuffle.partition(0, columns: ["x"]).schema == TableSchema([.init("x", .float64)]))
        expectPartdError(.invalidArgument) { try shuffle.partition(40) }
        expectPartdError(.closed) { try shuffle.add(table) }  // finished by the reads
    }

    @Test("a chunk whose columns or row shape differ from the first chunk's is a typeMismatch, a zero-row first chunk included")
    func chunkShapeMismatch() throws {
        let table = try Table([Column("id", [1, 2, 3] as [Int64]), Column("x", [1.0, 2, 3])])
        let other = try Table([Column("id", [4, 5, 6] as [Int64]), Column("x", strings: ["a", "b", "c"])])
        // The rows of the two tables go to different partitions, whose stores each see one schema.
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 64)
        try shuffle.add(table)
        expectPartdError(.typeMismatch) { try shuffle.add(other) }
        expectPartdError(.closed) { try shuffle.partition(0) }

        let empty = try Shuffle<Table>(by: ["id"], partitions: 8)
        try empty.add(other.slice(0..<0))
        expectPartdError(.typeMismatch) { try empty.add(table) }

        let renamed = try Shuffle<Table>(by: ["id"], partitions: 8)
        try renamed.add(table)
        expectPartdError(.typeMismatch) { try renamed.add(try table.selecting(["x", "id"])) }

        let arrays = try Shuffle<NDArray<Int64>>(partitions: 8)
        try arrays.add(try NDArray([1, 2, 3, 4] as [Int64], shape: [2, 2]))
        expectPartdError(.typeMismatch) { try arrays.add(try NDArray([5, 6, 7, 8, 9, 10] as [Int64], shape: [2, 3])) }

        // The same schema (categorical dictionaries may differ) is fine.
        let same = try Shuffle<Table>(by: ["id"], partitions: 8)
        defer { try? same.close() }
        try same.add(table)
        try same.add(try Table([Column("id", [7] as [Int64]), Column("x", [7.0])]))
        #expect((0..<8).map { try! same.partition($0).rowCount }.reduce(0, +) == 4)
    }

    @Test("arrays shuffle by value, records by a key function")
    func arraysAndRecords() throws {
        let values: [Int64] = (0..<1000).map { Int64($0 % 17) }
        let arrays = try Shuffle<NDArray<Int64>>(partitions: 5, options: ShuffleOptions(memory: .kilobytes(1)))
        defer { try? arrays.close() }
        try arrays.add(NDArray(values))
        try arrays.add(NDArray([]))
        var seen: [Int64] = []
        for p in 0..<5 {
            let part = try arrays.partition(p).elements
            #expect(part.allSatisfy { PartitionHash.partition(of: $0.partitionHash, count: 5) == p })
            seen += part
        }
        #expect(seen.sorted() == values.sorted())

        let matrix = try NDArray((0..<60).map { Double($0 % 12) }, shape: [20, 3])
        let rows = try Shuffle<NDArray<Double>>(partitions: 3)
        defer { try? rows.close() }
        try rows.add(matrix)
        let parts = try (0..<3).map { try rows.partition($0) }
        #expect(parts.reduce(0) { $0 + $1.count } == 20)
        #expect(parts.allSatisfy { Array($0.shape.dropFirst()) == [3] })

        struct Sale: Codable, Sendable, Equatable { var customer: String; var amount: Double }
        let sales = (0..<300).map { Sale(customer: "c\($0 % 11)", amount: Double($0)) }
        let records = try Shuffle<[Sale]>(partitions: 4, by: \.customer)  // a key path, or any closure
        defer { try? records.close() }
        try records.add(Array(sales[0..<100]))
        try records.add(Array(sales[100...]))
        var all: [Sale] = []
        for p in 0..<4 {
            let part = try records.partition(p)
            #expect(part.allSatisfy { PartitionHash.partition(of: $0.customer.partitionHash, count: 4) == p })
            all += part
        }
        #expect(all.sorted { $0.amount < $1.amount } == sales)
    }

    @Test("a temporary directory is removed on close; a given directory keeps every partition")
    func cleanupOnSuccess() throws {
        let table = shuffleTable(rows: 1000, seed: 3)
        let temporary = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(memory: .kilobytes(4)))
        let path = temporary.directory!.path
        try temporary.add(table)
        #expect(directoryExists(path))
        try temporary.close()
        #expect(!directoryExists(path))
        expectPartdError(.closed) { try temporary.partition(0) }

        let kept = scratchPath("kept-shuffle")
        defer { removeTree(kept) }
        let explicit = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: kept))
        try explicit.add(table)
        try explicit.close()
        let reopened = TableStore(over: try DirectoryStore(path: kept))
        let rows = try (0..<4).reduce(0) { $0 + (try reopened.get(Shuffle<Table>.key(ofPartition: $1)).rowCount) }
        #expect(rows == 1000)
    }

    @Test("a column name longer than a table frame holds makes a shuffle's add throw invalidArgument (it trapped)")
    func longColumnName() throws {
        let table = try Table([Column("id", [1, 2, 3] as [Int64]), Column(String(repeating: "n", count: 70_000), [1.0, 2, 3])])
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 2)
        expectPartdError(.invalidArgument) { try shuffle.add(table) }
    }

    @Test("a failing input drops the shuffle and removes its temporary directory")
    func cleanupOnError() async throws {
        let good = shuffleTable(rows: 500, seed: 4)
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(memory: .kilobytes(2)))
        let path = shuffle.directory!.path
        let bad = try Table([Column("other", [1, 2] as [Int64])])
        expectPartdError(.invalidArgument) { try shuffle.add(contentsOf: [good, bad]) }
        #expect(!directoryExists(path))
        expectPartdError(.closed) { try shuffle.partition(0) }

        // An async sequence that throws part-way.
        let failing = AsyncThrowingStream<Table, any Error> { continuation in
            continuation.yield(good)
            continuation.finish(throwing: ShuffleTestError())
        }
        let second = try Shuffle<Table>(by: ["id"], partitions: 4)
        let secondPath = second.directory!.path
        await #expect(throws: ShuffleTestError.self) { try await second.add(contentsOf: failing) }
        #expect(!directoryExists(secondPath))

        // Cancellation.
        let third = try Shuffle<Table>(by: ["id"], partitions: 4)
        let thirdPath = third.directory!.path
        let (stream, continuation) = AsyncStream<Table>.makeStream()
        let task = Task { try await third.add(contentsOf: stream) }
        continuation.yield(good)
        task.cancel()
        continuation.yield(good)
        continuation.finish()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(!directoryExists(thirdPath))

        // A given directory is left in place on error.
        let kept = scratchPath("kept-on-error")
        defer { removeTree(kept) }
        let fourth = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: kept))
        expectPartdError(.invalidArgument) { try fourth.add(contentsOf: [good, bad]) }
        #expect(directoryExists(kept))
        // ... holding every row added before the failure: what was in memory is flushed to it.
        let reopened = TableStore(over: try DirectoryStore(path: kept))
        #expect(try (0..<4).reduce(0) { $0 + (try reopened.get(Shuffle<Table>.key(ofPartition: $1)).rowCount) } == 500)

        // So does a failed consuming read.
        let keptRead = scratchPath("kept-on-read-error")
        defer { removeTree(keptRead) }
        let fifth = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: keptRead))
        try fifth.add(good)
        let done = Locked<Int64>(0)
        #expect(throws: ShuffleTestError.self) {
            try fifth.groupByPartitions(["id"], [.count]) { index, result in
                if index == 3 { throw ShuffleTestError() }
                let rows = result["count"]!.values(as: Int64.self)!.reduce(0, +)
                done.withLock { $0 += rows }
            }
        }
        // Partitions whose body returned are consumed (deleted); the others, the one whose body threw
        // included, are on disk.
        let left = TableStore(over: try DirectoryStore(path: keptRead))
        let onDisk = try (0..<4).reduce(0) { $0 + (try left.get(Shuffle<Table>.key(ofPartition: $1)).rowCount) }
        #expect(try left.get(Shuffle<Table>.key(ofPartition: 3)).rowCount > 0)
        #expect(Int64(onDisk) + done.withLock { $0 } == 500)
        // And a failed join: the left side's given directory keeps the partition whose body threw.
        let keptJoin = scratchPath("kept-on-join-error")
        defer { removeTree(keptJoin) }
        let leftSide = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: keptJoin))
        let rightSide = try Shuffle<Table>(by: ["id"], partitions: 4)
        try leftSide.add(good)
        try rightSide.add(good)
        #expect(throws: ShuffleTestError.self) {
            _ = try leftSide.joinPartitions(rightSide, on: ["id"]) { index, _ in if index == 2 { throw ShuffleTestError() } }
        }
        let leftOnDisk = TableStore(over: try DirectoryStore(path: keptJoin))
        #expect(try leftOnDisk.get(Shuffle<Table>.key(ofPartition: 2)).rowCount > 0)
    }

    @Test("progress reports rows in, bytes spilled and partitions done")
    func progress() throws {
        let events = Locked<[ShuffleProgress]>([])
        let shuffle = try Shuffle<Table>(
            by: ["id"], partitions: 6,
            options: ShuffleOptions(memory: .kilobytes(4), progress: { event in events.withLock { $0.append(event) } }))
        try shuffle.add(contentsOf: (0..<3).map { shuffleTable(rows: 700, seed: UInt64($0)) })
        _ = try shuffle.groupBy(["id"]).aggregate([.count])
        let all = events.withLock { $0 }
        let partitioning = all.filter { $0.phase == .partitioning }
        #expect(partitioning.map(\.rowsIn) == [700, 1400, 2100])
        #expect(partitioning.last!.bytesSpilled > 0)
        let reading = all.filter { $0.phase == .reading }
        #expect(reading.count == 6)
        #expect(reading.map(\.partitionsDone).sorted() == Array(1...6))
        #expect(reading.allSatisfy { $0.partitionCount == 6 })
        let shown = ShuffleProgress(phase: .reading, rowsIn: 2100, bytesSpilled: 1_234_567, partitionsDone: 3, partitionCount: 6)
        #expect("\(shown)" == "reading: 3 of 6 partitions (2100 rows in, 1.2 MB spilled)")
        #expect("\(ShuffleProgress(phase: .partitioning, rowsIn: 700, bytesSpilled: 512, partitionsDone: 0, partitionCount: 6))"
            == "partitioning: 700 rows in, 512 B spilled")
    }
}

/// The groupby written the obvious way: a dictionary from the key's text to the aggregates.
func referenceGroupBy(_ tables: [Table], keys: [String]) -> [String: (count: Int, xCount: Int, sum: Double, min: Int32?, max: Int32?)] {
    var result: [String: (count: Int, xCount: Int, sum: Double, min: Int32?, max: Int32?)] = [:]
    for table in tables {
        let key = try! table.selecting(keys)
        let xs = table["x"]!.values(as: Double.self)!
        let ns = table["n"]!.values(as: Int32.self)!
        for row in 0..<table.rowCount {
            var entry = result[rowText(key, row)] ?? (0, 0, 0, nil, nil)
            entry.count += 1
            if table["x"]!.isValid(row) {
                entry.xCount += 1
                entry.sum += xs[row]
            }
            entry.min = Swift.min(entry.min ?? ns[row], ns[row])
            entry.max = Swift.max(entry.max ?? ns[row], ns[row])
            result[rowText(key, row)] = entry
        }
    }
    return result
}

@Suite("Groupby", .serialized)
struct GroupByTests {
    static let aggregations: [Aggregation] = [.count, .count("x"), .sum("x"), .mean("x"), .min("n"), .max("n"), .min("when"), .sum("n", as: "total")]

    func check(_ result: Table, against tables: [Table], keys: [String]) {
        let expected = referenceGroupBy(tables, keys: keys)
        #expect(result.rowCount == expected.count)
        let keyTable = try! result.selecting(keys)
        let counts = result["count"]!.values(as: Int64.self)!
        let xCounts = result["x_count"]!.values(as: Int64.self)!
        let sums = result["x_sum"]!.values(as: Double.self)!
        let means = result["x_mean"]!
        let mins = result["n_min"]!.values(as: Int32.self)!
        let maxs = result["n_max"]!.values(as: Int32.self)!
        let whens = result["when_min"]!.values(as: Timestamp<Milliseconds>.self)!
        let totals = result["total"]!.values(as: Int64.self)!
        var seen = Set<String>()
        for row in 0..<result.rowCount {
            let key = rowText(keyTable, row)
            #expect(seen.insert(key).inserted, "group \(key) appears twice")
            guard let e = expected[key] else {
                Issue.record("unexpected group \(key)")
                continue
            }
            #expect(counts[row] == e.count && xCounts[row] == e.xCount, "\(key)")
            #expect(abs(sums[row] - e.sum) < 1e-9, "\(key)")
            #expect(means.isValid(row) == (e.xCount > 0))
            if e.xCount > 0 { #expect(abs(means.values(as: Double.self)![row] - e.sum / Double(e.xCount)) < 1e-9) }
            #expect(mins[row] == e.min && maxs[row] == e.max)
            #expect(whens[row].rawValue == Int64(e.min!) * 1000)
            _ = totals[row]
        }
    }

    @Test("an out-of-core groupby equals an in-memory one, nulls and empty partitions included",
          arguments: [(["id"], 1), (["id"], 13), (["id", "name"], 8), (["name"], 200)])
    func matchesInMemory(keys: [String], partitions: Int) throws {
        let chunks = (0..<4).map { shuffleTable(rows: [0, 900, 1, 2_500][$0], seed: UInt64($0) + 20) }
        let shuffle = try Shuffle<Table>(
            by: [keys[0]], partitions: partitions, options: ShuffleOptions(memory: .kilobytes(16), compression: .lz4))
        try shuffle.add(contentsOf: chunks)
        let outOfCore = try shuffle.groupBy(keys).aggregate(Self.aggregations)
        check(outOfCore, against: chunks, keys: keys)
        let inMemory = try Table.concatenate(chunks).groupBy(keys).aggregate(Self.aggregations)
        check(inMemory, against: chunks, keys: keys)
        #expect(try rowMultiset(outOfCore.selecting(keys + ["count"])) == rowMultiset(inMemory.selecting(keys + ["count"])))
        expectPartdError(.closed) { try shuffle.partition(0) }  // consumed
    }

    @Test("keepPartitions leaves the shuffle readable; grouping without the partition key is refused")
    func keepAndRefuse() throws {
        let table = shuffleTable(rows: 400, seed: 2)
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 3)
        defer { try? shuffle.close() }
        try shuffle.add(table)
        let first = try shuffle.groupBy(["id"], keepPartitions: true).aggregate([.sum("x")])
        let second = try shuffle.groupBy(["id"], keepPartitions: true).aggregate([.sum("x")])
        #expect(first == second)
        expectPartdError(.invalidArgument) { try shuffle.groupBy(["name"]).aggregate([.count]) }
        expectPartdError(.invalidArgument) { try shuffle.groupByPartitions(["name"], [.count]) { $1 } }
        // A partition at a time: each partition's groups, in partition order, joined equal the whole result.
        let parts = try shuffle.groupByPartitions(["id"], [.sum("x")], keepPartitions: true) { index, groups in
            (index, groups, try shuffle.partition(index).groupBy(["id"]).aggregate([.sum("x")]))
        }
        #expect(parts.map(\.0) == [0, 1, 2])
        for (_, groups, direct) in parts { #expect(groups == direct) }
        #expect(try Table.concatenate(parts.map(\.1)) == first)
        expectPartdError(.invalidArgument) { try table.groupBy(["id"]).aggregate([.sum("name")]) }
        expectPartdError(.invalidArgument) { try table.groupBy(["id"]).aggregate([.sum("when")]) }
        expectPartdError(.invalidArgument) { try table.groupBy(["nope"]).aggregate([.count]) }
    }

    @Test("min and max of strings and categoricals: code-point order, nulls skipped, a group of nulls null")
    func stringExtremes() throws {
        let values = ["b", "é", "a", "", "Z", "x", "y", "ab"]
        let valid: BitArray = [true, true, true, false, true, false, false, true]
        let table = try Table([
            Column("g", [1, 1, 1, 2, 2, 3, 3, 2] as [Int64]),
            Column("s", strings: StringArray(values), validity: valid),
            Column("c", categorical: CategoricalArray(values), validity: valid),
        ])
        let aggregations: [Aggregation] = [.min("s"), .max("s"), .min("c"), .max("c")]
        func byGroup(_ result: Table) -> [Int64: [String?]] {
            let groups = result["g"]!.values(as: Int64.self)!
            var rows: [Int64: [String?]] = [:]
            for row in 0..<result.rowCount {
                rows[groups[row]] = ["s_min", "s_max", "c_min", "c_max"].map { result[$0]!.text(at: row) }
            }
            return rows
        }
        let expected: [Int64: [String?]] = [1: ["a", "é", "a", "é"], 2: ["Z", "ab", "Z", "ab"], 3: [nil, nil, nil, nil]]
        let inMemory = try table.groupBy(["g"]).aggregate(aggregations)
        #expect(byGroup(inMemory) == expected)
        #expect(inMemory["s_min"]!.type == .string && inMemory["c_max"]!.type == .categorical)
        let shuffle = try Shuffle<Table>(by: ["g"], partitions: 2)
        try shuffle.add(table)
        #expect(byGroup(try shuffle.groupBy(["g"]).aggregate(aggregations)) == expected)
        expectPartdError(.invalidArgument) { try table.groupBy(["g"]).aggregate([.mean("c")]) }
    }

    @Test("NaN is skipped like a null by sum, mean, var, std, min, max and median (pandas' skipna), wherever it lies in a group")
    func nanSkipped() throws {
        // Group 1 has NaN first, 4 in the middle, 5 last; group 2 only NaN; group 3 one value; group 6 NaN and a null.
        let g: [Int64] = [1, 2, 1, 3, 4, 5, 1, 2, 4, 4, 5, 5, 6, 6]
        let x: [Double] = [.nan, .nan, 2, 5, 3, 2, 1, .nan, .nan, 4, 7, .nan, .nan, 8]
        let valid = BitArray((0..<g.count).map { $0 != 13 })
        let table = try Table([
            Column("g", g), Column("x", x, validity: valid), Column("f", x.map { Float($0) }, validity: valid),
        ])
        let functions: [(String) -> Aggregation] = [
            { .sum($0) }, { .mean($0) }, { .variance($0) }, { .std($0) }, { .min($0) }, { .max($0) }, { .median($0) },
        ]
        // What pandas' groupby gives (sum of no values 0; the others NaN, here null).
        let expected: [Int64: [Double?]] = [
            1: [3, 1.5, 0.5, 0.5.squareRoot(), 1, 2, 1.5],
            2: [0, nil, nil, nil, nil, nil, nil],
            3: [5, 5, nil, nil, 5, 5, 5],
            4: [7, 3.5, 0.5, 0.5.squareRoot(), 3, 4, 3.5],
            5: [9, 4.5, 12.5, 12.5.squareRoot(), 2, 7, 4.5],
            6: [0, nil, nil, nil, nil, nil, nil],
        ]
        func number(_ column: Column, _ row: Int) -> Double? {
            guard column.isValid(row) else { return nil }
            return column.values(as: Double.self).map { $0[row] } ?? column.values(as: Float.self).map { Double($0[row]) }
        }
        for name in ["x", "f"] {
            let aggregations = functions.map { $0(name) }
            func byGroup(_ result: Table) -> [Int64: [Double?]] {
                let groups = result["g"]!.values(as: Int64.self)!
                var found: [Int64: [Double?]] = [:]
                for row in 0..<result.rowCount { found[groups[row]] = aggregations.map { number(result[$0.name]!, row) } }
                return found
            }
            let inMemory = try table.groupBy(["g"]).aggregate(aggregations)
            #expect(byGroup(inMemory) == expected, "\(name)")
            #expect(inMemory["\(name)_min"]!.type == table[name]!.type)
            let shuffle = try Shuffle<Table>(by: ["g"], partitions: 3)
            try shuffle.add(table)
            #expect(byGroup(try shuffle.groupBy(["g"]).aggregate(aggregations)) == expected, "\(name), out of core")
        }
    }

    @Test("medians of two columns whose names differ in bytes but not to Swift's == (NFC and NFD café) are each their own")
    func mediansOfLookalikeNames() throws {
        let table = try Table([
            Column("id", [1, 1, 2] as [Int64]), Column("caf\u{E9}", [1.0, 3.0, 5.0]), Column("cafe\u{301}", [10.0, 30.0, 50.0]),
        ])
        let result = try table.groupBy(["id"]).aggregate([
            .median("caf\u{E9}", as: "nfc"), .median("cafe\u{301}", as: "nfd"),
        ])
        #expect(result["nfc"]?.values(as: Double.self) == [2.0, 5.0])
        #expect(result["nfd"]?.values(as: Double.self) == [20.0, 50.0])
    }

    @Test("a shuffle's groupby tells key and aggregated column names apart by their bytes (NFC and NFD café are two columns)")
    func shuffleGroupByLookalikeNames() throws {
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        let table = try Table([Column(nfd, [1, 1, 2] as [Int64]), Column(nfc, [1.0, 3.0, 5.0])])
        let shuffle = try Shuffle<Table>(by: [nfd], partitions: 3)
        defer { try? shuffle.close() }
        try shuffle.add(table)
        // Grouping by the NFC column misses the NFD column the shuffle partitions by (it was let through).
        let refused = expectPartdError(.invalidArgument) { try shuffle.groupBy([nfc], keepPartitions: true).aggregate([.count]) }
        #expect(refused?.message.contains("missing") == true, "\(refused.map { "\($0)" } ?? "")")
        // The aggregated NFC column is read along with the NFD key (it was taken for the key and left out).
        let sums = try shuffle.groupBy([nfd], keepPartitions: true).aggregate([.sum(nfc, as: "s")])
        #expect(try sums.sorted(by: [SortKey(nfd)])["s"]?.values(as: Double.self) == [4.0, 5.0])
        // Aggregations of lookalike columns are two aggregations.
        #expect(Aggregation.sum(nfc, as: "s") != .sum(nfd, as: "s"))
        #expect(Set([Aggregation.sum(nfc, as: "s"), .sum(nfd, as: "s")]).count == 2)
    }

    @Test("count, first, last and nunique take NaN as missing (pandas), NaN first, in the middle and last in a group")
    func nanMissingForCountFirstLastNunique() throws {
        // Group 1: NaN first, in the middle and last, around 2, 1, 2, 4; group 2 only NaN; group 3 NaN and a
        // null; group 4 nulls and NaN around 5 and 7; group 5 one value.
        let rows: [(Int64, Double?)] = [
            (1, .nan), (2, .nan), (1, 2), (3, .nan), (4, nil), (1, .nan), (2, .nan), (4, .nan), (1, 1), (3, nil),
            (4, 5), (1, .nan), (4, nil), (1, 2), (5, 3), (4, 7), (1, 4), (4, .nan), (1, .nan),
        ]
        let g = rows.map(\.0)
        let x = rows.map { $0.1 ?? 0 }
        let valid = BitArray(rows.map { $0.1 != nil })
        var columns = [Column("g", g), Column("x", x, validity: valid), Column("f", x.map { Float($0) }, validity: valid)]
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        columns.append(Column("h", x.map { Float16($0) }, validity: valid))
        #endif
        let table = try Table(columns)
        // What pandas' groupby gives: count and nunique skip NaN, first and last are the first and last
        // value that is neither null nor NaN (NaN, here null, for a group without one); size counts every row.
        let expected: [Int64: [String?]] = [
            1: ["4", "2.0", "4.0", "3", "8"],
            2: ["0", nil, nil, "0", "2"],
            3: ["0", nil, nil, "0", "2"],
            4: ["2", "5.0", "7.0", "2", "6"],
            5: ["1", "3.0", "3.0", "1", "1"],
        ]
        for name in columns.dropFirst().map(\.name) {
            let aggregations: [Aggregation] = [.count(name), .first(name), .last(name), .nunique(name), .count]
            func byGroup(_ result: Table) -> [Int64: [String?]] {
                let groups = result["g"]!.values(as: Int64.self)!
                var found: [Int64: [String?]] = [:]
                for row in 0..<result.rowCount { found[groups[row]] = aggregations.map { result[$0.name]!.text(at: row) } }
                return found
            }
            let inMemory = try table.groupBy(["g"]).aggregate(aggregations)
            #expect(byGroup(inMemory) == expected, "\(name)")
            #expect(inMemory["\(name)_first"]!.type == table[name]!.type && inMemory["\(name)_last"]!.type == table[name]!.type)
            for partitions in [1, 3] {
                let shuffle = try Shuffle<Table>(by: ["g"], partitions: partitions, options: ShuffleOptions(memory: .kilobytes(1)))
                try shuffle.add(contentsOf: [table.slice(0..<7), table.slice(7..<rows.count)])
                #expect(byGroup(try shuffle.groupBy(["g"]).aggregate(aggregations)) == expected, "\(name), \(partitions) partitions")
            }
        }
    }

    @Test("var, std, first, last and nunique equal the obvious computation, in memory and out of core")
    func moreAggregates() throws {
        var rng = SplitMix64(seed: 77)
        let rows = 3_000
        let g = (0..<rows).map { _ in Int64.random(in: 0..<40, using: &rng) }
        let x = (0..<rows).map { _ in Double(Int.random(in: -500...500, using: &rng)) / 8 }
        let words = (0..<rows).map { _ in ["a", "b", "c", "dé", "e,f", "g"][Int.random(in: 0..<6, using: &rng)] }
        let valid = BitArray((0..<rows).map { _ in Int.random(in: 0..<5, using: &rng) != 0 })
        // Group 39 gets one value only (var and std null), group 38 none (first, last null, nunique 0).
        let lone = g.firstIndex(of: 39)!
        let validity = BitArray((0..<rows).map { row in g[row] == 38 ? false : g[row] == 39 ? row == lone : valid[row] })
        let table = try Table([
            Column("g", g),
            Column("x", x, validity: validity),
            Column("s", strings: StringArray(words), validity: validity),
            Column("c", categorical: CategoricalArray(words), validity: validity),
        ])
        let aggregations: [Aggregation] = [
            .variance("x"), .std("x"), .first("x"), .last("s"), .first("c"), .nunique("s"), .nunique("c"), .nunique("x"),
        ]
        var expected: [Int64: [String?]] = [:]
        for group in Set(g) {
            let members = (0..<rows).filter { g[$0] == group && validity[$0] }
            let values = members.map { x[$0] }
            let mean = values.reduce(0, +) / Double(max(1, values.count))
            let variance = values.count < 2 ? nil : values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
            expected[group] = [
                variance.map { String(format: "%.9f", $0) }, variance.map { String(format: "%.9f", $0.squareRoot()) },
                members.first.map { String(x[$0]) }, members.last.map { words[$0] }, members.first.map { words[$0] },
                String(Set(members.map { words[$0] }).count), String(Set(members.map { words[$0] }).count),
                String(Set(values).count),
            ]
        }
        func byGroup(_ result: Table) -> [Int64: [String?]] {
            let groups = result["g"]!.values(as: Int64.self)!
            var found: [Int64: [String?]] = [:]
            for row in 0..<result.rowCount {
                found[groups[row]] = aggregations.map { aggregation in
                    let column = result[aggregation.name]!
                    guard column.isValid(row) else { return nil }
                    if aggregation.function == .var || aggregation.function == .std {
                        return String(format: "%.9f", column.values(as: Double.self)![row])
                    }
                    return column.text(at: row)
                }
            }
            return found
        }
        let inMemory = try table.groupBy(["g"]).aggregate(aggregations)
        #expect(byGroup(inMemory) == expected)
        #expect(inMemory["c_first"]!.type == .categorical && inMemory["s_nunique"]!.type == .int64)
        let shuffle = try Shuffle<Table>(by: ["g"], partitions: 5, options: ShuffleOptions(memory: .kilobytes(8)))
        try shuffle.add(contentsOf: [table.slice(0..<1000), table.slice(1000..<rows)])
        #expect(byGroup(try shuffle.groupBy(["g"]).aggregate(aggregations)) == expected)
        expectPartdError(.invalidArgument) { try table.groupBy(["g"]).aggregate([.variance("s")]) }
    }

    @Test("median and quantiles equal each group's sorted values interpolated, in memory and out of core")
    func quantiles() throws {
        var rng = SplitMix64(seed: 78)
        let rows = 2_000
        let g = (0..<rows).map { _ in Int64.random(in: 0..<30, using: &rng) }
        let n = (0..<rows).map { _ in Int32.random(in: -50...50, using: &rng) }
        let x = (0..<rows).map { row -> Double in row % 97 == 0 ? .nan : Double(Int.random(in: -999...999, using: &rng)) / 16 }
        // Group 29 has no values at all (null), group 28 one value.
        let lone = g.firstIndex(of: 28)!
        let validity = BitArray((0..<rows).map { row in g[row] == 29 ? false : g[row] == 28 ? row == lone : row % 7 != 0 })
        let table = try Table([Column("g", g), Column("n", n, validity: validity), Column("x", x, validity: validity)])
        let qs = [0, 0.1, 0.25, 0.5, 0.9, 1]
        let aggregations: [Aggregation] = [.median("n"), .median("x")] + qs.map { .quantile("x", $0) } + [.quantile("n", 0.75, as: "n75")]
        // The reference: sort, then weigh the two nearest values (NaN skipped like nulls).
        func quantile(_ values: [Double], _ q: Double) -> Double? {
            let sorted = values.filter { !$0.isNaN }.sorted()
            guard !sorted.isEmpty else { return nil }
            let position = q * Double(sorted.count - 1)
            let (low, high) = (Int(position.rounded(.down)), Int(position.rounded(.up)))
            let weight = position - Double(low)
            return sorted[low] * (1 - weight) + sorted[high] * weight
        }
        var expected: [Int64: [Double?]] = [:]
        for group in Set(g) {
            let members = (0..<rows).filter { g[$0] == group && validity[$0] }
            let (ns, xs) = (members.map { Double(n[$0]) }, members.map { x[$0] })
            expected[group] = [quantile(ns, 0.5), quantile(xs, 0.5)] + qs.map { quantile(xs, $0) } + [quantile(ns, 0.75)]
        }
        func check(_ result: Table) {
            #expect(result.columns.map(\.name) == ["g", "n_median", "x_median", "x_q0.0", "x_q0.1", "x_q0.25", "x_q0.5", "x_q0.9", "x_q1.0", "n75"])
            let groups = result["g"]!.values(as: Int64.self)!
            #expect(groups.count == 30)
            for row in 0..<result.rowCount {
                let found = aggregations.map { aggregation -> Double? in
                    let column = result[aggregation.name]!
                    return column.isValid(row) ? column.values(as: Double.self)![row] : nil
                }
                let wanted = expected[groups[row]]!
                #expect(found.count == wanted.count)
                for (a, b) in zip(found, wanted) {
                    #expect((a == nil) == (b == nil) && abs((a ?? 0) - (b ?? 0)) <= 1e-9, "group \(groups[row]): \(found) vs \(wanted)")
                }
            }
        }
        check(try table.groupBy(["g"]).aggregate(aggregations))
        let shuffle = try Shuffle<Table>(by: ["g"], partitions: 4, options: ShuffleOptions(memory: .kilobytes(8)))
        try shuffle.add(contentsOf: [table.slice(0..<700), table.slice(700..<rows)])
        check(try shuffle.groupBy(["g"]).aggregate(aggregations))

        let strings = try Table([Column("g", [1, 1] as [Int64]), Column("s", strings: ["a", "b"])])
        expectPartdError(.invalidArgument) { try strings.groupBy(["g"]).aggregate([.median("s")]) }
        expectPartdError(.invalidArgument) { try table.groupBy(["g"]).aggregate([.quantile("x", 1.5)]) }
        expectPartdError(.invalidArgument) { try table.groupBy(["g"]).aggregate([.quantile("x", .nan)]) }
        expectPartdError(.invalidArgument) {
            try Table([Column("g", [1] as [Int64]), Column("t", [Timestamp<Seconds>(1)])]).groupBy(["g"]).aggregate([.median("t")])
        }
    }

    @Test("the median of an even count is (a + b) / 2 and quantiles a + (b - a) * f, as pandas' groupby: infinities and extremes included, in memory and out of core")
    func medianAndQuantilesLikePandas() throws {
        let tiny = Double.leastNonzeroMagnitude  // 5e-324
        let groups: [[Double]] = [
            [.infinity, .infinity], [-.infinity, -.infinity], [-1e308, 1e308], [-.infinity, .infinity], [1, .infinity],
            [-.infinity, 1], [1e308, 1e308], [0.1, 0.7], [1, 2, 3, 4, 5], [tiny, tiny], [-.infinity, 1, 2, 3],
            [-1e308, 1e308, 1e308], [0.1, 0.2, 0.7],
        ]
        // What pandas 3.1.1 gives: df.groupby("g")["x"].median(), .quantile(0.5), .quantile(0.25), .quantile(0.75).
        let nan = Double.nan
        let expected: [String: [Double]] = [
            "x_median": [.infinity, -.infinity, 0, nan, .infinity, -.infinity, .infinity, 0.39999999999999997, 3, tiny, 1.5, 1e308, 0.2],
            "x_q0.5": [nan, nan, .infinity, nan, .infinity, nan, 1e308, 0.4, 3, tiny, 1.5, 1e308, 0.2],
            "x_q0.25": [nan, nan, .infinity, nan, .infinity, nan, 1e308, 0.25, 2, tiny, nan, .infinity, 0.15000000000000002],
            "x_q0.75": [nan, nan, .infinity, nan, .infinity, nan, 1e308, 0.5499999999999999, 4, tiny, 2.25, 1e308, 0.44999999999999996],
        ]
        var g: [Int64] = []
        var x: [Double] = []
        for (group, values) in groups.enumerated() {
            g += Array(repeating: Int64(group), count: values.count)
            x += values
        }
        let table = try Table([Column("g", g), Column("x", x)])
        let aggregations: [Aggregation] = [.median("x"), .quantile("x", 0.5), .quantile("x", 0.25), .quantile("x", 0.75)]
        func check(_ result: Table) {
            let keys = result["g"]!.values(as: Int64.self)!
            #expect(keys.count == groups.count)
            for (name, wanted) in expected {
                let column = result[name]!
                #expect(column.validity == nil, "\(name)")
                let found = column.values(as: Double.self)!
                for (row, key) in keys.enumerated() {
                    let (a, b) = (found[row], wanted[Int(key)])
                    #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN), "\(name) of \(groups[Int(key)]): \(a), pandas \(b)")
                }
            }
        }
        check(try table.groupBy(["g"]).aggregate(aggregations))
        let shuffle = try Shuffle<Table>(by: ["g"], partitions: 3, options: ShuffleOptions(memory: .kilobytes(8)))
        try shuffle.add(contentsOf: [table.slice(0..<9), table.slice(9..<table.rowCount)])
        check(try shuffle.groupBy(["g"]).aggregate(aggregations))
        // Integers are taken as Float64 first, as pandas takes them: two Int64.max do not overflow.
        let big = try Table([Column("g", [1, 1, 2, 2] as [Int64]), Column("n", [Int64.max, Int64.max, -3, 4])])
        let medians = try big.groupBy(["g"]).aggregate([.median("n")])["n_median"]!.values(as: Double.self)!
        #expect(medians == [Double(Int64.max), 0.5])
    }

    @Test("a shuffle that received no rows groups to an empty table")
    func noRows() throws {
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4)
        #expect(try shuffle.groupBy(["id"]).aggregate([.count]).rowCount == 0)
    }

    @Test("a consuming read that throws after deleting partitions closes the shuffle (a later read returned the rest silently)")
    func failedConsumingReadCloses() throws {
        let table = shuffleTable(rows: 2_000, seed: 5)
        func total(_ result: Table) -> Int64 { result["count"]!.values(as: Int64.self)!.reduce(0, +) }
        // A body that throws for one partition: the others were read and deleted, so what is left is not the
        // whole, and a second groupby must not pass it off as such.
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4)
        try shuffle.add(table)
        let path = try #require(shuffle.directory?.path)
        #expect(throws: ShuffleTestError.self) {
            try shuffle.groupByPartitions(["id"], [.count]) { index, _ in if index == 1 { throw ShuffleTestError() } }
        }
        expectPartdError(.closed) { try shuffle.groupBy(["id"]).aggregate([.count]) }
        expectPartdError(.closed) { try shuffle.partition(0) }
        #expect(!exists(path))
        // The same for a drop of duplicates and a sort, which consume partitions alike.
        let distinct = try Shuffle<Table>(by: ["id"], partitions: 3)
        try distinct.add(table)
        #expect(throws: ShuffleTestError.self) {
            try distinct.distinctPartitions(by: ["id", "name"]) { index, _ in if index == 2 { throw ShuffleTestError() } }
        }
        expectPartdError(.closed) { try distinct.droppingDuplicates(by: ["id", "name"]) }
        let sort = try Shuffle<Table>(sortingBy: ["x"], boundaries: try table.sortBoundaries(by: ["x"], partitions: 3))
        try sort.add(table)
        #expect(throws: ShuffleTestError.self) {
            try sort.sortedPartitions { index, _ in if index == 0 { throw ShuffleTestError() } }
        }
        expectPartdError(.closed) { try sort.sorted() }
        // A join closes both sides.
        let (left, right) = (try Shuffle<Table>(by: ["id"], partitions: 3), try Shuffle<Table>(by: ["id"], partitions: 3))
        try left.add(table)
        try right.add(shuffleTable(rows: 500, seed: 9))
        #expect(throws: ShuffleTestError.self) {
            try left.joinPartitions(right, on: ["id"]) { index, _ in if index == 1 { throw ShuffleTestError() } }
        }
        expectPartdError(.closed) { try left.join(right, on: ["id"]) }
        expectPartdError(.closed) { try right.partition(0) }

        // A failure before any partition is deleted (an aggregate the column cannot take) leaves the shuffle whole.
        let whole = try Shuffle<Table>(by: ["id"], partitions: 4)
        try whole.add(table)
        expectPartdError(.invalidArgument) { try whole.groupBy(["id"]).aggregate([.sum("name")]) }
        #expect(try total(whole.groupBy(["id"]).aggregate([.count])) == 2_000)
    }

    @Test("consuming reads over a given store leave its partitions for other readers; over a temporary directory they free them")
    func givenStoreKeepsPartitions() throws {
        let table = shuffleTable(rows: 600, seed: 12)
        let aggregations: [Aggregation] = [.sum("x"), .count]
        let partitions = 4
        @Sendable func key(_ p: Int) -> PartdKey { Shuffle<Table>.key(ofPartition: p) }

        // A given store (shared with other mappers and reducers): a consuming groupby closes the shuffle but
        // deletes nothing from the store, so another reader still finds every row.
        let given = MemoryStore()
        let mapper = try Shuffle<Table>(
            by: ["id"], partitions: partitions, options: ShuffleOptions(memory: .kilobytes(2), store: AnyByteStore(given)))
        try mapper.add(table)
        let kept = try mapper.groupByPartitions(["id"], aggregations) { index, groups in
            (try mapper.store.contains(key(index)), groups)
        }
        #expect(kept.map(\.0) == [Bool](repeating: true, count: partitions))
        let expected = kept.map(\.1)
        expectPartdError(.closed) { try mapper.partition(0) }
        #expect(try given.keys() == (0..<partitions).map(key))
        let reducer = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(given)))
        #expect(try (0..<partitions).map { try reducer.partition($0).rowCount }.reduce(0, +) == table.rowCount)
        #expect(try reducer.groupBy(["id"]).aggregate(aggregations) == Table.concatenate(expected))
        #expect(try given.keys().count == partitions)

        // A join of two shuffles over given stores leaves both stores' partitions too.
        let (leftStore, rightStore) = (MemoryStore(), MemoryStore())
        let left = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(leftStore)))
        let right = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(rightStore)))
        try left.add(table)
        try right.add(shuffleTable(rows: 300, seed: 13))
        let joined = try left.join(right, on: ["id"])
        #expect(joined.rowCount > 0)
        expectPartdError(.closed) { try left.partition(0) }
        #expect(try leftStore.keys().count == partitions && rightStore.keys().count == partitions)

        // The shuffle's own temporary directory: each partition is deleted once read, the directory removed.
        let temporary = try Shuffle<Table>(by: ["id"], partitions: partitions)
        try temporary.add(table)
        let path = try #require(temporary.directory?.path)
        let freed = try temporary.groupByPartitions(["id"], aggregations) { index, _ in try !temporary.store.contains(key(index)) }
        #expect(freed == [Bool](repeating: true, count: partitions))
        #expect(!exists(path))
    }
}

extension ShuffleTests {
    @Test("a close whose flush fails throws again when retried (it returned success, the rows lost) and flushes once the store works")
    func failedCloseRetries() throws {
        let failing = FailingStore()
        let table = shuffleTable(rows: 300, seed: 21)
        let shuffle = try Shuffle<Table>(
            by: ["id"], partitions: 4, options: ShuffleOptions(memory: .megabytes(64), store: AnyByteStore(failing)))
        try shuffle.add(table)
        failing.setFailing(true)
        // The rows stay in memory (spillFailed says so) until a close flushes them.
        expectPartdError(.spillFailed) { try shuffle.close() }
        expectPartdError(.spillFailed) { try shuffle.close() }
        // No chunk may be added meanwhile: the shuffle is closing.
        expectPartdError(.closed) { try shuffle.add(table) }
        failing.setFailing(false)
        try shuffle.close()
        let stored = TableStore(over: failing.inner)
        #expect(try (0..<4).reduce(0) { $0 + (try stored.get(Shuffle<Table>.key(ofPartition: $1)).rowCount) } == 300)
        try shuffle.close()
        expectPartdError(.closed) { try shuffle.partition(0) }
    }

    @Test("an async add after finish throws closed and keeps the shuffle's rows, as a synchronous add does (it dropped them)")
    func asyncAddAfterFinish() async throws {
        let table = shuffleTable(rows: 300, seed: 22)
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4)
        defer { try? shuffle.close() }
        try shuffle.add(table)
        try shuffle.finish()
        expectPartdError(.closed) { try shuffle.add(table) }
        let more = AsyncStream<Table> { continuation in
            continuation.yield(table)
            continuation.finish()
        }
        let error = await #expect(throws: PartdError.self) { try await shuffle.add(contentsOf: more) }
        #expect(error?.code == .closed)
        #expect(try (0..<4).map { try shuffle.partition($0).rowCount }.reduce(0, +) == 300)
    }

    @Test("a shuffle into a given directory that already holds its partitions is refused (a rerun appended, doubling the rows)")
    func givenDirectoryHoldingPartitions() throws {
        let path = scratchPath("rerun-shuffle")
        defer { removeTree(path) }
        let table = shuffleTable(rows: 300, seed: 23)
        let first = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: path))
        try first.add(table)
        try first.close()
        let error = expectPartdError(.alreadyExists) {
            try Shuffle<Table>(by: ["id"], partitions: 8, options: ShuffleOptions(directory: path))
        }
        #expect(error?.path == path || error?.message.contains(path) == true)
        #expect(error?.message.contains("ShuffleOptions.store") == true)
        func rows(in path: String) throws -> Int {
            let directory = try DirectoryStore(path: path)
            defer { try? directory.close() }
            let tables = TableStore(over: directory)
            return try tables.keys().reduce(0) { $0 + (try tables.get($1).rowCount) }
        }
        #expect(try rows(in: path) == 300)
        // Appending on purpose: the directory as a given store.
        let directory = try DirectoryStore(path: path)
        let appending = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(store: AnyByteStore(directory)))
        try appending.add(table)
        try appending.close()
        try directory.close()
        #expect(try rows(in: path) == 600)
        // A directory whose partitions a consuming read took may be shuffled into again.
        removeTree(path)
        let again = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: path))
        try again.add(table)
        #expect(try again.groupBy(["id"]).aggregate([.count])["count"]!.values(as: Int64.self)!.reduce(0, +) == 300)
        let rerun = try Shuffle<Table>(by: ["id"], partitions: 4, options: ShuffleOptions(directory: path))
        try rerun.add(table)
        try rerun.close()
        #expect(try rows(in: path) == 300)
    }
}
