// SPDX-License-Identifier: Apache-2.0

import Partd

/// The type of a table column.
public enum ColumnType: Hashable, Sendable, CustomStringConvertible {
    /// Numbers, timestamps and booleans (booleans are stored bit-packed).
    case fixed(DType)
    /// Variable-length strings (or byte strings).
    case string
    /// Dictionary-encoded strings.
    case categorical

    public static let bool = ColumnType.fixed(.bool)
    public static let int64 = ColumnType.fixed(.int64)
    public static let float64 = ColumnType.fixed(.float64)
    public static func timestamp(_ unit: TimeUnit) -> ColumnType { .fixed(.datetime(unit)) }

    public var description: String {
        switch self {
        case .fixed(let dtype): return dtype.numpy
        case .string: return "string"
        case .categorical: return "categorical"
        }
    }
}

/// A named, typed column, optionally nullable. Names are told apart by their UTF-8 bytes, as table frames and
/// Arrow keep them (canonically equivalent names that differ in bytes, `"caf\u{E9}"` and `"cafe\u{301}"`,
/// are two names, though Swift's `==` on `String` takes them as equal).
///
/// ```swift
/// let x = Column("x", [1.5, 2.5] as [Double])
/// let name = Column("name", strings: ["a", "b"], validity: [true, false])  // second is null
/// x.values(as: Double.self)   // [1.5, 2.5]
/// ```
public struct Column: Sendable, Equatable {
    public let name: String
    /// For each row, whether it holds a value; `nil` means every row does.
    public private(set) var validity: BitArray?
    var storage: Storage

    enum Storage: Sendable {
        case fixed(any FixedStorage)
        case bool(BitArray)
        case string(StringArray)
        case categorical(CategoricalArray)
    }

    init(name: String, storage: Storage, validity: BitArray?) {
        self.name = name
        self.storage = storage
        self.validity = validity
    }

    /// A column of numbers, timestamps or booleans.
    public init<T: ArrayElement>(_ name: String, _ values: [T], validity: BitArray? = nil) {
        if let bools = RawBytes.sameType(values, as: Bool.self) {
            self.init(name: name, storage: .bool(BitArray(bools)), validity: validity)
        } else {
            self.init(name: name, storage: .fixed(FixedValues(values: values)), validity: validity)
        }
    }

    /// A column of strings.
    public init(_ name: String, strings: StringArray, validity: BitArray? = nil) {
        self.init(name: name, storage: .string(strings), validity: validity)
    }

    /// A column of dictionary-encoded strings.
    public init(_ name: String, categorical: CategoricalArray, validity: BitArray? = nil) {
        self.init(name: name, storage: .categorical(categorical), validity: validity)
    }

    /// A column of strings, from an array of them: `Column("name", strings: names)`.
    public init(_ name: String, strings: [String], validity: BitArray? = nil) {
        self.init(name, strings: StringArray(strings), validity: validity)
    }

    /// A column of dictionary-encoded strings, from an array of them: `Column("city", categorical: cities)`.
    public init(_ name: String, categorical: [String], validity: BitArray? = nil) {
        self.init(name, categorical: CategoricalArray(categorical), validity: validity)
    }

    public var type: ColumnType {
        switch storage {
        case .fixed(let values): return .fixed(values.dtype)
        case .bool: return .bool
        case .string: return .string
        case .categorical: return .categorical
        }
    }

    public var count: Int {
        switch storage {
        case .fixed(let values): return values.count
        case .bool(let bits): return bits.count
        case .string(let strings): return strings.count
        case .categorical(let categorical): return categorical.count
        }
    }

    /// Whether `row` holds a value (is not null).
    public func isValid(_ row: Int) -> Bool { validity?[row] ?? true }

    /// The values as `[T]` if the column's type is `T`'s (`nil` otherwise);
    /// null rows hold an unspecified value.
    public func values<T: ArrayElement>(as type: T.Type) -> [T]? {
        switch storage {
        case .fixed(let values): return values.values(as: type)
        case .bool(let bits):
            // The type first: unpacking the bits for another type's request would be wasted.
            guard T.self == Bool.self else { return nil }
            return RawBytes.sameType(Array(bits), as: T.self)
        default: return nil
        }
    }

    /// The strings of a string column.
    public var strings: StringArray? {
        if case .string(let strings) = storage { return strings }
        return nil
    }

    /// The values of a categorical column.
    public var categorical: CategoricalArray? {
        if case .categorical(let categorical) = storage { return categorical }
        return nil
    }

    /// The rows in `range`.
    ///
    /// - Precondition: `range` lies in `0..<count`.
    public func slice(_ range: Range<Int>) -> Column {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "rows \(range) out of range 0..<\(count)")
        let sliced: Storage
        switch storage {
        case .fixed(let values): sliced = .fixed(values.slice(range))
        case .bool(let bits): sliced = .bool(bits.slice(range))
        case .string(let strings): sliced = .string(strings.slice(range))
        case .categorical(let categorical): sliced = .categorical(categorical.slice(range))
        }
        return Column(name: name, storage: sliced, validity: validity?.slice(range))
    }

    /// The rows at `indices`, in that order.
    ///
    /// - Precondition: every index is in `0..<count`.
    public func take(_ indices: [Int]) -> Column {
        let taken: Storage
        switch storage {
        case .fixed(let values): taken = .fixed(values.take(indices))
        case .bool(let bits): taken = .bool(bits.take(indices))
        case .string(let strings): taken = .string(strings.take(indices))
        case .categorical(let categorical): taken = .categorical(categorical.take(indices))
        }
        return Column(name: name, storage: taken, validity: validity?.take(indices))
    }

    /// The rows at `indices`, where `nil` gives a null row (a left join's rows without a match).
    ///
    /// - Precondition: every index that is not `nil` is in `0..<count`, as for `take` with `[Int]`: also of a
    ///   column without rows, where only `nil` may be asked for.
    public func take(_ indices: [Int?]) -> Column {
        guard indices.contains(nil) else { return take(indices.map { $0! }) }
        guard count > 0 else {
            if let index = indices.first(where: { $0 != nil }) ?? nil { preconditionFailure("index \(index) out of range 0..<0") }
            return Column.nulls(name, type, count: indices.count)
        }
        let taken = take(indices.map { $0 ?? 0 })
        let validity = BitArray(indices.indices.lazy.map { indices[$0] != nil && taken.isValid($0) })
        return Column(name: name, storage: taken.storage, validity: validity)
    }

    /// `count` nulls of `type`.
    public static func nulls(_ name: String, _ type: ColumnType, count: Int) -> Column {
        let storage: Storage
        switch type {
        case .fixed(.bool): storage = .bool(BitArray(repeating: false, count: count))
        case .fixed(let dtype):
            let zeros = [UInt8](repeating: 0, count: count * dtype.byteWidth)
            storage = .fixed(makeFixedStorage(dtype, count: count, pieces: [zeros[...]])!)
        case .string: storage = .string(StringArray(byteStrings: repeatElement([UInt8](), count: count)))
        case .categorical:
            // A null row's code still points at a category.
            storage = .categorical(CategoricalArray(unchecked: [Int32](repeating: 0, count: count), categories: [""]))
        }
        return Column(name: name, storage: storage, validity: BitArray(repeating: false, count: count))
    }

    /// The same column under another name.
    public func renamed(_ name: String) -> Column {
        Column(name: name, storage: storage, validity: validity)
    }

    /// The rows in partitions `range`, split by partition number, in one sequential pass.
    func split(_ plan: SplitPlan) -> [Column] {
        let parts: [Storage]
        switch storage {
        case .fixed(let values): parts = values.split(plan).map { .fixed($0) }
        case .bool(let bits): parts = bits.split(plan).map { .bool($0) }
        case .string(let strings): parts = strings.split(plan).map { .string($0) }
        case .categorical(let categorical): parts = categorical.split(plan).map { .categorical($0) }
        }
        let validities = validity?.split(plan)
        return parts.indices.map { Column(name: name, storage: parts[$0], validity: validities?[$0]) }
    }

    /// Joins columns of one name and type, in order (categoricals are unified).
    static func concatenate(_ parts: [Column]) -> Column {
        let first = parts[0]
        let storage: Storage
        switch first.storage {
        case .fixed(let values):
            storage = .fixed(values.concatenated(with: parts.dropFirst().compactMap {
                if case .fixed(let v) = $0.storage { return v } else { return nil }
            }[...]))
        case .bool:
            var bits = BitArray()
            for part in parts { if case .bool(let b) = part.storage { bits.append(contentsOf: b) } }
            storage = .bool(bits)
        case .string:
            var strings = StringArray()
            for part in parts { if case .string(let s) = part.storage { strings.append(contentsOf: s) } }
            storage = .string(strings)
        case .categorical:
            storage = .categorical(CategoricalArray.concatenate(parts.compactMap(\.categorical)))
        }
        var validity: BitArray?
        if parts.contains(where: { $0.validity != nil }) {
            var bits = BitArray()
            for part in parts { bits.append(contentsOf: part.validity ?? BitArray(repeating: true, count: part.count)) }
            validity = bits
        }
        return Column(name: first.name, storage: storage, validity: validity)
    }

    public static func == (a: Column, b: Column) -> Bool {
        guard a.name.hasSameUTF8(as: b.name), a.validity == b.validity else { return false }
        switch (a.storage, b.storage) {
        case (.fixed(let x), .fixed(let y)): return x.dtype == y.dtype && x.isEqual(to: y)
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.categorical(let x), .categorical(let y)): return x == y
        default: return false
        }
    }
}

/// The names and types of a table's columns, in order. Names compare by their UTF-8 bytes (see ``Column``).
public struct TableSchema: Hashable, Sendable, CustomStringConvertible {
    public var fields: [Field]

    public struct Field: Hashable, Sendable {
        public var name: String
        public var type: ColumnType
        public init(_ name: String, _ type: ColumnType) {
            self.name = name
            self.type = type
        }

        public static func == (a: Field, b: Field) -> Bool { a.type == b.type && a.name.hasSameUTF8(as: b.name) }

        public func hash(into hasher: inout Hasher) {
            UTF8Key(name).hash(into: &hasher)
            hasher.combine(type)
        }
    }

    public init(_ fields: [Field]) { self.fields = fields }

    public var description: String {
        "(" + fields.map { "\($0.name): \($0.type)" }.joined(separator: ", ") + ")"
    }
}

/// Named, typed columns of equal length, laid out like Apache Arrow's columnar
/// format (validity bitmaps, offsets plus bytes for strings, dictionary plus
/// indices for categoricals).
///
/// ```swift
/// let t = try Table([
///     Column("id", [1, 2, 3] as [Int64]),
///     Column("name", strings: ["a", "b", "c"]),
/// ])
/// t.slice(1..<3).rowCount          // 2
/// try Table.concatenate([t, t]).rowCount   // 6
/// ```
public struct Table: Sendable, Equatable {
    public private(set) var columns: [Column]

    /// The large arrays of the columns (fixed-width values, string offsets and bytes), for a
    /// ``ResultBuffers`` to keep.
    var heldArrays: [ResultBuffers.Held] {
        columns.flatMap { column -> [ResultBuffers.Held] in
            switch column.storage {
            case .fixed(let values): return [values.held]
            case .string(let strings): return strings.heldArrays
            case .bool, .categorical: return []
            }
        }
    }
    public private(set) var rowCount: Int

    /// An empty table with no columns.
    public init() {
        columns = []
        rowCount = 0
    }

    /// - Throws: ``PartdError/Code/invalidArgument`` if columns differ in length,
    ///   names repeat (the same UTF-8 bytes), or a validity bitmap's length differs from its column's.
    public init(_ columns: [Column]) throws {
        let rows = columns.first?.count ?? 0
        var names = Set<UTF8Key>()
        for column in columns {
            guard names.insert(UTF8Key(column.name)).inserted else {
                throw PartdError(code: .invalidArgument, message: "column name \"\(column.name)\" appears twice")
            }
            guard column.count == rows, column.validity.map({ $0.count == rows }) ?? true else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "column \"\(column.name)\" has \(column.count) rows (validity \(column.validity?.count ?? column.count)), the first column \(rows)")
            }
        }
        self.columns = columns
        self.rowCount = rows
    }

    init(unchecked columns: [Column], rowCount: Int) {
        self.columns = columns
        self.rowCount = rowCount
    }

    /// An empty table with the given schema.
    public init(empty schema: TableSchema) {
        let columns = schema.fields.map { field -> Column in
            let storage: Column.Storage
            switch field.type {
            case .fixed(.bool): storage = .bool(BitArray())
            case .fixed(let dtype): storage = .fixed(makeFixedStorage(dtype, count: 0, pieces: [])!)
            case .string: storage = .string(StringArray())
            case .categorical: storage = .categorical(CategoricalArray())
            }
            return Column(name: field.name, storage: storage, validity: nil)
        }
        self.init(unchecked: columns, rowCount: 0)
    }

    public var schema: TableSchema {
        TableSchema(columns.map { TableSchema.Field($0.name, $0.type) })
    }

    /// The column whose name has the UTF-8 bytes of `name`.
    public subscript(name: String) -> Column? {
        columns.first { $0.name.hasSameUTF8(as: name) }
    }

    /// The rows in `range`.
    ///
    /// - Precondition: `range` lies in `0..<rowCount`, also for a table without columns.
    public func slice(_ range: Range<Int>) -> Table {
        precondition(range.lowerBound >= 0 && range.upperBound <= rowCount, "rows \(range) out of range 0..<\(rowCount)")
        return Table(unchecked: columns.map { $0.slice(range) }, rowCount: range.count)
    }

    /// The rows at `indices`, in that order.
    ///
    /// - Precondition: every index is in `0..<rowCount` (checked by each column, and here for a table without
    ///   columns, whose row count is all it has).
    public func take(_ indices: [Int]) -> Table {
        if columns.isEmpty { Self.checkRows(indices, rowCount: rowCount) }
        return Table(unchecked: columns.map { $0.take(indices) }, rowCount: indices.count)
    }

    /// The rows at `indices`, in that order, where `nil` gives a row of nulls.
    ///
    /// - Precondition: every index that is not `nil` is in `0..<rowCount` (checked by each column, and here
    ///   for a table without columns).
    public func take(_ indices: [Int?]) -> Table {
        if columns.isEmpty { Self.checkRows(indices.lazy.compactMap { $0 }, rowCount: rowCount) }
        return Table(unchecked: columns.map { $0.take(indices) }, rowCount: indices.count)
    }

    /// Traps on the first index outside `0..<rowCount`, naming it, as a column's `take` does.
    private static func checkRows(_ indices: some Sequence<Int>, rowCount: Int) {
        for i in indices { precondition(i >= 0 && i < rowCount, "index \(i) out of range 0..<\(rowCount)") }
    }

    /// Only the named columns, in the order given.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` naming a column that does not exist, or one named twice
    ///   (a table's names are unique).
    public func selecting(_ names: [String]) throws -> Table {
        try Table.checkSelection(names)
        let finder = ColumnFinder(columns.map(\.name), lookups: names.count)
        let picked = try names.map { name in
            guard let column = finder.index(of: name).map({ columns[$0] }) else {
                throw PartdError(code: .invalidArgument, message: "no column \"\(name)\"; the table has \(schema)")
            }
            return column
        }
        return Table(unchecked: picked, rowCount: rowCount)
    }

    /// Checks that column names asked for do not repeat (as bytes, as names compare).
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` naming the first name that repeats.
    static func checkSelection(_ names: [String], key: PartdKey? = nil) throws {
        var seen = Set<UTF8Key>()
        for name in names where !seen.insert(UTF8Key(name)).inserted {
            throw PartdError(code: .invalidArgument, message: "column \"\(name)\" is selected twice; a table's column names are unique", key: key)
        }
    }

    /// The tables' rows one after another. Categorical columns whose
    /// dictionaries differ are unified; a nullable and a non-nullable column join
    /// into a nullable one.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` if the schemas differ.
    public static func concatenate(_ tables: [Table]) throws -> Table {
        guard let first = tables.first else { return Table() }
        let schema = first.schema
        for table in tables.dropFirst() where table.schema != schema {
            throw PartdError(code: .typeMismatch, message: "cannot concatenate tables with schemas \(schema) and \(table.schema)")
        }
        let columns = first.columns.indices.map { i in Column.concatenate(tables.map { $0.columns[i] }) }
        return Table(unchecked: columns, rowCount: tables.reduce(0) { $0 + $1.rowCount })
    }

    /// Groups row indices by partition with one counting sort: rows
    /// `rows[bounds[p]..<bounds[p + 1]]` are those with `partitions[row] == p`,
    /// in row order.
    ///
    /// - Precondition: every partition number is in `0..<count`.
    public static func groupRowIndices(partitions: [Int], count: Int) -> (rows: [Int], bounds: [Int]) {
        var bounds = [Int](repeating: 0, count: count + 1)
        for p in partitions {
            precondition(p >= 0 && p < count, "partition \(p) is outside 0..<\(count)")
            bounds[p + 1] += 1
        }
        for p in 0..<count { bounds[p + 1] += bounds[p] }
        var next = bounds
        var rows = [Int](repeating: 0, count: partitions.count)
        for (row, p) in partitions.enumerated() {
            rows[next[p]] = row
            next[p] += 1
        }
        return (rows, bounds)
    }

    /// Splits the table into `count` tables by each row's partition number:
    /// each column is read in row order, and the columns are split on all cores.
    ///
    /// - Precondition: one partition number per row, each in `0..<count`.
    public func split(byPartition partitions: [Int], count: Int) -> [Table] {
        var tables: [Table] = []
        split(byPartition: partitions, count: count, partitionsAtOnce: count) { _, parts in tables += parts }
        return tables
    }

    /// Splits the table by each row's partition number, `partitionsAtOnce`
    /// partitions at a time: `body` gets each range of partitions and their
    /// tables in turn, so only that share of the table is copied at once. A
    /// first pass groups the row numbers by range; each column is then read in
    /// row order per range (no test per row of which range it is in).
    ///
    /// - Precondition: one partition number per row, each in `0..<count`.
    public func split(
        byPartition partitions: [Int], count: Int, partitionsAtOnce: Int,
        _ body: (Range<Int>, [Table]) throws -> Void
    ) rethrows {
        precondition(partitions.count == rowCount, "one partition number per row is needed")
        var bounds = [Int](repeating: 0, count: count + 1)
        for p in partitions {
            precondition(p >= 0 && p < count, "partition \(p) is outside 0..<\(count)")
            bounds[p + 1] += 1
        }
        for p in 0..<count { bounds[p + 1] += bounds[p] }
        let step = max(1, partitionsAtOnce)
        let ranges = stride(from: 0, to: count, by: step).map { $0..<Swift.min($0 + step, count) }
        // Row numbers grouped by range, in row order within each (a counting sort on the range).
        var rows = [Int](repeating: 0, count: rowCount)
        var next = ranges.map { bounds[$0.lowerBound] }
        if ranges.count == 1 {
            for row in 0..<rowCount { rows[row] = row }
        } else {
            for (row, p) in partitions.enumerated() {
                let r = p / step
                rows[next[r]] = row
                next[r] += 1
            }
        }
        for range in ranges {
            let plan = SplitPlan(
                partitions: partitions, bounds: bounds, range: range,
                rows: rows[bounds[range.lowerBound]..<bounds[range.upperBound]])
            let split = (try? Parallel.map(columns, totalBytes: plan.rows.count * 8 * columns.count) { $0.split(plan) }) ?? []
            try body(range, range.map { p in
                Table(unchecked: split.map { $0[p - range.lowerBound] }, rowCount: bounds[p + 1] - bounds[p])
            })
        }
    }
}

/// One step of a split by partition: each row's partition number, the
/// partitions' running row counts (partition `p` gets `bounds[p + 1] - bounds[p]`
/// rows), the partitions split in this step, and their rows, in row order.
struct SplitPlan: Sendable {
    let partitions: [Int]
    let bounds: [Int]
    let range: Range<Int>
    let rows: ArraySlice<Int>
}

extension Column {
    /// The value at `row` as text (`nil` for a null): numbers as Swift prints
    /// them, booleans as `true`/`false`, timestamps as their count of units,
    /// strings as they are (bytes that are not UTF-8 are replaced).
    public func text(at row: Int) -> String? {
        guard isValid(row) else { return nil }
        switch storage {
        case .bool(let bits): return bits[row] ? "true" : "false"
        case .string(let strings): return strings[row]
        case .categorical(let categorical): return categorical[row]
        case .fixed(let values): return values.text(at: row)
        }
    }
}

extension FixedStorage {
    fileprivate func text(at row: Int) -> String {
        // The element itself, whatever Swift type holds it (`Int` or `Int64` print alike): asking for the
        // dtype's own type would convert the whole array when another one holds it, on every call.
        func describe() -> String {
            let value = element(at: row)
            if let timestamp = value as? any TimestampValue { return String(timestamp.units) }
            return "\(value)"
        }
        switch dtype {
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .float32, .float64:
            return describe()
        case .datetime(.seconds), .datetime(.milliseconds), .datetime(.microseconds), .datetime(.nanoseconds):
            return describe()
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if dtype == .float16 { return describe() }
            #endif
            return "?"
        }
    }
}

/// A timestamp of any unit, as its count of units.
private protocol TimestampValue { var units: Int64 { get } }
extension Timestamp: TimestampValue { fileprivate var units: Int64 { rawValue } }

extension Table: CustomStringConvertible {
    /// The row count and the schema, `3 rows (id: <i8, name: categorical)`, not every value.
    public var description: String {
        "\(rowCount) row\(rowCount == 1 ? "" : "s") \(schema)"
    }
}

extension StringArray: CustomStringConvertible {
    /// The strings, as an array of them prints: `["a", "b"]`.
    public var description: String { Array(self).description }
}

extension CategoricalArray: CustomStringConvertible {
    /// The strings, as an array of them prints: `["a", "b", "a"]`.
    public var description: String { Array(self).description }
}

/// Finds columns by name, as their UTF-8 bytes compare: a scan per name for a few names, one hash table
/// for more (a scan per name made selecting every one of c columns c²/2 comparisons: half a second for
/// 4,000 columns).
struct ColumnFinder {
    private let names: [String]
    private let index: [UTF8Key: Int]?

    init(_ names: [String], lookups: Int) {
        self.names = names
        if lookups > 8 && names.count > 8 {
            var index: [UTF8Key: Int] = [:]
            index.reserveCapacity(names.count)
            for (i, name) in names.enumerated() where index[UTF8Key(name)] == nil { index[UTF8Key(name)] = i }
            self.index = index
        } else {
            self.index = nil
        }
    }

    /// The index of the first column named `name`.
    func index(of name: String) -> Int? {
        if let index { return index[UTF8Key(name)] }
        return names.firstIndex { $0.hasSameUTF8(as: name) }
    }
}
