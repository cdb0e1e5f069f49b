// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdTyped

/// One aggregate of a groupby: a function of a column (or of the group's rows)
/// and the name of the result column.
///
/// Nulls in the aggregated column are skipped, and so is NaN by every aggregate
/// but ``Function/size``, as pandas takes NaN as missing (its default
/// `skipna=True`): a group of NaN alone sums to 0, has a `count` and `nunique`
/// of 0 and is null for the others, wherever NaN lies in the group. `sum` of integers is `Int64`
/// (wrapping on overflow; `UInt64` columns sum to `UInt64`), of floats
/// `Float64`, and 0 for a group with no values; `mean` is `Float64`; `min` and
/// `max` keep the column's type (numbers, timestamps, strings and categoricals;
/// strings compare by their UTF-8 bytes, that is by code points, as Python
/// does); `mean`, `min` and `max` are null for a group with no values; counts
/// are `Int64`. `var` and `std` are the sample variance and standard deviation
/// (divided by n - 1, as pandas' defaults), `Float64`, null for a group of fewer
/// than two values. `first` and `last` take a group's first and last value in
/// row order (of any type, as pandas' `first()` and `last()` skip nulls and NaN);
/// `nunique` counts a group's distinct values (`Int64`; nulls and NaN not counted).
/// `median` and `quantile` take numbers (as `Float64`) and give `Float64`, null
/// for a group with no values, computed as pandas' groupby computes them: the
/// median of an even count is the mean `(a + b) / 2` of the two middle values,
/// and `quantile` interpolates linearly between the two values nearest its
/// position, `a + (b - a) * f`, or is `a` when the position falls on a value
/// (pandas' groupby `quantile`; `Series.quantile` and numpy interpolate from `b`
/// when `f >= 0.5`, which can differ in the last bit and at infinities). The two
/// differ where infinities or overflow meet: of `[inf, inf]` the median is inf
/// and `quantile(0.5)` NaN, of `[-1e308, 1e308]` the median is 0 and
/// `quantile(0.5)` inf, and of `[1e308, 1e308]` the median is inf (the sum
/// overflows, as in pandas).
///
/// Two aggregations are equal when their functions, `q`s and the UTF-8 bytes of their column and result
/// names are: names compare as a table compares them, so `.sum("caf\u{E9}")` and `.sum("cafe\u{301}")`
/// (NFC and NFD "café", one `String` to Swift's `==`) are two aggregations of two columns.
public struct Aggregation: Sendable, Hashable {
    public enum Function: String, Sendable, Hashable {
        case sum, count, mean, min, max
        case `var`, std, first, last, nunique
        /// The median, and the quantile ``Aggregation/q`` of each group's values.
        case median, quantile
        /// Rows in the group, nulls and NaN included.
        case size
    }
    public var function: Function
    /// The aggregated column (`nil` for ``size``).
    public var column: String?
    /// The result column's name.
    public var name: String
    /// The quantile ``Function/quantile`` takes, in 0...1 (0.5 for the others).
    public var q: Double = 0.5

    public init(_ function: Function, _ column: String?, as name: String? = nil) {
        self.function = function
        self.column = column
        self.name = name ?? column.map { "\($0)_\(function.rawValue)" } ?? function.rawValue
    }

    public static func sum(_ column: String, as name: String? = nil) -> Aggregation { .init(.sum, column, as: name) }
    /// Values of `column` in the group, neither null nor NaN.
    public static func count(_ column: String, as name: String? = nil) -> Aggregation { .init(.count, column, as: name) }
    public static func mean(_ column: String, as name: String? = nil) -> Aggregation { .init(.mean, column, as: name) }
    public static func min(_ column: String, as name: String? = nil) -> Aggregation { .init(.min, column, as: name) }
    public static func max(_ column: String, as name: String? = nil) -> Aggregation { .init(.max, column, as: name) }
    /// The sample variance (divided by n - 1).
    public static func variance(_ column: String, as name: String? = nil) -> Aggregation { .init(.var, column, as: name) }
    /// The sample standard deviation (divided by n - 1).
    public static func std(_ column: String, as name: String? = nil) -> Aggregation { .init(.std, column, as: name) }
    /// The group's first value that is neither null nor NaN.
    public static func first(_ column: String, as name: String? = nil) -> Aggregation { .init(.first, column, as: name) }
    /// The group's last value that is neither null nor NaN.
    public static func last(_ column: String, as name: String? = nil) -> Aggregation { .init(.last, column, as: name) }
    /// How many distinct values, neither null nor NaN, the group holds.
    public static func nunique(_ column: String, as name: String? = nil) -> Aggregation { .init(.nunique, column, as: name) }
    /// The median of the group's values (`Float64`): the middle value, or `(a + b) / 2` of the two middle
    /// values of an even count, as pandas' groupby `median` (see ``Aggregation`` for where it differs from
    /// `quantile(0.5)`).
    public static func median(_ column: String, as name: String? = nil) -> Aggregation { .init(.median, column, as: name) }
    /// The quantile `q` (in 0...1) of the group's values (`Float64`), named `COLUMN_qQ` (`x_q0.9`) by default.
    public static func quantile(_ column: String, _ q: Double, as name: String? = nil) -> Aggregation {
        var aggregation = Aggregation(.quantile, column, as: name ?? "\(column)_q\(q)")
        aggregation.q = q
        return aggregation
    }
    /// Rows in the group (nulls included), named `count`.
    public static let count = Aggregation(.size, nil, as: "count")

    public static func == (a: Aggregation, b: Aggregation) -> Bool {
        guard a.function == b.function, a.q == b.q, a.name.hasSameUTF8(as: b.name) else { return false }
        switch (a.column, b.column) {
        case (nil, nil): return true
        case let (x?, y?): return x.hasSameUTF8(as: y)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(function)
        hasher.combine(q)
        hasher.combine(column.map { UTF8Key($0) })
        hasher.combine(UTF8Key(name))
    }
}

/// A groupby waiting for its aggregates: `table.groupBy(["id"]).aggregate([.sum("x")])`.
///
/// Rows whose key columns hold equal values form one group; null keys form a
/// group of their own (as SQL's `GROUP BY`; pandas drops them by default). The
/// result has the key columns, then one column per aggregate, one row per
/// group, in the order groups first appear (partition by partition for a shuffle).
public struct Grouping: Sendable {
    public let keys: [String]
    let run: @Sendable ([Aggregation]) throws -> Table

    public func aggregate(_ aggregations: [Aggregation]) throws -> Table {
        try run(aggregations)
    }
}

extension Table {
    /// An in-memory groupby of this table by the named key columns.
    public func groupBy(_ keys: [String]) -> Grouping {
        Grouping(keys: keys) { [self] in try GroupBy.aggregate(self, keys: keys, $0) }
    }
}

extension Shuffle where Chunk == Table {
    /// An out-of-core groupby: every partition is read back and aggregated on
    /// all cores, and the results are joined. The keys must include every
    /// column the shuffle partitions by, so each group lies in one partition.
    ///
    /// Unless `keepPartitions` is set, the groupby consumes the shuffle: each
    /// partition is deleted once aggregated (releasing its memory and disk while
    /// the result grows), and the shuffle is closed afterwards, or when the
    /// groupby throws after deleting a partition. A store given as
    /// ``ShuffleOptions/store`` keeps its partitions: other readers may share it.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` from `aggregate` if the
    ///   keys miss a partitioning column.
    public func groupBy(_ keys: [String], keepPartitions: Bool = false) -> Grouping {
        Grouping(keys: keys) { [self] aggregations in
            try Self.joined(try groupByPartitions(keys, aggregations, keepPartitions: keepPartitions) { $1 })
        }
    }

    /// The out-of-core groupby a partition at a time: each partition's groups, aggregated, handed to `body` as
    /// they are done (partitions on all cores; results in partition order), so that the whole result never
    /// has to be in memory. A partition of no rows gives a table of no rows; a shuffle that never received a
    /// chunk gives tables without columns. Unless `keepPartitions` is set, each partition is deleted once
    /// aggregated (not from a store given as ``ShuffleOptions/store``) and the shuffle is closed at the end,
    /// or when `body` (or anything else) throws after a partition was deleted.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if the keys miss a partitioning column, or for an
    ///   aggregate a column cannot take; what `body` throws.
    public func groupByPartitions<R: Sendable>(
        _ keys: [String], _ aggregations: [Aggregation], keepPartitions: Bool = false,
        _ body: @Sendable (Int, Table) throws -> R
    ) throws -> [R] {
        // Names compare as bytes, as a table finds columns (`String`'s `==` takes canonically equivalent names as one).
        let missing = keyColumns.filter { !keys.containsSameUTF8(as: $0) }
        guard missing.isEmpty else {
            throw PartdError(
                code: .invalidArgument,
                message: "a groupby of a shuffle by \(keyColumns) must group by those columns too (\(missing) missing)")
        }
        // Only the keys and the aggregated columns are decoded.
        var needed = keys
        for name in aggregations.compactMap(\.column) where !needed.containsSameUTF8(as: name) { needed.append(name) }
        return try consumePartitions(
            columns: needed, keepPartitions: keepPartitions, { try GroupBy.aggregate($0, keys: keys, aggregations) }, body)
    }
}

enum GroupBy {
    /// Joins tables of one schema column by column, releasing each column of
    /// the parts once it is copied, so at most one column is held twice.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` if the tables' schemas differ (as `Table.concatenate`).
    static func concatenate(_ tables: [Table]) throws -> Table {
        guard let first = tables.first else { return Table() }
        let schema = first.schema
        for table in tables.dropFirst() where table.schema != schema {
            throw PartdError(
                code: .typeMismatch, message: "cannot concatenate partitions' results with schemas \(schema) and \(table.schema)")
        }
        var parts = tables
        var names = first.columns.map(\.name)
        var columns: [Column] = []
        while !names.isEmpty {
            let name = names.removeFirst()
            columns.append(try Table.concatenate(parts.map { try $0.selecting([name]) }).columns[0])
            parts = try parts.map { try $0.selecting(names) }
        }
        return try Table(columns)
    }

    static func aggregate(_ table: Table, keys: [String], _ aggregations: [Aggregation]) throws -> Table {
        guard !keys.isEmpty else { throw PartdError(code: .invalidArgument, message: "a groupby needs at least one key column") }
        func column(_ name: String) throws -> Column {
            guard let column = table[name] else {
                throw PartdError(code: .invalidArgument, message: "the table has no column \"\(name)\" (it has \(table.schema))")
            }
            return column
        }
        let keyColumns = try keys.map(column)
        let (groups, firstRows) = assignGroups(keyColumns, rowCount: table.rowCount)
        var result = try table.selecting(keys).take(firstRows).columns
        // Each column's values sorted group by group, shared by its medians and quantiles; found by the name's
        // bytes, as a table tells names apart (`String`'s `==` takes canonically equivalent names as one).
        var sortedRuns: [UTF8Key: SortedRuns] = [:]
        for aggregation in aggregations {
            if aggregation.function == .median || aggregation.function == .quantile, let name = aggregation.column {
                guard (0...1).contains(aggregation.q) else {
                    throw PartdError(code: .invalidArgument, message: "quantile \(aggregation.q) of column \"\(name)\" is outside 0...1")
                }
                let runs = try sortedRuns[UTF8Key(name)]
                    ?? SortedRuns(try column(name), aggregation, groups: groups, groupCount: firstRows.count)
                sortedRuns[UTF8Key(name)] = runs
                result.append(
                    aggregation.function == .median
                        ? runs.median(name: aggregation.name) : runs.quantile(aggregation.q, name: aggregation.name))
            } else if aggregation.function == .size {
                var counts = [Int64](repeating: 0, count: firstRows.count)
                for g in groups { counts[Int(g)] += 1 }
                result.append(Column(aggregation.name, counts))
            } else {
                guard let name = aggregation.column else {
                    throw PartdError(code: .invalidArgument, message: "\(aggregation.function) needs a column")
                }
                result.append(try aggregate(try column(name), aggregation, groups: groups, groupCount: firstRows.count))
            }
        }
        return try Table(result)
    }

    // MARK: Groups

    /// Each row's group number, and the first row of each group, by an
    /// open-addressing hash table over the rows' key hashes.
    static func assignGroups(_ keys: [Column], rowCount: Int) -> (groups: [Int32], firstRows: [Int]) {
        let hashes = RowHashing.hashes(keys, rows: 0..<rowCount)
        // One fixed-width key without nulls (an id, say) compares its values directly: the loop below is
        // specialised for it, with no call through a closure per comparison.
        if keys.count == 1, keys[0].validity == nil, case .fixed(let dtype) = keys[0].type {
            struct Direct: FixedKeyVisitor {
                let hashes: [UInt64]
                func visit<T: KeyElement>(_ values: [T]) -> (groups: [Int32], firstRows: [Int]) {
                    GroupBy.assignGroups(hashes: hashes, equal: FixedRowEquality(values: values))
                }
            }
            return RowHashing.visitFixed(keys[0], dtype, Direct(hashes: hashes))
        }
        let equalities = keys.map(equality)
        let equal: (Int, Int) -> Bool = equalities.count == 1
            ? equalities[0]
            : { a, b in equalities.allSatisfy { $0(a, b) } }
        return assignGroups(hashes: hashes, equal: ClosureRowEquality(equal: equal))
    }

    /// The hash table of ``assignGroups(_:rowCount:)``, over the rows' hashes and their comparison.
    static func assignGroups<E: RowEquality>(hashes: [UInt64], equal: E) -> (groups: [Int32], firstRows: [Int]) {
        let rowCount = hashes.count
        var groups = [Int32](repeating: 0, count: rowCount)
        var firstRows: [Int] = []
        var groupHashes: [UInt64] = []
        var mask = 1023
        var slots = [Int32](repeating: -1, count: mask + 1)
        for row in 0..<rowCount {
            let hash = hashes[row]
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let g = slots[slot]
                if g < 0 {
                    let group = Int32(firstRows.count)
                    slots[slot] = group
                    firstRows.append(row)
                    groupHashes.append(hash)
                    groups[row] = group
                    if firstRows.count * 2 > mask {
                        // Grow to keep the table at most half full.
                        mask = mask * 2 + 1
                        slots = [Int32](repeating: -1, count: mask + 1)
                        for (group, h) in groupHashes.enumerated() {
                            var s = Int(truncatingIfNeeded: h) & mask
                            while slots[s] >= 0 { s = (s + 1) & mask }
                            slots[s] = Int32(group)
                        }
                    }
                    break
                }
                if groupHashes[Int(g)] == hash && equal.rows(firstRows[Int(g)], row) {
                    groups[row] = g
                    break
                }
                slot = (slot + 1) & mask
            }
        }
        return (groups, firstRows)
    }

    /// Whether two rows of `column` hold the same key (nulls equal each other; NaN equals NaN).
    static func equality(_ column: Column) -> (Int, Int) -> Bool {
        let values: (Int, Int) -> Bool
        switch column.type {
        case .fixed(let dtype):
            values = fixedEquality(column, dtype)
        case .string:
            let strings = column.strings!
            values = { strings.bytesEqual($0, $1) }
        case .categorical:
            let categorical = column.categorical!
            let codes = categorical.codes, categories = categorical.categories
            values = { a, b in codes[a] == codes[b] || categories.bytesEqual(Int(codes[a]), Int(codes[b])) }
        }
        guard let validity = column.validity else { return values }
        return { a, b in
            let (x, y) = (validity[a], validity[b])
            return x && y ? values(a, b) : x == y
        }
    }

    private static func fixedEquality(_ column: Column, _ dtype: DType) -> (Int, Int) -> Bool {
        struct Equality: FixedKeyVisitor {
            func visit<T: KeyElement>(_ v: [T]) -> (Int, Int) -> Bool {
                // `x != x` only for NaN: NaN keys group together.
                { v[$0] == v[$1] || (v[$0] != v[$0] && v[$1] != v[$1]) }
            }
        }
        return RowHashing.visitFixed(column, dtype, Equality())
    }

    // MARK: Aggregates

    static func aggregate(_ column: Column, _ aggregation: Aggregation, groups: [Int32], groupCount: Int) throws -> Column {
        func run<T: Aggregatable>(_: T.Type) throws -> Column {
            try aggregateValues(column.values(as: T.self)!, column.validity, aggregation, groups: groups, groupCount: groupCount)
        }
        switch aggregation.function {
        case .count:
            let present = presentRows(column)
            var counts = [Int64](repeating: 0, count: groupCount)
            for (row, g) in groups.enumerated() where present?[row] ?? true { counts[Int(g)] += 1 }
            return Column(aggregation.name, counts)
        case .first, .last:
            // Each group's first (or last) row holding a value, whatever the column's type.
            let present = presentRows(column)
            var picked = [Int?](repeating: nil, count: groupCount)
            for (row, g) in groups.enumerated() where present?[row] ?? true {
                if aggregation.function == .last || picked[Int(g)] == nil { picked[Int(g)] = row }
            }
            return column.take(picked).renamed(aggregation.name)
        case .nunique:
            // Distinct (group, value) pairs, by the groupby's own hashing and equality; pairs of a null or a
            // NaN (NaN equals only NaN, so a pair's first row holds NaN if all its rows do) are skipped.
            let present = presentRows(column)
            let (_, pairs) = assignGroups([Column("group", groups), column], rowCount: groups.count)
            var counts = [Int64](repeating: 0, count: groupCount)
            for row in pairs where present?[row] ?? true { counts[Int(groups[row])] += 1 }
            return Column(aggregation.name, counts)
        default:
            break
        }
        switch column.type {
        case .string where aggregation.function == .min || aggregation.function == .max:
            return extremeStrings(
                column, wantMin: aggregation.function == .min, name: aggregation.name, groups: groups,
                groupCount: groupCount)
        case .categorical where aggregation.function == .min || aggregation.function == .max:
            return extremeCategories(
                column, wantMin: aggregation.function == .min, name: aggregation.name, groups: groups,
                groupCount: groupCount)
        case .fixed(.int8): return try run(Int8.self)
        case .fixed(.int16): return try run(Int16.self)
        case .fixed(.int32): return try run(Int32.self)
        case .fixed(.int64): return try run(Int64.self)
        case .fixed(.uint8): return try run(UInt8.self)
        case .fixed(.uint16): return try run(UInt16.self)
        case .fixed(.uint32): return try run(UInt32.self)
        case .fixed(.uint64): return try run(UInt64.self)
        case .fixed(.float32): return try run(Float.self)
        case .fixed(.float64): return try run(Double.self)
        case .fixed(.datetime(.seconds)): return try run(Timestamp<Seconds>.self)
        case .fixed(.datetime(.milliseconds)): return try run(Timestamp<Milliseconds>.self)
        case .fixed(.datetime(.microseconds)): return try run(Timestamp<Microseconds>.self)
        case .fixed(.datetime(.nanoseconds)): return try run(Timestamp<Nanoseconds>.self)
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if column.type == .fixed(.float16) { return try run(Float16.self) }
            #endif
            let verb = [.median, .quantile].contains(aggregation.function)
                ? "take the \(aggregation.function) of" : aggregation.function.rawValue
            throw PartdError(
                code: .invalidArgument,
                message: "cannot \(verb) column \"\(column.name)\" of type \(column.type)")
        }
    }

    /// The rows of `column` that hold a value, as `count`, `first`, `last` and `nunique` take them: neither
    /// null nor, in a float column, NaN (pandas takes NaN as missing); `nil` when every row does.
    static func presentRows(_ column: Column) -> BitArray? {
        func present<T: BinaryFloatingPoint & ArrayElement>(_: T.Type) -> BitArray? {
            let values = column.values(as: T.self)!
            guard values.contains(where: \.isNaN) else { return column.validity }
            return BitArray(values.indices.lazy.map { column.isValid($0) && !values[$0].isNaN })
        }
        switch column.type {
        case .fixed(.float32): return present(Float.self)
        case .fixed(.float64): return present(Double.self)
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if column.type == .fixed(.float16) { return present(Float16.self) }
            #endif
            return column.validity
        }
    }

    /// The least or greatest string of each group, by UTF-8 bytes (code-point order, as Python and pandas
    /// compare strings); null for a group with no values.
    private static func extremeStrings(
        _ column: Column, wantMin: Bool, name: String, groups: [Int32], groupCount: Int
    ) -> Column {
        let strings = column.strings!
        var best = [Int](repeating: -1, count: groupCount)
        for row in groups.indices where column.isValid(row) {
            let g = Int(groups[row])
            let current = best[g]
            if current < 0 {
                best[g] = row
                continue
            }
            let (value, held) = (strings.bytes(at: row), strings.bytes(at: current))
            if wantMin ? value.lexicographicallyPrecedes(held) : held.lexicographicallyPrecedes(value) { best[g] = row }
        }
        let result = StringArray(byteStrings: best.lazy.map { $0 < 0 ? [] : strings.bytes(at: $0) })
        return Column(name, strings: result, validity: best.contains(-1) ? BitArray(best.lazy.map { $0 >= 0 }) : nil)
    }

    /// `extremeStrings` for a categorical column: categories are ranked once, and the result keeps the
    /// column's categories.
    private static func extremeCategories(
        _ column: Column, wantMin: Bool, name: String, groups: [Int32], groupCount: Int
    ) -> Column {
        let categorical = column.categorical!
        let categories = categorical.categories
        guard !categories.isEmpty else {
            // No category, so only null rows: every group is null (its code must still point at a category).
            let nulls = CategoricalArray(codes: [Int32](repeating: 0, count: groupCount), categories: [""])!
            return Column(name, categorical: nulls, validity: BitArray(repeating: false, count: groupCount))
        }
        var rank = [Int](repeating: 0, count: categories.count)
        for (position, code) in categories.indices.sorted(by: {
            categories.bytes(at: $0).lexicographicallyPrecedes(categories.bytes(at: $1))
        }).enumerated() {
            rank[code] = position
        }
        var best = [Int32](repeating: -1, count: groupCount)
        let codes = categorical.codes
        for row in groups.indices where column.isValid(row) {
            let (g, code) = (Int(groups[row]), codes[row])
            let current = best[g]
            if current < 0 || (wantMin ? rank[Int(code)] < rank[Int(current)] : rank[Int(code)] > rank[Int(current)]) {
                best[g] = code
            }
        }
        let result = CategoricalArray(codes: best.map { max($0, 0) }, categories: categories)!
        return Column(name, categorical: result, validity: best.contains(-1) ? BitArray(best.lazy.map { $0 >= 0 }) : nil)
    }

    private static func aggregateValues<T: Aggregatable>(
        _ values: [T], _ validity: BitArray?, _ aggregation: Aggregation, groups: [Int32], groupCount: Int
    ) throws -> Column {
        // NaN is skipped like a null (pandas' skipna): float rows holding NaN are taken out of the validity.
        var validity = validity
        if T.canBeNaN, values.contains(where: \.isNaNValue) {
            validity = BitArray(values.indices.lazy.map { (validity?[$0] ?? true) && !values[$0].isNaNValue })
        }
        func valid(_ row: Int) -> Bool { validity?[row] ?? true }
        switch aggregation.function {
        case .sum, .mean, .var, .std:
            guard T.isSummable else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "cannot \(aggregation.function) column \"\(aggregation.column ?? "")\" of type \(T.dtype.numpy)")
            }
            if aggregation.function == .sum, T.canBeNaN,
                let totals = compensatedSums(values, valid, groups: groups, groupCount: groupCount).sums as? [T.Total] {
                // Floats add with compensation, as pandas' groupby sum does; integers add exactly (wrapping).
                return Column(aggregation.name, totals)
            }
            if aggregation.function == .sum {
                var totals = [T.Total](repeating: T.zeroTotal, count: groupCount)
                if validity == nil {
                    for row in values.indices { totals[Int(groups[row])] = T.add(totals[Int(groups[row])], values[row]) }
                } else {
                    for row in values.indices where valid(row) {
                        totals[Int(groups[row])] = T.add(totals[Int(groups[row])], values[row])
                    }
                }
                return Column(aggregation.name, totals)
            }
            let (sums, counts) = compensatedSums(values, valid, groups: groups, groupCount: groupCount)
            let means = zip(sums, counts).map { $1 == 0 ? 0 : $0 / Double($1) }
            if aggregation.function == .mean {
                let any = BitArray(counts.lazy.map { $0 > 0 })
                return Column(aggregation.name, means, validity: counts.contains(0) ? any : nil)
            }
            // Welford's update of each group's mean and sum of squared deviations, row by row, as pandas' groupby
            // var and std compute them (group_var): steady, and no sum that overflows (two values at Double's
            // greatest have variance 0, where their mean taken from their sum is inf).
            var runningMeans = [Double](repeating: 0, count: groupCount)
            var squares = [Double](repeating: 0, count: groupCount)
            var seen = [Int](repeating: 0, count: groupCount)
            for row in values.indices where valid(row) {
                let g = Int(groups[row])
                let value = values[row].doubleValue
                seen[g] += 1
                let oldMean = runningMeans[g]
                runningMeans[g] += (value - oldMean) / Double(seen[g])
                squares[g] += (value - runningMeans[g]) * (value - oldMean)
            }
            let variances = zip(squares, counts).map { $1 < 2 ? 0 : $0 / Double($1 - 1) }
            let results = aggregation.function == .std ? variances.map { $0.squareRoot() } : variances
            let defined = BitArray(counts.lazy.map { $0 >= 2 })
            return Column(aggregation.name, results, validity: counts.contains { $0 < 2 } ? defined : nil)
        case .min, .max:
            var best = [T?](repeating: nil, count: groupCount)
            let wantMin = aggregation.function == .min
            for row in values.indices where valid(row) {
                let g = Int(groups[row])
                let value = values[row]
                if let current = best[g] {
                    if wantMin ? value < current : value > current { best[g] = value }
                } else {
                    best[g] = value
                }
            }
            let filled = best.map { $0 ?? T.zeroValue }
            let any = BitArray(best.lazy.map { $0 != nil })
            return Column(aggregation.name, filled, validity: best.contains(nil) ? any : nil)
        case .count, .size, .first, .last, .nunique, .median, .quantile:
            preconditionFailure("\(aggregation.function) is aggregated by the caller")
        }
    }

    /// Each group's sum of its valid values as `Double`s, and their count, added with Kahan's compensation as
    /// pandas' groupby `sum` and `mean` add (`group_sum`, `group_mean`): a plain running sum loses the low bits of
    /// small values beside large ones (1 beside 2^53; 1e-16 beside 1). A compensation that becomes NaN (an
    /// infinite value) is reset to 0, as pandas resets it, so the sum stays infinite rather than NaN.
    private static func compensatedSums<T: Aggregatable>(
        _ values: [T], _ valid: (Int) -> Bool, groups: [Int32], groupCount: Int
    ) -> (sums: [Double], counts: [Int]) {
        var sums = [Double](repeating: 0, count: groupCount)
        var compensations = [Double](repeating: 0, count: groupCount)
        var counts = [Int](repeating: 0, count: groupCount)
        for row in values.indices where valid(row) {
            let g = Int(groups[row])
            let y = values[row].doubleValue - compensations[g]
            let t = sums[g] + y
            let compensation = (t - sums[g]) - y
            compensations[g] = compensation.isNaN ? 0 : compensation
            sums[g] = t
            counts[g] += 1
        }
        return (sums, counts)
    }

}

/// A numeric column's non-null, non-NaN values as `Double`s, side by side group by group (a counting sort on
/// the group number), each group's run sorted: what medians and quantiles pick from.
struct SortedRuns {
    /// Group `g`'s values are `values[bounds[g] ..< bounds[g + 1]]`.
    let bounds: [Int]
    let values: [Double]

    init(_ column: Column, _ aggregation: Aggregation, groups: [Int32], groupCount: Int) throws {
        func gather<T: Aggregatable>(_: T.Type) -> (bounds: [Int], values: [Double]) {
            Self.gather(column.values(as: T.self)!, column.validity, groups: groups, groupCount: groupCount)
        }
        var gathered: (bounds: [Int], values: [Double])
        switch column.type {
        case .fixed(.int8): gathered = gather(Int8.self)
        case .fixed(.int16): gathered = gather(Int16.self)
        case .fixed(.int32): gathered = gather(Int32.self)
        case .fixed(.int64): gathered = gather(Int64.self)
        case .fixed(.uint8): gathered = gather(UInt8.self)
        case .fixed(.uint16): gathered = gather(UInt16.self)
        case .fixed(.uint32): gathered = gather(UInt32.self)
        case .fixed(.uint64): gathered = gather(UInt64.self)
        case .fixed(.float32): gathered = gather(Float.self)
        case .fixed(.float64): gathered = gather(Double.self)
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if column.type == .fixed(.float16) {
                gathered = gather(Float16.self)
                break
            }
            #endif
            throw PartdError(
                code: .invalidArgument,
                message: "cannot take the \(aggregation.function) of column \"\(column.name)\" of type \(column.type)")
        }
        for g in 0..<groupCount where gathered.bounds[g] + 1 < gathered.bounds[g + 1] {
            gathered.values[gathered.bounds[g]..<gathered.bounds[g + 1]].sort()
        }
        (bounds, values) = gathered
    }

    private static func gather<T: Aggregatable>(
        _ column: [T], _ validity: BitArray?, groups: [Int32], groupCount: Int
    ) -> (bounds: [Int], values: [Double]) {
        var bounds = [Int](repeating: 0, count: groupCount + 1)
        for row in column.indices where validity?[row] ?? true {
            if !column[row].doubleValue.isNaN { bounds[Int(groups[row]) + 1] += 1 }
        }
        for g in 0..<groupCount { bounds[g + 1] += bounds[g] }
        var next = bounds
        var values = [Double](repeating: 0, count: bounds[groupCount])
        for row in column.indices where validity?[row] ?? true {
            let value = column[row].doubleValue
            guard !value.isNaN else { continue }
            let g = Int(groups[row])
            values[next[g]] = value
            next[g] += 1
        }
        return (bounds, values)
    }

    /// The quantile `q` of each group, interpolated linearly between the two nearest values `a` and `b` as
    /// `a + (b - a) * f`, or `a` when the position falls on a value (pandas' groupby `quantile`); null for a
    /// group with no values.
    func quantile(_ q: Double, name: String) -> Column {
        column(name) { start, count in
            let position = Double(count - 1) * q
            let below = Int(position.rounded(.down))
            let (a, b) = (values[start + below], values[start + min(below + 1, count - 1)])
            let fraction = position - Double(below)
            return fraction == 0 ? a : a + (b - a) * fraction
        }
    }

    /// The median of each group: its middle value, or the mean `(a + b) / 2` of its two middle values
    /// (pandas' groupby `median`, which differs from `quantile(0.5)` where infinities or overflow meet:
    /// `[inf, inf]` gives inf, not NaN); null for a group with no values.
    func median(name: String) -> Column {
        column(name) { start, count in
            let middle = start + count / 2
            return count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
        }
    }

    /// A column of `statistic(start, count)` for each group's run of values, null for a group with none.
    private func column(_ name: String, _ statistic: (_ start: Int, _ count: Int) -> Double) -> Column {
        let groupCount = bounds.count - 1
        var results = [Double](repeating: 0, count: groupCount)
        for g in 0..<groupCount where bounds[g] < bounds[g + 1] {
            results[g] = statistic(bounds[g], bounds[g + 1] - bounds[g])
        }
        let empty = (0..<groupCount).contains { bounds[$0] == bounds[$0 + 1] }
        return Column(name, results, validity: empty ? BitArray((0..<groupCount).lazy.map { bounds[$0] < bounds[$0 + 1] }) : nil)
    }
}

/// Column element types a groupby can sum, average, and take the least and greatest of.
protocol Aggregatable: ArrayElement, Comparable {
    associatedtype Total: ArrayElement
    static var zeroTotal: Total { get }
    static var zeroValue: Self { get }
    static var isSummable: Bool { get }
    static func add(_ total: Total, _ value: Self) -> Total
    var doubleValue: Double { get }
    /// Whether values of the type can be NaN (floats).
    static var canBeNaN: Bool { get }
    var isNaNValue: Bool { get }
}

extension Aggregatable {
    static var canBeNaN: Bool { false }
    var isNaNValue: Bool { false }
}

extension Aggregatable where Self: FixedWidthInteger {
    static var zeroValue: Self { 0 }
    static var isSummable: Bool { true }
    var doubleValue: Double { Double(self) }
}

extension Aggregatable where Self: FixedWidthInteger, Total == Int64 {
    static var zeroTotal: Int64 { 0 }
    static func add(_ total: Int64, _ value: Self) -> Int64 { total &+ Int64(truncatingIfNeeded: value) }
}

extension Int8: Aggregatable { typealias Total = Int64 }
extension Int16: Aggregatable { typealias Total = Int64 }
extension Int32: Aggregatable { typealias Total = Int64 }
extension Int64: Aggregatable { typealias Total = Int64 }
extension UInt8: Aggregatable { typealias Total = Int64 }
extension UInt16: Aggregatable { typealias Total = Int64 }
extension UInt32: Aggregatable { typealias Total = Int64 }
extension UInt64: Aggregatable {
    static var zeroTotal: UInt64 { 0 }
    static func add(_ total: UInt64, _ value: UInt64) -> UInt64 { total &+ value }
}

extension Aggregatable where Self: BinaryFloatingPoint, Total == Double {
    static var zeroTotal: Double { 0 }
    static var zeroValue: Self { 0 }
    static var isSummable: Bool { true }
    static func add(_ total: Double, _ value: Self) -> Double { total + Double(value) }
    var doubleValue: Double { Double(self) }
    static var canBeNaN: Bool { true }
    var isNaNValue: Bool { isNaN }
}

extension Float: Aggregatable { typealias Total = Double }
extension Double: Aggregatable { typealias Total = Double }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: Aggregatable { typealias Total = Double }
#endif

extension Timestamp: Aggregatable {
    typealias Total = Int64
    static var zeroTotal: Int64 { 0 }
    static var zeroValue: Timestamp { Timestamp(0) }
    static var isSummable: Bool { false }
    static func add(_ total: Int64, _ value: Timestamp) -> Int64 { total }
    var doubleValue: Double { Double(rawValue) }
}

/// Whether two rows hold the same key, for ``GroupBy/assignGroups(hashes:equal:)``.
protocol RowEquality {
    func rows(_ a: Int, _ b: Int) -> Bool
}

/// Rows compared by a closure (several key columns, nulls, strings).
struct ClosureRowEquality: RowEquality {
    let equal: (Int, Int) -> Bool
    func rows(_ a: Int, _ b: Int) -> Bool { equal(a, b) }
}

/// Rows of one fixed-width key column without nulls, compared by value (NaN equal to NaN).
struct FixedRowEquality<T: KeyElement>: RowEquality {
    let values: [T]
    func rows(_ a: Int, _ b: Int) -> Bool {
        let (x, y) = (values[a], values[b])
        return x == y || (x != x && y != y)
    }
}
