// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdTyped
import Synchronization

/// Which rows a join keeps.
public enum JoinKind: String, Sendable, Hashable {
    /// Pairs of rows whose keys are equal.
    case inner
    /// Those pairs, and each left row without a match once, its right columns null.
    case left
    /// Those pairs, and each right row without a match once, its left columns null (a left join's mirror).
    case right
    /// Those pairs, each left row without a match and each right row without a match, once each, the other
    /// side's columns null (SQL's full outer join).
    case outer
    /// Each left row with at least one match, once, with the left's columns only (SQL's `WHERE EXISTS`).
    case semi
    /// Each left row without a match, with the left's columns only (SQL's `WHERE NOT EXISTS`; rows with a
    /// null key match nothing, so they are kept).
    case anti
}

extension Table {
    /// An in-memory hash join of this table (the left side) with `right` on the named key columns.
    ///
    /// The result has this table's columns, then `right`'s other than the keys; a right column whose name the
    /// left side already has gets `rightSuffix` appended. Inner and left joins give rows in left-row order,
    /// each left row's matches in right-row order; a right join is the mirror (right-row order, each right
    /// row's matches in left-row order); an outer join gives a left join's rows, then the right rows without a
    /// match in right-row order. Semi and anti joins give the left rows with a match, or without one, once
    /// each and in order, with the left's columns only. Rows with a null in a key column match nothing
    /// (SQL's rule), though the joins that keep unmatched rows of their side keep them. Keys compare by value: strings by their bytes,
    /// floats by value (NaN matches nothing, as in SQL; `-0.0` matches `0.0`). A key's two columns may differ
    /// in type where the values convert exactly: integers of any width (but an unsigned 64-bit column with a
    /// signed one), floats of any width, and strings with categoricals.
    ///
    /// In right and outer joins, a key column holds the key of whichever side a row has (the left's where both
    /// have it), so a right row without a match keeps its key. Where a key's two columns differ in type, that
    /// column has the type both convert to (`Int64`, `UInt64`, `Float64` or `String`); inner and left joins keep
    /// the left column as it is.
    ///
    /// ```swift
    /// let sales = try Table([Column("id", [1, 2, 2] as [Int64]), Column("amount", [5.0, 7.0, 1.0])])
    /// let names = try Table([Column("id", [2, 3] as [Int64]), Column("name", strings: ["b", "c"])])
    /// try sales.join(names, on: ["id"])                 // 2 rows: (2, 7.0, "b"), (2, 1.0, "b")
    /// try sales.join(names, on: ["id"], kind: .left)    // 3 rows, the first with a null name
    /// try sales.join(names, on: ["id"], kind: .right)   // 3 rows: the two matches, then (3, null, "c")
    /// try sales.join(names, on: ["id"], kind: .outer)   // 4 rows: the left join's, then (3, null, "c")
    /// ```
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for no keys, a key missing on either side, or result
    ///   columns whose names clash even with the suffix; ``PartdError/Code/typeMismatch`` if a key's columns
    ///   do not compare (an integer and a float, a number and a string, timestamps of different units).
    public func join(_ right: Table, on keys: [String], kind: JoinKind = .inner, rightSuffix: String = "_right") throws
        -> Table
    {
        try Joining(on: keys, kind: kind, rightSuffix: rightSuffix).join(self, right)
    }
}

extension Shuffle where Chunk == Table {
    /// An out-of-core hash join: partition `p` of this shuffle (the left side) is joined with partition `p` of
    /// `right`, as ``Table/join(_:on:kind:rightSuffix:)`` joins tables, on all cores, and `body` gets each
    /// partition's result. Results come back in partition order.
    ///
    /// Both shuffles must be by the same key columns (in the same order) into the same number of partitions,
    /// and the join keys must include those columns, so that rows whose keys match lie in partitions of the
    /// same number. Unless `keepPartitions` is set, the join consumes both shuffles: each partition is deleted
    /// once joined (except from a store given as ``ShuffleOptions/store``, which keeps its partitions), and
    /// both shuffles are closed afterwards, or when the join throws (`body` did, say) after deleting
    /// partitions, lest a later read take the rest for the whole.
    ///
    /// A partition that holds no rows of one side is joined as a table of that side's schema with no rows, so
    /// every partition's result has the same columns: the right side's columns null in a left join, say. A
    /// shuffle that never received a chunk (a reader of what mappers stored in a given store) takes the
    /// schema from the first of its partitions that holds anything. A side without any rows anywhere has no
    /// schema to take: joined with it, an inner join is empty, and a join that keeps the other side's
    /// unmatched rows (left, right or outer) gives that side as it is. A partition with no rows on either
    /// side of such shuffles gives a table without columns.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if the shuffles do not line up or the keys miss one of
    ///   their columns; what ``Table/join(_:on:kind:rightSuffix:)`` throws.
    public func joinPartitions<R: Sendable>(
        _ right: Shuffle<Table>, on keys: [String], kind: JoinKind = .inner, rightSuffix: String = "_right",
        keepPartitions: Bool = false, _ body: @Sendable (Int, Table) throws -> R
    ) throws -> [R] {
        guard right !== self else {
            throw PartdError(code: .invalidArgument, message: "a shuffle cannot be joined with itself; shuffle the right side apart")
        }
        // Names compare as bytes, as a table finds columns (`String`'s `==` takes canonically equivalent names as one).
        guard keyColumns.elementsEqual(right.keyColumns, by: { $0.hasSameUTF8(as: $1) }), partitionCount == right.partitionCount else {
            throw PartdError(
                code: .invalidArgument,
                message: "a join needs both shuffles by the same key columns into as many partitions; the left is by "
                    + "\(keyColumns) into \(partitionCount), the right by \(right.keyColumns) into \(right.partitionCount)")
        }
        let missing = keyColumns.filter { !keys.containsSameUTF8(as: $0) }
        guard missing.isEmpty else {
            throw PartdError(
                code: .invalidArgument,
                message: "a join of shuffles by \(keyColumns) must join on those columns too (\(missing) missing)")
        }
        guard partitionsLikeRows(of: right) else {
            throw PartdError(
                code: .invalidArgument,
                message: "a join needs both shuffles partitioned alike: both by hash, or both by ranges of the same sort keys and boundaries")
        }
        let joining = try Joining(on: keys, kind: kind, rightSuffix: rightSuffix)
        try right.finish()
        let (leftSide, rightSide) = (JoinSide(self), JoinSide(right))
        // Whether a partition holding rows was deleted from either side: a failure afterwards closes that side.
        let leftConsumed = Atomic<Bool>(false)
        let rightConsumed = Atomic<Bool>(false)
        do {
            let results = try mapPartitions { index, left -> R in
                let rightPartition = try right.partition(index)
                leftSide.saw(left)
                rightSide.saw(rightPartition)
                // A side without columns here (a reader shuffle's partition that holds nothing) joins as a
                // table of its schema, if it has rows elsewhere, so that this result has every column too.
                let joined = left.columns.isEmpty == rightPartition.columns.isEmpty
                    ? try joining.join(left, rightPartition)
                    : try joining.join(try leftSide.shaped(left), try rightSide.shaped(rightPartition))
                func consume() throws {
                    guard !keepPartitions else { return }
                    if deletesConsumedPartitions {
                        try store.delete([Self.key(ofPartition: index)])
                        if left.rowCount > 0 { leftConsumed.store(true, ordering: .relaxed) }
                    }
                    if right.deletesConsumedPartitions {
                        try right.store.delete([Self.key(ofPartition: index)])
                        if rightPartition.rowCount > 0 { rightConsumed.store(true, ordering: .relaxed) }
                    }
                }
                // As consumePartitions: before the body from temporary directories, after it from given ones.
                let first = deletesBeforeBody && right.deletesBeforeBody
                if first { try consume() }
                let result = try body(index, joined)
                if !first { try consume() }
                return result
            }
            if !keepPartitions {
                try close()
                try right.close()
            }
            return results
        } catch {
            if leftConsumed.load(ordering: .relaxed) { fail(error) }
            if rightConsumed.load(ordering: .relaxed) { right.fail(error) }
            throw error
        }
    }

    /// ``joinPartitions(_:on:kind:rightSuffix:keepPartitions:_:)`` with the partitions' results joined into
    /// one table (which must fit in memory; otherwise handle each partition's result in that method's `body`).
    public func join(
        _ right: Shuffle<Table>, on keys: [String], kind: JoinKind = .inner, rightSuffix: String = "_right",
        keepPartitions: Bool = false
    ) throws -> Table {
        let parts = try joinPartitions(
            right, on: keys, kind: kind, rightSuffix: rightSuffix, keepPartitions: keepPartitions) { $1 }
        // Partitions that never received a row on either side have no columns to join.
        return try Self.joined(parts)
    }
}

/// One side of a join of shuffles, and a table of its schema with no rows for its partitions without columns
/// (those that hold nothing, of a shuffle that never received a chunk), found once per join.
private final class JoinSide: Sendable {
    let shuffle: Shuffle<Table>
    /// The schema of a partition of this side that had columns, once one was read.
    private let seen = Mutex<TableSchema?>(nil)
    /// The schema found in the store: `nil` until looked up, then what was found (`.some(nil)`: nothing).
    private let stored = Mutex<TableSchema??>(nil)

    init(_ shuffle: Shuffle<Table>) { self.shuffle = shuffle }

    /// Notes the schema of a partition of this side just read.
    func saw(_ partition: Table) {
        guard !partition.columns.isEmpty else { return }
        seen.withLock { $0 = $0 ?? partition.schema }
    }

    /// `partition` if it has columns, else a table of this side's schema with no rows (`partition` as it is if
    /// no partition of this side holds anything).
    func shaped(_ partition: Table) throws -> Table {
        guard partition.columns.isEmpty else { return partition }
        if let schema = seen.withLock({ $0 }) { return Table(empty: schema) }
        let found = try stored.withLock { cache throws -> TableSchema? in
            if let known = cache { return known }
            let schema = try shuffle.storedEmpty()?.schema
            cache = .some(schema)
            return schema
        }
        // A partition read (and deleted, by a consuming join) while the store was searched was seen first.
        return (found ?? seen.withLock { $0 }).map { Table(empty: $0) } ?? partition
    }
}

/// One join's settings, checked once, and the join of two tables.
struct Joining: Sendable {
    let keys: [String]
    let kind: JoinKind
    let rightSuffix: String

    init(on keys: [String], kind: JoinKind, rightSuffix: String) throws {
        guard !keys.isEmpty else { throw PartdError(code: .invalidArgument, message: "a join needs at least one key column") }
        guard Set(keys.map { UTF8Key($0) }).count == keys.count else {
            throw PartdError(code: .invalidArgument, message: "a join's key columns \(keys) repeat")
        }
        self.keys = keys
        self.kind = kind
        self.rightSuffix = rightSuffix
    }

    func join(_ left: Table, _ right: Table) throws -> Table {
        // A side that never received a row (an empty shuffle partition) may have no columns at all; a side
        // with columns must have the keys.
        for (side, table) in [("left", left), ("right", right)] where !table.columns.isEmpty {
            for key in keys where table[key] == nil {
                throw PartdError(code: .invalidArgument, message: "the \(side) table has no key column \"\(key)\" (it has \(table.schema))")
            }
        }
        let keepsLeft = kind == .left || kind == .outer || kind == .anti
        let keepsRight = kind == .right || kind == .outer
        if left.columns.isEmpty { return keepsRight ? right : left }
        if right.columns.isEmpty { return keepsLeft ? left : Table(empty: left.schema) }
        // Keys compare in a type both sides' values convert to exactly (the partition hash already treats
        // such equal values alike, docs/format.md §7).
        var leftKeys: [Column] = []
        var rightKeys: [Column] = []
        for key in keys {
            guard let (l, r) = Self.comparable(left[key]!, right[key]!) else {
                throw PartdError(
                    code: .typeMismatch,
                    message: "join key \"\(key)\" is \(left[key]!.type) on the left and \(right[key]!.type) on the right, "
                        + "which do not compare (integers of any width but unsigned 64-bit with signed, floats of any width, "
                        + "strings with categoricals do)")
            }
            leftKeys.append(l)
            rightKeys.append(r)
        }
        // Both sides' keys in one table (categorical dictionaries unified), so equal keys get one group number.
        let combined = try Table.concatenate([try Table(leftKeys), try Table(rightKeys)])
        if kind == .semi || kind == .anti {
            return left.take(Self.leftRows(combined, leftCount: left.rowCount, matched: kind == .semi))
        }
        var columns: [Column]
        let rightRows: [Int?]
        if keepsRight {
            let pairs = rowPairs(combined, leftCount: left.rowCount, rightCount: right.rowCount)
            rightRows = pairs.right
            // A key column holds the key of the side the row has: rows of `combined` (left rows, then right).
            let keyRows = zip(pairs.left, pairs.right).map { l, r in l ?? left.rowCount + r! }
            columns = left.columns.map { column in
                keys.contains { $0.hasSameUTF8(as: column.name) } ? combined[column.name]!.take(keyRows) : column.take(pairs.left)
            }
        } else {
            let pairs = matches(combined, leftCount: left.rowCount, rightCount: right.rowCount)
            rightRows = pairs.right
            columns = left.take(pairs.left).columns
        }
        // Names compare as bytes, as a table's subscript finds them.
        let taken = right.columns.filter { column in !keys.contains { $0.hasSameUTF8(as: column.name) } }.map { $0.take(rightRows) }
        for column in taken {
            columns.append(left[column.name] == nil ? column : column.renamed(column.name + rightSuffix))
        }
        do {
            return try Table(columns)
        } catch let error as PartdError {
            throw PartdError(code: .invalidArgument, message: "the joined table's columns clash: \(error.message)")
        }
    }

    /// The left rows (in order) that have a match among the right rows (`matched`), or that have none.
    /// `combined` holds the left keys, then the right.
    static func leftRows(_ combined: Table, leftCount: Int, matched: Bool) -> [Int] {
        let (groups, firstRows) = GroupBy.assignGroups(combined.columns, rowCount: combined.rowCount)
        let unmatchable = unmatchableRows(combined.columns, rowCount: combined.rowCount)
        var onRight = [Bool](repeating: false, count: firstRows.count)
        for row in leftCount..<combined.rowCount where !unmatchable[row] { onRight[Int(groups[row])] = true }
        return (0..<leftCount).filter { row in (!unmatchable[row] && onRight[Int(groups[row])]) == matched }
    }

    /// The row pairs of an inner or left join: left rows in order, each with its matches in right-row order
    /// (and, for a left join, `nil` for a left row without one). `combined` holds the left keys, then the right.
    func matches(_ combined: Table, leftCount: Int, rightCount: Int) -> (left: [Int], right: [Int?]) {
        let result = Self.probe(
            combined, 0..<leftCount, against: leftCount..<(leftCount + rightCount), keepUnmatched: kind == .left)
        return (result.probe, result.build)
    }

    /// The row pairs of a right or outer join, `nil` standing for the side a row lacks. Right joins: right rows
    /// in order, each with its matches in left-row order, or `nil` once. Outer joins: a left join's pairs,
    /// then each right row no left row matched, in order.
    func rowPairs(_ combined: Table, leftCount: Int, rightCount: Int) -> (left: [Int?], right: [Int?]) {
        let leftRows = 0..<leftCount
        let rightRows = leftCount..<(leftCount + rightCount)
        if kind == .right {
            let result = Self.probe(combined, rightRows, against: leftRows, keepUnmatched: true)
            return (result.build, result.probe.map { Optional($0) })
        }
        let result = Self.probe(combined, leftRows, against: rightRows, keepUnmatched: true, trackMatched: true)
        var left = result.probe.map { Optional($0) }
        var right = result.build
        let lonely = (0..<rightCount).filter { !result.matched[$0] }
        left.append(contentsOf: repeatElement(nil, count: lonely.count))
        right.append(contentsOf: lonely.lazy.map { Optional($0) })
        return (left, right)
    }

    /// The rows of `probe` (rows of `combined`) in order, each paired with its matches among the rows of
    /// `build` in row order, and with `keepUnmatched` a row without a match once with `nil`; the rows are
    /// given from the start of their ranges. With `trackMatched`, which `build` rows some probe row matched.
    private static func probe(
        _ combined: Table, _ probe: Range<Int>, against build: Range<Int>, keepUnmatched: Bool, trackMatched: Bool = false
    ) -> (probe: [Int], build: [Int?], matched: [Bool]) {
        let rowCount = combined.rowCount
        let (groups, firstRows) = GroupBy.assignGroups(combined.columns, rowCount: rowCount)
        let unmatchable = unmatchableRows(combined.columns, rowCount: rowCount)
        // The build rows of each group, in row order (a counting sort on the group number).
        var bounds = [Int](repeating: 0, count: firstRows.count + 1)
        for row in build where !unmatchable[row] { bounds[Int(groups[row]) + 1] += 1 }
        for g in 0..<firstRows.count { bounds[g + 1] += bounds[g] }
        var next = bounds
        var byGroup = [Int](repeating: 0, count: bounds[firstRows.count])
        for row in build where !unmatchable[row] {
            let g = Int(groups[row])
            byGroup[next[g]] = row - build.lowerBound
            next[g] += 1
        }
        var matched = [Bool](repeating: false, count: trackMatched ? build.count : 0)
        var probeRows: [Int] = []
        var buildRows: [Int?] = []
        probeRows.reserveCapacity(probe.count)
        buildRows.reserveCapacity(probe.count)
        for row in probe {
            let g = Int(groups[row])
            let matches = unmatchable[row] ? 0..<0 : bounds[g]..<bounds[g + 1]
            if matches.isEmpty {
                if keepUnmatched {
                    probeRows.append(row - probe.lowerBound)
                    buildRows.append(nil)
                }
                continue
            }
            for index in matches {
                probeRows.append(row - probe.lowerBound)
                buildRows.append(byGroup[index])
                if trackMatched { matched[byGroup[index]] = true }
            }
        }
        return (probeRows, buildRows, matched)
    }

    /// The two key columns in one type their values convert to exactly, or nil if there is none: the same
    /// type; strings and categoricals (as strings); integers of any width (as Int64, or as UInt64 if both are
    /// unsigned and one is 64-bit; an unsigned 64-bit and a signed column do not compare); floats of any width
    /// (as Float64).
    static func comparable(_ left: Column, _ right: Column) -> (Column, Column)? {
        switch (left.type, right.type) {
        case let (a, b) where a == b: return (left, right)
        case (.string, .categorical): return (left, strings(right))
        case (.categorical, .string): return (strings(left), right)
        case (.fixed(let a), .fixed(let b)):
            let integerKinds: Set<DType.Kind> = [.signed, .unsigned]
            if integerKinds.contains(a.kind) && integerKinds.contains(b.kind) {
                let wide = [a, b].contains(.uint64)
                if wide && [a, b].contains(where: { $0.kind == .signed }) { return nil }
                return (integers(left, unsigned: wide), integers(right, unsigned: wide))
            }
            if a.kind == .float && b.kind == .float { return (doubles(left), doubles(right)) }
            return nil
        default: return nil
        }
    }

    /// A categorical column as strings (a null row's code may point nowhere: it becomes "").
    private static func strings(_ column: Column) -> Column {
        let categorical = column.categorical!
        let categories = categorical.categories
        let strings = StringArray(byteStrings: categorical.codes.lazy.map {
            Int($0) < categories.count ? categories.bytes(at: Int($0)) : []
        })
        return Column(column.name, strings: strings, validity: column.validity)
    }

    /// An integer column's values as Int64, or as UInt64 with `unsigned` (exactly: `comparable` picks the
    /// type that holds them).
    private static func integers(_ column: Column, unsigned: Bool) -> Column {
        func widened<S: ArrayElement & BinaryInteger>(_: S.Type) -> Column {
            let values = column.values(as: S.self)!
            return unsigned
                ? Column(column.name, values.map { UInt64(truncatingIfNeeded: $0) }, validity: column.validity)
                : Column(column.name, values.map { Int64(truncatingIfNeeded: $0) }, validity: column.validity)
        }
        switch column.type {
        case .fixed(.int8): return widened(Int8.self)
        case .fixed(.int16): return widened(Int16.self)
        case .fixed(.int32): return widened(Int32.self)
        case .fixed(.int64): return widened(Int64.self)
        case .fixed(.uint8): return widened(UInt8.self)
        case .fixed(.uint16): return widened(UInt16.self)
        case .fixed(.uint32): return widened(UInt32.self)
        case .fixed(.uint64): return widened(UInt64.self)
        default: preconditionFailure("\(column.type) is no integer type")
        }
    }

    /// A float column's values as Float64 (exactly).
    private static func doubles(_ column: Column) -> Column {
        if column.type == .fixed(.float64) { return column }
        if let values = column.values(as: Float.self) {
            return Column(column.name, values.map(Double.init), validity: column.validity)
        }
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        if let values = column.values(as: Float16.self) {
            return Column(column.name, values.map(Double.init), validity: column.validity)
        }
        #endif
        preconditionFailure("\(column.type) is no float type")
    }

    /// Rows whose key holds a null or a NaN, which match no row.
    static func unmatchableRows(_ keys: [Column], rowCount: Int) -> [Bool] {
        var result = [Bool](repeating: false, count: rowCount)
        for column in keys {
            if let validity = column.validity {
                for row in 0..<rowCount where !validity[row] { result[row] = true }
            }
            if let values = column.values(as: Double.self) {
                for row in 0..<rowCount where values[row].isNaN { result[row] = true }
            } else if let values = column.values(as: Float.self) {
                for row in 0..<rowCount where values[row].isNaN { result[row] = true }
            }
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if let values = column.values(as: Float16.self) {
                for row in 0..<rowCount where values[row].isNaN { result[row] = true }
            }
            #endif
        }
        return result
    }
}
