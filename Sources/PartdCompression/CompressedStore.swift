// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Partd
import Synchronization

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
        let framed = try Self.parallelMap(batch, totalBytes: batch.reduce(0) { $0 + $1.value.count }) { entry in
            (key: entry.key, chunks: try self.frames(entry.value, key: entry.key))
        }
        try inner.append(chunked: framed)
    }

    /// Maps `items` in order, on all cores when there is enough work to share.
    static func parallelMap<T: Sendable, R: Sendable>(_ items: [T], totalBytes: Int, _ transform: (T) throws -> R) throws -> [R] {
        let workers = min(items.count, parallelism)
        guard workers > 1, totalBytes >= 256 * 1024 else { return try items.map(transform) }
        let results = Locked<[Int: Result<R, any Error>]>([:])
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(transform) { transform in
            let box = UncheckedBox(transform)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    if index >= items.count { return }
                    let result = Result { try box.value(items[index]) }
                    results.withLock { $0[index] = result }
                }
            }
        }
        return try results.withLock { all in try (0..<items.count).map { try all[$0]!.get() } }
    }

    static var parallelism: Int { ProcessorCount.online }

    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws {
        var framed: [(key: PartdKey, chunks: [[UInt8]])] = []
        framed.reserveCapacity(batch.count)
        for entry in batch {
            var pieces: [[UInt8]] = []
            for chunk in entry.chunks { pieces.append(contentsOf: try frames(chunk, key: entry.key)) }
            framed.append((key: entry.key, chunks: pieces))
        }
        try inner.append(chunked: framed)
    }

    /// Reads the keys and decodes their frames (keys in parallel when there is enough work).
    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        let stored = try inner.get(keys)
        let pairs = Array(zip(keys, stored))
        return try Self.parallelMap(pairs, totalBytes: stored.reduce(0) { $0 + $1.count }) { pair in
            try FrameFormat.decodeAll(pair.1, key: pair.0)
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

/// Lets a non-escaping closure cross into `concurrentPerform`'s workers, which finish before it returns.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
