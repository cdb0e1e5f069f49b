// SPDX-License-Identifier: Apache-2.0

import Partd
@testable import PartdShuffle
import PartdTestSupport
import PartdTyped
import Testing

/// The rows of `left` joined with `right` on `keys`, by a nested loop, as `rowText` rows. Inner and left
/// joins: left-row order, each row's matches in right-row order. Right joins: right-row order, each row's
/// matches in left-row order. Outer joins: a left join's rows, then the right rows without a match. Keys with
/// a null match nothing; a row without the left side takes its key columns from the right.
func referenceJoin(_ left: Table, _ right: Table, keys: [String], kind: JoinKind) -> [String] {
    let leftKeys = try! left.selecting(keys)
    let rightKeys = try! right.selecting(keys)
    let rightRest = try! right.selecting(right.columns.map(\.name).filter { !keys.contains($0) })
    // Each row's key as text, or nil if it has a null.
    func keyTexts(_ keys: Table) -> [String?] {
        (0..<keys.rowCount).map { row in keys.columns.contains { !$0.isValid(row) } ? nil : rowText(keys, row) }
    }
    let (leftTexts, rightTexts) = (keyTexts(leftKeys), keyTexts(rightKeys))
    func matches(_ l: Int, _ r: Int) -> Bool { leftTexts[l] != nil && leftTexts[l] == rightTexts[r] }
    func row(_ l: Int?, _ r: Int?) -> String {
        let leftPart = l.map { rowText(left, $0) } ?? left.columns.map { column in
            keys.contains(column.name) ? rowText(try! right.selecting([column.name]), r!) : "null"
        }.joined(separator: "|")
        let rightPart = r.map { rowText(rightRest, $0) } ?? rightRest.columns.map { _ in "null" }.joined(separator: "|")
        return leftPart + "|" + rightPart
    }
    var rows: [String] = []
    if kind == .right {
        for r in 0..<right.rowCount {
            let matched = (0..<left.rowCount).filter { matches($0, r) }
            rows += matched.isEmpty ? [row(nil, r)] : matched.map { row($0, r) }
        }
        return rows
    }
    for l in 0..<left.rowCount {
        let matched = (0..<right.rowCount).filter { matches(l, $0) }
        rows += matched.map { row(l, $0) }
        if matched.isEmpty && kind != .inner { rows.append(row(l, nil)) }
    }
    if kind == .outer {
        for r in 0..<right.rowCount where !(0..<left.rowCount).contains(where: { matches($0, r) }) {
            rows.append(row(nil, r))
        }
    }
    return rows
}

@Suite("Join", .serialized)
struct JoinTests {
    @Test("an in-memory join equals a nested loop, row for row; an out-of-core join has the same rows",
          arguments: [
              (["id"], JoinKind.inner), (["id"], .left), (["id", "name"], .inner), (["id", "color"], .left),
              (["id"], .right), (["id", "name"], .outer), (["id", "color"], .right), (["id"], .outer),
          ])
    func matchesNestedLoop(keys: [String], kind: JoinKind) throws {
        // Few distinct ids, so keys repeat on both sides; the colours' dictionaries differ between the sides.
        let lefts = (0..<3).map { shuffleTable(rows: [300, 0, 500][$0], seed: UInt64($0) + 40, keys: 60) }
        let rights = (0..<2).map { shuffleTable(rows: 400, seed: UInt64($0) + 50, keys: 80) }
        let (left, right) = (try Table.concatenate(lefts), try Table.concatenate(rights))
        let expected = referenceJoin(left, right, keys: keys, kind: kind)
        // Keys repeat on both sides (many matches per row); left, right and outer joins also keep rows without
        // one, with the other side's columns null.
        #expect(expected.count > left.rowCount)
        #expect(expected.contains { $0.hasSuffix(Array(repeating: "null", count: 6 - keys.count).joined(separator: "|")) }
            == (kind == .left || kind == .outer))
        let leftOthers = left.columns.indices.filter { !keys.contains(left.columns[$0].name) }
        #expect(expected.contains { row in
            let cells = row.split(separator: "|", omittingEmptySubsequences: false)
            return leftOthers.allSatisfy { cells[$0] == "null" }
        } == (kind == .right || kind == .outer))

        let inMemory = try left.join(right, on: keys, kind: kind)
        #expect((0..<inMemory.rowCount).map { rowText(inMemory, $0) } == expected)
        // The left columns, then the right's other than the keys, suffixed where the names clash.
        let rightNames = right.columns.map(\.name).filter { !keys.contains($0) }.map { $0 + "_right" }
        #expect(inMemory.columns.map(\.name) == left.columns.map(\.name) + rightNames)
        #expect(inMemory.schema.fields.dropFirst(left.columns.count).map(\.type)
            == right.schema.fields.filter { !keys.contains($0.name) }.map(\.type))

        let leftShuffle = try Shuffle<Table>(by: ["id"], partitions: 7, options: ShuffleOptions(memory: .kilobytes(16), compression: .lz4))
        let rightShuffle = try Shuffle<Table>(by: ["id"], partitions: 7, options: ShuffleOptions(memory: .kilobytes(16)))
        try leftShuffle.add(contentsOf: lefts)
        try rightShuffle.add(contentsOf: rights)
        let outOfCore = try leftShuffle.join(rightShuffle, on: keys, kind: kind)
        #expect(rowMultiset(outOfCore) == expected.sorted())
        #expect(outOfCore.schema == inMemory.schema)
        // The join consumed both shuffles.
        expectPartdError(.closed) { try leftShuffle.partition(0) }
        expectPartdError(.closed) { try rightShuffle.partition(0) }
    }

    @Test("semi and anti joins keep the left rows with a match, or without one, once each and in order",
          arguments: [(["id"], JoinKind.semi), (["id"], .anti), (["id", "color"], .semi), (["id", "name"], .anti)])
    func semiAndAnti(keys: [String], kind: JoinKind) throws {
        let lefts = (0..<2).map { shuffleTable(rows: [400, 300][$0], seed: UInt64($0) + 60, keys: 60) }
        let rights = (0..<2).map { shuffleTable(rows: 150, seed: UInt64($0) + 70, keys: 90) }
        let (left, right) = (try Table.concatenate(lefts), try Table.concatenate(rights))
        // A left row has a match if the inner join pairs it with any right row.
        let paired = Set(referenceJoin(left, right, keys: keys, kind: .inner).map { String($0.split(separator: "|", maxSplits: left.columns.count, omittingEmptySubsequences: false).prefix(left.columns.count).joined(separator: "|")) })
        let expected = (0..<left.rowCount).map { rowText(left, $0) }.filter { paired.contains($0) == (kind == .semi) }
        #expect(!expected.isEmpty && expected.count < left.rowCount)
        let inMemory = try left.join(right, on: keys, kind: kind)
        #expect(inMemory.schema == left.schema)
        #expect((0..<inMemory.rowCount).map { rowText(inMemory, $0) } == expected)

        let leftShuffle = try Shuffle<Table>(by: ["id"], partitions: 5, options: ShuffleOptions(memory: .kilobytes(16)))
        let rightShuffle = try Shuffle<Table>(by: ["id"], partitions: 5, options: ShuffleOptions(memory: .kilobytes(16)))
        try leftShuffle.add(contentsOf: lefts)
        try rightShuffle.add(contentsOf: rights)
        #expect(rowMultiset(try leftShuffle.join(rightShuffle, on: keys, kind: kind)) == expected.sorted())
        // Against a side with no rows: a semi join keeps nothing, an anti join everything.
        #expect(try left.join(right.slice(0..<0), on: keys, kind: kind).rowCount == (kind == .semi ? 0 : left.rowCount))
    }

    @Test("a left join with no match gives typed nulls; null and NaN keys match nothing")
    func nullsAndNaN() throws {
        let left = try Table([
            Column("k", [1.0, .nan, 2.0, 0.0, 3.0], validity: [true, true, true, true, false]),
            Column("a", [10, 20, 30, 40, 50] as [Int64]),
        ])
        let right = try Table([
            Column("k", [.nan, 2.0, -0.0, 3.0], validity: [true, true, true, false]),
            Column("when", [1, 2, 3, 4].map { Timestamp<Microseconds>($0) }),
            Column("flag", [true, false, true, true]),
            Column("s", strings: ["p", "q", "r", "t"]),
            Column("c", categorical: ["x", "y", "z", "x"]),
        ])
        let inner = try left.join(right, on: ["k"])
        #expect(inner.columns.map(\.name) == ["k", "a", "when", "flag", "s", "c"])
        // 2.0 matches 2.0, and 0.0 matches -0.0; NaN and null keys match nothing.
        #expect(inner["a"]!.values(as: Int64.self) == [30, 40])
        #expect(inner["s"]!.strings.map(Array.init) == ["q", "r"])
        let leftJoin = try left.join(right, on: ["k"], kind: .left)
        #expect(leftJoin["a"]!.values(as: Int64.self) == [10, 20, 30, 40, 50])
        for name in ["when", "flag", "s", "c"] {
            let column = try #require(leftJoin[name])
            #expect((0..<5).map { column.isValid($0) } == [false, false, true, true, false], "\(name)")
        }
        #expect(leftJoin["c"]!.text(at: 2) == "y" && leftJoin["when"]!.text(at: 3) == "3")

        // Against a right side with no rows at all, every right column is null and keeps its type.
        let none = try left.join(right.slice(0..<0), on: ["k"], kind: .left)
        #expect(none.rowCount == 5 && none.schema == leftJoin.schema)
        #expect(none.columns.dropFirst(2).allSatisfy { column in (0..<5).allSatisfy { !column.isValid($0) } })
        #expect(try left.join(right.slice(0..<0), on: ["k"]).rowCount == 0)
    }

    @Test("right and outer joins keep unmatched rows of their side with the right side's key; null keys stay")
    func rightAndOuter() throws {
        let sales = try Table([
            Column("id", [1, 2, 2, 4] as [Int32], validity: [true, true, true, false]),
            Column("amount", [5.0, 7.0, 1.0, 9.0]),
        ])
        let names = try Table([
            Column("id", [2, 3, 0] as [Int64], validity: [true, true, false]),
            Column("name", categorical: ["b", "c", "z"]),
        ])
        func rows(_ table: Table) -> [String] { (0..<table.rowCount).map { rowText(table, $0) } }
        // The key columns differ in width, so they hold Int64 here; the right's unmatched rows keep their key.
        let right = try sales.join(names, on: ["id"], kind: .right)
        #expect(right.schema.fields.map(\.type) == [.fixed(.int64), .fixed(.float64), .categorical])
        #expect(rows(right) == ["2|7.0|b", "2|1.0|b", "3|null|c", "null|null|z"])
        let outer = try sales.join(names, on: ["id"], kind: .outer)
        #expect(rows(outer) == ["1|5.0|null", "2|7.0|b", "2|1.0|b", "null|9.0|null", "3|null|c", "null|null|z"])
        // Inner and left joins keep the left key column's own type.
        #expect(try sales.join(names, on: ["id"], kind: .left)["id"]!.type == .fixed(.int32))
        // With keys of one type, the key column keeps it; the mirror of a left join is a right join.
        let wide = try Table([Column("id", [1, 2, 2, 4] as [Int64]), Column("amount", [5.0, 7.0, 1.0, 9.0])])
        let mirrored = try names.join(wide, on: ["id"], kind: .left)
        let rightOfWide = try wide.join(names, on: ["id"], kind: .right)
        #expect(rightOfWide["id"]!.type == .fixed(.int64))
        #expect(rows(rightOfWide).map { $0.split(separator: "|").sorted() } == rows(mirrored).map { $0.split(separator: "|").sorted() })

        // Against a side with no rows, the other side's rows stand alone.
        #expect(rows(try sales.slice(0..<0).join(names, on: ["id"], kind: .right)) == ["2|null|b", "3|null|c", "null|null|z"])
        #expect(try sales.join(names.slice(0..<0), on: ["id"], kind: .right).rowCount == 0)
        #expect(try sales.join(names.slice(0..<0), on: ["id"], kind: .outer).rowCount == 4)
        // A side with no columns at all (a shuffle that never received rows): the kept side as it is.
        #expect(try Table().join(names, on: ["id"], kind: .right) == names)
        #expect(try Table().join(names, on: ["id"], kind: .outer) == names)
        #expect(try sales.join(Table(), on: ["id"], kind: .outer) == sales)
        #expect(try sales.join(Table(), on: ["id"], kind: .right).rowCount == 0)

        // Out of core, into partitions of which many are empty on one side or the other.
        let left = try Shuffle<Table>(by: ["id"], partitions: 9)
        let rightSide = try Shuffle<Table>(by: ["id"], partitions: 9)
        try left.add(sales)
        try rightSide.add(names)
        #expect(rowMultiset(try left.join(rightSide, on: ["id"], kind: .outer, keepPartitions: true)) == rows(outer).sorted())
        #expect(rowMultiset(try left.join(rightSide, on: ["id"], kind: .right)) == rows(right).sorted())
        let nothing = try Shuffle<Table>(by: ["id"], partitions: 3)
        let some = try Shuffle<Table>(by: ["id"], partitions: 3)
        try some.add(names)
        let kept = try nothing.join(some, on: ["id"], kind: .right)
        #expect(rowMultiset(kept) == rows(names).sorted() && kept.schema == names.schema)
    }

    @Test("keys of different integer or float widths, and strings with categoricals, join by value")
    func mixedKeyTypes() throws {
        func keys(_ column: Column) throws -> Table { try Table([column, Column("row", Array(0..<Int64(column.count)))]) }
        func pairs(_ left: Column, _ right: Column) throws -> [[Int64]] {
            let joined = try keys(left).join(keys(right), on: [left.name])
            let (l, r) = (joined["row"]!.values(as: Int64.self)!, joined["row_right"]!.values(as: Int64.self)!)
            return zip(l, r).map { [$0, $1] }
        }
        let wide = Column("k", [-1, 5, 300, 70_000] as [Int64])
        #expect(try pairs(wide, Column("k", [5, 44, -1] as [Int8])) == [[0, 2], [1, 0]])
        #expect(try pairs(Column("k", [255, 5] as [UInt8]), wide) == [[1, 1]])
        #expect(try pairs(Column("k", [70_000, 300] as [UInt32]), wide) == [[0, 3], [1, 2]])
        #expect(try pairs(Column("k", [UInt64.max, 7] as [UInt64]), Column("k", [7, 9] as [UInt16])) == [[1, 0]])
        #expect(try pairs(Column("k", [2.5, 1] as [Float]), Column("k", [1, 2.5, .nan])) == [[0, 1], [1, 0]])
        let strings = Column("k", strings: ["b", "a", "c"], validity: [true, true, false])
        let categories = Column("k", categorical: ["c", "a", "b", "a"])
        #expect(try pairs(strings, categories) == [[0, 2], [1, 1], [1, 3]])
        #expect(try pairs(categories, strings) == [[1, 1], [2, 0], [3, 1]])
        // Values no type holds exactly, and different kinds, do not compare.
        expectPartdError(.typeMismatch) { try pairs(Column("k", [UInt64.max] as [UInt64]), wide) }
        expectPartdError(.typeMismatch) { try pairs(wide, Column("k", [5.0])) }
        expectPartdError(.typeMismatch) {
            try pairs(Column("k", [Timestamp<Seconds>(1)]), Column("k", [Timestamp<Milliseconds>(1)]))
        }

        // Out of core too: the partition hash puts equal values of these types in the same partition.
        let left = try Shuffle<Table>(by: ["k"], partitions: 6)
        let right = try Shuffle<Table>(by: ["k"], partitions: 6)
        try left.add(keys(Column("k", (0..<500).map { Int64($0 % 97) })))
        try right.add(keys(Column("k", (0..<97).map { Int16($0) })))
        #expect(try left.join(right, on: ["k"]).rowCount == 500)
    }

    @Test("mismatched keys, types, shuffles and clashing names are refused with typed errors")
    func refusals() throws {
        let table = shuffleTable(rows: 50, seed: 3)
        expectPartdError(.invalidArgument) { try table.join(table, on: []) }
        expectPartdError(.invalidArgument) { try table.join(table, on: ["id", "id"]) }
        expectPartdError(.invalidArgument) { try table.join(table, on: ["nope"]) }
        expectPartdError(.invalidArgument) { try table.join(Table(), on: ["nope"]) }
        #expect(try table.join(Table(), on: ["id"], kind: .left) == table)
        let names = try Table([Column("id", strings: ["1"])])
        expectPartdError(.typeMismatch) { try table.join(names, on: ["id"]) }
        // The right's x becomes x_right, which the left already has.
        let clash = try Table([Column("id", [1] as [Int64]), Column("x", [1.0]), Column("x_right", [1.0])])
        let withX = try Table([Column("id", [1] as [Int64]), Column("x", [2.0])])
        expectPartdError(.invalidArgument) { try clash.join(withX, on: ["id"]) }
        #expect(try clash.join(withX, on: ["id"], rightSuffix: "_2").columns.map(\.name) == ["id", "x", "x_right", "x_2"])

        let byId = try Shuffle<Table>(by: ["id"], partitions: 4)
        let byName = try Shuffle<Table>(by: ["name"], partitions: 4)
        let fewer = try Shuffle<Table>(by: ["id"], partitions: 3)
        defer { for shuffle in [byId, byName, fewer] { try? shuffle.close() } }
        for shuffle in [byId, byName, fewer] { try shuffle.add(table) }
        expectPartdError(.invalidArgument) { try byId.join(byName, on: ["id", "name"]) }
        expectPartdError(.invalidArgument) { try byId.join(fewer, on: ["id"]) }
        expectPartdError(.invalidArgument) { try byId.join(byId, on: ["id"]) }
        expectPartdError(.invalidArgument) { try byName.join(byName, on: ["name"]) }
    }

    @Test("join keys and shuffles' key columns are told apart by their bytes (NFC and NFD café are two columns)")
    func lookalikeKeyNames() throws {
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        let left = try Table([Column(nfc, [1, 2] as [Int64]), Column(nfd, [10, 20] as [Int64]), Column("x", [0.5, 1.5])])
        let right = try Table([Column(nfc, [1, 2] as [Int64]), Column(nfd, [10, 21] as [Int64]), Column("y", strings: ["a", "b"])])
        // Two keys whose names are canonically equivalent are two keys, not one repeated (it was refused).
        let both = try left.join(right, on: [nfc, nfd])
        #expect(both.columns.map { Array($0.name.utf8) } == [nfc, nfd, "x", "y"].map { Array($0.utf8) })
        #expect(both["y"]?.strings.map(Array.init) == ["a"])
        let byNFD = try Shuffle<Table>(by: [nfd], partitions: 3)
        let byNFC = try Shuffle<Table>(by: [nfc], partitions: 3)
        let alsoByNFD = try Shuffle<Table>(by: [nfd], partitions: 3)
        defer { for shuffle in [byNFD, byNFC, alsoByNFD] { try? shuffle.close() } }
        try byNFD.add(left)
        try byNFC.add(right)
        try alsoByNFD.add(right)
        // Shuffles by different columns do not join (String's == took them for one), nor do keys without the
        // column the shuffles partition by.
        expectPartdError(.invalidArgument) { try byNFD.join(byNFC, on: [nfd], keepPartitions: true) }
        expectPartdError(.invalidArgument) { try byNFD.join(alsoByNFD, on: [nfc], keepPartitions: true) }
        let joined = try byNFD.join(alsoByNFD, on: [nfd], keepPartitions: true)
        #expect(joined.rowCount == 1 && joined["y"]?.strings.map(Array.init) == ["a"])
    }

    @Test("keepPartitions leaves both shuffles readable; a side that never received rows joins as empty")
    func keepAndEmpty() throws {
        let left = try Shuffle<Table>(by: ["id"], partitions: 5)
        let right = try Shuffle<Table>(by: ["id"], partitions: 5)
        defer { try? left.close(); try? right.close() }
        try left.add(shuffleTable(rows: 200, seed: 8))
        try right.add(shuffleTable(rows: 100, seed: 9))
        let first = try left.join(right, on: ["id"], keepPartitions: true)
        let second = try left.join(right, on: ["id"], keepPartitions: true)
        #expect(rowMultiset(first) == rowMultiset(second) && first.rowCount > 0)
        // Each partition's result goes to the body, in partition order.
        let counts = try left.joinPartitions(right, on: ["id"], keepPartitions: true) { index, part in (index, part.rowCount) }
        #expect(counts.map(\.0) == Array(0..<5) && counts.map(\.1).reduce(0, +) == first.rowCount)

        let nothing = try Shuffle<Table>(by: ["id"], partitions: 5)
        defer { try? nothing.close() }
        #expect(try left.join(nothing, on: ["id"], keepPartitions: true).rowCount == 0)
        let kept = try left.join(nothing, on: ["id"], kind: .left, keepPartitions: true)
        #expect(kept.rowCount == 200 && kept.schema == shuffleTable(rows: 1, seed: 8).schema)
    }
}

@Suite("Join of reader shuffles", .serialized)
struct ReaderJoinTests {
    @Test("a join of shuffles that never received a chunk (readers over given stores) keeps the other side's columns where a partition has no rows of one side (they were dropped)")
    func readersKeepColumns() throws {
        let many = try Table([Column("k", Array(1...20) as [Int64]), Column("a", (1...20).map(Double.init))])
        let one = try Table([Column("k", [1] as [Int64]), Column("b", [9.0])])
        for (leftTable, rightTable) in [(many, one), (one, many)] {
            // Mappers shuffle each side into a store of its own, as on other hosts.
            let (leftStore, rightStore) = (AnyByteStore(MemoryStore()), AnyByteStore(MemoryStore()))
            let leftMapper = try Shuffle<Table>(by: ["k"], partitions: 8, options: ShuffleOptions(store: leftStore))
            let rightMapper = try Shuffle<Table>(by: ["k"], partitions: 8, options: ShuffleOptions(store: rightStore))
            try leftMapper.add(leftTable)
            try rightMapper.add(rightTable)
            try leftMapper.close()
            try rightMapper.close()
            for kind in [JoinKind.inner, .left, .right, .outer, .semi, .anti] {
                // Reducers: shuffles over the same stores that add nothing.
                let left = try Shuffle<Table>(by: ["k"], partitions: 8, options: ShuffleOptions(store: leftStore))
                let right = try Shuffle<Table>(by: ["k"], partitions: 8, options: ShuffleOptions(store: rightStore))
                let expected = try leftTable.join(rightTable, on: ["k"], kind: kind)
                // Each partition holding rows of either side gets the whole schema.
                let schemas = try left.joinPartitions(right, on: ["k"], kind: kind, keepPartitions: true) { $1.schema }
                #expect(schemas.allSatisfy { $0 == expected.schema || $0.fields.isEmpty }, "\(kind)")
                let joined = try left.join(right, on: ["k"], kind: kind)
                #expect(joined.schema == expected.schema, "\(kind), \(leftTable.rowCount) left rows")
                #expect(rowMultiset(joined) == rowMultiset(expected), "\(kind), \(leftTable.rowCount) left rows")
            }
        }
    }

    @Test("partitions' results of different schemas are refused with typeMismatch (the later parts' other columns were dropped)")
    func concatenateRefusesOtherSchemas() throws {
        let narrow = try Table([Column("k", [1] as [Int64]), Column("a", [1.0])])
        let wide = try Table([Column("k", [2] as [Int64]), Column("a", [2.0]), Column("b", [3.0])])
        expectPartdError(.typeMismatch) { try Shuffle<Table>.joined([narrow, wide]) }
        expectPartdError(.typeMismatch) { try Shuffle<Table>.joined([wide, narrow]) }
        // Parts without columns (partitions that never received a row) are left out as before.
        #expect(try Shuffle<Table>.joined([Table(), narrow, Table(), narrow]).rowCount == 2)
    }
}
