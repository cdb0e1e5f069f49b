// SPDX-License-Identifier: Apache-2.0
// The only file that calls Snappy (its C API, snappy-c.h).

import CPartdSnappy

enum SnappyCodec {
    static func compress(_ input: ArraySlice<UInt8>) throws -> [UInt8] {
        let bound = snappy_max_compressed_length(input.count)
        var status = SNAPPY_OK
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            var length = bound
            status = (input.isEmpty ? [0][...] : input).withUnsafeBytes { source in
                out.withMemoryRebound(to: CChar.self) { target in
                    snappy_compress(
                        source.baseAddress!.assumingMemoryBound(to: CChar.self), input.count, target.baseAddress,
                        &length)
                }
            }
            count = status == SNAPPY_OK ? length : 0
        }
        guard status == SNAPPY_OK else { throw Compression.failed(.snappy, "snappy status \(status.rawValue)") }
        return output
    }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        var claimed = 0
        let valid = input.withUnsafeBytes { source -> Bool in
            guard let base = source.baseAddress?.assumingMemoryBound(to: CChar.self) else { return false }
            // snappy_uncompress checks every offset and length as it goes, so no separate
            // validation pass (which would decode everything twice) is needed.
            return snappy_uncompressed_length(base, input.count, &claimed) == SNAPPY_OK
        }
        guard valid else { throw Compression.corrupt(.snappy, "is damaged") }
        guard claimed == originalSize else {
            throw Compression.corrupt(.snappy, "claims \(claimed) bytes where \(originalSize) were recorded")
        }
        var status = SNAPPY_OK
        var produced = 0
        do {
            var length = originalSize
            defer { produced = length }
            status = input.withUnsafeBytes { source in
                out.withMemoryRebound(to: CChar.self) { target in
                    snappy_uncompress(source.baseAddress!.assumingMemoryBound(to: CChar.self), input.count, target.baseAddress, &length)
                }
            }
        }
        guard status == SNAPPY_OK, produced == originalSize else { throw Compression.corrupt(.snappy, "is damaged") }
    }
}
