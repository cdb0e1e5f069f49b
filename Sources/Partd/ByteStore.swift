// SPDX-License-Identifier: Apache-2.0

/// An appendable key-value byte store: every key maps to a byte string that
/// only grows at its end.
///
/// This is partd's model. `append` adds bytes after whatever a key holds,
/// `get` returns everything appended so far, joined; a key that was never
/// written reads as empty bytes.
///
/// ```swift
/// let store = MemoryStore()
/// try store.append(["x": Array("Hello".utf8), "y": [1, 2]])
/// try store.append(["x": Array(", world".utf8)])
/// try store.get("x")                    // "Hello, world"
/// try store.get(["y", "missing"])       // [[1, 2], []]
/// ```
///
/// ## Guarantees every conforming store makes
/// - The bytes one batch entry adds to a key land contiguously: they are never
///   interleaved with another writer's bytes, whether that writer is another
///   thread or (for stores on a shared directory) another process.
/// - Appends to one key are kept in the order they completed.
/// - A missing key reads as empty bytes; deleting a missing key is not an error.
/// - After `drop()` the store is empty and stays usable.
/// - Stores are `Sendable` and lock internally: there is no lock parameter.
///
/// ## Writing a wrapper
/// A wrapper (compression, typed encoders, a remote client) conforms itself and
/// forwards every requirement to the store it owns. `setOnce` is the one
/// requirement a wrapper must not emulate with `delete` + `append`, because its
/// idempotence is tracked by the store that performs it.
public protocol ByteStore: Sendable {
    /// Appends a batch: for each entry, the value's bytes are added to the end
    /// of what the key holds. The batch is applied as one locked operation of
    /// this store; the same key may appear more than once, and its entries are
    /// appended in batch order.
    func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws

    /// Appends a batch whose values come in chunks: for each entry, its chunks
    /// are appended one after another, as if they were one value, except that
    /// across processes only each chunk (not the whole entry) is guaranteed to
    /// land contiguously. Stores that can write chunks without joining them
    /// (``DirectoryStore`` uses `writev`) implement this; the default joins.
    func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws

    /// Everything appended to each key, in the order of `keys`; missing keys give `[]`.
    func get(_ keys: [PartdKey]) throws -> [[UInt8]]

    /// Everything appended to `key`, in an array with room for `extraCapacity`
    /// more bytes, so a caller that appends to the result does not copy it again.
    /// The default calls `get` and reserves the room.
    func get(_ key: PartdKey, reservingCapacity extraCapacity: Int) throws -> [UInt8]

    /// Calls `body` with everything appended to `key` (empty for a missing key)
    /// without handing over a copy: the bytes are valid only during the call.
    /// Decoders use it so that reading a key and decoding it copies the bytes
    /// once, into the decoded value; ``DirectoryStore`` reads into a reused
    /// buffer. The default calls `get`.
    func withBytes<R>(of key: PartdKey, _ body: (ArraySlice<UInt8>) throws -> R) throws -> R

    /// Sets `key` to `value` unless this store instance already set that key
    /// with `setOnce` (partd's `iset`). Returns whether it wrote.
    ///
    /// The first `setOnce` of a key replaces anything appended before. Later
    /// calls are no-ops, even with a different value, until the key is deleted
    /// or the store dropped through this instance (as partd's `iset`, the record
    /// is the instance's: a delete through another instance or process does not
    /// reset it).
    @discardableResult
    func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool

    /// Removes the keys and their bytes. Missing keys are ignored.
    func delete(_ keys: [PartdKey]) throws

    /// Removes every key. The store stays usable.
    func drop() throws

    /// Every key that holds data (or was created by an empty append), sorted.
    func keys() throws -> [PartdKey]

    /// Whether `key` exists in the store.
    func contains(_ key: PartdKey) throws -> Bool

    /// The number of bytes `get(key)` would return.
    func byteCount(of key: PartdKey) throws -> Int

    /// Throws the error an append of `key` would throw because of the key itself
    /// (for example ``PartdError/Code/keyTooLong`` for a file name over 255 bytes).
    /// Buffering wrappers call it before accepting a key, so a key the store
    /// below cannot hold is refused at once instead of failing at spill time.
    /// The default accepts every key.
    func validate(_ key: PartdKey) throws

    /// Waits until every write this instance has returned from is applied by the store behind it, and throws
    /// the first failure of such a write not yet reported. A store whose writes may return before they are
    /// applied (a pipelining `RemoteStore`) implements it; wrappers forward it to the store they own. It
    /// neither moves buffered bytes (see `SpillingStore.flush`) nor forces them to the disk (no `fsync`).
    /// The default, for stores that apply writes before returning, does nothing.
    func waitForWrites() throws
}

// MARK: - Conveniences

extension ByteStore {
    public func validate(_ key: PartdKey) throws {}
    public func waitForWrites() throws {}

    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws {
        try append(
            batch.map { entry in
                if entry.chunks.count == 1 { return (key: entry.key, value: entry.chunks[0]) }
                var joined: [UInt8] = []
                joined.reserveCapacity(entry.chunks.reduce(0) { $0 + $1.count })
                for chunk in entry.chunks { joined.append(contentsOf: chunk) }
                return (key: entry.key, value: joined)
            })
    }

    public func withBytes<R>(of key: PartdKey, _ body: (ArraySlice<UInt8>) throws -> R) throws -> R {
        try body(get([key])[0][...])
    }

    public func get(_ key: PartdKey, reservingCapacity extraCapacity: Int) throws -> [UInt8] {
        var value = try get([key])[0]
        if extraCapacity > 0 { value.reserveCapacity(value.count + extraCapacity) }
        return value
    }

    /// Appends `value` to one key.
    public func append(_ key: PartdKey, _ value: [UInt8]) throws {
        try append([(key: key, value: value)])
    }

    /// Appends a batch given as a dictionary.
    public func append(_ batch: [PartdKey: [UInt8]]) throws {
        try append(batch.map { (key: $0.key, value: $0.value) })
    }

    /// Everything appended to `key`, or `[]` if it is missing.
    public func get(_ key: PartdKey) throws -> [UInt8] {
        try get([key])[0]
    }

    /// Gets a nested list of keys in one call and returns values in the same
    /// shape, as partd's `get(['x', ['y', 'z']])`.
    public func get(nested tree: KeyTree) throws -> ValueTree {
        var flat: [PartdKey] = []
        tree.collect(into: &flat)
        let values = try get(flat)
        var index = 0
        return tree.rebuild(from: values, index: &index)
    }

    /// Removes one key; a missing key is ignored.
    public func delete(_ key: PartdKey) throws {
        try delete([key])
    }

    /// The total number of bytes stored under all keys.
    public func totalByteCount() throws -> Int {
        try keys().reduce(0) { $0 + (try byteCount(of: $1)) }
    }
}

/// A nested list of keys for ``ByteStore/get(nested:)``.
///
/// ```swift
/// let tree: KeyTree = ["x", ["y", "z"]]
/// ```
public indirect enum KeyTree: Sendable, Hashable, ExpressibleByArrayLiteral, ExpressibleByStringLiteral,
    ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral
{
    case key(PartdKey)
    case list([KeyTree])

    public init(arrayLiteral elements: KeyTree...) { self = .list(elements) }
    public init(stringLiteral value: String) { self = .key(PartdKey(value)) }
    /// A string key written with interpolation: `["part-\(i)", ["x"]]`.
    public init(stringInterpolation: DefaultStringInterpolation) {
        self = .key(PartdKey(String(stringInterpolation: stringInterpolation)))
    }
    public init(integerLiteral value: Int) { self = .key(PartdKey(value)) }

    fileprivate func collect(into flat: inout [PartdKey]) {
        switch self {
        case .key(let key): flat.append(key)
        case .list(let items): for item in items { item.collect(into: &flat) }
        }
    }

    fileprivate func rebuild(from values: [[UInt8]], index: inout Int) -> ValueTree {
        switch self {
        case .key:
            defer { index += 1 }
            return .value(values[index])
        case .list(let items):
            return .list(items.map { $0.rebuild(from: values, index: &index) })
        }
    }
}

/// Values returned by ``ByteStore/get(nested:)``, in the shape of the request.
public indirect enum ValueTree: Sendable, Hashable {
    case value([UInt8])
    case list([ValueTree])
}
