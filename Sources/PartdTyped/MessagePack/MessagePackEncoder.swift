import Foundation

/// Encodes `Encodable` values as MessagePack, compatible with Python's `msgpack.packb(..., use_bin_type=True)`.
///
/// Integers take their smallest MessagePack form, `Float` is float32, `Double` float64, `String` str, `[UInt8]`
/// and `Data` bin, `nil` nil, unkeyed containers arrays, dictionaries maps (with int keys for `[Int: V]`). Keyed
/// containers (structs, classes) follow `structEncoding`, except those that stay maps with either: a
/// dictionary's (also behind a wrapper, a property wrapper or a super encoder, where an `[Int: V]`'s keys are
/// strs), any other whose key type takes any string (keys made up at run time), and an enum's (the synthesized
/// form of an enum with associated values is a one-entry map from the case name to the case's values, which
/// are a struct). Optional properties that are `nil` are written as nil, not left out, so both struct encodings
/// keep every field.
///
/// Values are written straight into one growing buffer as the `Encodable` implementations call in (no tree of
/// values is built); a container's element count is filled in when the next value goes to an enclosing
/// container. Containers must therefore be used in nesting order (the way synthesized and almost all hand-written
/// `encode(to:)` do): writing to a container after a sibling or its parent has moved on throws
/// `EncodingError.invalidValue`. An `encode(to:)` that writes nothing stands as an empty map.
public struct MessagePackEncoder: Sendable {
    /// How keyed containers (structs and classes) are written.
    public enum StructEncoding: Sendable {
        /// A map from field name (str) to value: self-describing, readable by any MessagePack reader.
        case map
        /// An array of the values in encoding order: smaller and faster; decodes only with the same field order.
        /// Dictionaries, keyed containers whose keys take any string, and enums stay maps.
        case array
    }

    public var structEncoding: StructEncoding = .map

    public init(structEncoding: StructEncoding = .map) {
        self.structEncoding = structEncoding
    }

    /// The MessagePack encoding of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = EncodingState(EncodingCore(structsAsArrays: structEncoding == .array))
        try state.core.begin(0, 0)
        try state.encodeValue(value, in: 0)
        return state.core.out.bytes
    }

    /// Appends one MessagePack array holding `values` to `buffer` (what Python's `msgpack.packb(list)` writes).
    /// On error `buffer` is left as it was.
    /// Lists of a ``MessagePackRecord`` type are written by its own members (the same bytes, faster).
    public func encode<T: Encodable>(list values: some Collection<T>, into buffer: inout [UInt8]) throws {
        try encode(list: values, into: &buffer, writerCapacity: 1024)
    }

    /// ``encode(list:into:)``, the records of a ``MessagePackRecord`` type written into a buffer of
    /// `writerCapacity` bytes before it is copied to `buffer` (the caller's estimate of the list's size).
    func encode<T: Encodable>(list values: some Collection<T>, into buffer: inout [UInt8], writerCapacity: Int) throws {
        if let recordType = T.self as? any MessagePackRecord.Type, let array = values as? [T] {
            return try encodeRecords(recordType, array, into: &buffer, writerCapacity: writerCapacity)
        }
        let state = EncodingState(EncodingCore(structsAsArrays: structEncoding == .array))
        let count = values.count
        try state.core.writeHeader(.array, count: count)
        var index = values.startIndex
        for position in 0 ..< count {
            state.core.rootIndex = position
            try state.core.begin(0, 0)
            try state.encodeValue(values[index], in: 0)
            values.formIndex(after: &index)
        }
        state.core.out.append(to: &buffer)
    }
}

extension MessagePackEncoder {
    fileprivate func encodeRecords<R: MessagePackRecord, T>(
        _: R.Type, _ values: [T], into buffer: inout [UInt8], writerCapacity: Int
    ) throws {
        try RecordLists.encode(
            sameTypeArray(values, as: R.self), structEncoding: structEncoding, into: &buffer, writerCapacity: writerCapacity)
    }
}

/// Containers nest at most this deep (in both coders), which keeps hostile input from exhausting the stack.
let maxNestingDepth = 256

/// A MessagePack format with a length (str, bin, array, map): the tags of its size classes.
struct Family {
    /// The tag of length 0 in the fix-size range, and how many lengths that range holds.
    let fixBase: UInt8
    let fixCount: Int
    /// The tag of the form with an 8-bit length, if there is one.
    let tag8: UInt8?
    /// The tag of the form with a 16-bit length; the 32-bit form's tag is the next one.
    let tag16: UInt8
    /// The least number of bytes each unit of the length takes (an element, an entry, a byte).
    let unitSize: Int

    static let string = Family(fixBase: 0xa0, fixCount: 32, tag8: 0xd9, tag16: 0xda, unitSize: 1)
    static let binary = Family(fixBase: 0, fixCount: 0, tag8: 0xc4, tag16: 0xc5, unitSize: 1)
    static let array = Family(fixBase: 0x90, fixCount: 16, tag8: nil, tag16: 0xdc, unitSize: 1)
    static let map = Family(fixBase: 0x80, fixCount: 16, tag8: nil, tag16: 0xde, unitSize: 2)
}

/// The element types of the arrays both coders write and read in one loop, without an unkeyed container and
/// a dynamic call per element (`[UInt8]` is a bin instead). The bytes are those of the elements' own
/// `Codable` conformances.
enum PackedElement {
    case double, float, bool, string, int, int8, int16, int32, int64, uint, uint16, uint32, uint64

    /// The element type of `type`, if it is an array of one.
    init?(arrayType type: Any.Type) {
        switch ObjectIdentifier(type) {
        case ObjectIdentifier([Double].self): self = .double
        case ObjectIdentifier([Float].self): self = .float
        case ObjectIdentifier([Bool].self): self = .bool
        case ObjectIdentifier([String].self): self = .string
        case ObjectIdentifier([Int].self): self = .int
        case ObjectIdentifier([Int8].self): self = .int8
        case ObjectIdentifier([Int16].self): self = .int16
        case ObjectIdentifier([Int32].self): self = .int32
        case ObjectIdentifier([Int64].self): self = .int64
        case ObjectIdentifier([UInt].self): self = .uint
        case ObjectIdentifier([UInt16].self): self = .uint16
        case ObjectIdentifier([UInt32].self): self = .uint32
        case ObjectIdentifier([UInt64].self): self = .uint64
        default: return nil
        }
    }
}

/// Whether `CodingKey` types take any string: a dictionary's key type and keys made up at run time do, the
/// `CodingKeys` enums of structs and enums do not. A keyed container whose keys take any string is a map in
/// both struct encodings (its keys are data, not field names); the decoder checks that such a container's map
/// keys all read as keys. The last four types asked about, and the answers (asking runs user code): whether
/// they take any string (the encoder), or ``KeyTraits`` (the decoder).
struct KeyProbeCache<Answer> {
    private var types: (ObjectIdentifier?, ObjectIdentifier?, ObjectIdentifier?, ObjectIdentifier?)
    private var answers: (Answer?, Answer?, Answer?, Answer?) = (nil, nil, nil, nil)
    private var next = 0

    /// The answer for `type`, if it is one of the last four asked about.
    func answer(_ type: Any.Type) -> Answer? {
        let id = ObjectIdentifier(type)
        if id == types.0 { return answers.0 }
        if id == types.1 { return answers.1 }
        if id == types.2 { return answers.2 }
        if id == types.3 { return answers.3 }
        return nil
    }

    mutating func remember(_ type: Any.Type, _ answer: Answer) {
        let id = ObjectIdentifier(type)
        switch next {
        case 0: (types.0, answers.0) = (id, answer)
        case 1: (types.1, answers.1) = (id, answer)
        case 2: (types.2, answers.2) = (id, answer)
        default: (types.3, answers.3) = (id, answer)
        }
        next = (next + 1) % 4
    }
}

extension CodingKey {
    /// Whether this key type takes a string no type declares as a key name (see ``KeyProbeCache``).
    static var takesAnyString: Bool { Self(stringValue: "\u{1}partd probe") != nil }
}

/// What the decoder asks of a keyed container's key type, once per type (see ``KeyProbeCache``).
struct KeyTraits {
    /// The keys take any string (``CodingKey/takesAnyString``): the container lists its keys (`allKeys`), so
    /// its map's keys are checked (see `DecodingCore.checkKeys(of:)`).
    var takesAnyString: Bool
    /// Keys made from strings of numbers have int values (a dictionary's key type parses them, as `Int(_:)`
    /// does): two map keys of one int value (`"5"` and `"05"`, `5` and `"05"`) are one key to whoever keys the
    /// entries by int value, as an `Int` dictionary's `Codable` conformance does.
    var intValuesFromStrings: Bool

    init<Key: CodingKey>(of _: Key.Type) {
        takesAnyString = Key.takesAnyString
        intValuesFromStrings = takesAnyString && Key(stringValue: "1")?.intValue != nil
    }
}

/// The coding-path keys the coders make up themselves: array indices, "super", and dictionaries' keys.
enum PathKey: CodingKey {
    case index(Int)
    case named(String)
    /// An `Int` dictionary key (as the standard library's own dictionary key: its string value is the number).
    case intKey(Int)

    init(intValue: Int) { self = .index(intValue) }
    init(stringValue: String) { self = .named(stringValue) }

    var intValue: Int? {
        switch self {
        case .index(let int), .intKey(let int): int
        case .named: nil
        }
    }

    var stringValue: String {
        switch self {
        case .index(let index): "Index \(index)"
        case .named(let name): name
        case .intKey(let key): String(key)
        }
    }
}

extension ByteWriter {
    /// Writes the header of a string, binary, array or map of `count` bytes, elements or entries
    /// (`count` < 2^32, which the callers check).
    mutating func writeHeader(_ family: Family, count: Int) {
        if count < family.fixCount {
            write(family.fixBase | UInt8(count))
        } else if count < 0x100, let tag = family.tag8 {
            write(tag, bigEndian: UInt8(count))
        } else if count < 0x1_0000 {
            write(family.tag16, bigEndian: UInt16(count))
        } else {
            write(family.tag16 + 1, bigEndian: UInt32(count))
        }
    }

    mutating func writeInteger<I: FixedWidthInteger>(_ value: I) {
        if value >= 0 {
            let value = UInt64(value)
            if value < 0x80 {
                write(UInt8(value))
            } else if value < 0x100 {
                write(0xcc, bigEndian: UInt8(value))
            } else if value < 0x1_0000 {
                write(0xcd, bigEndian: UInt16(value))
            } else if value < 0x1_0000_0000 {
                write(0xce, bigEndian: UInt32(value))
            } else {
                write(0xcf, bigEndian: value)
            }
        } else {
            let value = Int64(value)
            if value >= -32 {
                write(UInt8(truncatingIfNeeded: value))
            } else if value >= Int64(Int8.min) {
                write(0xd0, bigEndian: Int8(value))
            } else if value >= Int64(Int16.min) {
                write(0xd1, bigEndian: Int16(value))
            } else if value >= Int64(Int32.min) {
                write(0xd2, bigEndian: Int32(value))
            } else {
                write(0xd3, bigEndian: value)
            }
        }
    }

    mutating func writeDouble(_ value: Double) { write(0xcb, bigEndian: value.bitPattern) }
    mutating func writeFloat(_ value: Float) { write(0xca, bigEndian: value.bitPattern) }
    mutating func writeBool(_ value: Bool) { write(value ? 0xc3 : 0xc2) }
    mutating func writeNil() { write(0xc0) }
}

/// Lets the encoder recognise dictionaries (which stay maps with `StructEncoding.array`) and those with `Int` keys.
private protocol DictionaryMarker {
    static var hasIntKeys: Bool { get }
}

extension Dictionary: DictionaryMarker {
    fileprivate static var hasIntKeys: Bool { Key.self == Int.self }
}

/// Lets the encoder recognise sets, whose elements it sorts (``MessagePackOrder``) as it sorts dictionaries' entries.
private protocol SetMarker {}

extension Set: SetMarker {}

private typealias EncodingState = Shared<EncodingCore>

/// The output and the stack of open containers of one `encode` call. The containers refer to their frame by
/// index and id (ids are never reused), so one used after its frame closed is detected.
private struct EncodingCore: ~Copyable {
    enum Kind { case root, array, map }

    /// An open container: the root (the list, or the one value), or an array or map whose header (a
    /// placeholder byte until the count is known) is at offset `header`.
    struct Frame {
        var kind: Kind
        var intKeys = false
        var id: Int
        var header: Int
        /// Values so far (a map counts entries).
        var count = 0
        /// The length of this frame's coding path.
        var pathCount: Int
        /// The last value, if an `Encoder` writes it: that encoder's id, and the static type, coding-path
        /// length and written state of its value.
        var slot = -1
        var slotType: Any.Type?
        var slotPathCount = 0
        var filled = true
        /// The encoder whose value this container is.
        var owner = -1
        /// For a dictionary's map or a set's array: where its values' (entries') starts begin on
        /// ``EncodingCore/sortStarts``, to sort them when the container closes (``MessagePackOrder``), so that
        /// the bytes do not follow Swift's per-process order.
        var sortBase: Int?
    }

    let structsAsArrays: Bool
    var out = ByteWriter()
    var frames: [Frame]
    var path: [any CodingKey] = []
    /// The index of the list element being encoded; `path` is the coding path below it.
    var rootIndex: Int?
    var lastID = 0
    /// The last type `open` looked at (and whether its container's keys take any string), and the container it gets.
    var shapeCache: (type: Any.Type?, anyKeys: Bool, kind: Kind, intKeys: Bool, sorted: Bool)?
    /// The last type an unkeyed container was opened for, and whether it is a set.
    var setCache: (type: Any.Type?, isSet: Bool)?
    /// Where each value of the open sorted containers starts (a stack: see ``Frame/sortBase``), and scratch
    /// space to sort them.
    var sortStarts: [Int] = []
    var sortOrder: [Int] = []
    /// See ``KeyProbeCache``.
    var keyProbe = KeyProbeCache<Bool>()

    init(structsAsArrays: Bool) {
        self.structsAsArrays = structsAsArrays
        frames = [Frame(kind: .root, id: 0, header: 0, pathCount: 0)]
    }

    mutating func writeHeader(_ family: Family, count: Int) throws {
        guard count <= UInt32.max else {
            throw misuse("\(count) elements or bytes do not fit MessagePack's 32-bit lengths")
        }
        out.writeHeader(family, count: count)
    }

    mutating func writeString(_ string: String) throws {
        try writeHeader(.string, count: string.utf8.count)
        out.write(utf8: string)
    }

    /// Writes `value` if it is an array of a ``PackedElement`` type.
    mutating func writePackedArray<T: Encodable>(_ value: T) throws -> Bool {
        guard let element = PackedElement(arrayType: T.self) else { return false }
        switch element {
        case .double: try writeElements(value as! [Double]) { $0.out.writeDouble($1) }
        case .float: try writeElements(value as! [Float]) { $0.out.writeFloat($1) }
        case .bool: try writeElements(value as! [Bool]) { $0.out.writeBool($1) }
        case .string: try writeElements(value as! [String]) { try $0.writeString($1) }
        case .int: try writeElements(value as! [Int]) { $0.out.writeInteger($1) }
        case .int8: try writeElements(value as! [Int8]) { $0.out.writeInteger($1) }
        case .int16: try writeElements(value as! [Int16]) { $0.out.writeInteger($1) }
        case .int32: try writeElements(value as! [Int32]) { $0.out.writeInteger($1) }
        case .int64: try writeElements(value as! [Int64]) { $0.out.writeInteger($1) }
        case .uint: try writeElements(value as! [UInt]) { $0.out.writeInteger($1) }
        case .uint16: try writeElements(value as! [UInt16]) { $0.out.writeInteger($1) }
        case .uint32: try writeElements(value as! [UInt32]) { $0.out.writeInteger($1) }
        case .uint64: try writeElements(value as! [UInt64]) { $0.out.writeInteger($1) }
        }
        return true
    }

    private mutating func writeElements<E>(_ elements: [E], _ write: (inout EncodingCore, E) throws -> Void) throws {
        try writeHeader(.array, count: elements.count)
        for element in elements { try write(&self, element) }
    }

    /// Writes `value` if it is a `String`, `Int`, `Double`, `[UInt8]` or `Data` (both bin).
    mutating func writeScalar<T: Encodable>(_ value: T) throws -> Bool {
        if T.self == String.self {
            try writeString(value as! String)
        } else if T.self == Int.self {
            out.writeInteger(value as! Int)
        } else if T.self == Double.self {
            out.writeDouble(value as! Double)
        } else if T.self == [UInt8].self {
            let binary = value as! [UInt8]
            try writeHeader(.binary, count: binary.count)
            out.write(binary)
        } else if T.self == Data.self {
            let data = value as! Data
            try writeHeader(.binary, count: data.count)
            out.write(contentsOf: data)
        } else {
            return false
        }
        return true
    }

    func codingPath(_ count: Int) -> [any CodingKey] {
        (rootIndex.map { [PathKey.index($0)] } ?? []) + path.prefix(count)
    }

    func misuse(_ message: String) -> EncodingError {
        EncodingError.invalidValue(
            (), EncodingError.Context(codingPath: codingPath(path.count), debugDescription: message)
        )
    }

    func isOpen(_ index: Int, _ id: Int) -> Bool {
        index >= 0 && index < frames.count && frames[index].id == id
    }

    private mutating func push(_ kind: Kind, intKeys: Bool = false, owner: Int = -1, sorted: Bool = false) -> (index: Int, id: Int) {
        lastID += 1
        frames.append(
            Frame(
                kind: kind, intKeys: intKeys, id: lastID, header: out.count, pathCount: path.count, owner: owner,
                sortBase: sorted ? sortStarts.count : nil)
        )
        out.write(kind == .map ? 0x80 : 0x90)
        return (frames.count - 1, lastID)
    }

    /// Finishes the frames from index `keep` up, and the last value of the one below if its encoder wrote
    /// nothing (an empty map stands in); trims the coding path to that frame's.
    private mutating func close(keeping keep: Int) {
        while frames.count > keep {
            let frame = frames.removeLast()
            if !frame.filled { out.write(0x80) }
            if let base = frame.sortBase {
                out.sortValues(sortStarts, from: base, keyed: frame.kind == .map, order: &sortOrder)
                sortStarts.removeSubrange(base...)
            }
            if frame.count < 16 {
                out[frame.header] |= UInt8(frame.count)
            } else {
                var header = ByteWriter()
                header.writeHeader(frame.kind == .map ? .map : .array, count: frame.count)
                out.replace(at: frame.header, with: header.bytes)
            }
        }
        if !frames[keep - 1].filled {
            out.write(0x80)
            frames[keep - 1].filled = true
        }
        while path.count > frames[keep - 1].pathCount { path.removeLast() }
    }

    /// Starts the next value of frame `index` (whose id must still be `id`), which the caller writes at once.
    /// Returns its position in the frame.
    @discardableResult
    mutating func begin(_ index: Int, _ id: Int) throws -> Int {
        guard isOpen(index, id) else { throw misuse("container used after its encoder moved on") }
        if frames.count > index + 1 || !frames[index].filled { close(keeping: index + 1) }
        if frames[index].sortBase != nil { sortStarts.append(out.count) }
        let position = frames[index].count
        frames[index].count = position + 1
        return position
    }

    enum KeyForm { case string, int }

    /// `begin` for a keyed container; returns how to write the key (nil: none, the container is an array).
    mutating func beginEntry(_ index: Int, _ id: Int) throws -> KeyForm? {
        try begin(index, id)
        return frames[index].kind == .map ? (frames[index].intKeys ? .int : .string) : nil
    }

    /// Hands the value just counted in frame `index` to a new `Encoder` (for a value of static type `type`);
    /// returns that encoder's id.
    mutating func pend(_ index: Int, valueOf type: Any.Type?) -> Int {
        lastID += 1
        frames[index].slot = lastID
        frames[index].slotType = type
        frames[index].slotPathCount = path.count
        frames[index].filled = false
        return lastID
    }

    /// Marks the value of encoder `slot` (of frame `index`) written; false if that encoder has no value to
    /// write (any more).
    private mutating func fill(_ index: Int, _ slot: Int) -> Bool {
        guard index >= 0, index + 1 == frames.count, frames[index].slot == slot, !frames[index].filled else {
            return false
        }
        frames[index].filled = true
        return true
    }

    /// Checks that encoder `slot` (of frame `index`) can write its single value.
    mutating func fillWithValue(_ index: Int, _ slot: Int) throws {
        guard fill(index, slot) else { throw misuse("an encoder takes one value, while it is the current one") }
    }

    /// Opens the container for the value of encoder `slot` (of frame `index`), or the one it already opened
    /// (a subclass's `encode(to:)` calling `super.encode(to: encoder)` does that). Returns (-1, -1) if that is
    /// not possible, which makes the container's writes throw.
    /// `anyKeys`: whether the keyed container's key type takes any string (see ``KeyProbeCache``).
    mutating func open(keyed: Bool, anyKeys: Bool = false, _ index: Int, _ slot: Int) -> (index: Int, id: Int) {
        guard index >= 0, index < frames.count, frames[index].slot == slot else { return (-1, -1) }
        let (kind, intKeys, sorted) =
            keyed ? keyedShape(of: frames[index].slotType, anyKeys: anyKeys) : (.array, false, isSet(frames[index].slotType))
        if frames[index].filled {
            guard frames.count > index + 1, frames[index + 1].owner == slot, frames[index + 1].kind == kind else {
                return (-1, -1)
            }
            if frames.count > index + 2 { close(keeping: index + 2) }
            return (index + 1, frames[index + 1].id)
        }
        guard fill(index, slot) else { return (-1, -1) }
        return push(kind, intKeys: intKeys, owner: slot, sorted: sorted)
    }

    /// Pushes a nested container for the value just counted in frame `index`, under coding-path key `key`.
    mutating func nested(_ kind: Kind, key: any CodingKey, sorted: Bool = false) -> (index: Int, id: Int) {
        path.append(key)
        return push(kind, sorted: sorted)
    }

    /// Hands the value just counted in frame `index` to a super encoder; returns its id.
    mutating func superEncoder(_ index: Int, key: any CodingKey) -> Int {
        path.append(key)
        return pend(index, valueOf: nil)
    }

    /// Finishes the last value of frame `index` after its encoder's `encode(to:)` returned.
    mutating func finish(_ index: Int) {
        close(keeping: index + 1)
    }

    /// The kind of a nested keyed container whose keys take any string (`anyKeys`) or not: a map, unless
    /// structs are arrays and its keys are field names.
    func nestedKeyedKind(anyKeys: Bool) -> Kind { structsAsArrays && !anyKeys ? .array : .map }

    /// The container of a value of static type `type` (nil: not known): a map for a dictionary (with int keys
    /// for `Int` keys); with structs as arrays, an array unless its keys take any string (`anyKeys`: a
    /// dictionary's behind a wrapper, keys made up at run time) or `type` is an enum (whose synthesized
    /// `Codable` form is a map from the case name to its values, which an array would lose).
    /// A dictionary's map, and one whose keys take any string, is sorted (the third element; ``MessagePackOrder``).
    private mutating func keyedShape(of type: Any.Type?, anyKeys: Bool) -> (Kind, Bool, Bool) {
        if let cache = shapeCache, cache.type == type, cache.anyKeys == anyKeys { return (cache.kind, cache.intKeys, cache.sorted) }
        let shape: (kind: Kind, intKeys: Bool, sorted: Bool)
        if let dictionary = type as? any DictionaryMarker.Type {
            shape = (.map, dictionary.hasIntKeys, true)
        } else if structsAsArrays, !anyKeys, !(type.map(isEnumType) ?? false) {
            shape = (.array, false, false)
        } else {
            shape = (.map, false, anyKeys)
        }
        shapeCache = (type, anyKeys, shape.kind, shape.intKeys, shape.sorted)
        return shape
    }

    /// Whether an unkeyed container for a value of static type `type` is a set's (whose elements are sorted).
    private mutating func isSet(_ type: Any.Type?) -> Bool {
        if let cache = setCache, cache.type == type { return cache.isSet }
        let isSet = type is any SetMarker.Type
        setCache = (type, isSet)
        return isSet
    }

    /// Whether keyed containers of `Key` take any string as a key (they are maps, with their entries sorted:
    /// their keys are data, not field names); nil: not known, ask `Key`.
    mutating func anyKeys(_ key: Any.Type) -> Bool? {  // (`mutating`, so that it runs in place)
        keyProbe.answer(key)
    }

    func codingPath(of index: Int, _ id: Int) -> [any CodingKey] {
        codingPath(isOpen(index, id) ? frames[index].pathCount : path.count)
    }

    func codingPath(ofEncoder slot: Int, _ index: Int) -> [any CodingKey] {
        let current = index >= 0 && index < frames.count && frames[index].slot == slot
        return codingPath(current ? frames[index].slotPathCount : path.count)
    }

    func count(of index: Int, _ id: Int) -> Int {
        isOpen(index, id) ? frames[index].count : 0
    }
}

// The parts that run the values' `encode(to:)`, which must happen outside any access to `core`.
extension Shared where Core == EncodingCore {
    /// Whether keyed containers of `Key` are maps because their keys take any string (see ``KeyProbeCache``);
    /// `Key` is asked outside `core` (it is user code).
    fileprivate func anyKeys<Key: CodingKey>(_: Key.Type) -> Bool {
        if let known = core.anyKeys(Key.self) { return known }
        let takes = Key.takesAnyString
        core.keyProbe.remember(Key.self, takes)
        return takes
    }

    /// Writes `value` as the value just counted in frame `index`.
    fileprivate func encodeValue<T: Encodable>(_ value: T, in index: Int) throws {
        if try core.writeScalar(value) { return }
        try encodeNested(value, in: index)
    }

    /// `encodeValue` for a value with coding-path key `key`.
    fileprivate func encodeValue<T: Encodable, Key: CodingKey>(_ value: T, in index: Int, key: Key) throws {
        if try core.writeScalar(value) { return }
        core.path.append(key)
        try encodeNested(value, in: index)
    }

    private func encodeNested<T: Encodable>(_ value: T, in index: Int) throws {
        guard core.path.count <= maxNestingDepth else {
            throw core.misuse("nesting deeper than \(maxNestingDepth) levels")
        }
        // Only a type of an array's size can be one: a load and a compare for the rest (records, strings).
        if MemoryLayout<T>.size == MemoryLayout<[Int]>.size, try core.writePackedArray(value) {
            core.finish(index)  // trims the coding path
            return
        }
        let slot = core.pend(index, valueOf: T.self)
        try value.encode(to: ValueEncoder(state: self, frame: index, slot: slot))
        core.finish(index)
    }
}

/// The `Encoder` for one value (the last one counted in frame `frame`); also its single value container.
private struct ValueEncoder: Encoder, SingleValueEncodingContainer {
    let state: EncodingState
    let frame: Int
    let slot: Int

    var codingPath: [any CodingKey] { state.core.codingPath(ofEncoder: slot, frame) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) -> KeyedEncodingContainer<Key> {
        let anyKeys = state.anyKeys(Key.self)
        let opened = state.core.open(keyed: true, anyKeys: anyKeys, frame, slot)
        return KeyedEncodingContainer(KeyedEncoder(state: state, frame: opened.index, id: opened.id))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let opened = state.core.open(keyed: false, frame, slot)
        return UnkeyedEncoder(state: state, frame: opened.index, id: opened.id)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    /// Writes the encoder's single value with `write`.
    private func put(_ write: (inout EncodingCore) throws -> Void) throws {
        try state.core.fillWithValue(frame, slot)
        try write(&state.core)
    }

    mutating func encodeNil() throws { try put { $0.out.writeNil() } }
    mutating func encode(_ value: Bool) throws { try put { $0.out.writeBool(value) } }
    mutating func encode(_ value: String) throws { try put { try $0.writeString(value) } }
    mutating func encode(_ value: Double) throws { try put { $0.out.writeDouble(value) } }
    mutating func encode(_ value: Float) throws { try put { $0.out.writeFloat(value) } }
    mutating func encode(_ value: Int) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int8) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int16) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int32) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int64) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt8) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt16) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt32) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt64) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try state.core.fillWithValue(frame, slot)
        try state.encodeValue(value, in: frame)
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: EncodingState
    let frame: Int
    let id: Int

    var codingPath: [any CodingKey] { state.core.codingPath(of: frame, id) }

    /// Starts the value for `key` (the user's `CodingKey` code runs outside `core`, as `Shared` requires).
    private func entry(_ key: some CodingKey) throws {
        switch try state.core.beginEntry(frame, id) {
        case .string: try state.core.writeString(key.stringValue)
        case .int:
            if let int = key.intValue {
                state.core.out.writeInteger(int)
            } else {
                try state.core.writeString(key.stringValue)
            }
        case nil: break
        }
    }

    /// Writes the value for `key` with `write`.
    private func put(_ key: Key, _ write: (inout EncodingCore) throws -> Void) throws {
        try entry(key)
        try write(&state.core)
    }

    private func nested(_ kind: EncodingCore.Kind, key: some CodingKey, sorted: Bool = false) -> (index: Int, id: Int) {
        guard (try? entry(key)) != nil else { return (-1, -1) }
        return state.core.nested(kind, key: key, sorted: sorted)
    }

    private func superEncoder(key: some CodingKey) -> any Encoder {
        guard (try? entry(key)) != nil else { return ValueEncoder(state: state, frame: -1, slot: -1) }
        return ValueEncoder(state: state, frame: frame, slot: state.core.superEncoder(frame, key: key))
    }

    mutating func encodeNil(forKey key: Key) throws { try put(key) { $0.out.writeNil() } }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try put(key) { $0.out.writeBool(value) } }
    mutating func encode(_ value: String, forKey key: Key) throws { try put(key) { try $0.writeString(value) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { try put(key) { $0.out.writeDouble(value) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { try put(key) { $0.out.writeFloat(value) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try put(key) { $0.out.writeInteger(value) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try entry(key)
        try state.encodeValue(value, in: frame, key: key)
    }

    // `nil` optionals are written as nil (the standard implementations leave the key out), so that
    // `StructEncoding.array` keeps every field in its place.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let anyKeys = state.anyKeys(NestedKey.self)
        let opened = nested(state.core.nestedKeyedKind(anyKeys: anyKeys), key: key, sorted: anyKeys)
        return KeyedEncodingContainer(KeyedEncoder<NestedKey>(state: state, frame: opened.index, id: opened.id))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let opened = nested(.array, key: key)
        return UnkeyedEncoder(state: state, frame: opened.index, id: opened.id)
    }

    mutating func superEncoder() -> any Encoder { superEncoder(key: PathKey.named("super")) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(key: key) }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let state: EncodingState
    let frame: Int
    let id: Int

    var codingPath: [any CodingKey] { state.core.codingPath(of: frame, id) }
    var count: Int { state.core.count(of: frame, id) }

    @discardableResult
    private func next() throws -> Int { try state.core.begin(frame, id) }

    /// Writes the next value with `write`.
    private func put(_ write: (inout EncodingCore) throws -> Void) throws {
        try next()
        try write(&state.core)
    }

    private func nested(_ kind: EncodingCore.Kind, sorted: Bool = false) -> (index: Int, id: Int) {
        guard let position = try? next() else { return (-1, -1) }
        return state.core.nested(kind, key: PathKey.index(position), sorted: sorted)
    }

    mutating func encodeNil() throws { try put { $0.out.writeNil() } }
    mutating func encode(_ value: Bool) throws { try put { $0.out.writeBool(value) } }
    mutating func encode(_ value: String) throws { try put { try $0.writeString(value) } }
    mutating func encode(_ value: Double) throws { try put { $0.out.writeDouble(value) } }
    mutating func encode(_ value: Float) throws { try put { $0.out.writeFloat(value) } }
    mutating func encode(_ value: Int) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int8) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int16) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int32) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: Int64) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt8) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt16) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt32) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode(_ value: UInt64) throws { try put { $0.out.writeInteger(value) } }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try state.encodeValue(value, in: frame, key: PathKey.index(try next()))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        let anyKeys = state.anyKeys(NestedKey.self)
        let opened = nested(state.core.nestedKeyedKind(anyKeys: anyKeys), sorted: anyKeys)
        return KeyedEncodingContainer(KeyedEncoder<NestedKey>(state: state, frame: opened.index, id: opened.id))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let opened = nested(.array)
        return UnkeyedEncoder(state: state, frame: opened.index, id: opened.id)
    }

    mutating func superEncoder() -> any Encoder {
        guard let position = try? next() else { return ValueEncoder(state: state, frame: -1, slot: -1) }
        let slot = state.core.superEncoder(frame, key: PathKey.index(position))
        return ValueEncoder(state: state, frame: frame, slot: slot)
    }
}
