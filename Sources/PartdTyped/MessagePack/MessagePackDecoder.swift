import Foundation

/// Thrown for bytes that are not well-formed MessagePack (or use what the decoder does not support: ext types).
public struct MessagePackError: LocalizedError, Sendable, CustomStringConvertible {
    /// The offset of the problem from the start of the decoded bytes.
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "MessagePack error at byte \(offset): \(message)" }
    /// The ``description``, for `localizedDescription`.
    public var errorDescription: String? { description }
}

/// Decodes `Decodable` values from MessagePack, compatible with Python's `msgpack.unpackb(..., raw=False)` data.
///
/// Integers of any form decode into any integer type they fit; `Double` and `Float` also accept integers (a
/// finite number beyond `Float`'s range is no `Float`); `[UInt8]` and `Data` are read from bin (`Data` also from
/// the array of byte values its own `Codable` form writes), `String` from str (validated UTF-8). A keyed
/// container reads a map (str or int keys in any order; unknown keys are ignored, a missing key is `nil` for
/// optionals) or an array, whose values are handed out in the order the keys are first asked for (what
/// `MessagePackEncoder.StructEncoding.array` writes, read back by the same type): each container from the
/// first element on, except that containers from one `Decoder` share their place (a subclass and its
/// superclass read one container in turn). A container that lists its keys (a dictionary's, or one whose
/// key type takes any string) must be a map whose keys are all strs of UTF-8 or ints that fit `Int`: another
/// key (a bin, a float, nil, ...) throws `DecodingError` rather than be left out; so do two keys that differ
/// but are one key to Swift (strs of canonically equivalent text, which `String` takes as equal; an int and the
/// str of its number; in an `Int` dictionary, two strs of one number), where a key repeated byte for byte is
/// read at its first entry. A container whose key type gives keys made from strings of numbers int values (a
/// dictionary's, read through its own `Codable` conformance: its `init(from:)` called on a decoder, or a
/// dictionary keyed by an enum of `Int` raw values) also throws for two keys of one int value (`"5"` and
/// `"05"`, `5` and `"05"`), which an `Int` dictionary would make one key; the key type is the same for a
/// `String` dictionary, which throws there too (`String` and `Int` dictionaries that the decoder meets as a
/// value's type it reads itself, keeping each key as the dictionary does). Malformed bytes throw
/// `MessagePackError`, type mismatches `DecodingError`; nesting is limited to 256 levels.
public struct MessagePackDecoder: Sendable {
    public init() {}

    /// Decodes the one value that `bytes` holds (trailing bytes are an error).
    public func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>) throws -> T {
        let state = DecodingState(DecodingCore(bytes))
        let value = try state.decodeHere(type, at: bytes.startIndex)
        try state.core.input.expectEnd(at: state.core.end(ofValueAt: bytes.startIndex, depth: 0))
        return value
    }

    /// Decodes the MessagePack array that `bytes` holds (what Python's `msgpack.packb(list)` writes) and appends
    /// its elements to `result`. On error `result` is left as it was. Lists of a ``MessagePackRecord`` type are
    /// read by its own members where the records have its layout.
    public func decode<T: Decodable>(
        list type: T.Type, from bytes: ArraySlice<UInt8>, appendingTo result: inout [T]
    ) throws {
        if let recordType = T.self as? any MessagePackRecord.Type {
            return try decodeRecords(recordType, from: bytes, appendingTo: &result)
        }
        let decoded = try RawBytes.filling(T.self, capacity: Self.listCount(of: bytes) ?? 0) { filler in
            try decodeList(type, from: bytes, into: &filler)
        }
        if result.isEmpty { result = decoded } else { result += decoded }
    }

    /// Decodes the MessagePack array that `bytes` holds into `filler` (which must have room for all of
    /// it). Filling, unlike appending to an array of an element type this module's code is not specialised
    /// for, looks up no type metadata per element.
    func decodeList<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>, into filler: inout ArrayFiller<T>) throws {
        let state = DecodingState(DecodingCore(bytes))
        var position = bytes.startIndex
        guard let count = try state.core.input.readLength(.array, at: &position) else {
            throw state.core.input.mismatch([T].self, at: position, path: [])
        }
        guard count <= filler.room else {
            throw state.core.input.error(at: bytes.startIndex, "a list of \(count) values where \(filler.room) were counted")
        }
        // Whether the values may be dictionaries the decoder reads itself, asked once for the whole list.
        let dictionaries = T.self is any MapDecodable.Type
        for index in 0 ..< count {
            state.core.rootIndex = index
            filler.append(try state.decodeHere(type, at: position, dictionaries: dictionaries))
            position = try state.core.end(ofValueAt: position, depth: 0)
        }
        try state.core.input.expectEnd(at: position)
    }
}

/// Makes room for `extra` more elements, growing geometrically: a key's frames are appended one after another
/// to one array.
func reserveGrowing<T>(_ array: inout [T], toHold extra: Int) {
    let needed = array.count + extra
    if array.capacity < needed { array.reserveCapacity(max(needed, 2 * array.capacity)) }
}

extension MessagePackDecoder {
    /// Decodes the value at `start` of `bytes` (a list's bytes) as the list's element `index`: errors give
    /// offsets from the start of `bytes` and coding paths that start with the element's index.
    static func decode<T: Decodable>(element: T.Type, at start: Int, index: Int, of bytes: ArraySlice<UInt8>) throws -> T {
        let state = DecodingState(DecodingCore(bytes))
        state.core.rootIndex = index
        return try state.decodeHere(T.self, at: start)
    }

    /// The element count of the MessagePack array `bytes` starts with, if it starts with one whose count fits
    /// in the bytes (nothing else is checked).
    static func listCount(of bytes: ArraySlice<UInt8>) -> Int? {
        var position = bytes.startIndex
        return try? MessagePackInput(bytes: bytes).readLength(.array, at: &position)
    }

    fileprivate func decodeRecords<R: MessagePackRecord, T>(
        _: R.Type, from bytes: ArraySlice<UInt8>, appendingTo result: inout [T]
    ) throws {
        // Move the array across (no copy: `result` gives up its reference while `records` grows).
        var records = sameTypeArray(result, as: R.self)
        result = []
        defer { result = sameTypeArray(records, as: T.self) }
        try RecordLists.decode(from: bytes, appendingTo: &records)
    }
}

private typealias DecodingState = Shared<DecodingCore>

/// The input, the coding path, and the keyed containers being read, of one `decode` call.
///
/// The functions the containers call are `mutating`, so that they run in place: calling a non-mutating one on
/// `Shared.core` may copy the whole core first.
struct DecodingCore {
    /// A map key: its UTF-8 bytes at `key` (`length` >= 0), the int `key` (`length` -1), or of another type
    /// (-2: `key` is where it starts).
    struct Key {
        var key = 0
        var length = -2
    }

    /// A map entry recorded for lookups out of order.
    struct Entry {
        var key: Key
        var value: Int
    }

    /// A keyed container: the map (or array, for `StructEncoding.array`) at `start`, with `count` entries.
    ///
    /// Keys are mostly asked for in the order they were written: entries are handed out in order while the key
    /// asked for is the next one (or the last one again, as `decodeIfPresent` does). The first other key makes
    /// a map record all its entries (`entries[base ..< base + count]`) and search those from then on.
    struct Frame {
        var start: Int
        var depth: Int
        /// The decoder (or nested container) whose keyed container this is: containers got from one decoder
        /// share a frame (a subclass and its superclass read one container in turn, as they wrote it); any other
        /// container has a frame of its own, even over the same value.
        var owner: Int
        var positional: Bool
        var count: Int
        /// How many entries have been handed out in order (with `base` set: the last match).
        var index = 0
        /// Where entry `index` starts, or -1 if that is after the value at `valueStart`, not read yet.
        var position: Int
        /// The last entry handed out: where its value starts, and its key (maps) or key name (arrays).
        var valueStart = -1
        var key = Key()
        var name = ""
        /// The recorded entries' start in `entries` (-1: not recorded), and where the map ends.
        var base = -1
        var end = 0

        mutating func handOut(value: Int, key: Key, name: String) {
            index += 1
            position = -1
            valueStart = value
            self.key = key
            self.name = name
        }
    }

    /// A coding key's values, taken before a lookup: they are user code, which must not run inside a `core`
    /// access (see `Shared`). Errors name the key by them.
    struct Lookup {
        var name: String
        var int: Int?

        init(_ key: some CodingKey) {
            name = key.stringValue
            int = key.intValue
        }
    }

    let input: MessagePackInput
    var bytes: ArraySlice<UInt8> { @inline(__always) get { input.bytes } }
    /// The coding path below the list element being decoded (whose index is `rootIndex`).
    var path: [any CodingKey] = []
    var rootIndex: Int?
    /// The keyed containers of the value being decoded and of its ancestors, innermost last.
    var frames: [Frame] = []
    /// The recorded entries of those frames.
    var entries: [Entry] = []
    /// The last owner id handed out (see `Frame.owner`).
    var lastOwner = 0
    /// Frames of arrays (`StructEncoding.array`) replaced by a container opened beside them before they handed
    /// out all their values, kept so that their containers, if read again, go on where they were: the last
    /// `parkedLimit`, and the greatest owner among them (a newer owner has none here).
    var parked: [Frame] = []
    var nextParked = 0
    var parkedOwners = 0
    static let parkedLimit = 16
    /// See ``KeyProbeCache``.
    var keyProbe = KeyProbeCache<KeyTraits>()
    /// The last container value whose end is known (an array read to its end, or a value `end(ofValueAt:)`
    /// measured): its start and end. A parent skipping that child (to reach its next element or entry) finds
    /// it here instead of scanning it again, which keeps decoding nested containers linear in the input
    /// rather than proportional to size × depth. Values never change, so an end, once known, stays true.
    var lastEnd = (start: -1, end: -1)
    /// The last four types of map values that `decodeHere` found are no dictionaries it reads itself (most types
    /// of a list's values and records' fields are not, and asking the runtime costs more than these checks).
    var notDictionaries: (ObjectIdentifier?, ObjectIdentifier?, ObjectIdentifier?, ObjectIdentifier?)
    var nextNotDictionary = 0

    init(_ bytes: ArraySlice<UInt8>) {
        input = MessagePackInput(bytes: bytes)
    }

    // MARK: Coding paths and errors

    /// Sets the coding path to its first `depth` keys plus `key`.
    mutating func enter(_ key: some CodingKey, depth: Int) {
        trimPath(to: depth)
        path.append(key)
    }

    mutating func trimPath(to depth: Int) {
        while path.count > depth { path.removeLast() }
    }

    /// The coding path of a value at `depth`.
    func codingPath(_ depth: Int) -> [any CodingKey] {
        let root: [any CodingKey] = rootIndex.map { [PathKey.index($0)] } ?? []
        return root + path.prefix(depth)
    }

    func keyNotFound(_ key: Lookup, depth: Int) -> DecodingError {
        DecodingError.keyNotFound(
            PathKey.named(key.name),
            DecodingError.Context(codingPath: codingPath(depth), debugDescription: "no value for key \"\(key.name)\"")
        )
    }

    // MARK: Reading values
    // The read functions return nil, without moving `position`, if the value there has another type (or an
    // integer is out of the type's range); truncated or malformed bytes throw.

    /// Reads a `V` (a `Bool`, `String`, `[UInt8]`, floating-point or integer type) at `position`. Each `V` gets
    /// its own specialization, in which this folds to one call.
    mutating func readScalar<V>(_: V.Type, at position: inout Int) throws -> V? {
        if V.self == Bool.self { return try input.readBool(at: &position) as! V? }
        if V.self == String.self { return try input.readString(at: &position) as! V? }
        if V.self == Double.self { return try input.readDouble(at: &position) as! V? }
        if V.self == Float.self { return try input.readFloat(at: &position) as! V? }
        if V.self == [UInt8].self { return try input.readBinary(at: &position) as! V? }
        if V.self == Int.self { return try input.readInt(Int.self, at: &position) as! V? }
        if V.self == Int8.self { return try input.readInt(Int8.self, at: &position) as! V? }
        if V.self == Int16.self { return try input.readInt(Int16.self, at: &position) as! V? }
        if V.self == Int32.self { return try input.readInt(Int32.self, at: &position) as! V? }
        if V.self == Int64.self { return try input.readInt(Int64.self, at: &position) as! V? }
        if V.self == UInt.self { return try input.readInt(UInt.self, at: &position) as! V? }
        if V.self == UInt8.self { return try input.readInt(UInt8.self, at: &position) as! V? }
        if V.self == UInt16.self { return try input.readInt(UInt16.self, at: &position) as! V? }
        if V.self == UInt32.self { return try input.readInt(UInt32.self, at: &position) as! V? }
        if V.self == UInt64.self { return try input.readInt(UInt64.self, at: &position) as! V? }
        return nil
    }

    mutating func isNil(at position: Int) throws -> Bool { try input.byte(at: position) == 0xc0 }

    /// The value at `position` if `T` is an array of a ``PackedElement`` type and the value an array whose
    /// every element reads as one; `nil` (for `Codable` to decode it, or to throw its error) otherwise.
    /// (Out of line, so that `decodeHere`, which every value passes through, stays small.)
    @inline(never)
    mutating func readPackedArray<T>(_: T.Type, at start: Int) -> T? {
        guard start < bytes.endIndex else { return nil }
        let tag = bytes[start]
        guard tag & 0xf0 == 0x90 || tag == 0xdc || tag == 0xdd, let element = PackedElement(arrayType: T.self) else {
            return nil
        }
        switch element {
        case .double: return readElements(Double.self, at: start) as! T?
        case .float: return readElements(Float.self, at: start) as! T?
        case .bool: return readElements(Bool.self, at: start) as! T?
        case .string: return readElements(String.self, at: start) as! T?
        case .int: return readElements(Int.self, at: start) as! T?
        case .int8: return readElements(Int8.self, at: start) as! T?
        case .int16: return readElements(Int16.self, at: start) as! T?
        case .int32: return readElements(Int32.self, at: start) as! T?
        case .int64: return readElements(Int64.self, at: start) as! T?
        case .uint: return readElements(UInt.self, at: start) as! T?
        case .uint16: return readElements(UInt16.self, at: start) as! T?
        case .uint32: return readElements(UInt32.self, at: start) as! T?
        case .uint64: return readElements(UInt64.self, at: start) as! T?
        }
    }

    private mutating func readElements<V>(_: V.Type, at start: Int) -> [V]? {
        var position = start
        guard let count = try? input.readLength(.array, at: &position) else { return nil }
        var elements: [V] = []
        elements.reserveCapacity(count)
        for _ in 0 ..< count {
            guard let element = try? readScalar(V.self, at: &position) else { return nil }
            elements.append(element)
        }
        lastEnd = (start, position)
        return elements
    }

    /// `T` as a dictionary type the decoder reads itself, if it is one and the value at `position` is a map.
    /// (`mutating`, as the other functions `Shared` calls, so that it runs in place and never copies the core.)
    mutating func mapDecodable<T>(_: T.Type, at position: Int) -> (any MapDecodable.Type)? {
        guard position < bytes.endIndex else { return nil }
        let tag = bytes[position]
        guard tag & 0xf0 == 0x80 || tag == 0xde || tag == 0xdf else { return nil }
        let type = ObjectIdentifier(T.self)
        if type == notDictionaries.0 || type == notDictionaries.1 || type == notDictionaries.2 || type == notDictionaries.3 {
            return nil
        }
        guard let dictionary = T.self as? any MapDecodable.Type else {
            switch nextNotDictionary {
            case 0: notDictionaries.0 = type
            case 1: notDictionaries.1 = type
            case 2: notDictionaries.2 = type
            default: notDictionaries.3 = type
            }
            nextNotDictionary = (nextNotDictionary + 1) % 4
            return nil
        }
        return dictionary
    }

    /// Where the value at `start` ends (see `lastEnd`).
    mutating func skip(from start: Int) throws -> Int {
        if start == lastEnd.start { return lastEnd.end }
        return try input.skip(from: start)
    }

    /// Where the value at `position` ends (the keyed container there may know part of the way).
    mutating func end(ofValueAt position: Int, depth: Int) throws -> Int {
        let start = position
        let end: Int
        if let index = frameIndex(start: position, depth: depth) {
            if frames[index].base >= 0 {
                end = frames[index].end
            } else {
                var position = frames[index].position >= 0 ? frames[index].position : try skip(from: frames[index].valueStart)
                for _ in frames[index].index ..< frames[index].count {
                    if !frames[index].positional { position = try skip(from: position) }
                    position = try skip(from: position)
                }
                end = position
            }
        } else {
            end = try skip(from: position)
        }
        lastEnd = (start, end)
        return end
    }

    // MARK: Keyed containers

    /// A new owner id, for a decoder or a nested keyed container.
    mutating func newOwner() -> Int {
        lastOwner += 1
        return lastOwner
    }

    /// The frame of the keyed container at `start`, if it is among those of the current value and its ancestors.
    private func frameIndex(start: Int, depth: Int) -> Int? {
        var index = frames.count - 1
        while index >= 0, frames[index].depth > depth { index -= 1 }
        return index >= 0 && frames[index].depth == depth && frames[index].start == start ? index : nil
    }

    /// The frame of `owner`'s keyed container at `start` and `depth`, among those of the current value and its
    /// ancestors.
    private func frameIndex(owner: Int, depth: Int) -> Int? {
        var index = frames.count - 1
        while index >= 0, frames[index].depth > depth { index -= 1 }
        return index >= 0 && frames[index].depth == depth && frames[index].owner == owner ? index : nil
    }

    /// The frame of `owner`'s keyed container at `start` and `depth`; a new one replaces the frames of containers
    /// at that depth or deeper (which belong to values decoded before, or to containers beside this one). With
    /// `opening` false the container was opened before: if its frame over an array is gone (it had handed out
    /// all its values, or more than `parkedLimit` containers were opened beside it since), where it was is
    /// lost, which throws.
    @discardableResult
    mutating func openKeyed(at start: Int, depth: Int, owner: Int, opening: Bool = false) throws -> Int {
        if let index = frameIndex(owner: owner, depth: depth) { return index }
        return try pushFrame(at: start, depth: depth, owner: owner, opening: opening)
    }

    private mutating func pushFrame(at start: Int, depth: Int, owner: Int, opening: Bool) throws -> Int {
        while let last = frames.last, last.depth >= depth {
            if last.positional, last.index < last.count { park(last) }
            frames.removeLast()
        }
        let used = frames.reduce(0) { $1.base >= 0 ? max($0, $1.base + $1.count) : $0 }
        while entries.count > used { entries.removeLast() }
        if owner <= parkedOwners, let frame = unpark(owner) {
            frames.append(frame)
            return frames.count - 1
        }
        var position = start
        let positional: Bool
        let count: Int
        if let length = try input.readLength(.map, at: &position) {
            (positional, count) = (false, length)
        } else if let length = try input.readLength(.array, at: &position) {
            (positional, count) = (true, length)
        } else {
            throw input.mismatch([String: Any].self, at: start, path: codingPath(depth))
        }
        if positional, !opening {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: codingPath(depth),
                debugDescription: "a keyed container over an array was read again after containers beside it were "
                    + "opened (after it had handed out all its values, or more than \(Self.parkedLimit) of them): "
                    + "where it was is lost"))
        }
        frames.append(Frame(start: start, depth: depth, owner: owner, positional: positional, count: count, position: position))
        return frames.count - 1
    }

    /// The traits of key type `type`, if known (a `mutating` way to `keyProbe`, which runs in place).
    mutating func keyTraits(_ type: Any.Type) -> KeyTraits? { keyProbe.answer(type) }

    /// Opens a keyed container (see `openKeyed`) whose keys are of type `keys`; also tells their traits, if
    /// known (one access to the core for both).
    mutating func openContainer(at start: Int, depth: Int, owner: Int, keys: Any.Type) throws -> (Int, KeyTraits?) {
        (try openKeyed(at: start, depth: depth, owner: owner, opening: true), keyProbe.answer(keys))
    }

    /// The depth and a new owner id for a decoder of the current value.
    mutating func nextDecoder() -> (depth: Int, owner: Int) {
        lastOwner += 1
        return (path.count, lastOwner)
    }

    /// Keeps the frame of an array container that another replaces (see `parked`).
    private mutating func park(_ frame: Frame) {
        if parked.count < Self.parkedLimit {
            parked.append(frame)
        } else {
            parked[nextParked] = frame
            nextParked = nextParked + 1 == Self.parkedLimit ? 0 : nextParked + 1
        }
        parkedOwners = max(parkedOwners, frame.owner)
    }

    /// The parked frame of `owner`, taken out of `parked`.
    private mutating func unpark(_ owner: Int) -> Frame? {
        guard let index = parked.firstIndex(where: { $0.owner == owner }) else { return nil }
        let frame = parked[index]
        parked[index].owner = -1
        return frame
    }

    /// Checks the keys of the container of frame `index`, whose key type takes any string (a dictionary's, or
    /// keys made up at run time): its entries will be listed by `keys`, which must not leave out any. A map key
    /// that is not a str of UTF-8 or an `Int`, or an array of values where a map of keys is expected, throws.
    /// With `listing`, returns each entry's key as `keys` names it (an int's decimal string) and as the map
    /// holds it (for `checkIntValues`; nothing otherwise).
    @discardableResult
    mutating func checkKeys(of index: Int, listing: Bool = false) throws -> [(name: String, key: Key)] {
        let depth = frames[index].depth
        if frames[index].positional {
            guard frames[index].count == 0 else {
                throw input.mismatch([String: Any].self, at: frames[index].start, path: codingPath(depth))
            }
            return []
        }
        if frames[index].base < 0 { try record(index) }
        let base = frames[index].base
        let count = frames[index].count
        var names: [String] = []
        names.reserveCapacity(count)
        for entry in entries[base ..< base + count] {
            let key = entry.key
            if key.length == -2 { throw keyError(at: key.key, depth: depth) }
            if key.length >= 0 {
                guard let name = input.string(at: key.key, count: key.length) else {
                    throw DecodingError.dataCorrupted(DecodingError.Context(
                        codingPath: codingPath(depth),
                        debugDescription: "a map key at byte \(key.key - bytes.startIndex) is not valid UTF-8"))
                }
                names.append(name)
            } else {
                names.append(String(key.key))
            }
        }
        // Keys that differ but have one name (strs of canonically equivalent text, which Swift's `String` takes as
        // equal; an int and the str of its number) are one key to a key type that takes any string: listing
        // both would leave one value out (a dictionary keeps one), so they throw. A key written again byte for
        // byte is one key, read at its first entry.
        var seen: [String: Int] = [:]
        for (i, name) in names.enumerated() {
            let earlier: Int?
            if count <= 16 {
                earlier = names[..<i].firstIndex(of: name)
            } else {
                earlier = seen[name]
                if earlier == nil { seen[name] = i }
            }
            guard let earlier else { continue }
            let (first, key) = (entries[base + earlier].key, entries[base + i].key)
            guard isSameKey(first, key) else {
                throw oneKeyError(first, key, depth: depth, why: "both have the name \"\(name)\" to Swift")
            }
        }
        return listing ? names.indices.map { (names[$0], entries[base + $0].key) } : []
    }

    /// Whether map keys `a` and `b` are the same key as the map holds it: strs of the same bytes, or one int.
    mutating func isSameKey(_ a: Key, _ b: Key) -> Bool {
        guard a.length == b.length else { return false }
        return a.length < 0 ? a.key == b.key : bytes[a.key ..< a.key + a.length].elementsEqual(bytes[b.key ..< b.key + b.length])
    }

    /// The error for map keys `a` and `b` of the map at `depth`, which differ but are one key (`why`).
    mutating func oneKeyError(_ a: Key, _ b: Key, depth: Int, why: String) -> DecodingError {
        func describe(_ key: Key) -> String {
            guard key.length >= 0 else { return "the int \(key.key)" }
            let utf8 = bytes[key.key ..< key.key + key.length]
            let hex = utf8.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined(separator: " ")
            return "the str \"\(String(decoding: utf8, as: UTF8.self))\" (UTF-8 \(hex), at byte \(key.key - bytes.startIndex))"
        }
        return DecodingError.dataCorrupted(DecodingError.Context(
            codingPath: codingPath(depth),
            debugDescription: "map keys \(describe(a)) and \(describe(b)) differ but are one key to Swift (\(why)): "
                + "reading both would leave one value out"))
    }

    /// The error for a map key at `position` that is neither a str nor an int that fits `Int`.
    func keyError(at position: Int, depth: Int) -> any Error {
        var end = position
        if (try? input.readInt(UInt64.self, at: &end)) != nil {
            return DecodingError.typeMismatch(Int.self, DecodingError.Context(
                codingPath: codingPath(depth),
                debugDescription: "a map key at byte \(position - bytes.startIndex) is an int beyond Int's range"))
        }
        let mismatch = input.mismatch(String.self, at: position, path: codingPath(depth))
        guard case DecodingError.typeMismatch(_, let context) = mismatch else { return mismatch }
        return DecodingError.typeMismatch(String.self, DecodingError.Context(
            codingPath: context.codingPath,
            debugDescription: "map keys must be strs or ints: " + context.debugDescription))
    }

    /// Where the value for `key` in frame `index` starts, or nil if it has none.
    private mutating func locate(_ key: Lookup, in index: Int) throws -> Int? {
        let name = key.name
        if frames[index].base < 0 {
            let positional = frames[index].positional
            let last = frames[index].valueStart
            if positional, last >= 0, name.utf8.count == frames[index].name.utf8.count, name == frames[index].name {
                return last
            }
            if frames[index].index < frames[index].count {
                let entryStart = frames[index].position >= 0 ? frames[index].position : try skip(from: last)
                var position = entryStart
                let entryKey = positional ? Key() : try input.readKey(at: &position)
                if positional || input.key(entryKey, is: key) {
                    frames[index].handOut(value: position, key: entryKey, name: positional ? name : "")
                    return position
                }
                frames[index].position = entryStart  // so that the value before it is not skipped again
            }
            if positional { return nil }
            if last >= 0, input.key(frames[index].key, is: key) { return last }
            try record(index)
        }
        let base = frames[index].base
        let count = frames[index].count
        var position = frames[index].index
        for _ in 0 ..< count {
            if position >= count { position = 0 }
            if input.key(entries[base + position].key, is: key) {
                frames[index].index = position
                return entries[base + position].value
            }
            position += 1
        }
        return nil
    }

    /// Records the entries of the map of frame `index`.
    private mutating func record(_ index: Int) throws {
        var position = frames[index].start
        _ = try input.readLength(.map, at: &position)
        let base = entries.count
        for _ in 0 ..< frames[index].count {
            let key = try input.readKey(at: &position)
            entries.append(Entry(key: key, value: position))
            position = try skip(from: position)
        }
        frames[index].base = base
        frames[index].end = position
        frames[index].index = 0
    }

    /// Where the value for `key` of `owner`'s keyed container at `start` begins, or nil if it has none.
    mutating func valueStart(_ key: Lookup, start: Int, depth: Int, owner: Int) throws -> Int? {
        try locate(key, in: openKeyed(at: start, depth: depth, owner: owner))
    }

    /// Reads the scalar for `key` of `owner`'s keyed container at `start` (and `depth`).
    mutating func read<V>(_ key: Lookup, _ start: Int, _ depth: Int, _ owner: Int) throws -> V {
        let index = try openKeyed(at: start, depth: depth, owner: owner)
        guard let valueStart = try locate(key, in: index) else { throw keyNotFound(key, depth: depth) }
        var position = valueStart
        guard let value = try readScalar(V.self, at: &position) else {
            throw input.mismatch(V.self, at: valueStart, path: codingPath(depth) + [PathKey.named(key.name)])
        }
        // That value's end is where the next entry starts.
        if frames[index].valueStart == valueStart, frames[index].base < 0 { frames[index].position = position }
        return value
    }

    /// The keys of the map at `start`: their string values, and int values for int keys.
    mutating func keys(start: Int, depth: Int, owner: Int) -> [(name: String, int: Int?)] {
        guard let index = try? openKeyed(at: start, depth: depth, owner: owner), !frames[index].positional else { return [] }
        if frames[index].base < 0 {
            guard (try? record(index)) != nil else { return [] }
        }
        let base = frames[index].base
        // A key written more than once is listed once: lookups find its first entry, and decoding that
        // entry once per repetition would make nested maps of repeated keys cost exponential time.
        var seen = Set<String>()
        return entries[base ..< base + frames[index].count].compactMap { entry in
            let key: (name: String, int: Int?)? =
                switch entry.key.length {
                case 0...: input.string(at: entry.key.key, count: entry.key.length).map { ($0, nil) }
                case -1: (String(entry.key.key), entry.key.key)
                default: nil
                }
            guard let key, seen.insert(key.int.map { "\u{0}\($0)" } ?? key.name).inserted else { return nil }
            return key
        }
    }
}

/// The bytes a decode reads and the functions that read them, apart from the decoding state: calling these
/// copies only this (four words), where a non-mutating call on `DecodingCore` may first copy the whole core.
struct MessagePackInput {
    let bytes: ArraySlice<UInt8>

    func error(at position: Int, _ message: String) -> MessagePackError {
        MessagePackError(offset: position - bytes.startIndex, message: message)
    }

    /// The error for the value at `position` not being a `type`: a type mismatch, unless the bytes there are
    /// malformed or unsupported.
    func mismatch(_ type: Any.Type, at position: Int, path: [any CodingKey]) -> any Error {
        guard position < bytes.endIndex else { return error(at: position, "unexpected end of data") }
        let found: String
        switch bytes[position] {
        case 0x00 ... 0x7f, 0xcc ... 0xd3, 0xe0 ... 0xff: found = "an int"
        case 0x80 ... 0x8f, 0xde, 0xdf: found = "a map"
        case 0x90 ... 0x9f, 0xdc, 0xdd: found = "an array"
        case 0xa0 ... 0xbf, 0xd9 ... 0xdb: found = "a str"
        case 0xc0: found = "nil"
        case 0xc2, 0xc3: found = "a bool"
        case 0xc4 ... 0xc6: found = "a bin"
        case 0xca, 0xcb: found = "a float"
        case 0xc7 ... 0xc9, 0xd4 ... 0xd8: return error(at: position, "unsupported ext type")
        default: return error(at: position, "invalid byte 0xc1")
        }
        let description = "cannot decode \(type) from \(found) at byte \(position - bytes.startIndex)"
        return DecodingError.typeMismatch(type, DecodingError.Context(codingPath: path, debugDescription: description))
    }

    /// Whether the value at `position` is not a map or an array (or is past the end).
    func isScalar(at position: Int) -> Bool {
        guard let first = try? byte(at: position) else { return true }
        return !((0x80...0x9f).contains(first) || (0xdc...0xdf).contains(first))
    }

    func byte(at position: Int) throws -> UInt8 {
        guard position < bytes.endIndex else { throw error(at: position, "unexpected end of data") }
        return bytes[position]
    }

    private func load<I: FixedWidthInteger>(_: I.Type, at position: Int) throws -> I {
        guard position <= bytes.endIndex - MemoryLayout<I>.size else {
            throw error(at: bytes.endIndex, "unexpected end of data")
        }
        return bytes.loadBigEndian(I.self, at: position)
    }

    func readInt<I: FixedWidthInteger>(_: I.Type, at position: inout Int) throws -> I? {
        let tag = try byte(at: position)
        let value: I?
        let size: Int
        switch tag {
        case 0x00 ... 0x7f: (value, size) = (I(exactly: tag), 1)
        case 0xe0 ... 0xff: (value, size) = (I(exactly: Int8(bitPattern: tag)), 1)
        case 0xcc: (value, size) = (I(exactly: try load(UInt8.self, at: position + 1)), 2)
        case 0xcd: (value, size) = (I(exactly: try load(UInt16.self, at: position + 1)), 3)
        case 0xce: (value, size) = (I(exactly: try load(UInt32.self, at: position + 1)), 5)
        case 0xcf: (value, size) = (I(exactly: try load(UInt64.self, at: position + 1)), 9)
        case 0xd0: (value, size) = (I(exactly: try load(Int8.self, at: position + 1)), 2)
        case 0xd1: (value, size) = (I(exactly: try load(Int16.self, at: position + 1)), 3)
        case 0xd2: (value, size) = (I(exactly: try load(Int32.self, at: position + 1)), 5)
        case 0xd3: (value, size) = (I(exactly: try load(Int64.self, at: position + 1)), 9)
        default: return nil
        }
        if value != nil { position += size }
        return value
    }

    func readDouble(at position: inout Int) throws -> Double? {
        switch try byte(at: position) {
        case 0xcb:
            defer { position += 9 }
            return Double(bitPattern: try load(UInt64.self, at: position + 1))
        case 0xca:
            defer { position += 5 }
            return Double(Float(bitPattern: try load(UInt32.self, at: position + 1)))
        default:
            if let int = try readInt(Int64.self, at: &position) { return Double(int) }
            return try readInt(UInt64.self, at: &position).map { Double($0) }
        }
    }

    /// A `Float`, from any number that `readDouble` reads, rounded; a finite number beyond `Float`'s range is
    /// not a `Float` (nil, as `JSONDecoder` refuses it), where rounding would make it infinite.
    func readFloat(at position: inout Int) throws -> Float? {
        var end = position
        guard let double = try readDouble(at: &end) else { return nil }
        guard !double.isFinite || double.magnitude <= Double(Float.greatestFiniteMagnitude) else { return nil }
        position = end
        return Float(double)
    }

    func readBool(at position: inout Int) throws -> Bool? {
        let tag = try byte(at: position)
        guard tag == 0xc2 || tag == 0xc3 else { return nil }
        position += 1
        return tag == 0xc3
    }

    func readString(at position: inout Int) throws -> String? {
        var start = position
        guard let count = try readLength(.string, at: &start) else { return nil }
        guard let string = string(at: start, count: count) else { throw error(at: position, "invalid UTF-8 in a str") }
        position = start + count
        return string
    }

    /// The `count` bytes at `start` as a string, if they are valid UTF-8.
    func string(at start: Int, count: Int) -> String? {
        bytes.utf8String(at: start, count: count)
    }

    func readBinary(at position: inout Int) throws -> [UInt8]? {
        guard let count = try readLength(.binary, at: &position) else { return nil }
        defer { position += count }
        return Array(bytes[position ..< position + count])
    }

    /// A bin as `Data`.
    func readData(at position: inout Int) throws -> Data? {
        guard let count = try readLength(.binary, at: &position) else { return nil }
        defer { position += count }
        return Data(bytes[position ..< position + count])
    }

    /// Reads the header of a `family` value: its length, which is checked against the bytes left.
    func readLength(_ family: Family, at position: inout Int) throws -> Int? {
        let tag = try byte(at: position)
        let length: Int
        let size: Int
        if Int(tag &- family.fixBase) < family.fixCount {
            (length, size) = (Int(tag &- family.fixBase), 1)
        } else if tag == family.tag8 {
            (length, size) = (Int(try load(UInt8.self, at: position + 1)), 2)
        } else if tag == family.tag16 {
            (length, size) = (Int(try load(UInt16.self, at: position + 1)), 3)
        } else if tag == family.tag16 + 1 {
            (length, size) = (Int(try load(UInt32.self, at: position + 1)), 5)
        } else {
            return nil
        }
        // Every element takes at least a byte, every map entry two.
        let left = bytes.endIndex - position - size
        guard length * family.unitSize <= left else {
            throw error(at: position, "length \(length) exceeds the \(left) bytes left")
        }
        position += size
        return length
    }

    /// Where the value at `start` ends (checking its structure, not its strings' UTF-8).
    func skip(from start: Int) throws -> Int {
        var position = start
        var pending = 1
        while pending > 0 {
            pending -= 1
            switch try byte(at: position) {
            case 0x00 ... 0x7f, 0xc0, 0xc2, 0xc3, 0xe0 ... 0xff: position += 1
            case 0xcc, 0xd0: position += 2
            case 0xcd, 0xd1: position += 3
            case 0xca, 0xce, 0xd2: position += 5
            case 0xcb, 0xcf, 0xd3: position += 9
            case 0x80 ... 0x8f, 0xde, 0xdf: pending += 2 * (try readLength(.map, at: &position) ?? 0)
            case 0x90 ... 0x9f, 0xdc, 0xdd: pending += try readLength(.array, at: &position) ?? 0
            case 0xa0 ... 0xbf, 0xd9 ... 0xdb:
                let count = try readLength(.string, at: &position) ?? 0
                position += count
            case 0xc4 ... 0xc6:
                let count = try readLength(.binary, at: &position) ?? 0
                position += count
            case 0xc7 ... 0xc9, 0xd4 ... 0xd8: throw error(at: position, "unsupported ext type")
            default: throw error(at: position, "invalid byte 0xc1")
            }
            guard pending <= bytes.endIndex - position else {
                throw error(at: min(position, bytes.endIndex), "unexpected end of data")
            }
        }
        return position
    }

    func expectEnd(at position: Int) throws {
        guard position == bytes.endIndex else { throw error(at: position, "trailing bytes after the value") }
    }

    /// Reads the map key at `position`, moving past it.
    func readKey(at position: inout Int) throws -> DecodingCore.Key {
        if let length = try readLength(.string, at: &position) {
            defer { position += length }
            return DecodingCore.Key(key: position, length: length)
        }
        if let int = try readInt(Int.self, at: &position) { return DecodingCore.Key(key: int, length: -1) }
        let keyStart = position
        position = try skip(from: position)
        return DecodingCore.Key(key: keyStart, length: -2)
    }

    func key(_ key: DecodingCore.Key, is lookup: DecodingCore.Lookup) -> Bool {
        switch key.length {
        case 0...: bytes.bytes(at: key.key, count: key.length, equalUTF8Of: lookup.name)
        case -1: key.key == lookup.int
        default: false
        }
    }
}

// The parts that run the values' `init(from:)`, which must happen outside any access to `core`.
extension Shared where Core == DecodingCore {
    /// The traits of `Key` (see ``KeyProbeCache``), asked outside `core` (it is user code).
    fileprivate func keyTraits<Key: CodingKey>(_: Key.Type) -> KeyTraits {
        if let known = core.keyTraits(Key.self) { return known }
        let traits = KeyTraits(of: Key.self)
        core.keyProbe.remember(Key.self, traits)
        return traits
    }

    /// Throws for two of a map's `keys` (those `checkKeys(of:)` returns, at `depth`) that differ but whose
    /// `Key`s, made as `allKeys` makes them, have one int value (`"5"` and `"05"`, `5` and `"05"`): an `Int`
    /// dictionary's `Codable` conformance, which keys entries by int value, would keep one of their values. A
    /// key repeated as the map holds it is one key. (The `Key`s are user code, so they are made outside `core`.)
    ///
    /// A `String` dictionary's `Codable` conformance has the same key type, and keeps such keys apart: one read
    /// through its own `init(from:)` throws too (the decoder reads `String` and `Int` dictionaries itself,
    /// keeping each key as its type does, wherever it meets them as a value's type).
    fileprivate func checkIntValues<Key: CodingKey>(
        _: Key.Type, _ keys: [(name: String, key: DecodingCore.Key)], depth: Int
    ) throws {
        let ints = keys.map { entry in
            ((entry.key.length < 0 ? Key(intValue: entry.key.key) : nil) ?? Key(stringValue: entry.name))?.intValue
        }
        // Found by comparing few keys, hashing many (as `checkKeys(of:)`).
        var seen: [Int: Int] = [:]
        for (index, int) in ints.enumerated() {
            guard let int else { continue }
            let earlier: Int?
            if keys.count <= 16 {
                earlier = ints[..<index].firstIndex(of: int)
            } else {
                earlier = seen[int]
                if earlier == nil { seen[int] = index }
            }
            guard let earlier, !core.isSameKey(keys[earlier].key, keys[index].key) else { continue }
            throw core.oneKeyError(
                keys[earlier].key, keys[index].key, depth: depth,
                why: "both have the int value \(int), by which an Int dictionary keys its entries")
        }
    }

    /// Decodes a `T` from the value at `position`, the value for `key` of a container at `depth`.
    fileprivate func decodeValue<T: Decodable>(
        _ type: T.Type, at position: Int, key: some CodingKey, depth: Int
    ) throws -> T {
        core.enter(key, depth: depth)
        defer { core.trimPath(to: depth) }
        return try decodeHere(type, at: position)
    }

    /// Decodes a `T` from the value at `position`, whose coding path is the current one. With `dictionaries`
    /// false, the caller knows that `T` is no dictionary type the decoder reads itself.
    fileprivate func decodeHere<T: Decodable>(_: T.Type, at position: Int, dictionaries: Bool = true) throws -> T {
        if T.self == String.self {
            return try decodeScalar(String.self, at: position, depth: core.path.count) as! T
        }
        if T.self == Int.self {
            return try decodeScalar(Int.self, at: position, depth: core.path.count) as! T
        }
        if T.self == Double.self {
            return try decodeScalar(Double.self, at: position, depth: core.path.count) as! T
        }
        if T.self == [UInt8].self {
            return try decodeScalar([UInt8].self, at: position, depth: core.path.count) as! T
        }
        // `Data` from a bin; from anything else (the array of byte values its own `Codable` form writes) through
        // its `Decodable` conformance.
        if T.self == Data.self {
            var end = position
            if let data = try core.input.readData(at: &end) { return data as! T }
        }
        guard core.path.count <= maxNestingDepth else {
            throw core.input.error(at: position, "nesting deeper than \(maxNestingDepth) levels")
        }
        // Only a type of an array's size can be one: a load and a compare for the rest (records, strings).
        if MemoryLayout<T>.size == MemoryLayout<[Int]>.size, let packed = core.readPackedArray(T.self, at: position) {
            return packed
        }
        if dictionaries, let dictionary = core.mapDecodable(T.self, at: position),
            let value = try dictionary.decodeMap(self, at: position)
        {
            return value as! T
        }
        let (depth, owner) = core.nextDecoder()
        return try T(from: ValueDecoder(state: self, position: position, depth: depth, owner: owner))
    }

    /// Decodes the map at `start` as a dictionary with `String` keys (`strings`) or `Int` keys, calling `insert`
    /// once per key, for its first entry (the one `Codable`'s way through `allKeys` reads), with where its value
    /// starts. As `Codable` does, a `String` dictionary takes an int key as its decimal string, and an `Int`
    /// dictionary a str key that is a decimal number. Returns false, having inserted nothing, if the value is
    /// not a map or has a key `Codable` refuses (a str that is not UTF-8 or, in an `Int` dictionary, no number,
    /// an int beyond `Int`'s range, a bin, float, nil, array or map), for `Codable` to throw its error.
    ///
    /// A key written again (the same bytes, or the same int) is one key, whose later entries are left out. Two
    /// keys that differ but are one key of the dictionary (strs of canonically equivalent text, which Swift's
    /// `String` takes as equal; an int and a str of its number; in an `Int` dictionary, two strs of one number)
    /// throw `DecodingError.dataCorrupted`: one of their values would be lost.
    fileprivate func decodeMap(
        at start: Int, strings: Bool, insert: (_ name: String, _ int: Int, _ valueStart: Int, _ depth: Int) throws -> Void
    ) throws -> Bool {
        let depth = core.path.count
        var position = start
        guard let count = try core.input.readLength(.map, at: &position) else { return false }
        // The keys first, so that a key of another form leaves everything to `Codable`; each also as the map holds
        // it (a str's bytes, or an int).
        var keys: [(name: String, int: Int, value: Int, key: DecodingCore.Key)] = []
        keys.reserveCapacity(count)
        for _ in 0 ..< count {
            if strings {
                var keyStart = position
                if let length = try core.input.readLength(.string, at: &keyStart) {
                    guard let name = core.bytes.utf8String(at: keyStart, count: length) else { return false }
                    position = keyStart + length
                    keys.append((name, 0, position, DecodingCore.Key(key: keyStart, length: length)))
                } else if let int = try core.input.readInt(Int.self, at: &position) {
                    // Found by its name, the decimal string (the map's form of it, an int, tells it from a str).
                    keys.append((String(int), 0, position, DecodingCore.Key(key: int, length: -1)))
                } else {
                    return false
                }
            } else if let int = try core.input.readInt(Int.self, at: &position) {
                keys.append(("", int, position, DecodingCore.Key(key: int, length: -1)))
            } else {
                var keyStart = position
                guard let length = try core.input.readLength(.string, at: &keyStart),
                    let int = core.bytes.utf8String(at: keyStart, count: length).flatMap({ Int($0) })
                else { return false }
                position = keyStart + length
                keys.append(("", int, position, DecodingCore.Key(key: keyStart, length: length)))
            }
            position = try core.skip(from: position)
        }
        // A key's later entries are left out (found by comparing few keys, hashing many); a key that is another
        // one's dictionary key, but not the same bytes, throws.
        var seen = Set<SeenKey>()
        for (index, key) in keys.enumerated() {
            let earlier =
                if count <= 16 {
                    keys[..<index].firstIndex { strings ? $0.name == key.name : $0.int == key.int }
                } else {
                    seen.insert(SeenKey(name: key.name, int: key.int, index: index)).memberAfterInsert.index
                }
            if let earlier, earlier != index {
                let first = keys[earlier].key
                guard core.isSameKey(first, key.key) else {
                    let why =
                        if !strings { "both are the number \(key.int)" }
                        else if first.length < 0 || key.key.length < 0 { "both are the String \"\(key.name)\"" }
                        else { "Swift's String takes canonically equivalent text as equal" }
                    throw core.oneKeyError(first, key.key, depth: depth, why: why)
                }
                continue
            }
            try insert(key.name, key.int, key.value, depth)
        }
        core.lastEnd = (start, position)
        return true
    }

    /// Decodes a scalar `V` (see `readScalar`) from the value at `position`, at `depth`.
    fileprivate func decodeScalar<V>(_: V.Type, at position: Int, depth: Int) throws -> V {
        var end = position
        if let value = try core.readScalar(V.self, at: &end) { return value }
        throw core.input.mismatch(V.self, at: position, path: core.codingPath(depth))
    }
}

/// A key of a map being read into a dictionary, as the dictionary's key (its `String` or its `Int`), with the
/// index of its first entry.
private struct SeenKey: Hashable {
    let name: String
    let int: Int
    let index: Int

    static func == (a: SeenKey, b: SeenKey) -> Bool { a.int == b.int && a.name == b.name }

    func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(int)
    }
}

/// A dictionary type the decoder reads from a map itself, with the result its `Decodable` conformance gets
/// through a keyed container, but without `allKeys`, a lookup per key, and the container box and dynamic call
/// per entry.
protocol MapDecodable {
    /// The value at `start`, or `nil` to have it decoded through `Decodable`.
    static func decodeMap(_ state: Shared<DecodingCore>, at start: Int) throws -> Self?
}

extension Dictionary: MapDecodable where Key: Decodable, Value: Decodable {
    /// The dictionary at `start` if its keys are `String`s or `Int`s written as `Codable` writes them; `nil`
    /// for `Codable` to read it otherwise.
    static func decodeMap(_ state: Shared<DecodingCore>, at start: Int) throws -> Self? {
        let strings = Key.self == String.self
        guard strings || Key.self == Int.self else { return nil }
        var result: Self = [:]
        let read = try state.decodeMap(at: start, strings: strings) { name, int, valueStart, depth in
            let key = strings ? PathKey.named(name) : .intKey(int)
            let value = try state.decodeValue(Value.self, at: valueStart, key: key, depth: depth)
            result.updateValue(value, forKey: strings ? name as! Key : int as! Key)
        }
        return read ? result : nil
    }
}

/// The kind of a MessagePack value, from its first byte.
enum MessagePackKind {
    case null, bool, integer, float, string, binary, array, map, `extension`

    init(typeByte b: UInt8) {
        switch b {
        case 0x00...0x7f, 0xcc...0xd3, 0xe0...0xff: self = .integer
        case 0x80...0x8f, 0xde, 0xdf: self = .map
        case 0x90...0x9f, 0xdc, 0xdd: self = .array
        case 0xa0...0xbf, 0xd9...0xdb: self = .string
        case 0xc0: self = .null
        case 0xc2, 0xc3: self = .bool
        case 0xc4...0xc6: self = .binary
        case 0xca, 0xcb: self = .float
        default: self = .extension  // 0xc1 (never used), ext and fixext
        }
    }
}

/// A decoding container that can tell the kind of the value it holds without decoding it.
protocol MessagePackKindPeeking {
    var nextKind: MessagePackKind? { get }
}

/// The `Decoder` for one value; also its single value container.
private struct ValueDecoder: Decoder, SingleValueDecodingContainer, MessagePackKindPeeking {
    var nextKind: MessagePackKind? { (try? state.core.input.byte(at: position)).map(MessagePackKind.init(typeByte:)) }

    let state: DecodingState
    let position: Int
    /// The depth (low 16 bits) and the owner of the keyed container(s) this decoder hands out (see
    /// `DecodingCore.Frame.owner`), in one word: three words fit the inline buffer of an `any Decoder`, which
    /// `init(from:)` takes (a fourth would allocate a box per value).
    private let depthAndOwner: Int

    var depth: Int { depthAndOwner & 0xffff }
    var owner: Int { depthAndOwner >> 16 }

    init(state: DecodingState, position: Int, depth: Int, owner: Int) {
        self.state = state
        self.position = position
        depthAndOwner = owner << 16 | depth
    }

    var codingPath: [any CodingKey] { state.core.codingPath(depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedDecoder<Key>(state: state, start: position, depth: depth, owner: owner))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedDecoder(state: state, start: position, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    private func read<V>(_: V.Type) throws -> V { try state.decodeScalar(V.self, at: position, depth: depth) }

    func decodeNil() -> Bool { (try? state.core.isNil(at: position)) == true }
    func decode(_ type: Bool.Type) throws -> Bool { try read(type) }
    func decode(_ type: String.Type) throws -> String { try read(type) }
    func decode(_ type: Double.Type) throws -> Double { try read(type) }
    func decode(_ type: Float.Type) throws -> Float { try read(type) }
    func decode(_ type: Int.Type) throws -> Int { try read(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try read(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try read(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try read(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try read(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try read(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try read(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try read(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try read(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try read(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        state.core.trimPath(to: depth)
        return try state.decodeHere(type, at: position)
    }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: DecodingState
    let start: Int
    let depth: Int
    let owner: Int

    /// The container of the value at `start`, for `owner` (a new one for a nested container).
    init(state: DecodingState, start: Int, depth: Int, owner: Int? = nil) throws {
        self.state = state
        self.start = start
        self.depth = depth
        self.owner = owner ?? state.core.newOwner()
        let (index, known) = try state.core.openContainer(at: start, depth: depth, owner: self.owner, keys: Key.self)
        let traits = known ?? state.keyTraits(Key.self)
        if traits.takesAnyString {
            let keys = try state.core.checkKeys(of: index, listing: traits.intValuesFromStrings)
            if traits.intValuesFromStrings { try state.checkIntValues(Key.self, keys, depth: depth) }
        }
    }

    var codingPath: [any CodingKey] { state.core.codingPath(depth) }
    var allKeys: [Key] {
        state.core.keys(start: start, depth: depth, owner: owner).compactMap { key in
            key.int.flatMap { Key(intValue: $0) } ?? Key(stringValue: key.name)
        }
    }

    func contains(_ key: Key) -> Bool {
        (try? state.core.valueStart(DecodingCore.Lookup(key), start: start, depth: depth, owner: owner)) != nil
    }

    private func valueStart(_ key: some CodingKey) throws -> Int {
        let lookup = DecodingCore.Lookup(key)
        guard let position = try state.core.valueStart(lookup, start: start, depth: depth, owner: owner) else {
            throw state.core.keyNotFound(lookup, depth: depth)
        }
        return position
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let position = try state.core.valueStart(DecodingCore.Lookup(key), start: start, depth: depth, owner: owner) else {
            return true
        }
        return try state.core.isNil(at: position)
    }

    func decode(_: Bool.Type, forKey key: Key) throws -> Bool { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: String.Type, forKey key: Key) throws -> String { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Double.Type, forKey key: Key) throws -> Double { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Float.Type, forKey key: Key) throws -> Float { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Int.Type, forKey key: Key) throws -> Int { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Int8.Type, forKey key: Key) throws -> Int8 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Int16.Type, forKey key: Key) throws -> Int16 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Int32.Type, forKey key: Key) throws -> Int32 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: Int64.Type, forKey key: Key) throws -> Int64 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: UInt.Type, forKey key: Key) throws -> UInt { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: UInt8.Type, forKey key: Key) throws -> UInt8 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: UInt16.Type, forKey key: Key) throws -> UInt16 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: UInt32.Type, forKey key: Key) throws -> UInt32 { try state.core.read(.init(key), start, depth, owner) }
    func decode(_: UInt64.Type, forKey key: Key) throws -> UInt64 { try state.core.read(.init(key), start, depth, owner) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let start = try valueStart(key)
        let value = try state.decodeValue(type, at: start, key: key, depth: depth)
        // Measured now, while the value's own containers know where they end, so that reaching the next
        // entry does not scan this value again.
        if !state.core.input.isScalar(at: start) { _ = try state.core.end(ofValueAt: start, depth: depth + 1) }
        return value
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let position = try valueStart(key)
        state.core.enter(key, depth: depth)
        return KeyedDecodingContainer(try KeyedDecoder<NestedKey>(state: state, start: position, depth: depth + 1))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let position = try valueStart(key)
        state.core.enter(key, depth: depth)
        return try UnkeyedDecoder(state: state, start: position, depth: depth + 1)
    }

    func superDecoder() throws -> any Decoder { try superDecoder(for: PathKey.named("super")) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder(for: key) }

    private func superDecoder(for key: some CodingKey) throws -> any Decoder {
        let position = try valueStart(key)
        state.core.enter(key, depth: depth)
        return ValueDecoder(state: state, position: position, depth: depth + 1, owner: state.core.newOwner())
    }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let state: DecodingState
    let depth: Int
    let total: Int
    /// Where the array starts (its header).
    let start: Int
    var position: Int
    var currentIndex = 0

    init(state: DecodingState, start: Int, depth: Int) throws {
        var position = start
        guard let total = try state.core.input.readLength(.array, at: &position) else {
            throw state.core.input.mismatch([Any].self, at: start, path: state.core.codingPath(depth))
        }
        self.state = state
        self.depth = depth
        self.total = total
        self.start = start
        self.position = position
        if total == 0 { state.core.lastEnd = (start, position) }
    }

    var codingPath: [any CodingKey] { state.core.codingPath(depth) }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    private var elementPath: [any CodingKey] { state.core.codingPath(depth) + [PathKey.index(currentIndex)] }

    private func checkNotAtEnd(_ type: Any.Type) throws {
        guard isAtEnd else { return }
        throw DecodingError.valueNotFound(
            type,
            DecodingError.Context(codingPath: elementPath, debugDescription: "the array has only \(total) elements")
        )
    }

    private mutating func read<V>(_: V.Type) throws -> V {
        try checkNotAtEnd(V.self)
        guard let value = try state.core.readScalar(V.self, at: &position) else {
            throw state.core.input.mismatch(V.self, at: position, path: elementPath)
        }
        advance()
        return value
    }

    /// Moves to the next element; after the last one, records where this array ends (see `lastEnd`).
    private mutating func advance() {
        currentIndex += 1
        if currentIndex == total { state.core.lastEnd = (start, position) }
    }


    mutating func decodeNil() throws -> Bool {
        try checkNotAtEnd(Never?.self)
        guard try state.core.isNil(at: position) else { return false }
        position += 1
        advance()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try read(type) }
    mutating func decode(_ type: String.Type) throws -> String { try read(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try read(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try read(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try read(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try read(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try read(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try read(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try read(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try read(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try read(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try read(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try read(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try read(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try checkNotAtEnd(type)
        let value = try state.decodeValue(type, at: position, key: PathKey.index(currentIndex), depth: depth)
        position = try state.core.end(ofValueAt: position, depth: depth + 1)
        advance()
        return value
    }

    /// Hands out the next element for a nested container or decoder, with the coding path pointing at it.
    private mutating func nextNested() throws -> Int {
        try checkNotAtEnd(Any.self)
        state.core.enter(PathKey.index(currentIndex), depth: depth)
        let element = position
        position = try state.core.skip(from: element)
        advance()
        return element
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedDecoder<NestedKey>(state: state, start: try nextNested(), depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedDecoder(state: state, start: try nextNested(), depth: depth + 1)
    }

    mutating func superDecoder() throws -> any Decoder {
        ValueDecoder(state: state, position: try nextNested(), depth: depth + 1, owner: state.core.newOwner())
    }
}
