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
/// The store keeps the arrays of its latest `get` and writes the next `get`'s
/// into those the caller has dropped, as ``TableStore`` does with its columns;
/// ``releaseReusableMemory()`` lets them go.
///
/// The element type and row shape a key holds are remembered by the instance
/// that appended or read it; appends to keys this instance has not seen are
/// checked when the key is read.
public final class ArrayStore<Inner: ByteStore>: Sendable {
    /// The store the frames are written to.
    public let inner: Inner
    private let layouts = KnownLayouts<ArrayLayout>()
    /// The arrays of the latest `get`, reused by the next once the caller has dropped them.
    let recycler = ResultBuffers()

    public init(over inner: Inner) {
        self.inner = inner
    }

    /// Appends each array as one frame under its key.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` (and appends nothing) if an
    ///   array's element type or row shape differs from what its key holds.
    public func append<A: StorableArray>(_ batch: [(key: PartdKey, value: A)]) throws {
        try layouts.append(
            batch, to: inner, totalBytes: batch.reduce(0) { $0 + $1.value.byteSize },
            layout: { ArrayLayout(dtype: A.dtype, rowShape: $0.rowShape) },
            mismatch: { PartdError.layoutMismatch($0, holds: $1, given: $2) },
            payload: { $0.framePayload() })
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
        let reusing = A.self as? any ReusingStorableArray.Type
        // Keys are read and decoded on all cores.
        let values = try Parallel.map(keys, totalBytes: .max) { key in
            let (value, stored) = try inner.withBytes(of: key) { bytes in
                let frames = try TypedPayloadKind.frames(
                    bytes, key: key, given: A.dtype == .string ? "string arrays" : "\(A.dtype.numpy) arrays")
                let value = try reusing.map { try $0.decode(frames: frames, key: key, recycler: recycler) as! A }
                    ?? A.decode(frames: frames, key: key)
                return (value, !bytes.isEmpty)
            }
            if stored {
                layouts.record(ArrayLayout(dtype: A.dtype, rowShape: value.rowShape), for: key)
            }
            return value
        }
        if reusing != nil { recycler.keep(values.flatMap { ($0 as? any ReusingStorableArray)?.heldArrays ?? [] }) }
        return values
    }

    /// Lets go of the memory this store keeps from its latest `get` for the next one to reuse (at most what
    /// that `get` returned; arrays the caller still holds are never reused).
    public func releaseReusableMemory() {
        recycler.removeAll()
    }

    public func get<A: StorableArray>(_ key: PartdKey, as type: A.Type = A.self) throws -> A {
        try get([key], as: type)[0]
    }

    /// The element type and row shape of what `key` holds, read from its first
    /// frame, or `nil` for a missing key.
    public func layout(of key: PartdKey) throws -> (dtype: DType, rowShape: [Int])? {
        try inner.withBytes(of: key) { bytes in
            guard let first = try TypedPayloadKind.frames(bytes, key: key, given: "arrays").first else { return nil }
            if first.bytes.starts(with: StringArray.magic) { return (.string, []) }
            try TypedPayloadKind.check(first.bytes, startsWith: NPYHeader.magic, key: key, given: "arrays")
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
        layouts.forget(keys)
    }

    public func delete(_ key: PartdKey) throws { try delete([key]) }

    public func drop() throws {
        try inner.drop()
        layouts.forgetAll()
    }

    public func keys() throws -> [PartdKey] { try inner.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try inner.contains(key) }
}
