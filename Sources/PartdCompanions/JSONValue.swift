// SPDX-License-Identifier: Apache-2.0

import Partd

/// A JSON value, for metadata.
///
/// Numbers keep the kind they were written as: an integer (digits, no fraction or exponent) that fits
/// in `Int64` is ``integer(_:)``, any other number is ``number(_:)``. So an integer another program
/// wrote keeps every digit (a `Double` holds only 53 bits: 9007199254740993 would read as
/// 9007199254740992), and `1` and `1.0` stay apart. An integer beyond `Int64` reads as the nearest
/// `Double` (and is written back as that double). Integer literals make ``integer(_:)``, float literals
/// ``number(_:)``; the two cases are different values (`.integer(1) != .number(1)`).
///
/// ``DatasetEntry`` reads and writes metadata files with its own JSON reader and writer, which keep
/// these kinds exactly (a double is written in its shortest form that reads back the same, always with a
/// fraction or an exponent: `2.0`, `1e+16`). Through `Codable` (another encoder or decoder), an integer
/// encodes as `Int64` and a number as `Double`; decoding tries `Int64` before `Double`, so what that
/// decoder treats as an integer (Foundation's `JSONDecoder` accepts `1.0`) becomes ``integer(_:)``.
public enum JSONValue: Codable, Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation,
    ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral,
    ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    /// An integer: JSON digits without a fraction or exponent that fit in `Int64`.
    case integer(Int64)
    /// Any other number. JSON has no NaN or infinity: metadata holding one cannot be written.
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(stringLiteral value: String) { self = .string(value) }
    /// A string written with interpolation: `["run": "run-\(n)"]`.
    public init(stringInterpolation: DefaultStringInterpolation) { self = .string(String(stringInterpolation: stringInterpolation)) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(nilLiteral: ()) { self = .null }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let integer = try? container.decode(Int64.self) {
            self = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .integer(let integer): try container.encode(integer)
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let object): try container.encode(object)
        }
    }
}

// MARK: - JSON text

extension JSONValue: CustomStringConvertible {
    /// The value as JSON text on one line: `{"epochs": 10, "name": "run-3", "tags": ["a", "b"]}` (object keys
    /// sorted; a NaN or infinity, which JSON cannot hold, as Swift writes it).
    public var description: String {
        var out: [UInt8] = []
        try? write(into: &out, indent: nil, path: "", what: "")
        return String(decoding: out, as: UTF8.self)
    }
}

extension JSONValue {
    /// Parses one JSON value (RFC 8259) filling all of `bytes` but for white space.
    ///
    /// - Throws: ``JSONSyntaxError`` saying what is wrong and at which byte.
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.position == bytes.count else { throw reader.error("unexpected bytes after the value") }
        return value
    }

    /// The value as JSON text: object keys sorted, two spaces of indent per level.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for a NaN or infinite number, naming where it is
    ///   (`["runs"][2]["loss"]`) after `what`.
    func jsonText(_ what: String) throws -> [UInt8] {
        var out: [UInt8] = []
        try write(into: &out, indent: 0, path: "", what: what)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// `indent` nil: on one line, with a space after each `,` and `:`, and a NaN or infinity written as Swift
    /// writes it (for ``description``) instead of refused.
    private func write(into out: inout [UInt8], indent: Int?, path: String, what: String) throws {
        let inner = indent.map { $0 + 2 }
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let bool): out += Array((bool ? "true" : "false").utf8)
        case .integer(let integer): out += Array(String(integer).utf8)
        case .number(let number):
            guard number.isFinite || indent == nil else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "\(what): \(path.isEmpty ? "the value" : path) is \(number), and JSON has no NaN or infinity")
            }
            // Swift's description is the shortest text that reads back as the same double, with a fraction
            // or an exponent ("2.0", "1e+16", "5e-324"), all valid JSON numbers that read back as doubles.
            out += Array(number.description.utf8)
        case .string(let string): Self.writeString(string, into: &out)
        case .array(let array):
            guard !array.isEmpty else { return out += Array("[]".utf8) }
            out.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.newline(&out, inner, first: index == 0)
                try element.write(into: &out, indent: inner, path: path + "[\(index)]", what: what)
            }
            if let indent { Self.newline(&out, indent, first: false) }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            guard !object.isEmpty else { return out += Array("{}".utf8) }
            out.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.newline(&out, inner, first: index == 0)
                Self.writeString(key, into: &out)
                out += Array(": ".utf8)
                var quoted: [UInt8] = []
                Self.writeString(key, into: &quoted)
                try object[key]!.write(
                    into: &out, indent: inner, path: path + "[" + String(decoding: quoted, as: UTF8.self) + "]", what: what)
            }
            if let indent { Self.newline(&out, indent, first: false) }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A new line indented by `indent`; on one line (`indent` nil), a space between elements.
    private static func newline(_ out: inout [UInt8], _ indent: Int?, first: Bool) {
        guard let indent else { return first ? () : out.append(UInt8(ascii: " ")) }
        out.append(UInt8(ascii: "\n"))
        out += repeatElement(UInt8(ascii: " "), count: indent)
    }

    private static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += Array(#"\""#.utf8)
            case UInt8(ascii: "\\"): out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0x08: out += Array(#"\b"#.utf8)
            case 0x0C: out += Array(#"\f"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array(#"\u00"#.utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// JSON text that does not parse: what is wrong, and at which byte.
struct JSONSyntaxError: Error, CustomStringConvertible {
    var message: String
    var offset: Int
    var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 reader that keeps integers apart from other numbers.
private struct JSONReader {
    let bytes: [UInt8]
    var position = 0
    /// Nesting beyond this is refused rather than recursed into.
    static let maxDepth = 512

    func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: position) }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private var next: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        switch next {
        case UInt8(ascii: "{"):
            position += 1
            var object: [String: JSONValue] = [:]
            skipSpace()
            if next == UInt8(ascii: "}") {
                position += 1
                return .object(object)
            }
            while true {
                skipSpace()
                guard next == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyStart = position
                let key = try string()
                // Keys that differ in bytes but are one key to Swift's `String` (canonically equivalent text,
                // NFC and NFD "café") would leave one value out. A key repeated byte for byte keeps its last value.
                if let held = object.index(forKey: key), !object.keys[held].utf8.elementsEqual(key.utf8) {
                    throw JSONSyntaxError(
                        message: "keys \"\(object.keys[held])\" and \"\(key)\" differ in their bytes but are one key to Swift "
                            + "(canonically equivalent text), so one value would be lost", offset: keyStart)
                }
                skipSpace()
                guard next == UInt8(ascii: ":") else { throw error("expected ':'") }
                position += 1
                skipSpace()
                object[key] = try value(depth: depth + 1)
                skipSpace()
                if next == UInt8(ascii: ",") {
                    position += 1
                } else if next == UInt8(ascii: "}") {
                    position += 1
                    return .object(object)
                } else {
                    throw error("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            position += 1
            var array: [JSONValue] = []
            skipSpace()
            if next == UInt8(ascii: "]") {
                position += 1
                return .array(array)
            }
            while true {
                skipSpace()
                array.append(try value(depth: depth + 1))
                skipSpace()
                if next == UInt8(ascii: ",") {
                    position += 1
                } else if next == UInt8(ascii: "]") {
                    position += 1
                    return .array(array)
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case nil:
            throw error("unexpected end of the text")
        case let byte?:
            guard byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                throw error("unexpected byte 0x\(String(byte, radix: 16))")
            }
            return try number()
        }
    }

    private mutating func literal(_ word: String) throws {
        let expected = Array(word.utf8)
        guard bytes.count - position >= expected.count, Array(bytes[position..<position + expected.count]) == expected else {
            throw error("expected \(word)")
        }
        position += expected.count
    }

    private mutating func digits() -> Int {
        let start = position
        while let byte = next, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
        return position - start
    }

    private mutating func number() throws -> JSONValue {
        let start = position
        if next == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        guard digits() > 0 else { throw error("expected a digit") }
        if bytes[integerStart] == UInt8(ascii: "0") && position - integerStart > 1 {
            throw JSONSyntaxError(message: "a number with a leading zero", offset: integerStart)
        }
        var isInteger = true
        if next == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard digits() > 0 else { throw error("expected a digit after '.'") }
        }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw error("expected a digit in the exponent") }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .integer(integer) }
        guard let number = Double(text), number.isFinite else {
            throw JSONSyntaxError(message: "the number \(text) is out of range", offset: start)
        }
        return .number(number)
    }

    private mutating func hex4() throws -> UInt16 {
        guard bytes.count - position >= 4,
            let value = UInt16(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
        else { throw error("expected 4 hexadecimal digits after \\u") }
        position += 4
        return value
    }

    private mutating func string() throws -> String {
        let start = position
        position += 1  // the opening quote
        var out: [UInt8] = []
        while true {
            guard let byte = next else { throw JSONSyntaxError(message: "unterminated string", offset: start) }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: out, as: UTF8.self) else {
                    throw JSONSyntaxError(message: "a string that is not UTF-8", offset: start)
                }
                return string
            case UInt8(ascii: "\\"):
                guard let escape = next else { throw JSONSyntaxError(message: "unterminated string", offset: start) }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var unit = try hex4()
                    var scalar: Unicode.Scalar?
                    if (0xD800..<0xDC00).contains(unit), bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                        bytes[position + 1] == UInt8(ascii: "u")
                    {
                        position += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = Unicode.Scalar(0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00))
                        } else {
                            unit = 0xD800  // a lone high surrogate
                        }
                    } else {
                        scalar = Unicode.Scalar(unit)
                    }
                    guard let scalar else { throw error("an unpaired surrogate \\u\(String(unit, radix: 16))") }
                    out += Array(String(Character(scalar)).utf8)
                default:
                    throw error("an unknown escape \\\(Character(Unicode.Scalar(escape)))")
                }
            case 0..<0x20:
                throw error("a control character in a string (write it escaped)")
            default:
                out.append(byte)
            }
        }
    }
}
