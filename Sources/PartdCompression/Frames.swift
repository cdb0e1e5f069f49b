// SPDX-License-Identifier: Apache-2.0

import Partd

/// Compressed frames, format version 1 (`docs/format.md` §4).
///
/// ```
///  0       4       5       6       7       8              16             24             32
///  +-------+-------+-------+-------+-------+--------------+--------------+--------------+-----------
///  | "PDZF"        |version| codec | flags | reserved     | original len | stored len   | checksum | payload …
///  +---------------+-------+-------+-------+--------------+--------------+--------------+-----------
///    magic           1       id      0       0              UInt64 LE      UInt64 LE      UInt64 LE
/// ```
///
/// A value is written as one or more frames of at most ``FrameFormat/defaultChunkSize``
/// original bytes each; reading a key decodes every frame in order and joins them.
/// Every frame carries a checksum: XXH3-64 of the payload, seeded with XXH3-64 of
/// header bytes 0–23, so damage to the header or the payload is detected.
public enum FrameFormat {
    public static let magic: [UInt8] = Array("PDZF".utf8)
    public static let version: UInt8 = 1
    public static let headerSize = 32
    /// Original bytes per frame when writing: 4 MiB.
    public static let defaultChunkSize = 4 << 20
    /// The frames for `value`, as alternating header and payload arrays (nothing is joined).
    static func encode(_ value: [UInt8], compression: Compression, chunkSize: Int) throws -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0
        repeat {
            let end = min(value.count, start + chunkSize)
            let chunk = value[start..<end]
            var payload = try compression.compress(chunk)
            var codec = compression.codec
            if payload.count >= chunk.count && codec != .none {
                // Incompressible: store the chunk as it is.
                payload = Array(chunk)
                codec = .none
            }
            pieces.append(header(codec: codec, originalLength: chunk.count, payload: payload))
            pieces.append(payload)
            start = end
        } while start < value.count
        return pieces
    }

    static func header(codec: Codec, originalLength: Int, payload: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: headerSize)
        h[0..<4] = magic[...]
        h[4] = version
        h[5] = codec.rawValue
        put(UInt64(originalLength), into: &h, at: 8)
        put(UInt64(payload.count), into: &h, at: 16)
        let seed = XXHash.hash64(h[0..<24], seed: 0)
        put(XXHash.hash64(payload[...], seed: seed), into: &h, at: 24)
        return h
    }

    private static func put(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// Reads a little-endian UInt64 at `offset` from the slice's start.
    private static func load(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[bytes.startIndex + offset + i]) << (8 * UInt64(i)) }
        return value
    }

    /// The most payload bytes a frame of `original` bytes may hold: more than every codec's worst case.
    static func maximumStoredLength(original: UInt64) -> UInt64 { original + original / 4 + 4096 }

    /// A frame's header, parsed and checked.
    struct Header {
        var codec: Codec
        var originalLength: Int
        var storedLength: Int
        var checksum: UInt64
    }

    /// Parses the header at `offset` (from the slice's start), checking everything that can be
    /// checked without the payload.
    static func parseHeader(_ bytes: ArraySlice<UInt8>, at offset: Int, key: PartdKey) throws -> Header {
        let remaining = bytes.count - offset
        let at = bytes.startIndex + offset
        guard remaining >= headerSize else {
            throw corrupt(key, offset, "a frame header is cut off (\(remaining) of \(headerSize) bytes present): the value was truncated, for example by a crash during an append")
        }
        guard bytes[at..<(at + 4)].elementsEqual(magic) else {
            throw corrupt(key, offset, "no frame starts here (bad magic): the bytes are damaged or were not written by a compressed store")
        }
        guard bytes[at + 4] == version else {
            throw corrupt(key, offset, "frame format version \(bytes[at + 4]) is not supported (this library reads version \(version))")
        }
        let codec = Codec(rawValue: bytes[at + 5])
        guard Codec.all.contains(codec) else {
            throw corrupt(key, offset, "unknown codec id \(codec.rawValue)")
        }
        guard bytes[at + 6] == 0, bytes[at + 7] == 0 else {
            throw corrupt(key, offset, "unknown flags \(bytes[at + 6]) or non-zero reserved byte")
        }
        let original = load(bytes, at: offset + 8)
        let stored = load(bytes, at: offset + 16)
        guard original <= UInt64(Compression.maximumChunkSize) else {
            throw corrupt(key, offset, "a frame claims \(original) original bytes, more than the \(Compression.maximumChunkSize)-byte limit")
        }
        guard stored <= UInt64(remaining - headerSize) else {
            throw corrupt(key, offset, "a frame claims \(stored) payload bytes but only \(remaining - headerSize) follow: the value was truncated")
        }
        // No codec grows its input by more than a sixth plus a few bytes (snappy's worst case).
        guard stored <= maximumStoredLength(original: original) else {
            throw corrupt(key, offset, "a frame claims \(stored) payload bytes for \(original) original bytes, more than any codec writes")
        }
        return Header(
            codec: codec, originalLength: Int(original), storedLength: Int(stored), checksum: load(bytes, at: offset + 24))
    }

    /// Every frame header of a key's bytes with its offset, checked but not the payloads.
    static func headers(_ bytes: ArraySlice<UInt8>, key: PartdKey) throws -> [(offset: Int, header: Header)] {
        var result: [(offset: Int, header: Header)] = []
        var offset = 0
        while offset < bytes.count {
            let header = try parseHeader(bytes, at: offset, key: key)
            result.append((offset, header))
            offset += headerSize + header.storedLength
        }
        return result
    }

    /// Decodes every frame of a key's bytes and joins the results.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` naming `key` and the byte offset of the bad frame.
    public static func decodeAll(_ bytes: [UInt8], key: PartdKey) throws -> [UInt8] {
        try decodeAll(bytes[...], key: key)
    }

    /// Decodes every frame in `bytes` (offsets in errors count from the slice's start) and joins the results.
    public static func decodeAll(_ bytes: ArraySlice<UInt8>, key: PartdKey) throws -> [UInt8] {
        // Check every header and checksum first, then decompress each frame straight into
        // its place in one output array.
        var chunks: [(input: ArraySlice<UInt8>, codec: Codec, originalSize: Int, offset: Int)] = []
        var total = 0
        for (offset, header) in try headers(bytes, key: key) {
            let payloadStart = bytes.startIndex + offset + headerSize
            let payload = bytes[payloadStart..<(payloadStart + header.storedLength)]
            let seed = XXHash.hash64(bytes[(bytes.startIndex + offset)..<(bytes.startIndex + offset + 24)], seed: 0)
            guard XXHash.hash64(payload, seed: seed) == header.checksum else {
                throw corrupt(key, offset, "checksum mismatch: the frame is damaged")
            }
            chunks.append((payload, header.codec, header.originalLength, offset))
            total += header.originalLength
        }
        if total <= bytes.count * 64 + (64 << 20) {
            return try Compression.decompress(chunks, total: total) { index, error in
                corrupt(key, chunks[index].offset, error.message)
            }
        }
        // Claims far beyond what the input could plausibly hold: decode frame by frame, so a
        // damaged or hostile header costs at most one frame's allocation before it is caught.
        var out: [UInt8] = []
        for chunk in chunks {
            do {
                out.append(contentsOf: try Compression.decompress(chunk.input, codec: chunk.codec, originalSize: chunk.originalSize))
            } catch let error as PartdError {
                throw corrupt(key, chunk.offset, error.message)
            }
        }
        return out
    }

    /// The original (decoded) size of a key's bytes, from the frame headers alone.
    public static func originalLength(_ bytes: [UInt8], key: PartdKey) throws -> Int {
        try headers(bytes[...], key: key).reduce(0) { $0 + $1.header.originalLength }
    }

    /// Statistics of a key's frames: how many of each codec, and original and stored bytes.
    public static func describe(_ bytes: [UInt8], key: PartdKey) throws -> [(codec: Codec, original: Int, stored: Int)] {
        try headers(bytes[...], key: key).map { ($0.header.codec, $0.header.originalLength, $0.header.storedLength) }
    }

    static func corrupt(_ key: PartdKey, _ offset: Int, _ detail: String) -> PartdError {
        PartdError(code: .corruptData, message: "key \(key), frame at byte offset \(offset): \(detail)", key: key)
    }
}
