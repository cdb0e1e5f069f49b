// SPDX-License-Identifier: Apache-2.0
// The only file that calls liblz4: the block format (our frames) and the frame format (Arrow IPC buffers).

import CPartdLZ4

enum LZ4Codec {
    static func compress(_ input: ArraySlice<UInt8>) throws -> [UInt8] {
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var written: Int32 = 0
        let output = [UInt8](unsafeUninitializedCapacity: max(1, bound)) { out, count in
            written = (input.isEmpty ? [0][...] : input).withUnsafeBytes { source in
                out.withMemoryRebound(to: CChar.self) { target in
                    LZ4_compress_default(
                        source.baseAddress!.assumingMemoryBound(to: CChar.self), target.baseAddress,
                        Int32(input.count), Int32(bound))
                }
            }
            count = written > 0 ? Int(written) : 0
        }
        guard written > 0 || input.isEmpty else { throw Compression.failed(.lz4, "LZ4_compress_default returned \(written)") }
        return output
    }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        var produced: Int32 = -1
        do {
            produced = (input.isEmpty ? [0][...] : input).withUnsafeBytes { source in
                out.withMemoryRebound(to: CChar.self) { target in
                    LZ4_decompress_safe(
                        source.baseAddress!.assumingMemoryBound(to: CChar.self), target.baseAddress,
                        Int32(input.count), Int32(originalSize))
                }
            }
        }
        guard produced >= 0 else { throw Compression.corrupt(.lz4, "is damaged (LZ4 error \(produced))") }
        guard Int(produced) == originalSize else {
            throw Compression.corrupt(.lz4, "decompressed to \(produced) bytes where \(originalSize) were recorded")
        }
    }

    /// The most `compressFrame(_:into:)` can write for `count` bytes.
    static func frameBound(_ count: Int) -> Int {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentSize = UInt64(count)
        return LZ4F_compressFrameBound(count, &preferences)
    }

    /// `input` as one LZ4 frame (lz4frame.h, as Arrow's `LZ4_FRAME` buffer compression takes), its content
    /// size recorded, written to `out` (at least `frameBound(input.count)` bytes); returns the bytes written.
    static func compressFrame(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentSize = UInt64(input.count)
        let result = LZ4F_compressFrame(out.baseAddress, out.count, input.baseAddress, input.count, &preferences)
        guard LZ4F_isError(result) == 0 else {
            throw Compression.failed(.lz4, "LZ4F_compressFrame: \(String(cString: LZ4F_getErrorName(result)))")
        }
        return result
    }

    /// Decompresses LZ4 frames (one after another) into `out`, which must hold exactly their original size.
    static func decompressFrame(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else { throw Compression.failed(.lz4, "cannot create an LZ4F context") }
        defer { LZ4F_freeDecompressionContext(context) }
        var produced = 0
        try input.withUnsafeBytes { source in
            var consumed = 0
            while consumed < source.count {
                var sourceSize = source.count - consumed
                var targetSize = out.count - produced
                let hint = LZ4F_decompress(
                    context, out.baseAddress.map { $0 + produced }, &targetSize,
                    source.baseAddress! + consumed, &sourceSize, nil)
                guard LZ4F_isError(hint) == 0 else {
                    throw Compression.corrupt(.lz4, "frame is damaged (\(String(cString: LZ4F_getErrorName(hint))))")
                }
                consumed += sourceSize
                produced += targetSize
                // No progress with input left: the output is full and the frame wants more room.
                if sourceSize == 0 && targetSize == 0 { break }
            }
        }
        guard produced == out.count else {
            throw Compression.corrupt(.lz4, "frame decompressed to at least \(produced) bytes where \(out.count) were recorded")
        }
    }
}
