// SPDX-License-Identifier: Apache-2.0

import Partd

/// A column to sort by, and its direction. Nulls (and NaN) come last in either direction, as pandas'
/// `sort_values` puts them by default.
///
/// ```swift
/// try table.sorted(by: ["day", .descending("amount")])
/// ```
///
/// Two sort keys are equal when their directions and the UTF-8 bytes of their column names are: names compare
/// as a table finds columns, so keys of `"caf\u{E9}"` and `"cafe\u{301}"` (NFC and NFD "café", one `String` to
/// Swift's `==`) are keys of two columns.
public struct SortKey: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    public var column: String
    public var descending: Bool

    public static func == (a: SortKey, b: SortKey) -> Bool { a.descending == b.descending && a.column.hasSameUTF8(as: b.column) }

    public func hash(into hasher: inout Hasher) {
        UTF8Key(column).hash(into: &hasher)
        hasher.combine(descending)
    }

    public init(_ column: String, descending: Bool = false) {
        self.column = column
        self.descending = descending
    }

    public init(stringLiteral column: String) {
        self.init(column)
    }

    /// An ascending key on a column named with interpolation: `"score_\(year)"`.
    public init(stringInterpolation: DefaultStringInterpolation) {
        self.init(String(stringInterpolation: stringInterpolation))
    }

    public static func ascending(_ column: String) -> SortKey { SortKey(column) }
    public static func descending(_ column: String) -> SortKey { SortKey(column, descending: true) }
}

extension Table {
    /// The table's rows sorted by `keys`: by the first key, ties by the next, and rows that tie on every key
    /// in their order here (a stable sort).
    ///
    /// Numbers compare by value (`-0.0` equals `0.0`), timestamps by time, booleans `false` first, strings
    /// and categoricals by their UTF-8 bytes (code-point order, as Python compares strings). A categorical
    /// sorts by its strings, not by the order of its categories (which here is only the order they were
    /// met in; pandas sorts a categorical by its categories' order). Nulls, and NaN, come last whatever the
    /// direction.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for no keys or a key the table lacks.
    public func sorted(by keys: [SortKey]) throws -> Table {
        take(try sortOrder(by: keys))
    }

    /// The row indices in ``sorted(by:)``'s order.
    public func sortOrder(by keys: [SortKey]) throws -> [Int] {
        let columns = try sortColumns(keys)
        let ordered = try zip(columns, keys).map { column, key in
            guard let keys = OrderKeys(column, descending: key.descending, ranked: true) else {
                throw PartdError(code: .invalidArgument, message: "cannot sort by column \"\(column.name)\" of type \(column.type)")
            }
            return keys
        }
        if ordered.count == 1 { return ordered[0].order() }
        // Stable sorts by each key from the last to the first (least significant first).
        var rows = Array(0..<rowCount)
        for keys in ordered.reversed() { rows = keys.order(of: rows) }
        return rows
    }

    /// The key columns `keys` name, in order.
    package func sortColumns(_ keys: [SortKey]) throws -> [Column] {
        guard !keys.isEmpty else { throw PartdError(code: .invalidArgument, message: "a sort needs at least one key column") }
        return try keys.map { key in
            guard let column = self[key.column] else {
                throw PartdError(code: .invalidArgument, message: "no sort key column \"\(key.column)\"; the table has \(schema)")
            }
            return column
        }
    }
}

/// A fixed-width column's values (or, `ranked`, a string or categorical column's ranks) as unsigned integers
/// in the sort's order (descending ones inverted), and which rows have none (null or NaN).
package struct OrderKeys: Sendable {
    package let keys: [UInt64]
    /// Rows without a value (they sort last); `nil` if every row has one.
    package let missing: [Bool]?

    /// `nil` for strings and categoricals unless `ranked` (their ranks only order one column's rows).
    package init?(_ column: Column, descending: Bool, ranked: Bool) {
        var missing: [Bool]? = column.validity.map { validity in validity.map { !$0 } }
        func signed<T: FixedWidthInteger & SignedInteger>(_ values: [T]) -> [UInt64] {
            values.map { UInt64(bitPattern: Int64($0)) ^ (1 << 63) }
        }
        func floats(_ values: [Double]) -> [UInt64] {
            if values.contains(where: \.isNaN) {
                var marked = missing ?? [Bool](repeating: false, count: values.count)
                for (row, value) in values.enumerated() where value.isNaN { marked[row] = true }
                missing = marked
            }
            return values.map(Self.floatKey)
        }
        var keys: [UInt64]
        switch column.storage {
        case .bool(let bits): keys = bits.map { $0 ? 1 : 0 }
        case .categorical(let categorical):
            guard ranked else { return nil }
            let categories = categorical.categories
            var rank = [UInt64](repeating: 0, count: categories.count)
            for (position, code) in categories.indices.sorted(by: {
                Self.compareBytes(categories.bytes(at: $0), categories.bytes(at: $1)) < 0
            }).enumerated() {
                rank[code] = UInt64(position)
            }
            keys = categorical.codes.map { Int($0) < rank.count ? rank[Int($0)] : 0 }
        case .string(let strings):
            guard ranked else { return nil }
            // Each distinct string's rank among them.
            var ids: [ArraySlice<UInt8>: Int] = [:]
            var firstRows: [Int] = []
            let rowIDs = (0..<strings.count).map { row in
                let bytes = strings.bytes(at: row)
                if let id = ids[bytes] { return id }
                ids[bytes] = firstRows.count
                firstRows.append(row)
                return firstRows.count - 1
            }
            var rank = [UInt64](repeating: 0, count: firstRows.count)
            for (position, id) in firstRows.indices.sorted(by: {
                Self.compareBytes(strings.bytes(at: firstRows[$0]), strings.bytes(at: firstRows[$1])) < 0
            }).enumerated() {
                rank[id] = UInt64(position)
            }
            keys = rowIDs.map { rank[$0] }
        case .fixed(let storage):
            switch storage.dtype {
            case .int8: keys = signed(column.values(as: Int8.self)!)
            case .int16: keys = signed(column.values(as: Int16.self)!)
            case .int32: keys = signed(column.values(as: Int32.self)!)
            case .int64: keys = signed(column.values(as: Int64.self)!)
            case .uint8: keys = column.values(as: UInt8.self)!.map(UInt64.init)
            case .uint16: keys = column.values(as: UInt16.self)!.map(UInt64.init)
            case .uint32: keys = column.values(as: UInt32.self)!.map(UInt64.init)
            case .uint64: keys = column.values(as: UInt64.self)!
            case .float32: keys = floats(column.values(as: Float.self)!.map(Double.init))
            case .float64: keys = floats(column.values(as: Double.self)!)
            case .datetime(.seconds): keys = signed(column.values(as: Timestamp<Seconds>.self)!.map(\.rawValue))
            case .datetime(.milliseconds): keys = signed(column.values(as: Timestamp<Milliseconds>.self)!.map(\.rawValue))
            case .datetime(.microseconds): keys = signed(column.values(as: Timestamp<Microseconds>.self)!.map(\.rawValue))
            case .datetime(.nanoseconds): keys = signed(column.values(as: Timestamp<Nanoseconds>.self)!.map(\.rawValue))
            default:
                #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
                if storage.dtype == .float16 {
                    keys = floats(column.values(as: Float16.self)!.map(Double.init))
                    break
                }
                #endif
                return nil
            }
        }
        if descending { keys = keys.map { ~$0 } }
        self.keys = keys
        self.missing = missing
    }

    /// An unsigned integer in `value`'s order (`-0.0` as `0.0`; not for NaN).
    static func floatKey(_ value: Double) -> UInt64 {
        let bits = (value == 0 ? 0 : value).bitPattern
        return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
    }

    /// `a` before `b` (negative), equal (0) or after (positive), byte by byte.
    package static func compareBytes(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
        var (i, j) = (a.startIndex, b.startIndex)
        while i < a.endIndex && j < b.endIndex {
            if a[i] != b[j] { return a[i] < b[j] ? -1 : 1 }
            i += 1
            j += 1
        }
        return (a.endIndex - i) - (b.endIndex - j)
    }

    /// The rows in key order, ties in row order, rows without a value last (in row order): a radix sort.
    func order() -> [Int] {
        order(of: Array(keys.indices))
    }

    /// `rows` in key order, ties in their order there, rows without a value last (in that order).
    func order(of rows: [Int]) -> [Int] {
        var present: [Int] = []
        var sortable: [UInt64] = []
        present.reserveCapacity(rows.count)
        sortable.reserveCapacity(rows.count)
        for row in rows where !(missing?[row] ?? false) {
            present.append(row)
            sortable.append(keys[row])
        }
        var result = Self.radixSort(sortable, present)
        if let missing { result += rows.filter { missing[$0] } }
        return result
    }

    /// `rows` ordered by `keys` (one per row), equal keys keeping their order: a least-significant-digit radix
    /// sort by bytes, skipping the bytes every key shares.
    static func radixSort(_ keys: [UInt64], _ rows: [Int]) -> [Int] {
        let count = keys.count
        var counts = [Int](repeating: 0, count: 8 * 256)
        for key in keys {
            for digit in 0..<8 { counts[digit * 256 + Int((key >> UInt64(8 * digit)) & 0xff)] += 1 }
        }
        var (keys, rows) = (keys, rows)
        var (otherKeys, otherRows) = (keys, rows)
        for digit in 0..<8 {
            let base = digit * 256
            // A byte every key shares leaves the order as it is.
            if counts[base + Int((keys.first ?? 0) >> UInt64(8 * digit) & 0xff)] == count { continue }
            var next = [Int](repeating: 0, count: 256)
            var total = 0
            for byte in 0..<256 {
                next[byte] = total
                total += counts[base + byte]
            }
            let shift = UInt64(8 * digit)
            for index in 0..<count {
                let key = keys[index]
                let byte = Int((key >> shift) & 0xff)
                otherKeys[next[byte]] = key
                otherRows[next[byte]] = rows[index]
                next[byte] += 1
            }
            swap(&keys, &otherKeys)
            swap(&rows, &otherRows)
        }
        return rows
    }
}
