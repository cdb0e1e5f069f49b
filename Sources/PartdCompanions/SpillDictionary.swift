// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression

/// A dictionary that keeps at most a memory budget of values in memory and
/// spills the least recently used to files in a directory (Python's chest).
///
/// ```swift
/// let cache = try SpillDictionary<PartdKey, [Double]>(path: "/data/cache", memoryBudget: .megabytes(64))
/// try cache.set([1, 2, 3], for: .tuple("run", 7))  // tuple keys, as chest's
/// try cache[.tuple("run", 7)]                       // [1, 2, 3], loaded back if it was spilled
/// try cache.flush()                               // every value and the key index on disk
/// ```
///
/// - **Size** of a value is its encoded byte count; a value that cannot be
///   encoded throws at `set`, never later.
/// - **Eviction** is by last use: reads refresh recency (chest's does not).
///   Reading a spilled value loads it back (then calls `onMiss`).
/// - **Files**: a key's value is written to a file named from a hash of the
///   encoded key and a random suffix, through a temporary file renamed into
///   place (a crash leaves the old or the new value). A value set again replaces
///   its file while no flush has put the file in the index; once one has (other
///   instances may read it), the new value gets a new file, and the old one is
///   removed by the next `flush()`, under the directory's lock, once the index
///   it writes no longer names it. So is a removed key's file (at once if no
///   flush published it), and the file the index names for a key this instance
///   set or removed, whichever instance wrote it: one key leaves one file. The
///   index never names a missing file; only a crash, or a file that cannot be
///   deleted (tried again at the next flush), leaves files it does not name. An
///   instance still naming a deleted file finds it missing and follows the
///   index. The key index `.keys` maps keys to relative file names, so the
///   directory can be moved.
/// - **Processes**: `flush()` merges this instance's changes (the keys it set
///   or removed since its last flush) into the index under an inter-process
///   lock, keeping what other processes flushed; a key this instance does not
///   know is looked up in the index on disk, and keys it only read follow the
///   index each time this instance reads it (`keys()`, `flush()`, a lookup of a
///   key it does not know, a spilled value whose file is gone): a value another
///   process set and flushed replaces the one held here (which is let go, and
///   read from its new file when asked for), and a key another process removed
///   and flushed is gone here too. Two processes writing different keys lose
///   nothing; for one key the last flush wins, and a value reaches other
///   instances only when flushed.
/// - **Lifetime**: a temporary dictionary (no `path`) is removed at deinit; a
///   given directory never is, and is flushed at deinit.
/// - **Durability**: over a given directory every file written (values and the
///   index) is fsynced with its directory, so a machine crash after `flush()`
///   returns loses nothing; `durable: false` skips the fsyncs (files are still
///   replaced by rename, so no reader sees half a value). A temporary dictionary,
///   which only its own process reads and nothing reads after a crash, writes its
///   files in place without fsyncs, as chest does (`durable: true` makes it sync).
public final class SpillDictionary<Key: Hashable & Codable & Sendable, Value: Codable & Sendable>: @unchecked Sendable {
    /// The directory values spill to.
    public let path: String
    public let memoryBudget: ByteCount
    public let encoding: ValueEncoding
    /// Whether the directory is removed when the dictionary goes away.
    public let isTemporary: Bool
    /// Whether written files are fsynced (see "Durability" above).
    public var isDurable: Bool { folder.writes == .synced }
    /// Called with a key whose value was read back from disk.
    ///
    /// `onMiss` and `onOverflow` run once the call that caused them (a read, `set` or
    /// `prefetch`) has released the dictionary's lock, so they may use the dictionary;
    /// they run in the order the events happened (a read's `onMiss` before the
    /// `onOverflow`s its load caused), and other threads may change the dictionary first.
    /// Both are kept under the dictionary's lock, so any thread may set them at any time;
    /// each event calls the one set when it is reported.
    public var onMiss: (@Sendable (Key) -> Void)? {
        get { state.withLock { $0.onMiss } }
        set { state.withLock { $0.onMiss = newValue } }
    }
    /// Called with a key whose value was spilled to disk (see ``onMiss``).
    public var onOverflow: (@Sendable (Key) -> Void)? {
        get { state.withLock { $0.onOverflow } }
        set { state.withLock { $0.onOverflow = newValue } }
    }

    private let folder: Folder
    private let state = Locked(State())
    static var indexName: String { ".keys" }
    static var lockName: String { ".lock" }

    private struct Entry {
        /// `nil` while the value lives only in its file.
        var value: Value?
        /// Encoded size in bytes.
        var size: Int
        /// The file's name, once the value has one.
        var file: String?
        /// Whether `file` is (or was) named in the index on disk, where other instances may have found it: it
        /// is then never written again, and removed only by `flush` (see ``State/superseded``).
        var shared: Bool
        /// The in-memory value differs from its file (or has none).
        var dirty: Bool
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var memoryUsage = 0
        var clock: UInt64 = 0
        /// The key each use (a clock tick) touched; spilling walks it from `oldest` up, so the least recently
        /// used value is found without sorting. Records go stale when a key is used again, spilled or
        /// removed, and are skipped (and dropped) when reached; ``touch(_:_:)`` rebuilds it when stale
        /// records pile up.
        var recency: [UInt64: Key] = [:]
        /// No record below this tick is live.
        var oldest: UInt64 = 1
        /// Keys removed since the last index merge.
        var removed: Set<Key> = []
        /// Keys set since the last index merge; every other key follows the index on disk.
        var changed: Set<Key> = []
        /// Shared files this instance stopped using (their key was removed, or its new value written to a new
        /// file); `flush` removes each, under the directory's lock, once the index it writes does not name it.
        var superseded: Set<String> = []
        var dropped = false
        /// Whether the index was missing from disk when this instance last followed it.
        var indexAbsent = false
        /// The identity of the index file `entries` follow, once settled (``Folder/identity(_:)``): while the
        /// file has it still, following the index again would change nothing, so it is not read.
        var indexFollowed: Posix.FileIdentity?
        /// Index and in-memory entries walked by `follow`, since the dictionary was made (for tests).
        var indexEntriesFollowed = 0
        var onMiss: (@Sendable (Key) -> Void)?
        var onOverflow: (@Sendable (Key) -> Void)?
    }

    /// A callback to make once the lock is released.
    private enum Event {
        case miss(Key)
        case overflow(Key)
    }

    private struct IndexEntry: Codable {
        var key: Key
        var file: String
    }

    /// A dictionary over `path` (created if missing; its key index is loaded if
    /// present), or over a new temporary directory.
    ///
    /// - Parameter durable: whether written files are fsynced; `nil` (the default)
    ///   means yes over a given `path` and no for a temporary dictionary.
    public init(
        path: String? = nil, memoryBudget: ByteCount = .gigabytes(1), encoding: ValueEncoding = .messagePack,
        durable: Bool? = nil,
        onMiss: (@Sendable (Key) -> Void)? = nil, onOverflow: (@Sendable (Key) -> Void)? = nil
    ) throws {
        self.isTemporary = path == nil
        let writes: Folder.Writes = (durable ?? (path != nil)) ? .synced : (path == nil ? .inPlace : .renamed)
        self.folder = try Folder(path: path ?? Folder.temporary(prefix: "spill-"), create: true, writes: writes)
        self.path = folder.path
        self.memoryBudget = memoryBudget
        self.encoding = encoding
        try state.withLock { state in
            state.onMiss = onMiss
            state.onOverflow = onOverflow
            let seen = try folder.identity(Self.indexName)  // before the read: a later version differs from it
            let index = try readIndex()
            state.indexAbsent = index == nil
            state.indexFollowed = seen?.settled == true && index != nil ? seen?.identity : nil
            for (key, file) in index ?? [:] {
                state.entries[key] = Entry(value: nil, size: 0, file: file, shared: true, dirty: false, lastUse: 0)
            }
        }
    }

    /// Runs `body` with a dictionary over a new temporary directory and removes
    /// the directory when `body` returns or throws (chest's `with Chest() as c:`);
    /// errors from `body` propagate.
    public static func withTemporary<R>(
        memoryBudget: ByteCount = .gigabytes(1), encoding: ValueEncoding = .messagePack,
        _ body: (SpillDictionary) throws -> R
    ) throws -> R {
        let dictionary = try SpillDictionary(memoryBudget: memoryBudget, encoding: encoding)
        defer { try? dictionary.drop() }
        return try body(dictionary)
    }

    deinit {
        if isTemporary {
            try? folder.removeAll()
        } else if !state.withLock({ $0.dropped }) {
            try? flush()
        }
    }

    // MARK: - Reading

    /// The value for `key` (loaded back from disk if it was spilled), or `nil`.
    public subscript(key: Key) -> Value? {
        get throws { try value(for: key) }
    }

    /// The value for `key` (loaded back from disk if it was spilled), or `nil`.
    public func value(for key: Key) throws -> Value? {
        var events: [Event] = []
        defer { report(events) }
        return try state.withLock { state in
            try checkOpen(state)
            if state.entries[key] == nil && !state.removed.contains(key) {
                try refreshIndex(&state)  // another process may have flushed it
            }
            guard var entry = state.entries[key] else { return nil }
            entry.lastUse = touch(key, &state)
            if let value = entry.value {
                state.entries[key] = entry
                return value
            }
            guard let value = try loadFollowingIndex(key, &state) else { return nil }
            events.append(.miss(key))
            entry.file = state.entries[key]?.file
            entry.value = value.value
            entry.size = value.size
            state.entries[key] = entry
            state.memoryUsage += value.size
            try shrink(&state, keeping: key, events: &events)
            return value.value
        }
    }

    /// Whether `key` has a value (in memory or on disk).
    public func contains(_ key: Key) throws -> Bool {
        try state.withLock { state in
            try checkOpen(state)
            if state.entries[key] == nil && !state.removed.contains(key) { try refreshIndex(&state) }
            return state.entries[key] != nil
        }
    }

    /// Every key, in memory or on disk (and flushed to the index by other processes), in no particular order:
    /// as a `Dictionary`'s keys, in an order Swift seeds per process (``items()`` and ``values()`` too).
    public func keys() throws -> [Key] {
        try state.withLock { state in
            try checkOpen(state)
            try refreshIndex(&state)
            return Array(state.entries.keys)
        }
    }

    public var count: Int { get throws { try keys().count } }

    /// Every value (each loaded back if spilled).
    public func values() throws -> [Value] { try items().map(\.value) }

    /// Every key with its value (each loaded back if spilled).
    public func items() throws -> [(key: Key, value: Value)] {
        try keys().compactMap { key in try value(for: key).map { (key, $0) } }
    }

    /// Index and in-memory entries walked following the index on disk so far.
    var indexEntriesFollowedForTesting: Int { state.withLock { $0.indexEntriesFollowed } }

    /// Bytes of values held in memory now.
    public var memoryUsage: Int { state.withLock { $0.memoryUsage } }

    /// Whether `key`'s value is held in memory now.
    public func isInMemory(_ key: Key) -> Bool { state.withLock { $0.entries[key]?.value != nil } }

    /// Loads the values of `keys` from disk into memory (without calling `onMiss`),
    /// so later reads of them are hits while the budget allows.
    public func prefetch(_ keys: [Key]) throws {
        var events: [Event] = []
        defer { report(events) }
        try state.withLock { state in
            try checkOpen(state)
            for key in keys {
                guard state.entries[key]?.value == nil, let loaded = try loadFollowingIndex(key, &state),
                    var entry = state.entries[key]
                else { continue }
                entry.value = loaded.value
                entry.size = loaded.size
                entry.lastUse = touch(key, &state)
                state.entries[key] = entry
                state.memoryUsage += loaded.size
            }
            try shrink(&state, keeping: nil, events: &events)
        }
    }

    // MARK: - Writing

    /// Sets `key` to `value`, replacing any earlier value (in memory or on disk).
    ///
    /// - Throws: the encoder's error if `value` cannot be encoded (nothing changes then); or the error writing
    ///   another value to disk to stay within the budget: `value` is set then, the value that could not be
    ///   written stays in memory, and memory stays over the budget until a later write spills.
    public func set(_ value: Value, for key: Key) throws {
        let size = try encoding.encode(value).count
        var events: [Event] = []
        defer { report(events) }
        try state.withLock { state in
            try checkOpen(state)
            let old = state.entries[key]
            if let old, old.value != nil { state.memoryUsage -= old.size }
            state.entries[key] = Entry(
                value: value, size: size, file: old?.file, shared: old?.shared ?? false, dirty: true, lastUse: touch(key, &state))
            state.removed.remove(key)
            state.changed.insert(key)
            state.memoryUsage += size
            try shrink(&state, keeping: key, events: &events)
        }
    }

    /// Removes `key` and its file (at once if no flush put the file in the index, else at the next
    /// `flush()`, which other instances may read it until); returns whether it had a value.
    ///
    /// - Throws: the error deleting a file no flush published (the file is deleted first). Nothing
    ///   changes then: the key keeps its latest value, and the next `flush()` publishes it as usual.
    @discardableResult
    public func removeValue(for key: Key) throws -> Bool {
        try state.withLock { state in
            try checkOpen(state)
            if state.entries[key] == nil { try refreshIndex(&state) }
            guard let old = state.entries[key] else { return false }
            if let file = old.file, !old.shared { try folder.remove(file) }
            state.entries[key] = nil
            if old.value != nil { state.memoryUsage -= old.size }
            if let file = old.file, old.shared { state.superseded.insert(file) }
            state.removed.insert(key)
            state.changed.remove(key)
            return true
        }
    }

    /// Copies every entry of `other` into this dictionary; with `overwrite` false,
    /// keys this one already has keep their values.
    public func merge(_ other: SpillDictionary<Key, Value>, overwrite: Bool = true) throws {
        for (key, value) in try other.items() where try overwrite || !contains(key) {
            try set(value, for: key)
        }
    }

    /// Writes every value not yet on disk to its file and merges this instance's
    /// changes (keys set or removed since its last flush) into the index `.keys`
    /// under the inter-process lock; other keys follow the index (a value held in
    /// memory whose key another instance set since is let go). Then removes the
    /// files the index no longer names that this instance stopped using, or that
    /// the index named for the keys it changed. Values this instance set stay in memory.
    public func flush() throws {
        try state.withLock { state in
            try checkOpen(state)
            for key in Array(state.entries.keys) {
                guard var entry = state.entries[key], entry.dirty, let value = entry.value else { continue }
                entry.file = try writeValue(value, for: key, entry: entry, state: &state)
                entry.shared = false
                entry.dirty = false
                state.entries[key] = entry
            }
            try folder.withLock(Self.lockName) {
                let onDisk = try readIndex() ?? [:]
                var merged = onDisk
                for key in state.removed { merged[key] = nil }
                for key in state.changed { if let file = state.entries[key]?.file { merged[key] = file } }
                // The file the index names for a key this instance changed may be another instance's (written
                // after this one last read the index): nothing names it once this index is written.
                for key in state.removed.union(state.changed) {
                    if let file = onDisk[key], file != merged[key] { state.superseded.insert(file) }
                }
                let index = merged.map { IndexEntry(key: $0.key, file: $0.value) }
                // Shared from now on, even if the write throws after its rename put the index in place: a value
                // set again then gets a new file, never rewriting one another instance may read.
                for key in state.changed { state.entries[key]?.shared = true }
                state.indexFollowed = nil  // not settled yet: read again at the next refresh
                try folder.write(Self.indexName, try ValueEncoding.messagePack.encode(index))
                state.indexAbsent = false  // its keys are shared now: an index gone from here on must be followed
                state.removed = []
                state.changed = []
                follow(merged, &state)
                // Only now, with the index no longer naming them, may the files go: an instance that still
                // names one finds it missing and follows the index.
                let named = Set(merged.values)
                var failure: (any Error)?
                for file in state.superseded {
                    do {
                        if !named.contains(file) { try folder.remove(file) }
                        state.superseded.remove(file)
                    } catch {
                        failure = failure ?? error  // kept, to try again at the next flush
                    }
                }
                if let failure { throw failure }
            }
        }
    }

    /// Removes the directory and everything in it; later calls throw ``PartdError/Code/closed``.
    public func drop() throws {
        try state.withLock { state in
            state.entries = [:]
            state.recency = [:]
            state.memoryUsage = 0
            state.dropped = true
            try folder.removeAll()
        }
    }

    // MARK: - Internals

    private func checkOpen(_ state: State) throws {
        if state.dropped {
            throw PartdError(code: .closed, message: "the spill dictionary was dropped", path: path)
        }
    }

    /// The index on disk: each key's file name.
    private func readIndex() throws -> [Key: String]? {
        guard let bytes = try folder.read(Self.indexName) else { return nil }
        do {
            let entries = try ValueEncoding.messagePack.decode([IndexEntry].self, from: bytes)
            return Dictionary(entries.map { ($0.key, $0.file) }, uniquingKeysWith: { $1 })
        } catch {
            throw PartdError(code: .corruptData, message: "the key index cannot be read: \(error)", path: folder.file(Self.indexName))
        }
    }

    /// Follows the index on disk: adds keys other processes flushed since this
    /// instance last looked and drops the ones they removed.
    ///
    /// While no index exists on disk (no instance has flushed yet), and none existed when this instance last
    /// looked, following it again would change nothing (every key this instance has, it set itself), so it is
    /// skipped: a lookup of a missing key then costs one `open` instead of a walk over every entry, which made
    /// `if !contains(k) { set(k) }` over n keys quadratic in a dictionary that was never flushed.
    ///
    /// After a flush, the same held for an index file that has not changed since this instance followed it, yet
    /// each lookup of an unknown key read and followed the whole index again: `if !contains(k) { set(k) }` over
    /// n new keys of a flushed dictionary of n keys was quadratic too. So the identity of the file followed
    /// (inode, size, times; taken before it is read) is kept once it is settled, and while the file still has
    /// it, it is not read again.
    private func refreshIndex(_ state: inout State) throws {
        let seen = try folder.identity(Self.indexName)
        if let seen, let followed = state.indexFollowed, seen.identity == followed { return }
        state.indexFollowed = nil
        guard let index = try readIndex() else {
            if state.indexAbsent { return }
            state.indexAbsent = true
            follow([:], &state)
            return
        }
        state.indexAbsent = false
        follow(index, &state)
        if let seen, seen.settled { state.indexFollowed = seen.identity }
    }

    /// Makes the keys this instance has not changed since its last flush match `index`: a key whose file
    /// changed (another instance set it and flushed) lets go of the value held in memory, which its new
    /// file replaces at the next read.
    private func follow(_ index: [Key: String], _ state: inout State) {
        state.indexEntriesFollowed += index.count + state.entries.count
        for (key, file) in index where !state.changed.contains(key) && !state.removed.contains(key) {
            let old = state.entries[key]
            if let old, old.file == file {
                state.entries[key]?.shared = true
                continue
            }
            if let old, old.value != nil { state.memoryUsage -= old.size }
            state.entries[key] = Entry(value: nil, size: 0, file: file, shared: true, dirty: false, lastUse: old?.lastUse ?? 0)
        }
        for (key, entry) in state.entries where index[key] == nil && !state.changed.contains(key) {
            // Another process removed it and flushed.
            state.entries[key] = nil
            if entry.value != nil { state.memoryUsage -= entry.size }
        }
    }

    /// Reads `key`'s spilled value back; if its file is gone and this instance did
    /// not change the key, follows the index (`nil` if another process removed it).
    private func loadFollowingIndex(_ key: Key, _ state: inout State) throws -> (value: Value, size: Int)? {
        guard let entry = state.entries[key] else { return nil }
        if let loaded = try load(key, entry) { return loaded }
        if !state.changed.contains(key) {
            try refreshIndex(&state)
            guard let current = state.entries[key] else { return nil }
            if current.file != entry.file, let loaded = try load(key, current) { return loaded }
        }
        throw PartdError(code: .notFound, message: "the spilled value of \(String(reflecting: key)) is missing", path: entry.file.map(folder.file))
    }

    /// The value in `entry`'s file, or `nil` if it has no file or the file is missing.
    private func load(_ key: Key, _ entry: Entry) throws -> (value: Value, size: Int)? {
        guard let file = entry.file, let bytes = try folder.read(file) else { return nil }
        do {
            return (try encoding.decode(Value.self, from: bytes), bytes.count)
        } catch {
            throw PartdError(code: .corruptData, message: "the value of \(String(reflecting: key)) cannot be decoded: \(error)", path: folder.file(file))
        }
    }

    /// Writes a value's file (atomically) and returns its name: the entry's own file if it has one no flush
    /// shared, else a new file (a shared one it replaces is removed at the next flush).
    private func writeValue(_ value: Value, for key: Key, entry: Entry, state: inout State) throws -> String {
        if let file = entry.file, !entry.shared {
            try folder.write(file, try encoding.encode(value))
            return file
        }
        let file = try newFileName(for: key)
        try folder.write(file, try encoding.encode(value))
        if let old = entry.file { state.superseded.insert(old) }
        return file
    }

    /// A new file name: the hash of the encoded key and a random suffix, so that no two writes (of this
    /// instance or another) share a name; one `stat` makes sure no file has it.
    private func newFileName(for key: Key) throws -> String {
        let hash = XXHash.hash64(try ValueEncoding.messagePack.encode(key)[...], seed: 0)
        while true {
            let name = "v" + String(hash, radix: 16) + "-" + String(UInt64.random(in: 0 ... .max), radix: 16)
            if try folder.stat(name) == nil { return name }
        }
    }

    /// Makes the callbacks for `events`, in order, each the one set now (call without the lock held).
    private func report(_ events: [Event]) {
        for event in events {
            switch event {
            case .miss(let key): state.withLock { $0.onMiss }?(key)
            case .overflow(let key): state.withLock { $0.onOverflow }?(key)
            }
        }
    }

    /// Spills least recently used values until memory is within the budget
    /// (`keeping` is spilled last), noting each in `events`.
    private func shrink(_ state: inout State, keeping: Key?, events: inout [Event]) throws {
        var kept: (key: Key, tick: UInt64)?
        // The least recently used first: the live records from `oldest` up.
        while state.memoryUsage > memoryBudget.bytes && state.oldest <= state.clock {
            let tick = state.oldest
            guard let key = state.recency[tick], let entry = state.entries[key], entry.value != nil, entry.lastUse == tick else {
                state.recency[tick] = nil
                state.oldest += 1
                continue
            }
            if key == keeping {
                // Spilled last: its record stays, so later walks find it.
                kept = (key, tick)
                break
            }
            try spill(key, entry, &state, &events)
            state.recency[tick] = nil
            state.oldest += 1
        }
        // Over the budget still, with every other value spilled (newer values than `keeping`, if any, are
        // left for the next walk).
        if state.memoryUsage > memoryBudget.bytes, let kept, let entry = state.entries[kept.key] {
            try spill(kept.key, entry, &state, &events)
            state.recency[kept.tick] = nil
        }
    }

    /// Writes `entry`'s value to its file (unless it is there already) and lets go of it.
    private func spill(_ key: Key, _ entry: Entry, _ state: inout State, _ events: inout [Event]) throws {
        var entry = entry
        if entry.dirty || entry.file == nil {
            entry.file = try writeValue(entry.value!, for: key, entry: entry, state: &state)
            entry.shared = false
            entry.dirty = false
        }
        entry.value = nil
        state.memoryUsage -= entry.size
        state.entries[key] = entry
        events.append(.overflow(key))
    }

    /// A new clock tick for a use of `key`, recorded in `recency`.
    private func touch(_ key: Key, _ state: inout State) -> UInt64 {
        state.clock += 1
        state.recency[state.clock] = key
        if state.recency.count > 2 * state.entries.count + 1024 {
            // Mostly stale records (keys used many times): keep one per value in memory.
            state.recency = [:]
            state.oldest = state.clock
            for (key, entry) in state.entries where entry.value != nil {
                state.recency[entry.lastUse] = key
                state.oldest = min(state.oldest, entry.lastUse)
            }
            state.recency[state.clock] = key
        }
        return state.clock
    }
}
