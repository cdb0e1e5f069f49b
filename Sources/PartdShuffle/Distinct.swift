// SPDX-License-Identifier: Apache-2.0
//
// Dropping duplicate rows, in memory and out of core (pandas' `drop_duplicates`, dask's on a shuffle).

import Partd
import PartdTyped

/// Which row of each set of duplicates a table keeps (pandas' `keep`).
public enum DuplicateKeep: String, Sendable, Hashable, CaseIterable {
    /// The first row of each set (`keep="first"`).
    case first
    /// The last row of each set (`keep="last"`).
    case last
    /// No row of a set that has more than one (`keep=False`): only rows without a duplicate stay.
    case none
}

extension Table {
    /// The rows that stay once duplicates are dropped, in ascending order.
    ///
    /// Two rows are duplicates when every named column (every column when `columns` is nil) holds equal
    /// values in both, as a groupby's keys compare: nulls equal nulls, NaN equals NaN, `-0.0` equals `0.0`,
    /// and a categorical compares by its strings. A null and a NaN differ.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for an empty list of columns or a column the table lacks.
    public func distinctRows(by columns: [String]? = nil, keep: DuplicateKeep = .first) throws -> [Int] {
        let names = columns ?? self.columns.map(\.name)
        if columns != nil, names.isEmpty {
            throw PartdError(code: .invalidArgument, message: "dropping duplicates by columns needs at least one column")
        }
        let keyColumns = try names.map { name -> Column in
            guard let column = self[name] else {
                throw PartdError(code: .invalidArgument, message: "the table has no column \"\(name)\" (it has \(schema))")
            }
            return column
        }
        // A table with no columns has no values to tell its rows apart: all are duplicates of the first.
        guard !keyColumns.isEmpty else {
            switch keep {
            case .first: return rowCount > 0 ? [0] : []
            case .last: return rowCount > 0 ? [rowCount - 1] : []
            case .none: return rowCount == 1 ? [0] : []
            }
        }
        let (groups, firstRows) = GroupBy.assignGroups(keyColumns, rowCount: rowCount)
        switch keep {
        case .first:
            // Groups are numbered in the order their first rows come.
            return firstRows
        case .last:
            var lastRows = firstRows
            for (row, group) in groups.enumerated() { lastRows[Int(group)] = row }
            var kept = [Bool](repeating: false, count: rowCount)
            for row in lastRows { kept[row] = true }
            return kept.indices.filter { kept[$0] }
        case .none:
            var counts = [Int32](repeating: 0, count: firstRows.count)
            for group in groups { counts[Int(group)] &+= 1 }
            return groups.indices.filter { counts[Int(groups[$0])] == 1 }
        }
    }

    /// This table without its duplicate rows (see ``distinctRows(by:keep:)``), the rows kept in their order.
    public func droppingDuplicates(by columns: [String]? = nil, keep: DuplicateKeep = .first) throws -> Table {
        let rows = try distinctRows(by: columns, keep: keep)
        return rows.count == rowCount ? self : take(rows)
    }
}

extension Shuffle where Chunk == Table {
    /// Each partition without its duplicate rows, handed to `body` as it is done: partitions are read and
    /// deduplicated on all cores, results come in partition order.
    ///
    /// Rows stay in the order they were added within a partition, so `keep` picks the first or last row of
    /// each set in the order of the input. `columns` (every column when nil) must include the columns the
    /// shuffle partitions by, so that duplicates share a partition. Unless `keepPartitions` is set, each
    /// partition is deleted once read (not from a store given as ``ShuffleOptions/store``) and the shuffle
    /// is closed at the end.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if `columns` misses a partitioning column or names one
    ///   the tables lack.
    public func distinctPartitions<R: Sendable>(
        by columns: [String]? = nil, keep: DuplicateKeep = .first, keepPartitions: Bool = false,
        _ body: @Sendable (Int, Table) throws -> R
    ) throws -> [R] {
        if let columns {
            // Names compare as bytes, as a table finds columns.
            let missing = keyColumns.filter { !columns.containsSameUTF8(as: $0) }
            guard missing.isEmpty else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "dropping duplicates of a shuffle by \(keyColumns) needs those columns among its columns (\(missing) missing)")
            }
        }
        return try consumePartitions(keepPartitions: keepPartitions, { try $0.droppingDuplicates(by: columns, keep: keep) }, body)
    }

    /// ``distinctPartitions(by:keep:keepPartitions:_:)`` joined into one table (which must fit in memory),
    /// partition by partition.
    public func droppingDuplicates(
        by columns: [String]? = nil, keep: DuplicateKeep = .first, keepPartitions: Bool = false
    ) throws -> Table {
        try Self.joined(try distinctPartitions(by: columns, keep: keep, keepPartitions: keepPartitions) { $1 })
    }
}
