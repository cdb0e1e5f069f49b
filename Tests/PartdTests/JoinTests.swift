// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdShuffle
import PartdTestSupport
import PartdTyped
import Testing

/// The rows of `left` joined with `right` on `keys`, by a nested loop, as `rowText` rows: left-row order, each
/// row's matches in right-row order; keys with a null match nothing.
func referenceJoin(_ left: Table, _ right: Table, keys: [String], kind: JoinKind) -> [String] {
    let leftKeys = try! left.selecting(keys)
    let rightKeys = try! right.selecting(keys)
    let rightRest = try! right.selecting(right.columns.map(\.name).filter { !keys.contains($0) })
    func hasNull(_ table: Table, _ row: Int) -> Bool { table.columns.contains { !$0.isValid(row) } }
    var rows: [String] = []
    for l in 0..<left.rowCount {
        var matched = false
        if !hasNull(leftKeys, l) {
            for r in 0..<right.rowCount where !hasNull(rightKeys, r) && rowText(leftKeys, l) == rowText(rightKeys, r) {
                rows.append(rowText(left, l) + "|" + rowText(rightRest, r))
                matched = true
            }
        }
        if !matched && kind == .left {
            rows.append(rowText(left, l) + "|" + rightRest.columns.map { _ in "null" }.joined(separator: "|"))
        }
    }
    return rows
}

@Suite("Join", .serialized)
struct JoinTests {
    @Test("an in-memory join equals a nested loop, row for row; an out-of-core join has the same rows",
          arguments: [(["id"], JoinKind.inner), (["id"], .left), (["id", "name"], .inner), (["id", "color"], .left)])
    func matchesNestedLoop(keys: [String], kind: JoinKind) throws {
        // Few distinct ids, so keys repeat on both sides; the colours' dictionaries differ between the sides.
        let lefts = (0..<3).map { shuffleTable(rows: [300, 0, 500][$0], seed: UInt64($0) + 40, keys: 60) }
        let rights = (0..<2).map { shuffleTable(rows: 400, seed: UInt64($0) + 50, keys: 80) }
        let (left, right) = (try Table.concatenate(lefts), try Table.concatenate(rights))
        let expected = referenceJoin(left, right, keys: keys, kind: kind)
        // Keys repeat on both sides (many matches per row); a left join also keeps rows without one.
        #expect(expected.count > left.rowCount)
        #expect(expected.contains { $0.hasSuffix(Array(repeating: "null", count: 6 - keys.count).joined(separator: "|")) } == (kind == .left))

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
