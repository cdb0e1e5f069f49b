// SPDX-License-Identifier: Apache-2.0


/// A byte store held in memory (partd's `Dict`).
///
/// Appended values are kept by reference, never copied: each key owns a chain
/// of 32-slot blocks in one shared slot array, found through a hash table on
/// the key's precomputed hash, so an append costs a table probe and one slot
/// write. `get` joins a key's values with one copy (none when the key holds a
/// single value). One mutex guards the store: every batch, read and delete is
/// atomic.
///
/// ```swift
/// let store = MemoryStore()
/// try store.append(["a": [1, 2, 3]])
/// ```
public final class MemoryStore: ByteStore {
    struct State {
        var log = AppendLog()
        var setOnceKeys: Set<PartdKey> = []
    }

    private let state = Locked(State())

    public init() {}

    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        state.withLock { state in
            state.log.append(contentsOf: batch)
        }
    }

    /// Appends each entry's chunks as separate values, without joining them.
    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws {
        state.withLock { state in
            for entry in batch {
                if entry.chunks.isEmpty { state.log.append(entry.key, []) }
                for chunk in entry.chunks { state.log.append(entry.key, chunk) }
            }
        }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        state.withLock { state in
            keys.map { state.log.bytes(of: $0) }
        }
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        state.withLock { state in
            guard state.setOnceKeys.insert(key).inserted else { return false }
            state.log.set(key, value)
            return true
        }
    }

    public func delete(_ keys: [PartdKey]) throws {
        state.withLock { state in
            for key in keys {
                state.log.remove(key)
                state.setOnceKeys.remove(key)
            }
        }
    }

    public func drop() throws {
        state.withLock { $0 = State() }
    }

    public func keys() throws -> [PartdKey] {
        state.withLock { $0.log.keys }.sorted()
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        state.withLock { $0.log.contains(key) }
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        state.withLock { $0.log.byteCount(of: key) }
    }

    /// The number of bytes held under all keys.
    public var totalBytes: Int { state.withLock { $0.log.totalBytes } }
}
