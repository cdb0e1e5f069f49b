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
        let order = try RowOrder(bounds.columns, bounds.columns, descending: descending, sameTable: true)
        for row in bounds.rowCount > 1 ? 1..<bounds.rowCount : 0..<0 where order.compare(row - 1, row) > 0 {
            throw PartdError(
                code: .invalidArgument,
                message: "sort boundaries must be in the sort's order; row \(row) comes before row \(row - 1)")
        }
        let names = keys.map(\.column)
        try self.init(partitions: bounds.rowCount + 1, options: options) { store in
            var kind = Self.tableKind(names, store)
            // One fixed-width key: its values as integers in the sort's order, searched directly.
            let boundaryKeys = bounds.columns.count == 1
                ? OrderKeys(bounds.columns[0], descending: descending[0], ranked: false) : nil
            kind.assign = { table, rows in
                let slice = table.slice(rows)
                if let boundaryKeys, bounds.columns[0].type == slice[names[0]]!.type,
                    let keys = OrderKeys(slice[names[0]]!, descending: descending[0], ranked: false)
                {
                    return Self.partitions(of: keys, among: boundaryKeys)
                }
                let order = try RowOrder(bounds.columns, names.map { slice[$0]! }, descending: descending, sameTable: false)
                // Each row's partition: how many boundaries sort at or before it (a binary search).
                return (0..<rows.count).map { row in
                    var (low, high) = (0, bounds.rowCount)
                    while low < high {
                        let middle = (low + high) / 2
                        if order.compare(middle, row) <= 0 { low = middle + 1 } else { high = middle }
                    }
                    return low
                }
            }
            kind.ranges = (keys, bounds)
            return kind
        }
    }

    /// Each row's partition for one fixed-width key: how many boundaries sort at or before it (rows without a
    /// value sort after every value, and at boundaries without one).
    private static func partitions(of rows: OrderKeys, among boundaries: OrderKeys) -> [Int] {
        // Boundaries with values come first (they are in order); those without any, last.
        let withValues = boundaries.missing.map { missing in missing.firstIndex(of: true) ?? missing.count }
            ?? boundaries.keys.count
        let bounds = boundaries.keys[..<withValues]
        return rows.keys.indices.map { row in
            if rows.missing?[row] ?? false { return boundaries.keys.count }
            let key = rows.keys[row]
            var (low, high) = (0, bounds.count)
            while low < high {
                let middle = (low + high) / 2
                if bounds[middle] <= key { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// The sort keys and boundaries of a shuffle made by ``init(sortingBy:boundaries:options:)`` (`nil` for
    /// one partitioned by hash).
    public var sortRanges: (keys: [SortKey], boundaries: Table)? { kind.ranges }

    /// Each partition of a range shuffle read back and sorted by its keys, on all cores; `body` gets each
    /// (in any order, from several threads) and the results come back in partition order, which is the
    /// sort's order. Unless `keepPartitions` is set, each partition is deleted once sorted and the shuffle is
    /// closed afterwards.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for a shuffle partitioned by hash.
    public func sortedPartitions<R: Sendable>(keepPartitions: Bool = false, _ body: (Int, Table) throws -> R) throws -> [R] {
        guard let ranges = kind.ranges else {
            throw PartdError(
                code: .invalidArgument,
                message: "this shuffle is partitioned by hash, not by ranges: make it with init(sortingBy:boundaries:) to sort")
        }
        let results = try mapPartitions { index, table -> R in
            let sorted = table.columns.isEmpty ? table : try table.sorted(by: ranges.keys)
            if !keepPartitions { try store.delete([Self.key(ofPartition: index)]) }
            return try body(index, sorted)
        }
        if !keepPartitions { try close() }
        return results
    }

    /// ``sortedPartitions(keepPartitions:_:)`` joined into one table (which must fit in memory).
    public func sorted(keepPartitions: Bool = false) throws -> Table {
        let parts = try sortedPartitions(keepPartitions: keepPartitions) { $1 }
        return try GroupBy.concatenate(parts.filter { !$0.columns.isEmpty })
    }

    /// Whether rows of equal keys land in partitions of the same number in both shuffles' partitioning.
    func partitionsLikeRows(of other: Shuffle<Table>) -> Bool {
        switch (kind.ranges, other.kind.ranges) {
        case (nil, nil): return true
        case let (a?, b?): return a.keys == b.keys && a.boundaries == b.boundaries
        default: return false
        }
    }
}
