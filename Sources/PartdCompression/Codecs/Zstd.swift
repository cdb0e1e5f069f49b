// SPDX-License-Identifier: Apache-2.0
// The only file that calls libzstd.

import CPartdZstd

enum ZstdCodec {
    static func compress(_ input: ArraySlice<UInt8>, level: Int) throws -> [UInt8] {
        guard (Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel())).contains(level) else {
            throw Compression.failed(.zstd, "level \(level) is not \(ZSTD_minCLevel())–\(ZSTD_maxCLevel())")
        }
        let bound = ZSTD_compressBound(input.count)
        var result = 0
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            result = input.withUnsafeBytes { source in
                ZSTD_compress(out.baseAddress, bound, source.baseAddress, input.count, Int32(level))
            }
            count = ZSTD_isError(result) == 0 ? result : 0
        }
        guard ZSTD_isError(result) == 0 else {
            throw Compression.failed(.zstd, String(cString: ZSTD_getErrorName(result)))
        }
        return output
    }

    /// `input` as one frame written to `out` (at least `ZSTD_compressBound(input.count)` bytes); returns the
    /// bytes written.
    static func compress(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, level: Int) throws -> Int {
        let result = ZSTD_compress(out.baseAddress, out.count, input.baseAddress, input.count, Int32(level))
        guard ZSTD_isError(result) == 0 else {
            throw Compression.failed(.zstd, String(cString: ZSTD_getErrorName(result)))
        }
        return result
    }

    static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, input.count) }
        if declared == ZSTD_CONTENTSIZE_ERROR { throw Compression.corrupt(.zstd, "is damaged") }
        if declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != UInt64(originalSize) {
            throw Compression.corrupt(.zstd, "claims \(declared) bytes where \(originalSize) were recorded")
        }
        var result = 0
        do {
            result = input.withUnsafeBytes { source in
                ZSTD_decompress(out.baseAddress, originalSize, source.baseAddress, input.count)
            }
        }
        guard ZSTD_isError(result) == 0 else {
            throw Compression.corrupt(.zstd, "is damaged (\(String(cString: ZSTD_getErrorName(result))))")
        }
        guard result == originalSize else {
            throw Compression.corrupt(.zstd, "decompressed to \(result) bytes where \(originalSize) were recorded")
        }
    }
}
