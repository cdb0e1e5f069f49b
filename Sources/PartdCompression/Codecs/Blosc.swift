// SPDX-License-Identifier: Apache-2.0
// The only file that calls libblosc. Uses the `_ctx` functions only: they take
// no global lock and share no global settings, so parallel callers are safe
// without `blosc_init()`.

import CPartdBlosc

enum BloscCodec {
    static func compress(_ input: ArraySlice<UInt8>, settings: BloscSettings) throws -> [UInt8] {
        guard (0...9).contains(settings.level) else { throw Compression.failed(.blosc, "level \(settings.level) is not 0–9") }
        guard (1...255).contains(settings.typeSize) else {
            throw Compression.failed(.blosc, "type size \(settings.typeSize) is not 1–255")
        }
        let bound = input.count + Int(BLOSC_MAX_OVERHEAD)
        var written: Int32 = 0
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            written = input.withUnsafeBytes { source in
                settings.compressor.rawValue.withCString { name in
                    blosc_compress_ctx(
                        Int32(settings.level), settings.shuffle.rawValue, settings.typeSize, input.count,
                        source.baseAddress ?? UnsafeRawPointer(out.baseAddress!), out.baseAddress, bound, name, 0, 1)
                }
            }
            count = written > 0 ? Int(written) : 0
        }
        guard written > 0 else { throw Compression.failed(.blosc, "blosc_compress_ctx returned \(written)") }
        return output
    }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        guard input.count >= Int(BLOSC_MIN_HEADER_LENGTH) else { throw Compression.corrupt(.blosc, "is truncated") }
        var claimed = 0
        let valid = input.withUnsafeBytes { blosc_cbuffer_validate($0.baseAddress, input.count, &claimed) == 0 }
        guard valid else { throw Compression.corrupt(.blosc, "is damaged (bad header)") }
        guard claimed == originalSize else {
            throw Compression.corrupt(.blosc, "claims \(claimed) bytes where \(originalSize) were recorded")
        }
        if originalSize == 0 { return }
        var produced: Int32 = -1
        do {
            produced = input.withUnsafeBytes { source in
                blosc_decompress_ctx(source.baseAddress, out.baseAddress, originalSize, 1)
            }
        }
        guard produced >= 0 else { throw Compression.corrupt(.blosc, "is damaged (blosc error \(produced))") }
        guard Int(produced) == originalSize else {
            throw Compression.corrupt(.blosc, "decompressed to \(produced) bytes where \(originalSize) were recorded")
        }
    }
}
