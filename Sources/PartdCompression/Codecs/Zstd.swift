// SPDX-License-Identifier: Apache-2.0
// The only file that calls libzstd.

import CPartdZstd
import Partd

enum ZstdCodec {
    /// Contexts kept for reuse, as the bit patterns of their pointers. `ZSTD_compress` and `ZSTD_decompress`
    /// make and free a context per call: about 70 KB of workspace to compress a 4 KiB frame at level 1 (more
    /// at higher levels and for larger frames) and 95 KB to decompress one, allocated and set up for every
    /// frame. A context reused through `ZSTD_compressCCtx` or `ZSTD_decompressDCtx` gives the same bytes (the
    /// one-shot functions are those calls on a fresh context, and they set every parameter from the level and
    /// the input each time). At most one context of each kind per core is kept, and only while the kept ones
    /// hold at most ``keptContextBytes`` together (a 4 MiB frame at level 3 takes about 1 MB; a high level many
    /// more, and a context that does not fit is freed after its call, as before), so the memory kept stays
    /// bounded however many cores there are. Behind `Locked` (a pthread mutex, which ThreadSanitizer sees,
    /// unlike `Mutex` on Linux).
    private static let compressionContexts = Locked(ContextPool())
    private static let decompressionContexts = Locked(ContextPool())

    static let keptContextBytes = 8 << 20

    private struct ContextPool {
        /// The kept contexts and the bytes each holds.
        var free: [(context: UInt, bytes: Int)]
        /// The bytes the kept contexts hold together.
        var bytes = 0
        init() {
            free = []
            free.reserveCapacity(ContextPool.kept)
        }
        static let kept = max(2, Parallel.processorCount)
        /// Takes a kept context, if there is one.
        mutating func take() -> OpaquePointer? {
            guard let last = free.popLast() else { return nil }
            bytes -= last.bytes
            return OpaquePointer(bitPattern: last.context)
        }
        /// Keeps `context`, which holds `size` bytes, unless enough are kept or it would take the kept bytes
        /// past ``keptContextBytes``; returns whether it did.
        mutating func keep(_ context: OpaquePointer, size: Int) -> Bool {
            guard free.count < Self.kept, bytes + size <= keptContextBytes else { return false }
            free.append((UInt(bitPattern: context), size))
            bytes += size
            return true
        }
    }

    private static func withCompressionContext<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        guard let context = compressionContexts.withLock({ $0.take() }) ?? ZSTD_createCCtx() else {
            throw Compression.failed(.zstd, "no memory for a compression context")
        }
        defer {
            let size = ZSTD_sizeof_CCtx(context)
            if !compressionContexts.withLock({ $0.keep(context, size: size) }) {
                ZSTD_freeCCtx(context)
            }
        }
        return try body(context)
    }

    private static func withDecompressionContext<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        guard let context = decompressionContexts.withLock({ $0.take() }) ?? ZSTD_createDCtx() else {
            throw Compression.corrupt(.zstd, "cannot be decompressed: no memory for a decompression context")
        }
        defer {
            let size = ZSTD_sizeof_DCtx(context)
            if !decompressionContexts.withLock({ $0.keep(context, size: size) }) {
                ZSTD_freeDCtx(context)
            }
        }
        return try body(context)
    }

    static func compress(_ input: ArraySlice<UInt8>, level: Int) throws -> [UInt8] {
        guard (Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel())).contains(level) else {
            throw Compression.failed(.zstd, "level \(level) is not \(ZSTD_minCLevel())–\(ZSTD_maxCLevel())")
        }
        let bound = ZSTD_compressBound(input.count)
        var result = 0
        let output = try withCompressionContext { context in
            [UInt8](unsafeUninitializedCapacity: bound) { out, count in
                result = input.withUnsafeBytes { source in
                    ZSTD_compressCCtx(context, out.baseAddress, bound, source.baseAddress, input.count, Int32(level))
                }
                count = ZSTD_isError(result) == 0 ? result : 0
            }
        }
        guard ZSTD_isError(result) == 0 else {
            throw Compression.failed(.zstd, String(cString: ZSTD_getErrorName(result)))
        }
        return output
    }

    /// `input` as one frame written to `out` (at least `ZSTD_compressBound(input.count)` bytes); returns the
    /// bytes written.
    static func compress(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, level: Int) throws -> Int {
        let result = try withCompressionContext { context in
            ZSTD_compressCCtx(context, out.baseAddress, out.count, input.baseAddress, input.count, Int32(level))
        }
        guard ZSTD_isError(result) == 0 else {
            throw Compression.failed(.zstd, String(cString: ZSTD_getErrorName(result)))
        }
        return result
    }

    static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// `input` compressed through a context made for this call alone (`ZSTD_compress`), as every call was before
    /// contexts were kept: what a kept context must give (tests compare the two).
    static func compressedByAFreshContext(_ input: [UInt8], level: Int) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        return [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            let result = input.withUnsafeBytes { ZSTD_compress(out.baseAddress, bound, $0.baseAddress, input.count, Int32(level)) }
            count = ZSTD_isError(result) == 0 ? result : 0
        }
    }

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
            result = try withDecompressionContext { context in
                input.withUnsafeBytes { source in
                    ZSTD_decompressDCtx(context, out.baseAddress, originalSize, source.baseAddress, input.count)
                }
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

extension Compression {
    /// `input` compressed by zstd at `level` through a context made for this call alone, not a kept one (for
    /// tests: a kept context must give the same bytes); empty if zstd fails.
    package static func zstdCompressedByAFreshContext(_ input: [UInt8], level: Int) -> [UInt8] {
        ZstdCodec.compressedByAFreshContext(input, level: level)
    }
}
