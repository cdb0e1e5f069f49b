// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdShuffle
import PartdTestSupport
import PartdTyped
import Testing

/// Each row's values in `columns` as one text, written the obvious way: null as "null", NaN as "nan",
/// -0.0 as 0.0, strings and categoricals by their text.
func duplicateKeys(_ table: Table, _ columns: [String]) -> [String] {
    func cells(_ column: Column) -> [String] {
        let rows = 0..<column.count
        var cells: [String]
        func floats(_ values: [Double]) -> [String] { values.map { $0.isNaN ? "nan" : "\($0 == 0 ? 0 : $0)" } }
        switch column.type {
        case .string: cells = rows.map { "s" + String(decoding: column.strings!.bytes(at: $0), as: UTF8.self) }
        case .categorical: cells = rows.map { "s" + column.categorical![$0] }
        case .fixed(.int64): cells = column.values(as: Int64.self)!.map { "\($0)" }
        case .fixed(.int8): cells = column.values(as: Int8.self)!.map { "\($0)" }
        case .fixed(.uint64): cells = column.values(as: UInt64.self)!.map { "\($0)" }
        case .fixed(.bool): cells = column.values(as: Bool.self)!.map { "\($0)" }
        case .fixed(.datetime(.milliseconds)): cells = column.values(as: Timestamp<Milliseconds>.self)!.map { "\($0.rawValue)" }
        case .fixed(.float64): cells = floats(column.values(as: Double.self)!)
        case .fixed(.float32): cells = floats(column.values(as: Float.self)!.map(Double.init))
        default: fatalError("\(column.type)")
        }
        for row in rows where !column.isValid(row) { cells[row] = "null" }
        return cells
    }
    let columnCells = columns.map { cells(table[$0]!) }
    return (0..<table.rowCount).map { row in columnCells.map { $0[row] }.joined(separator: "\u{1}") }
}

/// The rows `keep` leaves, by a dictionary of the rows' texts.
func referenceDistinct(_ table: Table, _ columns: [String], _ keep: DuplicateKeep) -> [Int] {
    let keys = duplicateKeys(table, columns)
    var rowsOf: [String: [Int]] = [:]
    for (row, key) in keys.enumerated() { rowsOf[key, default: []].append(row) }
    let kept: [Int]
    switch keep {
    case .first: kept = rowsOf.values.map { $0.first! }
    case .last: kept = rowsOf.values.map { $0.last! }
    case .none: kept = rowsOf.values.filter { $0.count == 1 }.map { $0[0] }
    }
    return kept.sorted()
}

@Suite("drop duplicates")
struct DistinctTests {
    static let columnSets: [[String]] = [["i"], ["f"], ["s"], ["c"], ["b", "t"], ["u", "h"], ["c", "n"], ["i", "s", "b"]]

    @Test("every column type, alone and together, keeps the rows a dictionary of the rows' values gives",
          arguments: DuplicateKeep.allCases)
    func matchesReference(keep: DuplicateKeep) throws {
        let table = sortTable(rows: 3_000, seed: 41)
        for columns in Self.columnSets {
            let expected = referenceDistinct(table, columns, keep)
            #expect(try table.distinctRows(by: columns, keep: keep) == expected, "\(columns)")
            // (Tables holding NaN are never ==; their rows' texts are.)
            let dropped = try table.droppingDuplicates(by: columns, keep: keep)
            let all = table.columns.map(\.name)
            #expect(dropped.schema == table.schema && duplicateKeys(dropped, all) == duplicateKeys(table.take(expected), all))
        }
        // Every column: far fewer duplicates, the same rule.
        #expect(try table.distinctRows(keep: keep) == referenceDistinct(table, table.columns.map(\.name), keep))
    }

    @Test("nulls match nulls, NaN matches NaN, -0.0 matches 0.0, a null and a NaN differ")
    func specialValues() throws {
        let table = try Table([
            Column("f", [0.0, -0.0, .nan, .nan, 1, 0, 1], validity: BitArray([true, true, true, true, true, false, false])),
            Column("s", strings: StringArray(["a", "a", "a", "a", "a", "a", "b"])),
        ])
        #expect(try table.distinctRows(by: ["f"]) == [0, 2, 4, 5])
        #expect(try table.distinctRows(by: ["f"], keep: .last) == [1, 3, 4, 6])
        #expect(try table.distinctRows(by: ["f"], keep: .none) == [4])
        #expect(try table.distinctRows(by: ["f", "s"], keep: .none) == [4, 5, 6])
        #expect(try table.distinctRows() == [0, 2, 4, 5, 6])
    }

    @Test("no rows, no columns, an empty list of columns and a missing column")
    func edges() throws {
        let table = sortTable(rows: 20, seed: 3)
        #expect(try table.slice(0..<0).droppingDuplicates(by: ["s"]).rowCount == 0)
        #expect(try table.slice(0..<0).droppingDuplicates().schema == table.schema)
        #expect(try Table().distinctRows() == [])
        #expect(throws: PartdError.self) { try table.distinctRows(by: []) }
        let missing = #expect(throws: PartdError.self) { try table.distinctRows(by: ["s", "nope"]) }
        #expect(missing?.code == .invalidArgument && missing?.message.contains("nope") == true)
        // A table without duplicates comes back as it is.
        let unique = try Table([Column("k", (0..<10).map(Int64.init))])
        #expect(try unique.droppingDuplicates() == unique)
    }

    @Test("out of core: each partition keeps the rows the in-memory drop keeps, in input order",
          arguments: [(["s"], DuplicateKeep.first), (["i", "s", "b"], .last), (["c", "n"], .none), (nil, .first)] as [([String]?, DuplicateKeep)])
    func outOfCore(columns: [String]?, keep: DuplicateKeep) throws {
        // A row-number column (not a key) tells which rows were kept.
        let base = sortTable(rows: 4_000, seed: 77)
        let table = try Table(base.columns + [Column("row", (0..<Int64(base.rowCount)).map { $0 })])
        let keys = columns ?? base.columns.map(\.name)
        let shuffleKeys = columns.map { [$0[0]] } ?? ["s", "i"]
        let shuffle = try Shuffle<Table>(by: shuffleKeys, partitions: 7, options: ShuffleOptions(memory: .kilobytes(40)))
        for start in stride(from: 0, to: table.rowCount, by: 450) {
            try shuffle.add(table.slice(start..<min(table.rowCount, start + 450)))
        }
        let parts = try shuffle.distinctPartitions(by: columns, keep: keep) { index, part in
            (index, part.rowCount == 0 ? [] : part["row"]!.values(as: Int64.self)!.map(Int.init))
        }
        #expect(parts.map(\.0) == Array(0..<7))
        for (_, rows) in parts { #expect(rows == rows.sorted()) }
        let expected = try table.distinctRows(by: keys, keep: keep)
        #expect(parts.flatMap(\.1).sorted() == expected)
        #expect(expected == referenceDistinct(table, keys, keep))
        #expect(expected.count < table.rowCount || columns == nil)
    }

    @Test("a shuffle's columns must hold its key column by the name's bytes: the NFC lookalike of an NFD key is another column")
    func lookalikeKeyName() throws {
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        let table = try Table([Column(nfd, [1, 1, 2] as [Int64]), Column(nfc, [5, 5, 5] as [Int64])])
        let shuffle = try Shuffle<Table>(by: [nfd], partitions: 2)
        defer { try? shuffle.close() }
        try shuffle.add(table)
        expectPartdError(.invalidArgument) { try shuffle.droppingDuplicates(by: [nfc], keepPartitions: true) }
        #expect(try shuffle.droppingDuplicates(by: [nfd], keepPartitions: true).rowCount == 2)
    }

    @Test("a shuffle refuses columns that miss its key; the whole result is one table")
    func shuffleRefusalsAndTable() throws {
        let table = sortTable(rows: 1_000, seed: 5)
        let shuffle = try Shuffle<Table>(by: ["s", "c"], partitions: 3)
        try shuffle.add(table)
        let error = #expect(throws: PartdError.self) { try shuffle.distinctPartitions(by: ["s"], keepPartitions: true) { $1 } }
        #expect(error?.code == .invalidArgument && error?.message.contains("[\"c\"] missing") == true)
        let whole = try shuffle.droppingDuplicates(by: ["c", "s"], keep: .last)
        #expect(whole.rowCount == referenceDistinct(table, ["c", "s"], .last).count)
        #expect(whole.schema == table.schema)
    }
}
