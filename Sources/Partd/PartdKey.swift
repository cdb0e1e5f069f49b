// SPDX-License-Identifier: Apache-2.0

/// A key of a byte store: a string, an integer, or a tuple of keys.
///
/// Python's partd accepts strings, integers and tuples as keys; dask names its
/// shuffle partitions by integer (`0`, `1`, …) and columnar stores use tuples
/// such as `("df", "price")`. `PartdKey` models exactly those three shapes, so
/// every store can map a key to a file name and back without loss.
///
/// ```swift
/// let a: PartdKey = "prices"          // string
/// let b: PartdKey = 7                 // integer
/// let c = PartdKey.tuple("df", 7)     // composite
/// ```
///
/// Keys hash once, when made, so looking a key up on a hot path costs one
/// word of hashing however long the key is, and copies share their content. Keep and reuse key values rather
/// than rebuilding them per append.
public struct PartdKey: Sendable {
    /// The shape and content of a key.
    ///
    /// Strings compare by their Unicode scalars (their UTF-8 bytes), not by Swift's canonical
    /// equivalence: `"\u{E9}"` and `"e\u{301}"` (both "é") are different keys, as they are in
    /// Python, with different file names and different bytes on the wire and in Redis.
    public enum Kind: Hashable, Sendable {
        case string(String)
        case int(Int)
        case tuple([PartdKey])

        public static func == (lhs: Kind, rhs: Kind) -> Bool {
            switch (lhs, rhs) {
            case (.string(let a), .string(let b)):
                // Through spans: comparing the UTF-8 views element by element costs four times as much.
                let x = a.utf8Span.span
                let y = b.utf8Span.span
                guard x.count == y.count else { return false }
                for i in x.indices where x[i] != y[i] { return false }
                return true
            case (.int(let a), .int(let b)):
                return a == b
            case (.tuple(let a), .tuple(let b)):
                return a == b
            default:
                return false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .string(let s):
                hasher.combine(0 as UInt8)
                let bytes = s.utf8Span.span
                hasher.combine(bytes.count)
                bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
            case .int(let i):
                hasher.combine(1 as UInt8)
                hasher.combine(i)
            case .tuple(let parts):
                hasher.combine(2 as UInt8)
                hasher.combine(parts)
            }
        }
    }

    /// The key's content, hash and size bound, shared by every copy of the key:
    /// copying a key is one reference-count increment, whatever its shape.
    final class Storage: Sendable {
        let kind: Kind
        let hash: Int
        let encodedLengthBound: Int

        init(_ kind: Kind) {
            self.kind = kind
            var hasher = Hasher()
            hasher.combine(kind)
            self.hash = hasher.finalize()
            switch kind {
            case .string(let s): encodedLengthBound = 2 + 3 * s.utf8.count
            case .int: encodedLengthBound = 22
            case .tuple(let parts): encodedLengthBound = 4 + parts.reduce(0) { $0 + $1.encodedLengthBound + 1 }
            }
        }
    }

    let storage: Storage

    /// The shape and content of this key.
    public var kind: Kind { storage.kind }
    @inline(__always) var cachedHash: Int { storage.hash }
    /// The identity of the shared storage: equal for a key and its copies.
    @inline(__always) var identity: ObjectIdentifier { ObjectIdentifier(storage) }
    /// The most bytes any store's encoding of this key can take (see ``KeyFileName``):
    /// three per UTF-8 byte of a string, plus tags and separators.
    @inline(__always) var encodedLengthBound: Int { storage.encodedLengthBound }

    /// Makes a key of the given kind.
    public init(_ kind: Kind) {
        storage = Storage(kind)
    }

    /// A string key.
    public init(_ string: String) { self.init(.string(string)) }

    /// An integer key, as dask uses for output partitions.
    public init(_ int: Int) { self.init(.int(int)) }

    /// A composite key made of the given components, like a Python tuple.
    public static func tuple(_ components: PartdKey...) -> PartdKey {
        PartdKey(.tuple(components))
    }

    /// A composite key made of the given components, like a Python tuple.
    public static func tuple(_ components: [PartdKey]) -> PartdKey {
        PartdKey(.tuple(components))
    }
}

extension PartdKey: Hashable {
    public static func == (lhs: PartdKey, rhs: PartdKey) -> Bool {
        lhs.storage === rhs.storage || (lhs.storage.hash == rhs.storage.hash && lhs.storage.kind == rhs.storage.kind)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(cachedHash)
    }
}

extension PartdKey: ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self.init(.string(value)) }
    /// A string key written with interpolation: `store.append(["part-\(i)": bytes])`.
    public init(stringInterpolation: DefaultStringInterpolation) {
        self.init(.string(String(stringInterpolation: stringInterpolation)))
    }
    public init(integerLiteral value: Int) { self.init(.int(value)) }
}

extension PartdKey: CustomStringConvertible {
    /// Python-like spelling: `"x"`, `7`, `("df", 7)`.
    public var description: String {
        switch kind {
        case .string(let s):
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default:
                    if scalar.value < 0x20 || scalar.value == 0x7F {
                        out += "\\u{\(String(scalar.value, radix: 16))}"
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        case .int(let i):
            return String(i)
        case .tuple(let parts):
            if parts.count == 1 { return "(\(parts[0]),)" }
            return "(" + parts.map(\.description).joined(separator: ", ") + ")"
        }
    }
}

extension PartdKey: Comparable {
    /// Orders integers before strings before tuples; integers numerically,
    /// strings by Unicode scalars, tuples lexicographically. `keys()` results
    /// are sorted in this order.
    public static func < (lhs: PartdKey, rhs: PartdKey) -> Bool {
        switch (lhs.kind, rhs.kind) {
        case (.int(let a), .int(let b)): return a < b
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case (.tuple(let a), .tuple(let b)): return a.lexicographicallyPrecedes(b)
        default: return lhs.rank < rhs.rank
        }
    }

    private var rank: Int {
        switch kind {
        case .int: return 0
        case .string: return 1
        case .tuple: return 2
        }
    }
}

/// Keys encode as what they hold: a string, an integer, or an array of keys
/// (so a tuple key reads back as a tuple, not a list, unlike chest's JSON mode).
extension PartdKey: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let int = try? container.decode(Int.self) {
            self.init(int)
        } else if let string = try? container.decode(String.self) {
            self.init(string)
        } else {
            self.init(.tuple(try container.decode([PartdKey].self)))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch kind {
        case .string(let string): try container.encode(string)
        case .int(let int): try container.encode(int)
        case .tuple(let parts): try container.encode(parts)
        }
    }
}
