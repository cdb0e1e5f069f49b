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

    @Test("no keys, or a key the table lacks, is refused")
    func refusals() throws {
        let table = sortTable(rows: 10, seed: 1)
        expectPartdError(.invalidArgument) { try table.sorted(by: []) }
        expectPartdError(.invalidArgument) { try table.sorted(by: ["nope"]) }
    }
}
