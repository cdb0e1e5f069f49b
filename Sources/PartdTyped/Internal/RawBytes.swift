// SPDX-License-Identifier: Apache-2.0
// The only file of the typed encoders (besides MessagePackBytes.swift) that touches raw memory:
// copying contiguous elements to and from bytes, each in one pass.

import Partd

enum RawBytes {
    /// Appends the in-memory (little-endian) bytes of `elements` to `out`.
    static func append<E: BitwiseCopyable>(_ elements: [E], to out: inout [UInt8]) {
        elements.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// Appends the bytes of `elements[range]` to `out`.
    static func append<E: BitwiseCopyable>(_ elements: ArraySlice<E>, to out: inout [UInt8]) {
        elements.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// An array of `count` elements whose bytes are the concatenation of `pieces`
    /// (which must hold exactly `count * MemoryLayout<E>.stride` bytes): one copy.
    /// The caller has checked that the bytes are valid values of `E`.
    static func elements<E: BitwiseCopyable>(
        _: E.Type, count: Int, from pieces: some Sequence<ArraySlice<UInt8>>
    ) -> [E] {
        [E](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            Posix.adviseHugePages(raw)
            var offset = 0
            for piece in pieces {
                piece.withUnsafeBytes { source in
                    guard source.count > 0 else { return }
                    precondition(offset + source.count <= raw.count, "RawBytes.elements: pieces exceed the count")
                    raw.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
                offset += piece.count
            }
            precondition(offset == raw.count || count == 0, "RawBytes.elements: pieces do not fill the count")
            initialized = count
        }
    }

    /// `values` as `[U]` when `U` is `T` (an O(1) reinterpretation, unlike `as?`,
    /// which checks every element); `nil` otherwise.
    static func sameType<T, U>(_ values: [T], as: U.Type) -> [U]? {
        T.self == U.self ? unsafeBitCast(values, to: [U].self) : nil
    }
}
