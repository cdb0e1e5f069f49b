// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdTyped

extension Table {
    /// `partitions - 1` boundaries that split this table's rows (a whole dataset, or a sample of it) into
    /// `partitions` ranges of about as many rows each, in the order `keys` give: the key columns of the rows
    /// at positions n/p, 2n/p, … of the sorted rows. ``Shuffle/init(sortingBy:boundaries:options:)`` takes
    /// them. A table without rows gives none (one range).
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for fewer than one partition, no keys or a key the table
    ///   lacks.
    public func sortBoundaries(by keys: [SortKey], partitions: Int) throws -> Table {
        guard partitions > 0 else {
            throw PartdError(code: .invalidArgument, message: "a sort needs at least one partition, not \(partitions)")
        }
        let keyTable = try Table(try sortColumns(keys))
        let order = try keyTable.sortOrder(by: keys)
        guard !order.isEmpty else { return keyTable.slice(0..<0) }
        return keyTable.take((1..<partitions).map { order[$0 * order.count / partitions] })
    }
}

extension Shuffle where Chunk == Table {
    /// A shuffle of tables by ranges of the sort keys `keys` (an out-of-core sort, as dask's `set_index` and
    /// `sort_values` shuffle): with boundaries b₀ ≤ b₁ ≤ … (rows of the key columns, in the sort's order),
    /// partition 0 takes the rows before b₀, partition p the rows from b₍p−1₎ up to (not including) bₚ, and the
    /// last partition the rows from the last boundary on. There are `boundaries.rowCount + 1` partitions.
    /// ``sortedPartitions(keepPartitions:_:)`` then sorts each partition, which in partition order is the
    /// whole sort. ``Table/sortBoundaries(by:partitions:)`` picks boundaries from a sample of the data.
    ///
    /// Rows of equal keys share a partition, so a range shuffle also serves a groupby by its key columns. It
    /// joins only with a shuffle of the same keys and boundaries. Each partition must fit in memory to be
    /// sorted: many rows of one key value all land in one partition.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for no keys, boundaries that lack a key column or are not
    ///   in the sort's order; ``PartdError/Code/typeMismatch`` (from `add`) for a chunk whose key columns do
    ///   not compare with the boundaries'.
    public convenience init(sortingBy keys: [SortKey], boundaries: Table, options: ShuffleOptions = ShuffleOptions()) throws {
        let bounds = try Table(try boundaries.sortColumns(keys))
        let descending = keys.map(\.descending)
        let names = keys.map(\.column)
        let placing = RangeKeys.Placing(bounds.columns, descending: descending)
        let boundaryKeys = try RangeKeys(bounds.columns, placing)
        for row in bounds.rowCount > 1 ? 1..<bounds.rowCount : 0..<0 where boundaryKeys.compare(row - 1, boundaryKeys, row) > 0 {
            throw PartdError(
                code: .invalidArgument,
                message: "sort boundaries must be in the sort's order; row \(row) comes before row \(row - 1)")
        }
        try self.init(partitions: bounds.rowCount + 1, options: options) { store in
            var kind = Self.tableKind(names, store)
            kind.assign = { table, rows in
                // Only the key columns of the rows (slicing the whole table would copy every column).
                let rowKeys = try RangeKeys(names.map { table[$0]!.slice(rows) }, placing)
                return (0..<rows.count).map { boundaryKeys.partition(of: $0, in: rowKeys) }
            }
            kind.ranges = (keys, bounds)
            return kind
        }
    }

    /// The sort keys and boundaries of a shuffle made by ``init(sortingBy:boundaries:options:)`` (`nil` for
    /// one partitioned by hash).
    public var sortRanges: (keys: [SortKey], boundaries: Table)? { kind.ranges }

    /// Each partition of a range shuffle read back and sorted by its keys, on all cores; `body` gets each
    /// (in any order, from several threads) and the results come back in partition order, which is the
    /// sort's order. Unless `keepPartitions` is set, each partition is deleted once sorted (not from a store
    /// given as ``ShuffleOptions/store``) and the shuffle is closed afterwards.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for a shuffle partitioned by hash.
    public func sortedPartitions<R: Sendable>(
        keepPartitions: Bool = false, _ body: @Sendable (Int, Table) throws -> R
    ) throws -> [R] {
        guard let ranges = kind.ranges else {
            throw PartdError(
                code: .invalidArgument,
                message: "this shuffle is partitioned by hash, not by ranges: make it with init(sortingBy:boundaries:) to sort")
        }
        return try consumePartitions(keepPartitions: keepPartitions, { try $0.sorted(by: ranges.keys) }, body)
    }

    /// ``sortedPartitions(keepPartitions:_:)`` joined into one table (which must fit in memory).
    public func sorted(keepPartitions: Bool = false) throws -> Table {
        try Self.joined(try sortedPartitions(keepPartitions: keepPartitions) { $1 })
    }

    /// Whether rows of equal keys land in partitions of the same number in both shuffles' partitioning.
    func partitionsLikeRows(of other: Shuffle<Table>) -> Bool {
        switch (kind.ranges, other.kind.ranges) {
        case (nil, nil): return true
        case let (a?, b?):
            // Compared as stored (Arrow bytes) too: boundaries holding NaN, made twice, are alike though NaN != NaN.
            return a.keys == b.keys && (a.boundaries == b.boundaries || a.boundaries.arrowFile() == b.boundaries.arrowFile())
        default: return false
        }
    }
}

/// Sort key columns as rows of integers in the sort's order that compare between the boundaries and any
/// chunk: per key, whether the row lacks a value (1 for null or NaN, which sort last), then the value:
/// fixed-width values as `OrderKeys` gives them; strings and categoricals by their place among the
/// boundaries' distinct strings (2i + 1 for the i-th of them, 2i for a string between the (i−1)-th and the
/// i-th), so that rows compare as integer tuples, without a call per key.
struct RangeKeys {
    /// How each key column becomes integers, fixed by the boundaries.
    struct Placing: Sendable {
        let descending: [Bool]
        /// For a string or categorical key, the boundaries' distinct strings in byte order.
        let strings: [[ArraySlice<UInt8>]?]
        let types: [ColumnType]

        init(_ boundaries: [Column], descending: [Bool]) {
            self.descending = descending
            types = boundaries.map(\.type)
            strings = boundaries.map { column in
                guard let bytes = RangeKeys.bytes(column) else { return nil }
                var distinct: [ArraySlice<UInt8>] = []
                for row in 0..<column.count where column.isValid(row) { distinct.append(bytes(row)) }
                distinct.sort { OrderKeys.compareBytes($0, $1) < 0 }
                return distinct.enumerated().filter { $0.offset == 0 || distinct[$0.offset - 1] != $0.element }.map(\.element)
            }
        }

        /// `bytes`' place among a key's boundary strings: 2i + 1 if it is the i-th, 2i if it comes before it.
        func place(_ bytes: ArraySlice<UInt8>, among strings: [ArraySlice<UInt8>]) -> UInt64 {
            var (low, high) = (0, strings.count)
            while low < high {
                let middle = (low + high) / 2
                if OrderKeys.compareBytes(strings[middle], bytes) < 0 { low = middle + 1 } else { high = middle }
            }
            return UInt64(2 * low + (low < strings.count && strings[low] == bytes ? 1 : 0))
        }
    }

    /// Two integers per key (missing, value), row after row.
    let width: Int
    let values: [UInt64]
    var rowCount: Int { width == 0 ? 0 : values.count / width }

    /// - Throws: ``PartdError/Code/typeMismatch`` for a key column that does not compare with the boundaries'.
    init(_ columns: [Column], _ placing: Placing) throws {
        width = 2 * columns.count
        let rows = columns.first?.count ?? 0
        var values = [UInt64](repeating: 0, count: rows * width)
        for (index, column) in columns.enumerated() {
            let descending = placing.descending[index]
            if let strings = placing.strings[index] {
                guard let bytes = Self.bytes(column) else { throw Self.mismatch(column, placing.types[index]) }
                // Each distinct string placed once (categories by code, strings through a table).
                var placed: [ArraySlice<UInt8>: UInt64] = [:]
                for row in 0..<rows {
                    guard column.isValid(row) else {
                        values[row * width + 2 * index] = 1
                        continue
                    }
                    let text = bytes(row)
                    let place: UInt64
                    if let known = placed[text] {
                        place = known
                    } else {
                        place = placing.place(text, among: strings)
                        placed[text] = place
                    }
                    values[row * width + 2 * index + 1] = descending ? ~place : place
                }
            } else {
                guard column.type == placing.types[index],
                    let keys = OrderKeys(column, descending: descending, ranked: false)
                else { throw Self.mismatch(column, placing.types[index]) }
                for row in 0..<rows {
                    if keys.missing?[row] ?? false {
                        values[row * width + 2 * index] = 1
                    } else {
                        values[row * width + 2 * index + 1] = keys.keys[row]
                    }
                }
            }
        }
        self.values = values
    }

    /// The partition of row `row` of `rows` with these boundaries: how many sort at or before it.
    func partition(of row: Int, in rows: RangeKeys) -> Int {
        var (low, high) = (0, rowCount)
        while low < high {
            let middle = (low + high) / 2
            if compare(middle, rows, row) <= 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Row `i` here against row `j` of `other`: negative, 0 or positive.
    func compare(_ i: Int, _ other: RangeKeys, _ j: Int) -> Int {
        let (a, b) = (i * width, j * width)
        for k in 0..<width where values[a + k] != other.values[b + k] {
            return values[a + k] < other.values[b + k] ? -1 : 1
        }
        return 0
    }

    /// A string or categorical column's bytes by row.
    static func bytes(_ column: Column) -> ((Int) -> ArraySlice<UInt8>)? {
        if let strings = column.strings { return { strings.bytes(at: $0) } }
        if let categorical = column.categorical {
            let (codes, categories) = (categorical.codes, categorical.categories)
            return { Int(codes[$0]) < categories.count ? categories.bytes(at: Int(codes[$0])) : [] }
        }
        return nil
    }

    static func mismatch(_ column: Column, _ type: ColumnType) -> PartdError {
        PartdError(
            code: .typeMismatch,
            message: "sort key \"\(column.name)\" is \(column.type) in the chunk and \(type) in the boundaries, which do not compare")
    }
}
