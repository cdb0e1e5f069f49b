// SPDX-License-Identifier: Apache-2.0

import Partd

/// A compression codec and its settings.
///
/// ```swift
/// let packed = try Compression.zstd(level: 3).compress(bytes)
/// let back = try Compression.decompress(packed, codec: .zstd, originalSize: bytes.count)
/// ```
///
/// Every codec works on one chunk of at most ``maximumChunkSize`` bytes. The
/// compressed frame format (which records the codec, so readers need not be
/// told) splits larger values into chunks; see `docs/format.md`.
public enum Compression: Sendable, Hashable {
    /// No compression: the bytes are stored as they are.
    case none
    /// zlib (RFC 1950), as Python's `zlib.compress`; level 0–9, default 6.
    case zlib(level: Int = 6)
    /// bzip2, as Python's `bz2.compress`; block size 1–9 (× 100 kB), default 9.
    case bz2(level: Int = 9)
    /// Snappy raw format, as python-snappy's `snappy.compress`.
    case snappy
    /// Zstandard; level 1–19 (negative levels are faster, down to -131072; 20–22 need much memory),
    /// default 3.
    case zstd(level: Int = 3)
    /// LZ4 block format.
    case lz4
    /// Blosc 1.x, as python-blosc's `blosc.compress`.
    case blosc(BloscSettings = BloscSettings())

    /// The largest chunk one call compresses or decompresses: 16 MiB.
    public static let maximumChunkSize = 16 << 20

    /// The codec this compression uses.
    public var codec: Codec {
        switch self {
        case .none: return .none
        case .zlib: return .zlib
        case .bz2: return .bz2
        case .snappy: return .snappy
        case .zstd: return .zstd
        case .lz4: return .lz4
        case .blosc: return .blosc
        }
    }

    /// Compresses `input` (at most ``maximumChunkSize`` bytes).
    ///
    /// - Throws: ``PartdError/Code/compressionFailed`` if the codec refuses the input or settings.
    public func compress(_ input: [UInt8]) throws -> [UInt8] {
        if case .none = self { return input }
        return try compress(input[...])
    }

    /// Compresses a slice (at most ``maximumChunkSize`` bytes) without copying it first.
    public func compress(_ input: ArraySlice<UInt8>) throws -> [UInt8] {
        guard input.count <= Self.maximumChunkSize else {
            throw PartdError(
                code: .invalidArgument,
                message: "a chunk of \(input.count) bytes exceeds the \(Self.maximumChunkSize)-byte chunk limit")
        }
        switch self {
        case .none: return Array(input)
        case .zlib(let level): return try ZlibCodec.compress(input, level: level)
        case .bz2(let level): return try BZip2Codec.compress(input, blockSize: level)
        case .snappy: return try SnappyCodec.compress(input)
        case .zstd(let level): return try ZstdCodec.compress(input, level: level)
        case .lz4: return try LZ4Codec.compress(input)
        case .blosc(let settings): return try BloscCodec.compress(input, settings: settings)
        }
    }

    /// Decompresses one chunk that `codec` compressed and that held `originalSize` bytes.
    ///
    /// Never allocates more than `originalSize` bytes (at most ``maximumChunkSize``),
    /// whatever the input claims.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` if the input is damaged, was
    ///   made by another codec, does not decompress to exactly `originalSize` bytes, or is
    ///   longer than any codec writes for `originalSize` bytes (the limit of a compressed frame's
    ///   payload, `docs/format.md` §4).
    public static func decompress(_ input: [UInt8], codec: Codec, originalSize: Int) throws -> [UInt8] {
        if codec == .none && input.count == originalSize && originalSize <= maximumChunkSize { return input }
        return try decompress(input[...], codec: codec, originalSize: originalSize)
    }

    /// Decompresses one chunk given as a slice, without copying it first.
    public static func decompress(_ input: ArraySlice<UInt8>, codec: Codec, originalSize: Int) throws -> [UInt8] {
        guard originalSize >= 0, originalSize <= maximumChunkSize else {
            throw corrupt(codec, "claims \(originalSize) bytes, more than the \(maximumChunkSize)-byte chunk limit")
        }
        // Also keeps the length within what the C libraries take (LZ4 an Int32, bzip2 a UInt32).
        guard UInt64(input.count) <= FrameFormat.maximumStoredLength(original: UInt64(originalSize)) else {
            throw corrupt(codec, "holds \(input.count) bytes, more than any codec writes for \(originalSize) bytes")
        }
        switch codec {
        case .none:
            guard input.count == originalSize else {
                throw corrupt(codec, "holds \(input.count) bytes where \(originalSize) were recorded")
            }
            return Array(input)
        default:
            return try [UInt8](unsafeUninitializedCapacity: max(1, originalSize)) { buffer, count in
                try decompress(input, codec: codec, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<originalSize]))
                count = originalSize
            }
        }
    }

    /// Decompresses one chunk into `out`, which holds exactly the chunk's original size.
    static func decompress(_ input: ArraySlice<UInt8>, codec: Codec, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        switch codec {
        case .none:
            guard input.count == out.count else {
                throw corrupt(codec, "holds \(input.count) bytes where \(out.count) were recorded")
            }
            _ = out.initialize(from: input)
        case .zlib: try ZlibCodec.decompress(input, into: out)
        case .bz2: try BZip2Codec.decompress(input, into: out)
        case .snappy: try SnappyCodec.decompress(input, into: out)
        case .zstd: try ZstdCodec.decompress(input, into: out)
        case .lz4: try LZ4Codec.decompress(input, into: out)
        case .blosc: try BloscCodec.decompress(input, into: out)
        default:
            throw corrupt(codec, "is not a codec this version knows")
        }
    }

    /// Decompresses several chunks into one array of `total` bytes, each chunk
    /// straight into its place (no per-chunk arrays, no joining copy).
    static func decompress(
        _ chunks: [(input: ArraySlice<UInt8>, codec: Codec, originalSize: Int, offset: Int)], total: Int,
        onError: (Int, PartdError) -> PartdError
    ) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: max(1, total)) { buffer, count in
            Posix.adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            var position = 0
            for (index, chunk) in chunks.enumerated() {
                let target = UnsafeMutableBufferPointer(rebasing: buffer[position..<(position + chunk.originalSize)])
                do {
                    try decompress(chunk.input, codec: chunk.codec, into: target)
                } catch let error as PartdError {
                    count = 0
                    throw onError(index, error)
                }
                position += chunk.originalSize
            }
            count = total
        }
    }

    /// The buffer codecs of Apache Arrow's IPC format (`BodyCompression`), for `PartdTyped`'s Arrow reader
    /// and writer: a whole buffer as one LZ4 frame or one Zstandard frame, with no chunk limit.
    package enum ArrowCodec: Sendable {
        case lz4Frame, zstd
    }

    /// A buffer as Arrow stores it compressed: its length as a little-endian Int64, then one frame of it; or,
    /// when the frame would not be smaller, -1 and the bytes as they are. One pass, no copies of the input.
    package static func arrowCompressedBuffer(_ input: UnsafeRawBufferPointer, _ codec: ArrowCodec) throws -> [UInt8] {
        let bound = codec == .lz4Frame ? LZ4Codec.frameBound(input.count) : ZstdCodec.bound(input.count)
        return try [UInt8](unsafeUninitializedCapacity: 8 + max(bound, input.count)) { buffer, count in
            let out = UnsafeMutableRawBufferPointer(buffer)
            let frame = UnsafeMutableRawBufferPointer(rebasing: out[8..<(8 + bound)])
            let written = codec == .lz4Frame
                ? try LZ4Codec.compressFrame(input, into: frame)
                : try ZstdCodec.compress(input, into: frame, level: 1)
            var length = Int64(written < input.count ? input.count : -1).littleEndian
            withUnsafeBytes(of: &length) { out.copyMemory(from: $0) }
            if written >= input.count, input.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[8...]).copyMemory(from: input)
            }
            count = 8 + min(written, input.count)
        }
    }

    /// `arrowCompressedBuffer` of bytes in an array.
    package static func arrowCompressedBuffer(_ input: ArraySlice<UInt8>, _ codec: ArrowCodec) throws -> [UInt8] {
        try input.withUnsafeBytes { try arrowCompressedBuffer($0, codec) }
    }

    /// Decompresses a buffer that held `originalSize` bytes; the caller bounds `originalSize`.
    package static func arrowDecompress(_ input: ArraySlice<UInt8>, _ codec: ArrowCodec, originalSize: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: max(1, originalSize)) { buffer, count in
            let target = UnsafeMutableBufferPointer(rebasing: buffer[0..<originalSize])
            switch codec {
            case .lz4Frame: try LZ4Codec.decompressFrame(input, into: target)
            case .zstd: try ZstdCodec.decompress(input, into: target)
            }
            count = originalSize
        }
    }

    static func corrupt(_ codec: Codec, _ detail: String) -> PartdError {
        PartdError(code: .corruptData, message: "\(codec) data \(detail)")
    }

    static func failed(_ codec: Codec, _ detail: String) -> PartdError {
        PartdError(code: .compressionFailed, message: "\(codec) compression failed: \(detail)")
    }
}

/// A codec's identity, as recorded in compressed frames (one byte).
public struct Codec: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let none = Codec(rawValue: 0)
    public static let zlib = Codec(rawValue: 1)
    public static let bz2 = Codec(rawValue: 2)
    public static let snappy = Codec(rawValue: 3)
    public static let zstd = Codec(rawValue: 4)
    public static let lz4 = Codec(rawValue: 5)
    public static let blosc = Codec(rawValue: 6)

    public static let all: [Codec] = [.none, .zlib, .bz2, .snappy, .zstd, .lz4, .blosc]

    public var description: String {
        switch self {
        case .none: return "uncompressed"
        case .zlib: return "zlib"
        case .bz2: return "bz2"
        case .snappy: return "snappy"
        case .zstd: return "zstd"
        case .lz4: return "lz4"
        case .blosc: return "blosc"
        default: return "codec #\(rawValue)"
        }
    }
}

/// Settings of the Blosc codec.
public struct BloscSettings: Sendable, Hashable {
    /// Blosc's inner compressor.
    public enum Compressor: String, Sendable, Hashable, CaseIterable {
        case blosclz, lz4, lz4hc, zlib, zstd, snappy
    }

    /// How Blosc rearranges bytes before compressing.
    public enum Shuffle: Int32, Sendable, Hashable {
        /// No rearrangement (`BLOSC_NOSHUFFLE`).
        case none = 0
        /// Byte shuffle (`BLOSC_SHUFFLE`): groups the i-th byte of every element.
        case byte = 1
        /// Bit shuffle (`BLOSC_BITSHUFFLE`).
        case bit = 2
    }

    /// The inner compressor. The default is `.lz4`.
    public var compressor: Compressor
    /// Level 0–9. The default is 5, as python-blosc.
    public var level: Int
    /// The shuffle filter. The default is `.byte`.
    public var shuffle: Shuffle
    /// The size of one element in bytes (1–255), for the shuffle. The default is 8 (`Float64`, `Int64`).
    public var typeSize: Int

    public init(compressor: Compressor = .lz4, level: Int = 5, shuffle: Shuffle = .byte, typeSize: Int = 8) {
        self.compressor = compressor
        self.level = level
        self.shuffle = shuffle
        self.typeSize = typeSize
    }
}
