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
            Posix.prefault(raw)
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

    /// `values[i]` for each of `indices`, copied by the element's size (no per-element
    /// generic dispatch, unlike `indices.map { values[$0] }` in unspecialised code).
    static func gather<E: BitwiseCopyable>(_ values: [E], at indices: [Int]) -> [E] {
        values.withUnsafeBytes { source in
            [E](unsafeUninitializedCapacity: indices.count) { buffer, initialized in
                gather(source, stride: MemoryLayout<E>.stride, count: values.count, at: indices, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = indices.count
            }
        }
    }

    /// Non-generic, so each width's loop is compiled as plain loads and stores.
    private static func gather(
        _ source: UnsafeRawBufferPointer, stride: Int, count: Int, at indices: [Int], into target: UnsafeMutableRawBufferPointer
    ) {
        for i in indices { precondition(i >= 0 && i < count, "index \(i) out of range 0..<\(count)") }
        switch stride {
        case 8:
            for (j, i) in indices.enumerated() {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self), toByteOffset: j &* 8, as: UInt64.self)
            }
        case 4:
            for (j, i) in indices.enumerated() {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self), toByteOffset: j &* 4, as: UInt32.self)
            }
        case 2:
            for (j, i) in indices.enumerated() {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self), toByteOffset: j &* 2, as: UInt16.self)
            }
        case 1:
            for (j, i) in indices.enumerated() { target[j] = source[i] }
        default:
            for (j, i) in indices.enumerated() {
                target.baseAddress!.advanced(by: j * stride).copyMemory(from: source.baseAddress!.advanced(by: i * stride), byteCount: stride)
            }
        }
    }

    /// The concatenation of `parts`, by memory copies.
    static func concatenate<E: BitwiseCopyable>(_ parts: [ArraySlice<E>]) -> [E] {
        let total = parts.reduce(0) { $0 + $1.count }
        return [E](unsafeUninitializedCapacity: total) { buffer, initialized in
            let target = UnsafeMutableRawBufferPointer(buffer)
            Posix.adviseHugePages(target)
            var offset = 0
            for part in parts {
                part.withUnsafeBytes { source in
                    guard source.count > 0 else { return }
                    target.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    offset += source.count
                }
            }
            initialized = total
        }
    }

    /// The strings at `indices` of a string array (`offsets`, `data`), as new
    /// offsets and data: one pass to size the data, one copy of each string.
    static func gatherStrings(offsets: [Int64], data: [UInt8], at indices: some Collection<Int>) -> (offsets: [Int64], data: [UInt8]) {
        let count = offsets.count - 1
        var total = 0
        for i in indices {
            precondition(i >= 0 && i < count, "index \(i) out of range 0..<\(count)")
            total &+= Int(offsets[i + 1] &- offsets[i])
        }
        var outOffsets: [Int64] = [0]
        outOffsets.reserveCapacity(indices.count + 1)
        let outData = offsets.withUnsafeBufferPointer { offsets in
            data.withUnsafeBytes { source in
                [UInt8](unsafeUninitializedCapacity: total) { target, initialized in
                    var position = 0
                    for i in indices {
                        let start = Int(offsets[i]), length = Int(offsets[i + 1] &- offsets[i])
                        if length > 0 {
                            UnsafeMutableRawBufferPointer(target).baseAddress!.advanced(by: position)
                                .copyMemory(from: source.baseAddress!.advanced(by: start), byteCount: length)
                        }
                        position &+= length
                        outOffsets.append(Int64(position))
                    }
                    initialized = total
                }
            }
        }
        return (outOffsets, outData)
    }

    /// Appends the Int64 offsets held little-endian in `bytes`, each plus `base`, to
    /// `out`, skipping the first (which must be 0). Returns `false` (appending
    /// nothing useful) unless the offsets start at 0, never decrease and end at `end`.
    static func appendOffsets(_ bytes: ArraySlice<UInt8>, base: Int64, end: Int64, to out: inout [Int64]) -> Bool {
        let count = bytes.count / 8
        guard count >= 1, bytes.count % 8 == 0 else { return false }
        return bytes.withUnsafeBytes { raw in
            guard raw.loadUnaligned(as: Int64.self) == 0 else { return false }
            var previous: Int64 = 0
            for i in 1..<count {
                let offset = raw.loadUnaligned(fromByteOffset: i &* 8, as: Int64.self)
                guard offset >= previous else { return false }
                previous = offset
                out.append(base &+ offset)
            }
            return previous == end
        }
    }

    /// Whether every Int32 held little-endian in `bytes` is in `0..<limit`.
    static func allCodes(_ bytes: ArraySlice<UInt8>, below limit: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var ok = true
            for i in 0..<(raw.count / 4) {
                let code = raw.loadUnaligned(fromByteOffset: i &* 4, as: Int32.self)
                ok = ok && code >= 0 && code < limit
            }
            return ok
        }
    }
}
