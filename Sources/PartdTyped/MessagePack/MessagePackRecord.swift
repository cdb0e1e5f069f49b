// SPDX-License-Identifier: Apache-2.0

import Foundation

/// A `Codable` type that also writes and reads its own MessagePack, field by field, so that lists of it skip
/// `Codable`'s per-field dynamic dispatch and container allocations (several times faster for small structs).
///
/// The bytes are exactly what ``MessagePackEncoder`` writes for the type's `Codable` form: a map from field name
/// to value (``MessagePackEncoder/StructEncoding/map``) or an array of the values
/// (``MessagePackEncoder/StructEncoding/array``), with the same integer, float, string and bin forms. Lists of
/// a conforming type use these members automatically, in ``MessagePackEncoder/encode(list:into:)``,
/// ``MessagePackDecoder/decode(list:from:appendingTo:)`` and so in ``ListStore``; everything else about the
/// type (single values, nesting in other types) goes through `Codable`.
///
/// ```swift
/// struct Visit: MessagePackRecord, Sendable {
///     var user: Int
///     var page: String
///
///     static let messagePackFields = ["user", "page"]
///     func pack(into writer: inout MessagePackWriter) {
///         writer.pack(user)
///         writer.pack(page)
///     }
///     init(unpacking reader: inout MessagePackReader) throws {
///         user = try reader.unpack()
///         page = try reader.unpack()
///     }
/// }
/// ```
///
/// For a struct, `@MessagePackRecord` (module `PartdRecords`) writes these three members from the declaration.
///
/// Fields are ``MessagePackField``s: integers, `Double`, `Float`, `Bool`, `String`, `[UInt8]`, `Data`, raw-value enums
/// that declare the conformance, other records (every `MessagePackRecord` is a field), and optionals, arrays,
/// sets and `String`- or `Int`-keyed dictionaries of fields (`[Int]`, `String?`, `[Double?]`, `[[Int]]`,
/// `[Point]`, `Set<String>`, `[String: Int]`). Reading is strict about
/// the layout and lenient about everything else: a record whose map keys come in another order, with other or
/// missing keys, or whose values have other MessagePack types (a Python dict built in another order, an old
/// version of the type) is decoded through the type's `Codable` conformance instead, which accepts what it
/// accepts and throws what it throws. Malformed bytes throw ``MessagePackError``.
public protocol MessagePackRecord: Codable, MessagePackField {
    /// The field names (the `CodingKeys` string values), in the order ``pack(into:)`` writes the fields.
    static var messagePackFields: [String] { get }
    /// Writes every field, in ``messagePackFields`` order, with one `writer.pack` call each.
    func pack(into writer: inout MessagePackWriter)
    /// Reads every field, in ``messagePackFields`` order, with one `reader.unpack` call each.
    init(unpacking reader: inout MessagePackReader) throws

    /// Writes the records of a list. Implementation detail with a default implementation (compiled for each
    /// conforming type, so the per-record calls are direct): do not implement it.
    static func _packList(_ values: [Self], into writer: inout MessagePackWriter) throws
    /// Reads `count` records of a list. Implementation detail with a default implementation: do not implement it.
    static func _unpackList(_ count: Int, from reader: inout MessagePackReader, appendingTo result: inout [Self]) throws
}

extension MessagePackRecord {
    @inlinable
    public static func _packList(_ values: [Self], into writer: inout MessagePackWriter) throws {
        for index in values.indices {
            writer.beginRecord()
            values[index].pack(into: &writer)
            if !writer.endRecord() { throw writer.fieldCountError(values[index], at: index) }
        }
    }

    @inlinable
    public static func _unpackList(
        _ count: Int, from reader: inout MessagePackReader, appendingTo result: inout [Self]
    ) throws {
        for index in 0 ..< count {
            let start = reader.recordStart
            if try reader.beginRecord() {
                do {
                    let record = try Self(unpacking: &reader)
                    if reader.endRecord() {
                        result.append(record)
                        continue
                    }
                } catch is RecordLayoutMismatch {}
            }
            result.append(try reader.decodeThroughCodable(Self.self, at: start, index: index))
        }
    }
}

// A record is a field of other records: a map or an array of its own fields, as `Codable` nests it.
extension MessagePackRecord {
    @inlinable
    public static func _pack(_ value: Self, into writer: inout MessagePackWriter) { writer.packNested(value) }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Self { try reader.unpackNested(Self.self) }
}

/// Where the field names of a record type nested in a list's records are in the list writer's or reader's
/// ``FieldKeys``: its first key's index there, and how many fields it has. Each level of nesting keeps the
/// layout of its own record (the outer one's waits in the nesting call), so that a record type nested in
/// another, in itself or in a type it holds finds its own names at every level.
struct NestedLayout {
    let base: Int
    let count: Int
}

extension [ObjectIdentifier: NestedLayout] {
    /// The layout of record type `R`, whose keys are added to `keys` the first time it is asked for.
    mutating func layout<R: MessagePackRecord>(of _: R.Type, in keys: inout FieldKeys) -> NestedLayout {
        if let layout = self[ObjectIdentifier(R.self)] { return layout }
        let names = R.messagePackFields
        let layout = NestedLayout(base: keys.add(names), count: names.count)
        self[ObjectIdentifier(R.self)] = layout
        return layout
    }
}

/// Writes the fields of one ``MessagePackRecord`` (see ``MessagePackRecord/pack(into:)``).
public struct MessagePackWriter: ~Copyable {
    var out: ByteWriter
    /// The field names of the list's record type and of the record types nested in it, as map keys (unused when
    /// records are arrays); those of the record being written start at index `keyBase`.
    var keys: FieldKeys
    var keyBase = 0
    /// Fields written to the record being written, and how many it has.
    @usableFromInline var fields = 0
    var fieldCount: Int
    /// Why the list cannot be written, if a `pack` call found out: a string or bin too long for MessagePack (it
    /// is not written), a nested record with the wrong number of fields, or nesting too deep.
    var problem: String?
    /// Whether records are maps (each value preceded by its key).
    @usableFromInline let keyed: Bool
    /// The layouts of record types nested in the list's records, and how deep the record being written is.
    var nested: [ObjectIdentifier: NestedLayout] = [:]
    var depth = 0
    /// Where each value of the sets and dictionaries being written starts (a stack), and scratch space to
    /// sort them: kept across records, so sorting allocates nothing once they have grown.
    @usableFromInline var sortStarts: [Int] = []
    var sortOrder: [Int] = []

    /// A writer whose output has room for `capacity` bytes before it first grows.
    init(fieldNames: [String], structEncoding: MessagePackEncoder.StructEncoding, capacity: Int = 1024) {
        out = ByteWriter(capacity: capacity)
        fieldCount = fieldNames.count
        keyed = structEncoding != .array
        keys = FieldKeys()
        _ = keys.add(fieldNames)
    }

    @inlinable
    mutating func field() {
        if keyed { writeKey() }
        fields += 1
    }

    @usableFromInline mutating func writeKey() {
        if fields < fieldCount { keys.write(keyBase + fields, to: &out) }
    }

    /// Writes the header of the next record of the list.
    @usableFromInline
    mutating func beginRecord() {
        out.writeHeader(keyed ? .map : .array, count: fieldCount)
        fields = 0
    }

    /// Whether the record just written has every field (and no problem).
    @usableFromInline
    func endRecord() -> Bool { fields == fieldCount && problem == nil }

    /// The error for a record `pack(into:)` wrote with too few or too many fields, or with a problem.
    @usableFromInline
    func fieldCountError(_ value: some MessagePackRecord, at index: Int) -> EncodingError {
        let problem = problem ?? fieldCountProblem(type(of: value))
        return EncodingError.invalidValue(value, .init(codingPath: [PathKey.index(index)], debugDescription: problem))
    }

    private func fieldCountProblem(_ type: Any.Type) -> String {
        "\(type).pack(into:) wrote \(fields) fields but messagePackFields names \(fieldCount)"
    }

    /// Writes a record nested in the one being written (a field, or in one), with its own field names.
    @usableFromInline
    mutating func packNested<R: MessagePackRecord>(_ value: R) {
        guard depth < maxNestingDepth else {
            problem = problem ?? "records nest deeper than \(maxNestingDepth) levels"
            return
        }
        let outer = (fields, fieldCount, keyBase)
        let layout = nested.layout(of: R.self, in: &keys)
        (fieldCount, keyBase) = (layout.count, layout.base)
        depth += 1
        beginRecord()
        value.pack(into: &self)
        if fields != fieldCount, problem == nil { problem = fieldCountProblem(R.self) }
        depth -= 1
        (fields, fieldCount, keyBase) = outer
    }

    /// Writes the next field as `Codable` does: integers in their smallest form, `Float` as float 32, `Double`
    /// as float 64, `String` as str, `[UInt8]` as bin, nil for `nil`, an array of the elements for an array. A
    /// string, bin or array of 2^32 or more bytes or elements cannot be MessagePack: the list is refused with an
    /// `EncodingError`.
    @inlinable
    public mutating func pack<Field: MessagePackField>(_ value: Field) {
        field()
        Field._pack(value, into: &self)
    }

    private mutating func fits(_ count: Int) -> Bool {
        if count <= UInt32.max { return true }
        problem = problem ?? "a field of \(count) bytes or elements does not fit MessagePack's 32-bit lengths"
        return false
    }

    // The values of `MessagePackField`s, without keys. Not generic, so that the fields' inlinable code, specialised
    // in the record's module, calls them directly.

    @usableFromInline mutating func write(_ value: Int64) { out.writeInteger(value) }
    @usableFromInline mutating func write(_ value: UInt64) { out.writeInteger(value) }
    @usableFromInline mutating func write(_ value: Double) { out.writeDouble(value) }
    @usableFromInline mutating func write(_ value: Float) { out.writeFloat(value) }
    @usableFromInline mutating func write(_ value: Bool) { out.writeBool(value) }
    @usableFromInline mutating func writeNil() { out.writeNil() }

    /// Writes a str.
    @usableFromInline
    mutating func write(_ string: String) {
        guard fits(string.utf8.count) else { return }
        out.writeHeader(.string, count: string.utf8.count)
        out.write(utf8: string)
    }

    /// Writes a bin.
    @usableFromInline
    mutating func write(binary: [UInt8]) {
        guard fits(binary.count) else { return }
        out.writeHeader(.binary, count: binary.count)
        out.write(binary)
    }

    /// Writes a `Data` as a bin.
    @usableFromInline
    mutating func write(data: Data) {
        guard fits(data.count) else { return }
        out.writeHeader(.binary, count: data.count)
        out.write(contentsOf: data)
    }

    /// Writes the header of an array of `count` elements.
    @usableFromInline
    mutating func writeArrayHeader(count: Int) {
        guard fits(count) else { return }
        out.writeHeader(.array, count: count)
    }

    /// Writes the header of a map of `count` entries.
    @usableFromInline
    mutating func writeMapHeader(count: Int) {
        guard fits(count) else { return }
        out.writeHeader(.map, count: count)
    }

    /// Begins the values of a set or the entries of a dictionary, which ``endSortedValues(from:keyed:)`` puts
    /// in ``MessagePackOrder`` (so they come out the same in every process): call ``markValue()`` before each.
    /// Returns where their starts begin on the stack of starts (nested sets and dictionaries push theirs above).
    @usableFromInline
    mutating func beginSortedValues() -> Int { sortStarts.count }

    /// Notes that the next value (or entry) starts here.
    @usableFromInline
    mutating func markValue() { sortStarts.append(out.count) }

    /// Sorts the values marked since `base` (``beginSortedValues()``) and pops their starts.
    @usableFromInline
    mutating func endSortedValues(from base: Int, keyed: Bool) {
        out.sortValues(sortStarts, from: base, keyed: keyed, order: &sortOrder)
        sortStarts.removeSubrange(base...)
    }
}

/// Reads the fields of one ``MessagePackRecord`` (see ``MessagePackRecord/init(unpacking:)``).
public struct MessagePackReader: ~Copyable {
    var core: DecodingCore
    var position: Int
    /// The field names of the list's record type and of the record types nested in it, as map keys: a map's
    /// keys must be written so (strs in their shortest form). Those of the record being read start at index
    /// `keyBase`.
    var keys: FieldKeys
    var keyBase = 0
    @usableFromInline var fieldCount: Int
    /// Whether the record being read is a map (keys precede the values).
    @usableFromInline var keyed = false
    /// Fields read from the record being read.
    @usableFromInline var fields = 0
    /// The layouts of record types nested in the list's records, and how deep the record being read is.
    var nested: [ObjectIdentifier: NestedLayout] = [:]
    var depth = 0

    init(_ bytes: ArraySlice<UInt8>, fieldNames: [String]) {
        core = DecodingCore(bytes)
        position = bytes.startIndex
        keys = FieldKeys()
        _ = keys.add(fieldNames)
        fieldCount = fieldNames.count
    }

    /// Where the next record starts.
    @usableFromInline
    var recordStart: Int { position }

    /// Reads the header of the record at `position` if it has the expected layout: an array or a map of
    /// exactly `keys.count` entries.
    @usableFromInline
    mutating func beginRecord() throws -> Bool {
        // The usual case first: a fixarray or fixmap of the field count.
        if fieldCount < 16, position < core.bytes.endIndex {
            let tag = core.bytes[position]
            if tag == 0x90 | UInt8(fieldCount) || tag == 0x80 | UInt8(fieldCount) {
                keyed = tag & 0xf0 == 0x80
                position += 1
                fields = 0
                return true
            }
        }
        var at = position
        if let count = try core.input.readLength(.array, at: &at) {
            guard count == fieldCount else { return false }
            keyed = false
        } else if let count = try core.input.readLength(.map, at: &at) {
            guard count == fieldCount else { return false }
            keyed = true
        } else {
            return false
        }
        position = at
        fields = 0
        return true
    }

    /// Whether the record just read had every field.
    @usableFromInline
    func endRecord() -> Bool { fields == fieldCount }

    /// Reads a record nested in the one being read (a field, or in one), with its own field names. Any other
    /// layout makes the outermost record go through `Codable`.
    @usableFromInline
    mutating func unpackNested<R: MessagePackRecord>(_: R.Type) throws -> R {
        guard depth < maxNestingDepth else { throw RecordLayoutMismatch() }
        let layout = nested.layout(of: R.self, in: &keys)
        let outer = (fields, fieldCount, keyed, keyBase)
        (fieldCount, keyBase) = (layout.count, layout.base)
        depth += 1
        defer {
            depth -= 1
            (fields, fieldCount, keyed, keyBase) = outer
        }
        guard try beginRecord() else { throw RecordLayoutMismatch() }
        let record = try R(unpacking: &self)
        guard endRecord() else { throw RecordLayoutMismatch() }
        return record
    }

    /// Decodes the record at `start`, element `index` of the list, through its `Codable` conformance and moves
    /// past it. Errors give offsets from the list's start and coding paths from the element's index, as for a
    /// list decoded through `Codable` alone.
    @usableFromInline
    mutating func decodeThroughCodable<R: Decodable>(_: R.Type, at start: Int, index: Int) throws -> R {
        let end = try core.end(ofValueAt: start, depth: 0)
        let record = try MessagePackDecoder.decode(element: R.self, at: start, index: index, of: core.bytes)
        position = end
        return record
    }

    /// Steps over the next field's key (which must be the expected name) in a map.
    @inlinable
    mutating func field() throws {
        guard fields < fieldCount else { throw RecordLayoutMismatch() }
        if keyed { try readKey() }
        fields += 1
    }

    @usableFromInline mutating func readKey() throws {
        guard let length = keys.match(keyBase + fields, in: core.bytes, at: position) else { throw RecordLayoutMismatch() }
        position += length
    }

    @inline(__always)
    private func expect<V>(_ value: V?) throws -> V {
        guard let value else { throw RecordLayoutMismatch() }
        return value
    }

    /// Reads the next field, written as ``MessagePackWriter/pack(_:)`` writes it.
    @inlinable
    public mutating func unpack<Field: MessagePackField>() throws -> Field {
        try field()
        return try Field._unpack(from: &self)
    }

    // The values of `MessagePackField`s (see `MessagePackWriter.write`); another type there throws
    // `RecordLayoutMismatch`.

    @usableFromInline mutating func readInt64() throws -> Int64 { try expect(try core.input.readInt(Int64.self, at: &position)) }
    @usableFromInline mutating func readUInt64() throws -> UInt64 { try expect(try core.input.readInt(UInt64.self, at: &position)) }
    @usableFromInline mutating func readDouble() throws -> Double { try expect(try core.input.readDouble(at: &position)) }
    @usableFromInline mutating func readFloat() throws -> Float { try expect(try core.input.readFloat(at: &position)) }
    @usableFromInline mutating func readBool() throws -> Bool { try expect(try core.input.readBool(at: &position)) }
    @usableFromInline mutating func readString() throws -> String { try expect(try core.input.readString(at: &position)) }
    @usableFromInline mutating func readBinary() throws -> [UInt8] { try expect(try core.input.readBinary(at: &position)) }
    @usableFromInline mutating func readData() throws -> Data { try expect(try core.input.readData(at: &position)) }
    @usableFromInline mutating func readArrayCount() throws -> Int { try expect(try core.input.readLength(.array, at: &position)) }
    @usableFromInline mutating func readMapCount() throws -> Int { try expect(try core.input.readLength(.map, at: &position)) }

    /// Steps over a nil if there is one.
    @usableFromInline
    mutating func readNil() throws -> Bool {
        guard try core.isNil(at: position) else { return false }
        position += 1
        return true
    }
}

/// A type a ``MessagePackRecord`` field may have, written as ``MessagePackEncoder`` writes its `Codable` form:
/// the integer types, `Double`, `Float`, `Bool` and `String`; ``Timestamp`` (its count of units, an int);
/// Foundation's `Date` (a float 64 of seconds since 2001), `UUID` (its string) and `Data` (a bin); records (a map or an array of their own fields, as
/// the list's records are); optionals of fields (nil for `nil`); arrays of fields (a MessagePack array, except
/// `[UInt8]`, which is a bin); sets of fields (an array); dictionaries from `String` or `Int`
/// (``MessagePackMapKey``) to fields (a map with str or int keys). `@MessagePackRecord` accepts fields of these
/// types. Records nest at most 256 deep, as in the coders.
///
/// An enum with a raw value of one of these types becomes a field by declaring the conformance, with nothing to
/// implement, if its `Codable` form is its raw value (the one `Codable` synthesises for it):
///
/// ```swift
/// enum Status: String, Codable, MessagePackField { case open, closed }
/// ```
///
/// A value that is not a case's raw value is read through the record's `Codable` conformance, which throws.
/// The requirements are implementation details: do not conform other types or implement them.
public protocol MessagePackField {
    /// Writes `value` (no map key).
    static func _pack(_ value: Self, into writer: inout MessagePackWriter)
    /// Reads a value, or throws to have the record decoded through `Codable`.
    static func _unpack(from reader: inout MessagePackReader) throws -> Self
}

extension MessagePackField where Self: FixedWidthInteger {
    @inlinable
    public static func _pack(_ value: Self, into writer: inout MessagePackWriter) {
        if Self.isSigned { writer.write(Int64(value)) } else { writer.write(UInt64(value)) }
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Self {
        let value = Self.isSigned ? Self(exactly: try reader.readInt64()) : Self(exactly: try reader.readUInt64())
        guard let value else { throw RecordLayoutMismatch() }
        return value
    }
}

extension MessagePackField where Self: RawRepresentable, RawValue: MessagePackField {
    @inlinable
    public static func _pack(_ value: Self, into writer: inout MessagePackWriter) {
        RawValue._pack(value.rawValue, into: &writer)
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Self {
        guard let value = Self(rawValue: try RawValue._unpack(from: &reader)) else { throw RecordLayoutMismatch() }
        return value
    }
}

extension Int: MessagePackField {}
extension Int8: MessagePackField {}
extension Int16: MessagePackField {}
extension Int32: MessagePackField {}
extension Int64: MessagePackField {}
extension UInt: MessagePackField {}
extension UInt8: MessagePackField {}
extension UInt16: MessagePackField {}
extension UInt32: MessagePackField {}
extension UInt64: MessagePackField {}

extension Double: MessagePackField {
    @inlinable
    public static func _pack(_ value: Double, into writer: inout MessagePackWriter) { writer.write(value) }
    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Double { try reader.readDouble() }
}

extension Float: MessagePackField {
    @inlinable
    public static func _pack(_ value: Float, into writer: inout MessagePackWriter) { writer.write(value) }
    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Float { try reader.readFloat() }
}

extension Bool: MessagePackField {
    @inlinable
    public static func _pack(_ value: Bool, into writer: inout MessagePackWriter) { writer.write(value) }
    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Bool { try reader.readBool() }
}

extension String: MessagePackField {
    @inlinable
    public static func _pack(_ value: String, into writer: inout MessagePackWriter) { writer.write(value) }
    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> String { try reader.readString() }
}

// Foundation's `Data` as the coders write it: a bin (as `[UInt8]`). The array of byte values its own `Codable`
// form writes (and older stores hold) is read through the record's `Codable` conformance.
extension Data: MessagePackField {
    @inlinable
    public static func _pack(_ value: Data, into writer: inout MessagePackWriter) { writer.write(data: value) }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Data { try reader.readData() }
}

// Foundation's `Date` and `UUID` as their `Codable` forms write them: seconds since 2001 as a float 64, and the
// uppercase string.
extension Date: MessagePackField {
    @inlinable
    public static func _pack(_ value: Date, into writer: inout MessagePackWriter) {
        writer.write(value.timeIntervalSinceReferenceDate)
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try reader.readDouble())
    }
}

extension UUID: MessagePackField {
    @inlinable
    public static func _pack(_ value: UUID, into writer: inout MessagePackWriter) { writer.write(value.uuidString) }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> UUID {
        guard let value = UUID(uuidString: try reader.readString()) else { throw RecordLayoutMismatch() }
        return value
    }
}

// A timestamp as its `Codable` form writes it: its count of units, an int.
extension Timestamp: MessagePackField {
    @inlinable
    public static func _pack(_ value: Timestamp, into writer: inout MessagePackWriter) { writer.write(value.rawValue) }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Timestamp { Timestamp(try reader.readInt64()) }
}

extension Optional: MessagePackField where Wrapped: MessagePackField {
    @inlinable
    public static func _pack(_ value: Wrapped?, into writer: inout MessagePackWriter) {
        if let value { Wrapped._pack(value, into: &writer) } else { writer.writeNil() }
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Wrapped? {
        try reader.readNil() ? nil : try Wrapped._unpack(from: &reader)
    }
}

extension Array: MessagePackField where Element: MessagePackField {
    @inlinable
    public static func _pack(_ value: [Element], into writer: inout MessagePackWriter) {
        if Element.self == UInt8.self { return writer.write(binary: value as! [UInt8]) }
        writer.writeArrayHeader(count: value.count)
        for element in value { Element._pack(element, into: &writer) }
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> [Element] {
        if Element.self == UInt8.self { return try reader.readBinary() as! [Element] }
        let count = try reader.readArrayCount()
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0 ..< count { elements.append(try Element._unpack(from: &reader)) }
        return elements
    }
}

// Sets and dictionaries as `Codable` writes them: a set is an array of its elements, a dictionary with `String`
// or `Int` keys a map (str or int keys), both sorted (`MessagePackOrder`), as the encoder writes them. Reading takes exactly that form; a map with
// another key type or a key written twice (which `Codable` reads as its first entry) goes through `Codable`.
extension Set: MessagePackField where Element: MessagePackField {
    @inlinable
    public static func _pack(_ value: Set<Element>, into writer: inout MessagePackWriter) {
        writer.writeArrayHeader(count: value.count)
        guard value.count > 1 else {
            for element in value { Element._pack(element, into: &writer) }
            return
        }
        let base = writer.beginSortedValues()
        for element in value {
            writer.markValue()
            Element._pack(element, into: &writer)
        }
        writer.endSortedValues(from: base, keyed: false)
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> Set<Element> {
        let count = try reader.readArrayCount()
        var elements = Set<Element>(minimumCapacity: count)
        for _ in 0 ..< count { elements.insert(try Element._unpack(from: &reader)) }
        return elements
    }
}

/// A dictionary key type a ``MessagePackField`` dictionary may have: `String` (str keys) and `Int` (int keys),
/// the two key types `Codable` writes as a keyed container. Do not conform other types.
public protocol MessagePackMapKey: MessagePackField, Hashable {}

extension String: MessagePackMapKey {}
extension Int: MessagePackMapKey {}

extension Dictionary: MessagePackField where Key: MessagePackMapKey, Value: MessagePackField {
    @inlinable
    public static func _pack(_ value: [Key: Value], into writer: inout MessagePackWriter) {
        writer.writeMapHeader(count: value.count)
        guard value.count > 1 else {
            for (key, element) in value {
                Key._pack(key, into: &writer)
                Value._pack(element, into: &writer)
            }
            return
        }
        let base = writer.beginSortedValues()
        for (key, element) in value {
            writer.markValue()
            Key._pack(key, into: &writer)
            Value._pack(element, into: &writer)
        }
        writer.endSortedValues(from: base, keyed: true)
    }

    @inlinable
    public static func _unpack(from reader: inout MessagePackReader) throws -> [Key: Value] {
        let count = try reader.readMapCount()
        var entries = [Key: Value](minimumCapacity: count)
        for _ in 0 ..< count {
            let key = try Key._unpack(from: &reader)
            guard entries.updateValue(try Value._unpack(from: &reader), forKey: key) == nil else { throw RecordLayoutMismatch() }
        }
        return entries
    }
}

/// A record that is not laid out as its `MessagePackRecord` members read: it is decoded through `Codable`.
@usableFromInline
struct RecordLayoutMismatch: Error {
    @usableFromInline init() {}
}

/// The list coding of ``MessagePackRecord`` types, used by the coders' list functions.
enum RecordLists {
    static func encode<R: MessagePackRecord>(
        _ values: [R], structEncoding: MessagePackEncoder.StructEncoding, into buffer: inout [UInt8],
        writerCapacity: Int = 1024
    ) throws {
        guard values.count <= UInt32.max else {
            throw EncodingError.invalidValue(values, .init(codingPath: [], debugDescription: "\(values.count) values do not fit MessagePack's 32-bit lengths"))
        }
        var writer = MessagePackWriter(
            fieldNames: R.messagePackFields, structEncoding: structEncoding, capacity: Swift.max(1024, writerCapacity))
        writer.out.writeHeader(.array, count: values.count)
        try R._packList(values, into: &writer)
        writer.out.append(to: &buffer)
    }

    /// Decodes the MessagePack array `bytes` holds and appends its records to `result` (left as it was on error).
    static func decode<R: MessagePackRecord>(from bytes: ArraySlice<UInt8>, appendingTo result: inout [R]) throws {
        var reader = MessagePackReader(bytes, fieldNames: R.messagePackFields)
        guard let count = try reader.core.input.readLength(.array, at: &reader.position) else {
            throw reader.core.input.mismatch([R].self, at: reader.position, path: [])
        }
        let original = result.count
        reserveGrowing(&result, toHold: count)
        do {
            try R._unpackList(count, from: &reader, appendingTo: &result)
            try reader.core.input.expectEnd(at: reader.position)
        } catch {
            result.removeLast(result.count - original)
            throw error
        }
    }
}

/// Field names as MessagePack map keys (strs: header and UTF-8), encoded once and kept back to back in one
/// buffer, so that writing or matching a key per field costs no reference counting (an array per key did).
/// One table holds the names of a list's record type and then those of each record type nested in it.
struct FieldKeys: ~Copyable {
    private var bytes = ByteWriter()
    /// Where each key ends in `bytes` (the previous key's end, or 0, is where it starts).
    private var ends: [Int] = []

    init() {}

    /// Adds `names` after the keys already here; returns the index of the first.
    mutating func add(_ names: [String]) -> Int {
        let base = ends.count
        for name in names {
            bytes.writeHeader(.string, count: name.utf8.count)
            bytes.write(utf8: name)
            ends.append(bytes.count)
        }
        return base
    }

    var count: Int { ends.count }

    private func start(_ index: Int) -> Int { index == 0 ? 0 : ends[index - 1] }

    /// Writes key `index`.
    func write(_ index: Int, to out: inout ByteWriter) {
        out.write(from: bytes, start(index), ends[index])
    }

    /// The length of key `index` if `input` holds it at `position`, otherwise `nil`.
    func match(_ index: Int, in input: ArraySlice<UInt8>, at position: Int) -> Int? {
        let start = start(index), end = ends[index]
        guard input.endIndex - position >= end - start, bytes.bytes(start, end, equal: input, at: position) else { return nil }
        return end - start
    }
}
