// SPDX-License-Identifier: Apache-2.0

import Synchronization

/// A store that buffers appends in memory and spills to a slower store when
/// the buffer exceeds a budget (partd's `Buffer(Dict(), File())`).
///
/// When the bytes buffered in memory exceed
/// ``Configuration/availableMemory``, the largest keys are moved to the slow
/// store, about ``Configuration/spillFraction`` of the buffer per round and at
/// most ``Configuration/maxKeysPerSpill`` keys per round, until the buffer is
/// back within budget. Spilling appends each chosen key's buffered bytes to
/// the slow store in one batch and then frees them.
///
/// ```swift
/// let disk = try DirectoryStore.temporary()
/// let store = SpillingStore(spillingTo: disk, availableMemory: .megabytes(64))
/// try store.append(["p0": chunk])
/// try store.flush()                     // move everything to disk
/// ```
///
/// Differences from partd's `Buffer`, all fixes:
/// - `get` returns a key's bytes in append order (spilled bytes first, then
///   buffered ones); partd returns the buffered, newer bytes first.
/// - Values written with `setOnce` count against the budget and can spill.
/// - `delete` and `drop` keep the byte accounting exact.
///
/// One mutex guards the buffer and every call into the slow store, so each
/// operation, spills included, is atomic.
public final class SpillingStore<Slow: ByteStore>: ByteStore {
    /// How a spilling store buffers and spills.
    public struct Configuration: Sendable, Hashable {
        /// The most bytes buffered in memory before spilling. The default is 1 GB.
        public var availableMemory: ByteCount = .gigabytes(1)
        /// The share of the buffered bytes one spill round aims to move, as
        /// partd's `keys_to_flush(fraction=0.1)`. The default is 0.1.
        public var spillFraction: Double = 0.1
        /// The most keys one spill round moves. The default is 20, as partd.
        public var maxKeysPerSpill: Int = 20

        public init(availableMemory: ByteCount = .gigabytes(1), spillFraction: Double = 0.1, maxKeysPerSpill: Int = 20) {
            self.availableMemory = availableMemory
            self.spillFraction = spillFraction
            self.maxKeysPerSpill = max(1, maxKeysPerSpill)
        }
    }

    /// Counters describing what the store has buffered and spilled.
    public struct Statistics: Sendable, Hashable {
        /// Bytes held in memory now.
        public var bufferedBytes = 0
        /// The most bytes ever held in memory at once, measured after each append.
        public var peakBufferedBytes = 0
        /// Bytes moved to the slow store so far.
        public var spilledBytes = 0
        /// Spill rounds (calls into the slow store's `append`) so far.
        public var spillRounds = 0
    }

    struct State {
        var buffers: [PartdKey: [UInt8]] = [:]
        var setOnceKeys: Set<PartdKey> = []
        var stats = Statistics()
    }

    /// The store spilled bytes go to.
    public let slow: Slow
    /// How this store buffers and spills.
    public let configuration: Configuration
    private let state = Mutex(State())

    /// A spilling store over `slow` with the given configuration.
    public init(spillingTo slow: Slow, configuration: Configuration = Configuration()) {
        self.slow = slow
        self.configuration = configuration
    }

    /// A spilling store over `slow` that buffers at most `availableMemory` bytes.
    public convenience init(spillingTo slow: Slow, availableMemory: ByteCount) {
        self.init(spillingTo: slow, configuration: Configuration(availableMemory: availableMemory))
    }

    // MARK: - ByteStore

    /// Appends the batch to the memory buffer, then spills while over budget.
    ///
    /// - Throws: ``PartdError/Code/spillFailed`` if moving bytes to the slow store
    ///   failed. The batch *was* appended in that case (it is held in memory)
    ///   and must not be retried; a later operation retries the spill.
    public func append(_ batch: some Collection<(key: PartdKey, value: [UInt8])>) throws {
        try state.withLock { state in
            var added = 0
            for (key, value) in batch {
                state.buffers[key, default: []].append(contentsOf: value)
                added += value.count
            }
            state.stats.bufferedBytes += added
            if state.stats.bufferedBytes > state.stats.peakBufferedBytes {
                state.stats.peakBufferedBytes = state.stats.bufferedBytes
            }
            try spillWhileOverBudget(&state)
        }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        try state.withLock { state in
            let spilled = try slow.get(keys)
            var result: [[UInt8]] = []
            result.reserveCapacity(keys.count)
            for (index, key) in keys.enumerated() {
                let buffered = state.buffers[key] ?? []
                if spilled[index].isEmpty {
                    result.append(buffered)
                } else if buffered.isEmpty {
                    result.append(spilled[index])
                } else {
                    var joined = spilled[index]
                    joined.append(contentsOf: buffered)
                    result.append(joined)
                }
            }
            return result
        }
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        try state.withLock { state in
            guard !state.setOnceKeys.contains(key) else { return false }
            try slow.delete([key])
            let old = state.buffers.updateValue(value, forKey: key)?.count ?? 0
            state.stats.bufferedBytes += value.count - old
            state.setOnceKeys.insert(key)
            if state.stats.bufferedBytes > state.stats.peakBufferedBytes {
                state.stats.peakBufferedBytes = state.stats.bufferedBytes
            }
            try spillWhileOverBudget(&state)
            return true
        }
    }

    public func delete(_ keys: [PartdKey]) throws {
        try state.withLock { state in
            try slow.delete(keys)
            for key in keys {
                if let old = state.buffers.removeValue(forKey: key) {
                    state.stats.bufferedBytes -= old.count
                }
                state.setOnceKeys.remove(key)
            }
        }
    }

    public func drop() throws {
        try state.withLock { state in
            try slow.drop()
            state.buffers = [:]
            state.setOnceKeys = []
            state.stats.bufferedBytes = 0
        }
    }

    public func keys() throws -> [PartdKey] {
        try state.withLock { state in
            var all = Set(try slow.keys())
            all.formUnion(state.buffers.keys)
            return all.sorted()
        }
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        try state.withLock { state in
            if state.buffers[key] != nil { return true }
            return try slow.contains(key)
        }
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        try state.withLock { state in
            (state.buffers[key]?.count ?? 0) + (try slow.byteCount(of: key))
        }
    }

    // MARK: - Spilling

    /// Moves the buffered bytes of `keys` (all buffered keys if `nil`) to the slow store.
    public func flush(_ keys: [PartdKey]? = nil) throws {
        try state.withLock { state in
            let chosen = keys ?? Array(state.buffers.keys)
            try spill(chosen.filter { state.buffers[$0] != nil }, from: &state)
        }
    }

    /// The keys currently buffered in memory, sorted.
    public var bufferedKeys: [PartdKey] {
        state.withLock { Array($0.buffers.keys) }.sorted()
    }

    /// The bytes of `key` currently buffered in memory (not yet spilled).
    public func bufferedBytes(of key: PartdKey) -> [UInt8] {
        state.withLock { $0.buffers[key] ?? [] }
    }

    /// What the store has buffered and spilled so far.
    public var statistics: Statistics {
        state.withLock { $0.stats }
    }

    /// Chooses the keys one spill round moves, as partd's `keys_to_flush`:
    /// the largest keys first, from the larger half of the keys, as long as
    /// their running total stays within `fraction` of all buffered bytes;
    /// at least one key and at most `maxCount`.
    ///
    /// With sizes a 20, b 10, c 15, d 15, e 10, f 25, g 5 and fraction 0.5 the
    /// result is `[f, a]`. Ties are broken by key order, so the choice is
    /// deterministic.
    ///
    /// - Complexity: O(*n* · `maxCount`) for *n* keys.
    public static func keysToSpill(
        sizes: some Sequence<(key: PartdKey, size: Int)>,
        fraction: Double,
        maxCount: Int
    ) -> [PartdKey] {
        var count = 0
        var total = 0
        for entry in sizes {
            count += 1
            total += entry.size
        }
        guard count > 0 else { return [] }
        let limit = min(max(1, maxCount), max(count / 2, 1))
        // Keep the `limit` largest entries, sorted by size descending then key ascending.
        var top: [(key: PartdKey, size: Int)] = []
        top.reserveCapacity(limit + 1)
        for entry in sizes {
            if top.count == limit, let last = top.last, !Self.ranksBefore(entry, last) { continue }
            var index = top.count
            while index > 0, Self.ranksBefore(entry, top[index - 1]) { index -= 1 }
            top.insert(entry, at: index)
            if top.count > limit { top.removeLast() }
        }
        let cutoffBytes = Double(total) * fraction
        var running = 0
        var taken = 0
        for entry in top {
            running += entry.size
            if Double(running) > cutoffBytes { break }
            taken += 1
        }
        return top.prefix(max(1, taken)).map(\.key)
    }

    private static func ranksBefore(_ a: (key: PartdKey, size: Int), _ b: (key: PartdKey, size: Int)) -> Bool {
        a.size != b.size ? a.size > b.size : a.key < b.key
    }

    private func spillWhileOverBudget(_ state: inout State) throws {
        let budget = configuration.availableMemory.bytes
        while state.stats.bufferedBytes > budget, !state.buffers.isEmpty {
            let chosen = Self.keysToSpill(
                sizes: state.buffers.lazy.map { (key: $0.key, size: $0.value.count) },
                fraction: configuration.spillFraction,
                maxCount: configuration.maxKeysPerSpill
            )
            do {
                try spill(chosen, from: &state)
            } catch let error as PartdError {
                var wrapped = error
                wrapped.code = .spillFailed
                wrapped.message = "the data was appended and is held in memory (do not retry it), but spilling to "
                    + "the slow store failed: \(error.code): \(error.message)"
                throw wrapped
            }
        }
    }

    private func spill(_ keys: [PartdKey], from state: inout State) throws {
        guard !keys.isEmpty else { return }
        var batch: [(key: PartdKey, value: [UInt8])] = []
        batch.reserveCapacity(keys.count)
        for key in keys {
            if let bytes = state.buffers[key] { batch.append((key: key, value: bytes)) }
        }
        try slow.append(batch)
        var moved = 0
        for entry in batch {
            state.buffers.removeValue(forKey: entry.key)
            moved += entry.value.count
        }
        state.stats.bufferedBytes -= moved
        state.stats.spilledBytes += moved
        state.stats.spillRounds += 1
    }
}
