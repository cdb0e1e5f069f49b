// SPDX-License-Identifier: Apache-2.0
// The only file that calls zlib.

import CPartdZlib

enum ZlibCodec {
    static func compress(_ input: ArraySlice<UInt8>, level: Int) throws -> [UInt8] {
        guard (0...9).contains(level) else { throw Compression.failed(.zlib, "level \(level) is not 0–9") }
        let bound = Int(compressBound(uLong(input.count)))
        var status: Int32 = Z_OK
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            var length = uLongf(bound)
            status = (input.isEmpty ? [0][...] : input).withUnsafeBufferPointer { source in
                compress2(out.baseAddress, &length, source.baseAddress, uLong(input.count), Int32(level))
            }
            count = status == Z_OK ? Int(length) : 0
        }
        guard status == Z_OK else { throw Compression.failed(.zlib, "zlib status \(status)") }
        return output
    }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        var status: Int32 = Z_OK
        var produced = 0
        do {
            var length = uLongf(originalSize)
            status = (input.isEmpty ? [0][...] : input).withUnsafeBufferPointer { source in
                uncompress(out.baseAddress, &length, source.baseAddress, uLong(input.count))
            }
            produced = Int(length)
        }
        guard status == Z_OK else {
            throw Compression.corrupt(.zlib, status == Z_BUF_ERROR ? "is longer than the recorded \(originalSize) bytes or truncated" : "is damaged (zlib status \(status))")
        }
        guard produced == originalSize else {
            throw Compression.corrupt(.zlib, "decompressed to \(produced) bytes where \(originalSize) were recorded")
        }
    }
}
