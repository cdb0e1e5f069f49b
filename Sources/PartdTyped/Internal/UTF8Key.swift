// SPDX-License-Identifier: Apache-2.0

// Strings told apart by their UTF-8 bytes, as `PartdKey`, `StringArray`, table frames and Arrow tell them apart:
// Swift's `==` on `String` takes canonically equivalent strings as equal ("caf\u{E9}" and "cafe\u{301}", both
// "café"), which would merge two column names or two categories that Python and the bytes keep apart.

extension String {
    /// Whether `self` and `other` have the same UTF-8 bytes (not merely canonically equivalent ones).
    package func hasSameUTF8(as other: String) -> Bool {
        var a = self
        var b = other
        return a.withUTF8 { x in b.withUTF8 { y in x.count == y.count && x.elementsEqual(y) } }
    }
}

/// A string as a dictionary or set key, compared and hashed by its UTF-8 bytes (see `hasSameUTF8(as:)`).
struct UTF8Key: Hashable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: UTF8Key, b: UTF8Key) -> Bool { a.string.hasSameUTF8(as: b.string) }

    func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
