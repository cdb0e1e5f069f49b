// SPDX-License-Identifier: Apache-2.0

/// A value of the kinds Python's `partd.Python` stores with MessagePack: what a
/// list of mixed values (`[1, 2, b"Hello", "Hello"]`) decodes to in Swift.
///
/// ```swift
/// let store = ListStore<DirectoryStore, PlainValue>(over: try DirectoryStore(path: "bag.partd"))
/// try store.get("x")     // [.int(1), .int(2), .bytes([72, 101, 108, 108, 111]), .string("Hello")]
/// ```
///
/// A map's keys are strings: an int key reads as its decimal string; a key of another form (Python's
/// `{b'k': 1}`, a float, ...) cannot be held and throws `DecodingError` rather than be left out. So do two keys
/// that would be one `String` key: strs whose bytes differ but whose text is canonically equivalent
/// (`"caf\u{E9}"` and `"cafe\u{301}"`, two keys to Python), or an int and the str of its number
/// (`{1: "a", "1": "b"}`). A key written twice byte for byte is one key, read at its first entry.
public enum PlainValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    /// Integers above `Int64.max`.
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case array([PlainValue])
    case map([String: PlainValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let peeking = container as? MessagePackKindPeeking, let kind = peeking.nextKind {
            // Our MessagePack decoder says what comes next: decode it once, as that kind (trying
            // kinds one after another re-decodes nested values for every failed kind).
            switch kind {
            case .null: self = .null
            case .bool: self = .bool(try container.decode(Bool.self))
            case .integer:
                if let value = try? container.decode(Int64.self) { self = .int(value) } else { self = .unsigned(try container.decode(UInt64.self)) }
            case .float: self = .double(try container.decode(Double.self))
            case .string: self = .string(try container.decode(String.self))
            case .binary: self = .bytes(try container.decode([UInt8].self))
            case .array: self = .array(try container.decode([PlainValue].self))
            case .map: self = .map(try container.decode([String: PlainValue].self))
            case .extension:
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "MessagePack extension types are not supported"))
            }
            return
        }
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .unsigned(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([PlainValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([UInt8].self) {
            // After arrays: in MessagePack only bin reads as bytes; in JSON, which has
            // no bytes, an array of numbers stays an array.
            self = .bytes(value)
        } else {
            self = .map(try container.decode([String: PlainValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .unsigned(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .bytes(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .map(let value): try container.encode(value)
        }
    }
}
