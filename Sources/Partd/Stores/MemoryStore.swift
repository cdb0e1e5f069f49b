// SPDX-License-Identifier: Apache-2.0

import Synchronization

/// A byte store held in memory (partd's `Dict`).
///
/// Each key owns one contiguous, growing buffer, so `get` returns it without
/// joining chunks, and an append copies only the appended bytes (amortised).
/// One mutex guards the store: every batch, read and delete is atomic.
///
/// ```swift
/// let store = MemoryStore()
/// try store.append(["a": [1, 2, 3]])
/// ```
public final class MemoryStore: ByteStore {
    struct State {
        var data: [PartdKey: [UInt8]] = [:]
        var setOnceKeys: Set<PartdKey> = []
        var totalBytes = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func append(_ batch: some Collection<(key: PartdKey, value: [UInt8])>) throws {
        state.withLock { state in
            for (key, value) in batch {
                state.data[key, default: []].append(contentsOf: value)
                state.totalBytes += value.count
            }
        }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        state.withLock { state in
            keys.map { state.data[$0] ?? [] }
        }
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        state.withLock { state in
            guard state.setOnceKeys.insert(key).inserted else { return false }
            state.totalBytes += value.count - (state.data[key]?.count ?? 0)
            state.data[key] = value
            return true
        }
    }

    public func delete(_ keys: [PartdKey]) throws {
        state.withLock { state in
            for key in keys {
                if let old = state.data.removeValue(forKey: key) { state.totalBytes -= old.count }
                state.setOnceKeys.remove(key)
            }
        }
    }

    public func drop() throws {
        state.withLock { $0 = State() }
    }

    public func keys() throws -> [PartdKey] {
        state.withLock { Array($0.data.keys) }.sorted()
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        state.withLock { $0.data[key] != nil }
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        state.withLock { $0.data[key]?.count ?? 0 }
    }

    /// The number of bytes held under all keys.
    public var totalBytes: Int { state.withLock { $0.totalBytes } }
}
