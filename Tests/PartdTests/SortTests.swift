// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdShuffle
import PartdTestSupport
import PartdTyped
import Testing

/// A table with a column of every sortable type, repeating values, nulls, NaN, -0.0 and non-ASCII strings.
func sortTable(rows: Int, seed: UInt64) -> Table {
    var rng = SplitMix64(seed: seed)
    func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }
    let words = ["b", "a", "", "é", "ab", "Z", "zz", "a\u{0}"]
    let floats: [Double] = [1.5, -2, 0, -0.0, .nan, .infinity, -.infinity, 3, 1.5e300, -7.25]
    let validity = (0..<6).map { _ in BitArray((0..<rows).map { _ in Int.random(in: 0..<6, using: &rng) != 0 }) }
    return try! Table([
        Column("i", (0..<rows).map { _ in Int64.random(in: -4...4, using: &rng) * 1_000_000_007 }, validity: validity[0]),
        Column("f", (0..<rows).map { _ in pick(floats) }, validity: validity[1]),
        Column("s", strings: StringArray((0..<rows).map { _ in pick(words) }), validity: validity[2]),
        Column("c", categorical: CategoricalArray((0..<rows).map { _ in pick(words) }), validity: validity[3]),
        Column("b", (0..<rows).map { _ in Bool.random(using: &rng) }, validity: validity[4]),
        Column("t", (0..<rows).map { _ in Timestamp<Milliseconds>(Int64.random(in: -3...3, using: &rng)) }),
        Column("u", (0..<rows).map { _ in pick([0, 1, UInt64.max, UInt64.max - 1, 1 << 63]) }),
        Column("h", (0..<rows).map { _ in Float(pick(floats)) }, validity: validity[5]),
        Column("n", (0..<rows).map { _ in Int8.random(in: -128...127, using: &rng) }),
    ])
}

/// One value of a sort key, as the reference compares it.
enum SortCell: Comparable {
    case int(Int64), uint(UInt64), double(Double), bytes([UInt8])

    static func < (a: SortCell, b: SortCell) -> Bool {
        switch (a, b) {
        case let (.int(a), .int(b)): a < b
        case let (.uint(a), .uint(b)): a < b
        case let (.double(a), .double(b)): a < b
        case let (.bytes(a), .bytes(b)): a.lexicographicallyPrecedes(b)
        default: fatalError("\(a) \(b)")
        }
    }
}

/// The order `keys` give `table`'s rows, by comparisons written the obvious way: values of Swift's own types,
/// strings by their UTF-8 bytes, nulls and NaN last, ties by row.
func referenceOrder(_ table: Table, _ keys: [SortKey]) -> [Int] {
    func cells(_ column: Column) -> [SortCell?] {
        let rows = 0..<column.count
        var cells: [SortCell?]
        switch column.type {
        case .string: cells = rows.map { .bytes(Array(column.strings!.bytes(at: $0))) }
        case .categorical: cells = rows.map { .bytes(Array(column.categorical![$0].utf8)) }
        case .fixed(.int64): cells = column.values(as: Int64.self)!.map { .int($0) }
        case .fixed(.int8): cells = column.values(as: Int8.self)!.map { .int(Int64($0)) }
        case .fixed(.uint64): cells = column.values(as: UInt64.self)!.map { .uint($0) }
        case .fixed(.bool): cells = column.values(as: Bool.self)!.map { .int($0 ? 1 : 0) }
        case .fixed(.datetime(.milliseconds)): cells = column.values(as: Timestamp<Milliseconds>.self)!.map { .int($0.rawValue) }
        case .fixed(.float64): cells = column.values(as: Double.self)!.map { $0.isNaN ? nil : .double($0) }
        case .fixed(.float32): cells = column.values(as: Float.self)!.map { $0.isNaN ? nil : .double(Double($0)) }
        default: fatalError("\(column.type)")
        }
        for row in rows where !column.isValid(row) { cells[row] = nil }
        return cells
    }
    let columns = keys.map { cells(table[$0.column]!) }
    return Array(0..<table.rowCount).sorted { x, y in
        for (cells, key) in zip(columns, keys) {
            switch (cells[x], cells[y]) {
            case (nil, nil): continue
            case (nil, _): return false
            case (_, nil): return true
            case let (a?, b?):
                if a < b { return !key.descending }
                if b < a { return key.descending }
            }
        }
        return x < y
    }
}

@Suite("Sort")
struct SortTests {
    @Test("every column type sorts as the obvious comparisons do, either way, alone and after another key")
    func matchesReference() throws {
        let table = sortTable(rows: 3_000, seed: 5)
        for name in table.columns.map(\.name) {
            for descending in [false, true] {
                let key = SortKey(name, descending: descending)
                #expect(try table.sortOrder(by: [key]) == referenceOrder(table, [key]), "\(key)")
                let keys: [SortKey] = [.descending("b"), key, "i"]
                #expect(try table.sortOrder(by: keys) == referenceOrder(table, keys), "\(keys)")
            }
        }
        let keys: [SortKey] = ["c", .descending("f"), "s", "t"]
        let sorted = try table.sorted(by: keys)
        // (The float columns hold NaN, which equals nothing.)
        let plain = table.columns.map(\.name).filter { $0 != "f" && $0 != "h" }
        #expect(try sorted.selecting(plain) == table.take(referenceOrder(table, keys)).selecting(plain))
        #expect(try table.slice(0..<0).sorted(by: keys).rowCount == 0)
    }

    @Test("floats: -0.0 ties with 0.0 (row order kept); NaN and nulls come last in row order, either way")
    func floats() throws {
        let table = try Table([
            Column("x", [0.0, .nan, -0.0, 2, -1, 0, 5], validity: [true, true, true, false, true, true, true]),
        ])
        #expect(try table.sortOrder(by: ["x"]) == [4, 0, 2, 5, 6, 1, 3])
        #expect(try table.sortOrder(by: [.descending("x")]) == [6, 0, 2, 5, 4, 1, 3])
    }

    @Test("a range shuffle sorted partition by partition equals the in-memory sort, row for row",
          arguments: [["i"] as [SortKey], [.descending("f"), "s"], ["c", .descending("t"), "b"], [.descending("s")]])
    func outOfCore(keys: [SortKey]) throws {
        let chunks = (0..<4).map { sortTable(rows: [1_500, 0, 2_000, 700][$0], seed: UInt64($0) + 20) }
        let table = try Table.concatenate(chunks)
        // Boundaries from a sample: every third row.
        let sample = table.take(Array(stride(from: 0, to: table.rowCount, by: 3)))
        let boundaries = try sample.sortBoundaries(by: keys, partitions: 9)
        #expect(boundaries.rowCount == 8 && boundaries.columns.map(\.name) == keys.map(\.column))
        let shuffle = try Shuffle<Table>(sortingBy: keys, boundaries: boundaries, options: ShuffleOptions(memory: .kilobytes(16), compression: .lz4))
        #expect(shuffle.partitionCount == 9 && shuffle.sortRanges?.keys == keys)
        try shuffle.add(contentsOf: chunks)
        let sorted = try shuffle.sorted()
        // Rows keep their order within a partition, so the stable sorts agree exactly.
        let plain = table.columns.map(\.name).filter { $0 != "f" && $0 != "h" }
        #expect(try sorted.selecting(plain) == table.sorted(by: keys).selecting(plain))
        #expect(sorted.rowCount == table.rowCount)
        expectPartdError(.closed) { try shuffle.partition(0) }
    }

    @Test("exact boundaries split unique keys evenly; partitions come back in order, also kept and grouped")
    func evenSplitAndGroupBy() throws {
        var rng = SplitMix64(seed: 9)
        var ids = Array(0..<Int64(6_000))
        ids.shuffle(using: &rng)
        let table = try Table([Column("id", ids), Column("k", ids.map { $0 % 7 })])
        let shuffle = try Shuffle<Table>(sortingBy: [.descending("id")], boundaries: try table.sortBoundaries(by: [.descending("id")], partitions: 6))
        defer { try? shuffle.close() }
        try shuffle.add(contentsOf: [table.slice(0..<2_500), table.slice(2_500..<6_000)])
        #expect(shuffle.partitionRowCounts == Array(repeating: 1_000, count: 6))
        let firsts = try shuffle.sortedPartitions(keepPartitions: true) { _, part in part["id"]!.values(as: Int64.self)!.first! }
        #expect(firsts == [5_999, 4_999, 3_999, 2_999, 1_999, 999])
        // Rows of one id share a partition, so a groupby by it works on the range shuffle.
        let counts = try shuffle.groupBy(["id", "k"], keepPartitions: true).aggregate([.count])
        #expect(counts.rowCount == 6_000)
    }

    @Test("range shuffles refuse unsorted boundaries, missing keys, keys that do not compare and hash partners")
    func rangeRefusals() throws {
        let boundaries = try Table([Column("x", [3, 1] as [Int64])])
        expectPartdError(.invalidArgument) { try Shuffle<Table>(sortingBy: ["x"], boundaries: boundaries) }
        expectPartdError(.invalidArgument) { try Shuffle<Table>(sortingBy: ["y"], boundaries: boundaries) }
        expectPartdError(.invalidArgument) { try Shuffle<Table>(sortingBy: [], boundaries: boundaries) }
        // Descending, the same boundaries are in order.
        let descending = try Shuffle<Table>(sortingBy: [.descending("x")], boundaries: boundaries)
        defer { try? descending.close() }
        expectPartdError(.typeMismatch) { try descending.add(Table([Column("x", [1.5])])) }

        let ranged = try Shuffle<Table>(sortingBy: ["x"], boundaries: boundaries.take([1, 0]))
        let alike = try Shuffle<Table>(sortingBy: ["x"], boundaries: boundaries.take([1, 0]))
        let hashed = try Shuffle<Table>(by: ["x"], partitions: 3)
        defer { for shuffle in [ranged, alike, hashed] { try? shuffle.close() } }
        let rows = try Table([Column("x", [0, 1, 2, 3, 4, 1] as [Int64]), Column("v", Array(0..<Int64(6)))])
        for shuffle in [ranged, alike, hashed] { try shuffle.add(rows) }
        expectPartdError(.invalidArgument) { try hashed.sortedPartitions { _, _ in 0 } }
        expectPartdError(.invalidArgument) { try ranged.join(hashed, on: ["x"], keepPartitions: true) }
        #expect(try ranged.join(alike, on: ["x"], keepPartitions: true).rowCount == 8)
        #expect(try ranged.sortedPartitions(keepPartitions: true) { _, part in part.rowCount } == [1, 3, 2])

        // Boundaries holding NaN (which sorts last), made twice (as two hosts would): still alike.
        func nanBoundaries() throws -> Table { try Table([Column("f", [1.0, .nan])]) }
        let left = try Shuffle<Table>(sortingBy: ["f"], boundaries: try nanBoundaries())
        let right = try Shuffle<Table>(sortingBy: ["f"], boundaries: try nanBoundaries())
        defer { for shuffle in [left, right] { try? shuffle.close() } }
        let floats = try Table([Column("f", [0.5, 2, .nan, 1.5]), Column("v", Array(0..<Int64(4)))])
        try left.add(floats)
        try right.add(floats)
        #expect(try left.join(right, on: ["f"], keepPartitions: true).rowCount == floats.join(floats, on: ["f"]).rowCount)
    }

    @Test("no keys, or a key the table lacks, is refused")
    func refusals() throws {
        let table = sortTable(rows: 10, seed: 1)
        expectPartdError(.invalidArgument) { try table.sorted(by: []) }
        expectPartdError(.invalidArgument) { try table.sorted(by: ["nope"]) }
    }

    @Test("sort keys compare by their column names' bytes, as tables find columns: NFC and NFD café are two keys")
    func lookalikeKeys() throws {
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        #expect(SortKey(nfc) != SortKey(nfd))
        #expect(Set([SortKey(nfc), SortKey(nfd), SortKey(nfc)]).count == 2)
        #expect(SortKey(nfd) == SortKey("cafe\u{301}"))
        let table = try Table([Column(nfc, [2, 1] as [Int64]), Column(nfd, [1, 2] as [Int64])])
        #expect(try table.sorted(by: [SortKey(nfd)])[nfc]?.values(as: Int64.self) == [2, 1])
        #expect(try table.sorted(by: [SortKey(nfc)])[nfc]?.values(as: Int64.self) == [1, 2])
    }
}
