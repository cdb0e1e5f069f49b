// SPDX-License-Identifier: Apache-2.0
// The only file that calls liblz4 (block format).

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
}
