// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression

/// Typed arrays per key over any byte store (partd's `Numpy`, without its
/// pitfalls): each appended array is one checked frame whose payload is a
/// complete `.npy` file, so NumPy can load any frame as-is; `get`
/// concatenates a key's arrays along the first axis.
///
/// ```swift
/// let arrays = ArrayStore(over: try DirectoryStore(path: "/tmp/arrays"))
/// try arrays.append(["x": NDArray<Double>([1, 2]), "n": NDArray<Int32>([7])])
/// try arrays.append(["x": NDArray<Double>([3])])
/// try arrays.get("x", as: NDArray<Double>.self)    // [1.0, 2.0, 3.0]
/// try arrays.get("missing", as: NDArray<Double>.self)   // []
/// ```
///
/// Unlike partd, the shape is kept (appends must agree on every axis but the
/// first), the element type is checked on every append and read (a mismatch is
/// ``PartdError/Code/typeMismatch`` naming both), a missing key reads as an
/// empty array and `delete` removes the data.
///
/// The element type and row shape a key holds are remembered by the instance
/// that appended or read it; appends to keys this instance has not seen are
/// checked when the key is read.
public final class ArrayStore<Inner: ByteStore>: Sendable {
    /// The store the frames are written to.
    public let inner: Inner
    private let layouts = Locked<[PartdKey: ArrayLayout]>([:])

    public init(over inner: Inner) {
        self.inner = inner
    }

    /// Appends each array as one frame under its key.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` (and appends nothing) if an
    ///   array's element type or row shape differs from what its key holds.
    public func append<A: StorableArray>(_ batch: [(key: PartdKey, value: A)]) throws {
        let learned = try layouts.withLock { known in
            var learned: [PartdKey: ArrayLayout] = [:]
            for (key, value) in batch {
                let layout = ArrayLayout(dtype: A.dtype, rowShape: value.rowShape)
                if let holds = learned[key] ?? known[key] {
                    guard holds == layout else { throw PartdError.layoutMismatch(key, holds: holds, given: layout) }
                } else {
                    learned[key] = layout
                }
            }
            known.merge(learned) { $1 }
            return learned
        }
        do {
            let framed = try Parallel.map(batch, totalBytes: batch.reduce(0) { $0 + $1.value.byteSize }) { entry in
                let payload = entry.value.framePayload()
                return (key: entry.key, chunks: [ValueFrames.header(for: payload), payload])
            }
            try inner.append(chunked: framed)
        } catch {
            layouts.withLock { known in for key in learned.keys { known[key] = nil } }
            throw error
        }
    }

    public func append<A: StorableArray>(_ batch: [PartdKey: A]) throws {
        try append(batch.map { (key: $0.key, value: $0.value) })
    }

    public func append<A: StorableArray>(_ key: PartdKey, _ value: A) throws {
        try append([(key: key, value: value)])
    }

    /// Everything appended to each key, concatenated; a missing key reads as an empty array.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` if a key holds another element
    ///   type; ``PartdError/Code/corruptData`` naming the key and byte offset if a
    ///   frame is damaged.
    public func get<A: StorableArray>(_ keys: [PartdKey], as type: A.Type = A.self) throws -> [A] {
        // Keys are read and decoded on all cores.
        try Parallel.map(keys, totalBytes: .max) { key in
            let (value, stored) = try inner.withBytes(of: key) { bytes in
                (try A.decode(frames: ValueFrames.payloads(bytes, key: key), key: key), !bytes.isEmpty)
            }
            if stored {
                layouts.withLock { $0[key] = ArrayLayout(dtype: A.dtype, rowShape: value.rowShape) }
            }
            return value
        }
    }

    public func get<A: StorableArray>(_ key: PartdKey, as type: A.Type = A.self) throws -> A {
        try get([key], as: type)[0]
    }

    /// The element type and row shape of what `key` holds, read from its first
    /// frame, or `nil` for a missing key.
    public func layout(of key: PartdKey) throws -> (dtype: DType, rowShape: [Int])? {
        try inner.withBytes(of: key) { bytes in
            guard let first = try ValueFrames.payloads(bytes, key: key).first else { return nil }
            if first.bytes.starts(with: StringArray.magic) { return (.string, []) }
            do throws(NPYHeader.HeaderError) {
                let header = try NPYHeader.parse(first.bytes).header
                return (header.dtype, Array(header.shape.dropFirst()))
            } catch {
                throw PartdError.corruptFrame(key, first.offset, error)
            }
        }
    }

    /// Removes the keys and their arrays (partd's `Numpy.delete` leaves the data).
    public func delete(_ keys: [PartdKey]) throws {
        try inner.delete(keys)
        layouts.withLock { known in for key in keys { known[key] = nil } }
    }

    public func delete(_ key: PartdKey) throws { try delete([key]) }

    public func drop() throws {
        try inner.drop()
        layouts.withLock { $0.removeAll() }
    }

    public func keys() throws -> [PartdKey] { try inner.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try inner.contains(key) }
}
