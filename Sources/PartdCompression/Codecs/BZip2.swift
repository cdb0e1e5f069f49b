// SPDX-License-Identifier: Apache-2.0
// The only file that calls libbz2.

import CPartdBZip2

enum BZip2Codec {
    static func compress(_ input: ArraySlice<UInt8>, blockSize: Int) throws -> [UInt8] {
        guard (1...9).contains(blockSize) else { throw Compression.failed(.bz2, "block size \(blockSize) is not 1–9") }
        // bzip2's documented worst case: 1 % larger plus 600 bytes.
        let bound = input.count + input.count / 100 + 601
        var status: Int32 = BZ_OK
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            var length = UInt32(bound)
            // BZ2_bzBuffToBuffCompress takes a non-const source pointer but only reads it.
            status = (input.isEmpty ? [0][...] : input).withUnsafeBytes { source in
                out.withMemoryRebound(to: CChar.self) { target in
                    BZ2_bzBuffToBuffCompress(
                        target.baseAddress, &length,
                        UnsafeMutablePointer(mutating: source.baseAddress!.assumingMemoryBound(to: CChar.self)),
                        UInt32(input.count), Int32(blockSize), 0, 0)
                }
            }
            count = status == BZ_OK ? Int(length) : 0
        }
        guard status == BZ_OK else { throw Compression.failed(.bz2, "bzip2 status \(status)") }
        return output
    }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        guard !input.isEmpty else { throw Compression.corrupt(.bz2, "is empty") }
        var status: Int32 = BZ_OK
        var produced = 0
        do {
            var length = UInt32(originalSize)
            status = input.withUnsafeBytes { source in
                out.withMemoryRebound(to: CChar.self) { target in
                    BZ2_bzBuffToBuffDecompress(
                        target.baseAddress, &length,
                        UnsafeMutablePointer(mutating: source.baseAddress!.assumingMemoryBound(to: CChar.self)),
                        UInt32(input.count), 0, 0)
                }
            }
            produced = Int(length)
        }
        guard status == BZ_OK else {
            throw Compression.corrupt(.bz2, status == BZ_OUTBUFF_FULL ? "is longer than the recorded \(originalSize) bytes" : "is damaged (bzip2 status \(status))")
        }
        guard produced == originalSize else {
            throw Compression.corrupt(.bz2, "decompressed to \(produced) bytes where \(originalSize) were recorded")
        }
    }
}
