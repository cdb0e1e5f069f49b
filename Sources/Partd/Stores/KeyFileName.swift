// SPDX-License-Identifier: Apache-2.0

/// The reversible, collision-free mapping between keys and file names used by
/// ``DirectoryStore``. The grammar is specified in `docs/format.md`.
///
/// - A *plain* string key, one or more of `A–Z a–z 0–9 _ . -` not starting
///   with `.`, is its own file name, exactly as Python's partd names it.
/// - Any other string is `%s` followed by its UTF-8 bytes, each byte outside
///   `A–Z a–z 0–9 _ . -` written `%XX` (upper-case hex): `a!` → `%sa%21`,
///   `` (empty) → `%s`, `.lock` → `%s.lock`, `../x` → `%s..%2Fx`.
/// - An integer is `%i` and its decimal digits: `7` → `%i7`, `-1` → `%i-1`.
/// - A tuple is `%t(` components joined by `,` `)`: `("a", 1)` → `%t(a,%i1)`.
///
/// Names that begin with `.` are never produced: they are reserved for the
/// store's own files (`.lock`, temporary files). A `/` or NUL never appears.
public enum KeyFileName {
    /// The longest file name most file systems accept.
    public static let maximumLength = 255

    /// The file name for `key`.
    ///
    /// - Throws: ``PartdError/Code/keyTooLong`` if the name would exceed 255 bytes.
    public static func encode(_ key: PartdKey) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        append(key, topLevel: true, to: &out)
        guard out.count <= maximumLength else {
            throw PartdError(
                code: .keyTooLong,
                message: "key \(key) needs a \(out.count)-byte file name; the limit is \(maximumLength) bytes. "
                    + "Use a shorter key (for example a hash of it)",
                key: key
            )
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The key a file name stands for, or `nil` if the name is not in the
    /// grammar (a file some other program put in the directory).
    public static func decode(_ name: String) -> PartdKey? {
        let bytes = Array(name.utf8)
        var parser = Parser(bytes: bytes)
        guard let key = parser.parseComponent(topLevel: true), parser.index == bytes.count else { return nil }
        // Only canonical spellings decode, so that decode(encode(k)) == k and
        // each key has exactly one file.
        guard let again = try? encode(key), again == name else { return nil }
        return key
    }

    /// Whether `string` is a plain key, stored under its own name.
    public static func isPlain(_ string: String) -> Bool {
        var first = true
        for byte in string.utf8 {
            if first && byte == UInt8(ascii: ".") { return false }
            first = false
            if !isUnreserved(byte) { return false }
        }
        return !first
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func append(_ key: PartdKey, topLevel: Bool, to out: inout [UInt8]) {
        switch key.kind {
        case .string(let s):
            if isPlain(s) {
                out.append(contentsOf: s.utf8)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(UInt8(ascii: "s"))
                for byte in s.utf8 {
                    if isUnreserved(byte) {
                        out.append(byte)
                    } else {
                        out.append(UInt8(ascii: "%"))
                        out.append(hexDigits[Int(byte >> 4)])
                        out.append(hexDigits[Int(byte & 0xF)])
                    }
                }
            }
        case .int(let i):
            out.append(UInt8(ascii: "%"))
            out.append(UInt8(ascii: "i"))
            out.append(contentsOf: String(i).utf8)
        case .tuple(let parts):
            out.append(contentsOf: "%t(".utf8)
            for (index, part) in parts.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(part, topLevel: false, to: &out)
            }
            out.append(UInt8(ascii: ")"))
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func parseComponent(topLevel: Bool) -> PartdKey? {
            guard index < bytes.count else { return nil }
            if bytes[index] != UInt8(ascii: "%") {
                let start = index
                while index < bytes.count, isUnreserved(bytes[index]) { index += 1 }
                guard index > start else { return nil }
                return PartdKey(String(decoding: bytes[start..<index], as: UTF8.self))
            }
            index += 1
            guard index < bytes.count else { return nil }
            let tag = bytes[index]
            index += 1
            switch tag {
            case UInt8(ascii: "s"):
                var raw: [UInt8] = []
                while index < bytes.count {
                    let b = bytes[index]
                    if isUnreserved(b) {
                        raw.append(b)
                        index += 1
                    } else if b == UInt8(ascii: "%") {
                        guard index + 2 < bytes.count, let hi = hexValue(bytes[index + 1]),
                            let lo = hexValue(bytes[index + 2])
                        else { return nil }
                        raw.append(hi << 4 | lo)
                        index += 3
                    } else {
                        break
                    }
                }
                guard let string = String(validating: raw, as: UTF8.self) else { return nil }
                return PartdKey(string)
            case UInt8(ascii: "i"):
                let start = index
                if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
                while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                guard let value = Int(String(decoding: bytes[start..<index], as: UTF8.self)) else { return nil }
                return PartdKey(value)
            case UInt8(ascii: "t"):
                guard index < bytes.count, bytes[index] == UInt8(ascii: "(") else { return nil }
                index += 1
                var parts: [PartdKey] = []
                if index < bytes.count, bytes[index] == UInt8(ascii: ")") {
                    index += 1
                    return .tuple(parts)
                }
                while true {
                    guard let part = parseComponent(topLevel: false) else { return nil }
                    parts.append(part)
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: ")") {
                        index += 1
                        return .tuple(parts)
                    } else {
                        return nil
                    }
                }
            default:
                return nil
            }
        }

        private func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            default: return nil
            }
        }
    }
}
