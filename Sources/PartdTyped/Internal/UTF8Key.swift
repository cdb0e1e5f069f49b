// SPDX-License-Identifier: Apache-2.0

// Strings told apart by their UTF-8 bytes, as `PartdKey`, `StringArray`, table frames and Arrow tell them apart:
// Swift's `==` on `String` takes canonically equivalent strings as equal ("caf\u{E9}" and "cafe\u{301}", both
// "café"), which would merge two column names or two categories that Python and the bytes keep apart.
//
// Package-wide (`package`), so that the shuffles, the CSV reader and the `partd` command find column names as
// a table does: compare names with `hasSameUTF8(as:)` or `containsSameUTF8(as:)`, key dictionaries and sets of
// names by `UTF8Key`, never by `String`'s `==`, `contains(_:)` or `Hashable`.

extension String {
    /// Whether `self` and `other` have the same UTF-8 bytes (not merely canonically equivalent ones).
    package func hasSameUTF8(as other: String) -> Bool {
        // Through spans, as `PartdKey` compares strings.
        let x = utf8Span.span
        let y = other.utf8Span.span
        guard x.count == y.count else { return false }
        return x.withUnsafeBufferPointer { a in y.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress || a.elementsEqual(b) } }
    }
}

extension Sequence<String> {
    /// Whether an element has exactly the UTF-8 bytes of `name` (`contains(_:)` also finds a canonically
    /// equivalent one).
    package func containsSameUTF8(as name: String) -> Bool {
        contains { $0.hasSameUTF8(as: name) }
    }
}

/// A string as a dictionary or set key, compared and hashed by its UTF-8 bytes (see `hasSameUTF8(as:)`): a
/// column name as a table finds it. A string literal makes one; it prints as its string.
package struct UTF8Key: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    package let string: String

    package init(_ string: String) { self.string = string }

    package init(stringLiteral string: String) { self.string = string }

    package var description: String { string }

    package static func == (a: UTF8Key, b: UTF8Key) -> Bool { a.string.hasSameUTF8(as: b.string) }

    package func hash(into hasher: inout Hasher) {
        let bytes = string.utf8Span.span
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

extension StringArray {
    /// Whether element `position` has exactly the UTF-8 bytes of `string`.
    func hasUTF8(of string: String, at position: Int) -> Bool {
        let (start, end) = (Int(offsets[position]), Int(offsets[position + 1]))
        let bytes = string.utf8Span.span
        guard bytes.count == end - start else { return false }
        return bytes.withUnsafeBufferPointer { x in data.withUnsafeBufferPointer { x.elementsEqual($0[start..<end]) } }
    }
}
