// SPDX-License-Identifier: Apache-2.0

import Partd

/// A store that compresses every appended value into self-describing frames
/// on any other store (partd's `ZLib`, `BZ2`, `Snappy` and `Blosc` wrappers).
///
/// ```swift
/// let store = CompressedStore(.blosc(BloscSettings(typeSize: 8)), over: try DirectoryStore(path: "/data/p"))
/// try store.append(["x": floatBytes])
/// try store.get("x")          // the bytes appended, decompressed
/// ```
///
/// Each frame records its codec, so a reader needs no configuration and one key
/// may hold frames of several codecs (written by stores configured differently).
/// Values larger than the chunk size (4 MiB) become several frames. Incompressible
/// chunks are stored uncompressed. Every frame carries an XXH3 checksum, checked
/// on every read. The format is in `docs/format.md` §4.
public final class CompressedStore<Inner: ByteStore>: ByteStore {
    /// The store the frames are written to.
    public let inner: Inner
    /// How new values are compressed. Reading accepts frames of any codec.
    public let compression: Compression
    /// Original bytes per frame. The default is 4 MiB.
    public let chunkSize: Int

    public init(_ compression: Compression, over inner: Inner, chunkSize: Int = FrameFormat.defaultChunkSize) {
        self.inner = inner
        self.compression = compression
        self.chunkSize = max(1, min(chunkSize, Compression.maximumChunkSize))
    }

    /// Compresses the batch's values (in parallel on all cores when the batch is
    /// large) and appends their frames to the inner store in one batch.
    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        let framed = try Parallel.map(batch, totalBytes: batch.reduce(0) { $0 + $1.value.count }) { entry in
            (key: entry.key, chunks: try self.frames(entry.value, key: entry.key))
        }
        try inner.append(chunked: framed)
    }

    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws {
        let totalBytes = batch.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + $1.count } }
        let framed = try Parallel.map(batch, totalBytes: totalBytes) { entry in
            (key: entry.key, chunks: try Self.coalesced(entry.chunks).flatMap { try self.frames($0, key: entry.key) })
        }
        try inner.append(chunked: framed)
    }

    /// Chunks at most this large together are joined into one before compression, so that a wrapper's small
    /// header and a small payload make one frame rather than two (copying them costs little next to
    /// compressing them); larger chunks are compressed where they are.
    static var joinedChunkBytes: Int { 64 << 10 }

    /// `chunks` with runs of small neighbours joined (see ``joinedChunkBytes``); empty chunks are dropped.
    static func coalesced(_ chunks: [[UInt8]]) -> [[UInt8]] {
        guard chunks.count > 1 else { return chunks }
        var result: [[UInt8]] = []
        var pending: [UInt8] = []
        for chunk in chunks where !chunk.isEmpty {
            if pending.count + chunk.count <= joinedChunkBytes {
                pending.append(contentsOf: chunk)
                continue
            }
            if !pending.isEmpty { result.append(pending) }
            pending = []
            if chunk.count <= joinedChunkBytes { pending = chunk } else { result.append(chunk) }
        }
        if !pending.isEmpty || result.isEmpty { result.append(pending) }
        return result
    }

    /// Reads the keys and decodes their frames, keys in parallel on every core. Each key's
    /// frames are read into a buffer the inner store reuses (``ByteStore/withBytes(of:_:)``)
    /// and decompressed straight into the result.
    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        try Parallel.map(keys, totalBytes: .max) { key in
            try self.inner.withBytes(of: key) { try FrameFormat.decodeAll($0, key: key) }
        }
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        let pieces = try frames(value, key: key)
        var joined: [UInt8] = []
        joined.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        for piece in pieces { joined.append(contentsOf: piece) }
        return try inner.setOnce(key, joined)
    }

    public func delete(_ keys: [PartdKey]) throws { try inner.delete(keys) }
    public func drop() throws { try inner.drop() }
    public func keys() throws -> [PartdKey] { try inner.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try inner.contains(key) }
    public func validate(_ key: PartdKey) throws { try inner.validate(key) }
    public func waitForWrites() throws { try inner.waitForWrites() }

    /// The decoded size, from the frame headers (the inner bytes are read, not decompressed).
    public func byteCount(of key: PartdKey) throws -> Int {
        try FrameFormat.originalLength(try inner.get(key), key: key)
    }

    private func frames(_ value: [UInt8], key: PartdKey) throws -> [[UInt8]] {
        do {
            return try FrameFormat.encode(value, compression: compression, chunkSize: chunkSize)
        } catch var error as PartdError {
            error.key = key
            error.message = "compressing a value for key \(key): \(error.message)"
            throw error
        }
    }
}
