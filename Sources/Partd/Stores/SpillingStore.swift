// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Synchronization

/// A store that buffers appends in memory and spills to a slower store when
/// the buffer exceeds a budget (partd's `Buffer(Dict(), File())`).
///
/// When the bytes buffered in memory exceed the spill threshold, the largest
/// keys are moved to the slow store, about ``Configuration/spillFraction`` of
/// the buffer per round and at most ``Configuration/maxKeysPerSpill`` keys per
/// round, until the buffer is back under the threshold.
///
/// ```swift
/// let disk = try DirectoryStore.temporary()
/// let store = SpillingStore(spillingTo: disk, availableMemory: .megabytes(64))
/// try store.append(["p0": chunk])
/// try store.flush()                     // move everything to disk
/// ```
///
/// ## Background spilling
/// By default (``Configuration/backgroundSpill``) spill rounds are written by
/// a background thread while appends continue, so the slow store's I/O runs on
/// another core. The spill threshold is then ``Configuration/backgroundThreshold``
/// of the budget. Whenever buffered plus in-flight bytes exceed the budget, the
/// appending thread writes pending spill jobs itself (jobs on disjoint keys may
/// be written by both threads at once; a key's jobs are always written in order)
/// and waits only when none can be written, so memory stays within
/// ``Configuration/availableMemory`` (plus the batch being appended). Every other operation first waits for
/// in-flight spills, so reads always see bytes in append order. With
/// `backgroundSpill` off, spills happen inside `append` exactly as partd does.
///
/// Differences from partd's `Buffer`, all fixes:
/// - `get` returns a key's bytes in append order (spilled bytes first, then
///   buffered ones); partd returns the buffered, newer bytes first.
/// - Values written with `setOnce` count against the budget and can spill.
/// - `delete` and `drop` keep the byte accounting exact.
/// - A failed spill loses nothing: the bytes return to the buffer and the
///   failure is reported by the next append or flush as ``PartdError/Code/spillFailed``.
public final class SpillingStore<Slow: ByteStore>: ByteStore, @unchecked Sendable {
    /// How a spilling store buffers and spills.
    public struct Configuration: Sendable, Hashable {
        /// The most bytes held in memory (buffered plus being spilled). The default is 1 GB.
        public var availableMemory: ByteCount
        /// The share of the buffered bytes one spill round aims to move, as
        /// partd's `keys_to_flush(fraction=0.1)`. The default is 0.1.
        public var spillFraction: Double
        /// The most keys one spill round moves. The default is 20, as partd.
        public var maxKeysPerSpill: Int
        /// Write spills on a background thread while appends continue. The default is `true`.
        public var backgroundSpill: Bool
        /// With background spilling, the share of the budget at which spilling starts,
        /// leaving the rest for bytes in flight. The default is 0.75.
        public var backgroundThreshold: Double

        public init(
            availableMemory: ByteCount = .gigabytes(1),
            spillFraction: Double = 0.1,
            maxKeysPerSpill: Int = 20,
            backgroundSpill: Bool = true,
            backgroundThreshold: Double = 0.75
        ) {
            self.availableMemory = availableMemory
            self.spillFraction = spillFraction
            self.maxKeysPerSpill = max(1, maxKeysPerSpill)
            self.backgroundSpill = backgroundSpill
            self.backgroundThreshold = min(1, max(0, backgroundThreshold))
        }
    }

    /// Counters describing what the store has buffered and spilled.
    public struct Statistics: Sendable, Hashable {
        /// Bytes buffered in memory now, not counting bytes being spilled.
        public var bufferedBytes = 0
        /// Bytes handed to the background writer and not yet written.
        public var inFlightBytes = 0
        /// The most bytes ever held in memory at once (buffered plus in flight).
        public var peakMemoryBytes = 0
        /// Bytes written to the slow store so far.
        public var spilledBytes = 0
        /// Spill rounds written to the slow store so far.
        public var spillRounds = 0
        /// Time appends spent waiting for the background writer, in seconds.
        public var waitSeconds = 0.0
        /// Time spent writing spills to the slow store, in seconds.
        public var writeSeconds = 0.0
    }

    private typealias Job = [(key: PartdKey, chunks: [[UInt8]], bytes: Int)]

    /// The store spilled bytes go to.
    public let slow: Slow
    /// How this store buffers and spills.
    public let configuration: Configuration

    // The mutable state below is guarded by `monitor`. The background writer
    // never takes the monitor on its normal path (only after a failure, or to
    // wake a waiting appender), so a busy appender cannot starve it.
    private let monitor = Monitor()
    private var buffer = AppendLog()
    private var setOnceKeys: Set<PartdKey> = []
    private var stats = Statistics()
    private var failedJobs: [(id: Int, job: Job)] = []
    private var failure: PartdError?
    /// Key sizes looked at to choose spill rounds, since the store was made (for tests of how that work
    /// grows with the number of keys).
    private var spillCandidatesExamined = 0
    private let writer = DispatchQueue(label: "partd.spilling-store.writer")

    // Shared with the writer without the monitor.
    private let pendingJobs = Atomic<Int>(0)
    private let inFlightBytes = Atomic<Int>(0)
    private let waiters = Atomic<Int>(0)
    private let writerFailed = Atomic<Bool>(false)
    private let spilledBytes = Atomic<Int>(0)
    private let spillRounds = Atomic<Int>(0)
    private let writeNanoseconds = Atomic<Int>(0)
    /// Written jobs, released by the appending thread rather than the writer, so
    /// the two threads do not contend on the reference counts of shared values.
    private let written = Locked<[Job]>([])
    /// Spill jobs not yet written, in order, and the keys of jobs being written. The background
    /// writer and a waiting appender both take jobs from it; a job is taken only when none of its
    /// keys is in an older job still pending or being written, so each key's bytes reach the slow
    /// store in append order.
    private let queue = Locked(JobQueue())

    private struct JobQueue {
        var pending: [(id: Int, job: Job, keys: Set<PartdKey>)] = []
        var writing: [Int: Set<PartdKey>] = [:]
        var nextID = 0

        mutating func enqueue(_ job: Job) {
            pending.append((nextID, job, Set(job.map(\.key))))
            nextID += 1
        }

        mutating func take() -> (id: Int, job: Job)? {
            var blocked = Set<PartdKey>()
            for keys in writing.values { blocked.formUnion(keys) }
            for (index, entry) in pending.enumerated() {
                if entry.keys.isDisjoint(with: blocked) {
                    pending.remove(at: index)
                    writing[entry.id] = entry.keys
                    return (entry.id, entry.job)
                }
                blocked.formUnion(entry.keys)
            }
            return nil
        }
    }

    /// A spilling store over `slow` with the given configuration.
    public init(spillingTo slow: Slow, configuration: Configuration = Configuration()) {
        self.slow = slow
        self.configuration = configuration
    }

    /// A spilling store over `slow` that holds at most `availableMemory` bytes in memory.
    public convenience init(spillingTo slow: Slow, availableMemory: ByteCount, backgroundSpill: Bool = true) {
        self.init(
            spillingTo: slow,
            configuration: Configuration(availableMemory: availableMemory, backgroundSpill: backgroundSpill))
    }

    // MARK: - ByteStore

    /// Appends the batch to the memory buffer, then spills while over the threshold.
    ///
    /// - Throws: ``PartdError/Code/spillFailed`` if an earlier or current spill
    ///   failed. The batch *was* appended in that case (it is held in memory)
    ///   and must not be retried; later spills retry the write.
    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        // Keys the slow store cannot hold are refused before anything is buffered; only keys
        // whose encoding could be long are checked, so short keys cost nothing here.
        for entry in batch where entry.key.encodedLengthBound > 64 { try slow.validate(entry.key) }
        monitor.lock()
        defer { monitor.unlock() }
        buffer.append(contentsOf: batch)
        notePeak()
        try spillOverThreshold()
    }

    /// Appends each entry's chunks as separate values, without joining them.
    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws {
        for entry in batch where entry.key.encodedLengthBound > 64 { try slow.validate(entry.key) }
        monitor.lock()
        defer { monitor.unlock() }
        for entry in batch {
            if entry.chunks.isEmpty { buffer.append(entry.key, []) }
            for chunk in entry.chunks { buffer.append(entry.key, chunk) }
        }
        notePeak()
        try spillOverThreshold()
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        var result: [[UInt8]] = []
        result.reserveCapacity(keys.count)
        for key in keys {
            let buffered = buffer.byteCount(of: key)
            if buffered == 0 {
                result.append(try slow.get(key, reservingCapacity: 0))
            } else {
                // One allocation: the slow store's bytes, then the buffered ones after them.
                var joined = try slow.get(key, reservingCapacity: buffered)
                if joined.isEmpty {
                    joined = buffer.bytes(of: key)
                } else {
                    buffer.appendBytes(of: key, to: &joined)
                }
                result.append(joined)
            }
        }
        return result
    }

    public func validate(_ key: PartdKey) throws {
        try slow.validate(key)
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        try slow.validate(key)
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        guard !setOnceKeys.contains(key) else { return false }
        try slow.delete([key])
        buffer.set(key, value)
        setOnceKeys.insert(key)
        notePeak()
        try spillOverThreshold()
        return true
    }

    public func delete(_ keys: [PartdKey]) throws {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        // The keys the slow store holds (or may hold) before the delete.
        let spilled = keys.filter { (try? slow.contains($0)) != false }
        do {
            try slow.delete(keys)
        } catch {
            // The slow store may have deleted some keys before it failed: those go from the buffer too, so that no
            // key is left torn (its spilled head gone, its buffered tail kept); the others stay whole, keys held
            // in memory alone included.
            for key in spilled where (try? slow.contains(key)) == false {
                buffer.remove(key)
                setOnceKeys.remove(key)
            }
            throw error
        }
        for key in keys {
            buffer.remove(key)
            setOnceKeys.remove(key)
        }
    }

    public func drop() throws {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        try slow.drop()
        buffer.removeAll()
        setOnceKeys = []
        failure = nil
    }

    public func keys() throws -> [PartdKey] {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        var all = Set(try slow.keys())
        all.formUnion(buffer.keys)
        return all.sorted()
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        return try buffer.contains(key) || slow.contains(key)
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        return try buffer.byteCount(of: key) + slow.byteCount(of: key)
    }

    // MARK: - Spilling

    /// Moves the buffered bytes of `keys` (all buffered keys if `nil`) to the
    /// slow store and waits until they are written, and until the slow store has
    /// applied them (its ``ByteStore/waitForWrites()``: a `RemoteStore` returns
    /// from appends before the server answers).
    ///
    /// - Throws: ``PartdError/Code/spillFailed`` if writing failed; the bytes stay buffered.
    ///   A failure the slow store reports only when waited for is thrown as it is; those bytes
    ///   have left the buffer.
    public func flush(_ keys: [PartdKey]? = nil) throws {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        try throwPendingFailure()
        let chosen = (keys ?? buffer.keys).filter { buffer.contains($0) }
        if !chosen.isEmpty {
            spillSynchronously(detach(chosen))
            try throwPendingFailure()
        }
        try slow.waitForWrites()
    }

    /// Waits for the background spills and for the slow store to apply what it was given (see ``flush(_:)``);
    /// bytes still buffered stay buffered.
    public func waitForWrites() throws {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
        try throwPendingFailure()
        try slow.waitForWrites()
    }

    /// Waits until every background spill has been written.
    public func waitForSpills() {
        monitor.lock()
        defer { monitor.unlock() }
        settle()
    }

    /// The keys currently buffered in memory, sorted.
    public var bufferedKeys: [PartdKey] {
        monitor.withLock { buffer.keys }.sorted()
    }

    /// The bytes of `key` currently buffered in memory (not being spilled or spilled).
    public func bufferedBytes(of key: PartdKey) -> [UInt8] {
        monitor.withLock { buffer.bytes(of: key) }
    }

    /// Key sizes looked at to choose spill rounds so far (see `nextRound`).
    var spillCandidatesExaminedForTesting: Int { monitor.withLock { spillCandidatesExamined } }

    /// What the store has buffered and spilled so far.
    public var statistics: Statistics {
        monitor.withLock {
            var s = stats
            s.bufferedBytes = buffer.totalBytes
            s.inFlightBytes = inFlightBytes.load(ordering: .sequentiallyConsistent)
            s.spilledBytes = spilledBytes.load(ordering: .sequentiallyConsistent)
            s.spillRounds = spillRounds.load(ordering: .sequentiallyConsistent)
            s.writeSeconds = Double(writeNanoseconds.load(ordering: .sequentiallyConsistent)) / 1e9
            return s
        }
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
        let entries = Array(sizes)
        return SpillRule.choose(
            sizes: entries.map(\.size), fraction: fraction, maxCount: maxCount,
            tieBreak: { entries[$0].key < entries[$1].key }
        ).map { entries[$0].key }
    }

    // MARK: - Internals (call with the monitor held)

    private func notePeak() {
        let inMemory = buffer.totalBytes + inFlightBytes.load(ordering: .relaxed)
        if inMemory > stats.peakMemoryBytes { stats.peakMemoryBytes = inMemory }
    }


    private func spillOverThreshold() throws {
        let budget = configuration.availableMemory.bytes
        if configuration.backgroundSpill {
            // Clamped: Double(Int.max) rounds up to 2^63, which Int(_:) would trap on.
            let share = Double(budget) * configuration.backgroundThreshold
            let threshold = share < Double(Int.max) ? Int(share) : Int.max
            var rounds = SpillRounds()
            while buffer.totalBytes > threshold, !buffer.isEmpty {
                let done = written.withLock { jobs in
                    var taken: [Job] = []
                    swap(&taken, &jobs)
                    return taken
                }
                _ = done  // released here, on the appending thread
                let job = detach(rounds.next(self))
                pendingJobs.add(1, ordering: .sequentiallyConsistent)
                inFlightBytes.add(job.reduce(0) { $0 + $1.bytes }, ordering: .sequentiallyConsistent)
                queue.withLock { $0.enqueue(job) }
                writer.async { self.writeNextJob() }
            }
            let overBudget = {
                self.buffer.totalBytes + self.inFlightBytes.load(ordering: .sequentiallyConsistent) > budget
                    && self.pendingJobs.load(ordering: .sequentiallyConsistent) > 0
            }
            if overBudget() {
                // Rather than only wait for the writer, write pending jobs here too: both cores write.
                let start = Self.now()
                helpUntil { !overBudget() }
                stats.waitSeconds += Self.now() - start
            }
        } else {
            var rounds = SpillRounds()
            while buffer.totalBytes > budget, !buffer.isEmpty, failure == nil {
                spillSynchronously(detach(rounds.next(self)))
            }
        }
        restoreFailedJobs()
        try throwPendingFailure()
    }

    /// The keys of successive spill rounds of one call, each chosen as ``keysToSpill(sizes:fraction:maxCount:)``
    /// would choose it. Between the rounds of one call the buffer only loses the keys each round takes (the
    /// monitor is held and nothing is appended), and a round takes the largest keys, so the rounds take
    /// successive keys of one order (size descending, then key order). The first round scans the table as
    /// before (a call usually needs one round); a second builds a heap of the remaining keys once, and every
    /// later round pops up to `maxKeysPerSpill` keys from it and pushes back those it does not take:
    /// O(keys + rounds · maxKeysPerSpill · log keys) per call instead of
    /// O(keys · rounds), which with many small keys in a small budget made a batch append quadratic.
    fileprivate struct SpillRounds {
        private var round = 0
        private var heap = SpillHeap()

        mutating func next(_ store: SpillingStore) -> [PartdKey] {
            round += 1
            if round == 1 { return store.nextRound() }
            if round == 2 {
                heap = SpillHeap(store.buffer.slotSizes.map { (key: store.buffer.key(atSlot: $0.slot), size: $0.size) })
                store.spillCandidatesExamined += heap.count
            }
            let limit = min(max(1, store.configuration.maxKeysPerSpill), max(heap.count / 2, 1))
            var top: [(key: PartdKey, size: Int, index: Int)] = []
            top.reserveCapacity(limit)
            while top.count < limit, let entry = heap.popLargest() { top.append(entry) }
            store.spillCandidatesExamined += top.count
            let taken = SpillRule.taken(sizes: top.map(\.size), total: store.buffer.totalBytes, fraction: store.configuration.spillFraction)
            for entry in top[taken...] { heap.insert(entry) }
            return top[..<taken].map(\.key)
        }
    }

    /// The keys of the next spill round, chosen as ``keysToSpill(sizes:fraction:maxCount:)``
    /// does, from the buffer's table slots (no key is copied until chosen).
    private func nextRound() -> [PartdKey] {
        let slots = buffer.slotSizes
        spillCandidatesExamined += slots.count
        return SpillRule.choose(
            sizes: slots.map(\.size), fraction: configuration.spillFraction, maxCount: configuration.maxKeysPerSpill,
            tieBreak: { buffer.key(atSlot: slots[$0].slot) < buffer.key(atSlot: slots[$1].slot) }
        ).map { buffer.key(atSlot: slots[$0].slot) }
    }

    private func detach(_ keys: [PartdKey]) -> Job {
        var job: Job = []
        job.reserveCapacity(keys.count)
        for key in keys {
            if let removed = buffer.remove(key) { job.append((key: key, chunks: removed.chunks, bytes: removed.bytes)) }
        }
        return job
    }

    private func spillSynchronously(_ job: Job) {
        let start = Self.now()
        let (writtenBytes, remainder, error) = write(job)
        spilledBytes.add(writtenBytes, ordering: .relaxed)
        if let error {
            failedJobs.append((Int.max, remainder))
            failure = Self.spillFailure(error)
            restoreFailedJobs()
        } else {
            spillRounds.add(1, ordering: .relaxed)
        }
        writeNanoseconds.add(Int((Self.now() - start) * 1e9), ordering: .relaxed)
    }

    /// Runs on the writer queue: writes the next job that can be written, if any.
    private func writeNextJob() {
        guard let (id, job) = queue.withLock({ $0.take() }) else { return }
        run(id, job, holdingMonitor: false)
    }

    /// Writes one taken job and accounts for it. Off the appending thread it takes the monitor
    /// only after a failure or to wake a waiter.
    private func run(_ id: Int, _ job: Job, holdingMonitor: Bool) {
        let bytes = job.reduce(0) { $0 + $1.bytes }
        var error: (any Error)? = nil
        var remainder: Job = job
        let skip = writerFailed.load(ordering: .sequentiallyConsistent)
        if !skip {
            let start = Self.now()
            let result = write(job)
            error = result.error
            remainder = result.remainder
            spilledBytes.add(result.writtenBytes, ordering: .relaxed)
            writeNanoseconds.add(Int((Self.now() - start) * 1e9), ordering: .relaxed)
        }
        if skip || error != nil {
            // Keep the unwritten bytes (and the order of later jobs): the owner
            // puts them back in the buffer.
            writerFailed.store(true, ordering: .sequentiallyConsistent)
            if !holdingMonitor { monitor.lock() }
            failedJobs.append((id, remainder))
            if let error, failure == nil { failure = Self.spillFailure(error) }
            if !holdingMonitor { monitor.unlock() }
        } else {
            spillRounds.add(1, ordering: .relaxed)
            if !holdingMonitor { written.withLock { $0.append(job) } }
        }
        let morePending = queue.withLock { queue in
            queue.writing[id] = nil
            return !queue.pending.isEmpty
        }
        inFlightBytes.subtract(bytes, ordering: .sequentiallyConsistent)
        pendingJobs.subtract(1, ordering: .sequentiallyConsistent)
        // A job that was blocked by this one may have no writer block left to run it.
        if morePending { writer.async { self.writeNextJob() } }
        if waiters.load(ordering: .sequentiallyConsistent) > 0 {
            if holdingMonitor {
                monitor.broadcast()
            } else {
                monitor.lock()
                monitor.broadcast()
                monitor.unlock()
            }
        }
    }

    /// With the monitor held: writes pending jobs on this thread, and waits for the background
    /// writer when no pending job can be written yet, until `done()` holds.
    private func helpUntil(_ done: () -> Bool) {
        while !done() {
            if let (id, job) = queue.withLock({ $0.take() }) {
                run(id, job, holdingMonitor: true)
            } else {
                waiters.add(1, ordering: .sequentiallyConsistent)
                if !done() && queue.withLock({ $0.pending.isEmpty || !$0.writing.isEmpty }) { monitor.wait() }
                waiters.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// Writes the job's entries to the slow store, one key per call, so that a
    /// failure leaves exactly the unwritten entries to put back (a key written
    /// before the failure is not written twice).
    private func write(_ job: Job) -> (writtenBytes: Int, remainder: Job, error: (any Error)?) {
        var writtenBytes = 0
        for (index, entry) in job.enumerated() {
            do {
                try slow.append(chunked: [(key: entry.key, chunks: entry.chunks)])
            } catch {
                return (writtenBytes, Array(job[index...]), error)
            }
            writtenBytes += entry.bytes
        }
        return (writtenBytes, [], nil)
    }

    /// Waits for in-flight spills and puts the bytes of failed ones back.
    private func settle() {
        helpUntil { pendingJobs.load(ordering: .sequentiallyConsistent) == 0 }
        written.withLock { $0 = [] }
        restoreFailedJobs()
    }

    /// Puts the bytes of failed spills back in front of what each key buffered since.
    private func restoreFailedJobs() {
        guard !failedJobs.isEmpty, pendingJobs.load(ordering: .sequentiallyConsistent) == 0 else { return }
        var restored: [PartdKey: [[UInt8]]] = [:]
        for (_, job) in failedJobs.sorted(by: { $0.id < $1.id }) {
            for entry in job { restored[entry.key, default: []].append(contentsOf: entry.chunks) }
        }
        failedJobs = []
        writerFailed.store(false, ordering: .sequentiallyConsistent)
        for (key, chunks) in restored {
            let newer = buffer.remove(key)?.chunks ?? []
            for chunk in chunks + newer { buffer.append(key, chunk) }
            if chunks.isEmpty && newer.isEmpty { buffer.append(key, []) }
        }
    }

    private func throwPendingFailure() throws {
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    private static func spillFailure(_ error: any Error) -> PartdError {
        var wrapped = (error as? PartdError)
            ?? PartdError(code: .io, message: "\(error)")
        let cause = "\(wrapped.code): \(wrapped.message)"
        wrapped.code = .spillFailed
        wrapped.message = "appended data is held in memory (do not retry the append), but spilling it to the "
            + "slow store failed: \(cause)"
        return wrapped
    }

    private static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}

/// The rule of ``SpillingStore/keysToSpill(sizes:fraction:maxCount:)``, over sizes alone.
enum SpillRule {
    /// The indices into `sizes` of the entries one spill round moves, largest first.
    /// `tieBreak(i, j)` orders entries of equal size; it is called only for those.
    static func choose(sizes: [Int], fraction: Double, maxCount: Int, tieBreak: (Int, Int) -> Bool) -> [Int] {
        guard !sizes.isEmpty else { return [] }
        let total = sizes.reduce(0, +)
        let limit = min(max(1, maxCount), max(sizes.count / 2, 1))
        func ranksBefore(_ i: Int, _ j: Int) -> Bool {
            sizes[i] != sizes[j] ? sizes[i] > sizes[j] : tieBreak(i, j)
        }
        // Keep the `limit` largest entries, sorted by size descending, ties by `tieBreak`.
        var top: [Int] = []
        top.reserveCapacity(limit + 1)
        for i in sizes.indices {
            if top.count == limit, let last = top.last, !ranksBefore(i, last) { continue }
            var index = top.count
            while index > 0, ranksBefore(i, top[index - 1]) { index -= 1 }
            top.insert(i, at: index)
            if top.count > limit { top.removeLast() }
        }
        return Array(top.prefix(taken(sizes: top.map { sizes[$0] }, total: total, fraction: fraction)))
    }

    /// How many of the `top` sizes (largest first, at least one) a round takes: as many as fit within
    /// `fraction` of `total`, at least 1.
    static func taken(sizes top: [Int], total: Int, fraction: Double) -> Int {
        guard !top.isEmpty else { return 0 }
        let cutoffBytes = Double(total) * fraction
        var running = 0
        var taken = 0
        for size in top {
            running += size
            if Double(running) > cutoffBytes { break }
            taken += 1
        }
        return max(1, taken)
    }
}

/// A binary max-heap of keys by size, ties by key order (the order a spill round takes keys in). The heap
/// moves sizes and indices into `keys`, so sifting takes no reference counts.
struct SpillHeap {
    private var keys: [PartdKey] = []
    private var entries: [(size: Int, index: Int)] = []

    init() {}

    init(_ sizes: [(key: PartdKey, size: Int)]) {
        keys = sizes.map(\.key)
        entries = sizes.indices.map { (size: sizes[$0].size, index: $0) }
        var i = entries.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    var count: Int { entries.count }

    @inline(__always)
    private func before(_ a: (size: Int, index: Int), _ b: (size: Int, index: Int)) -> Bool {
        a.size != b.size ? a.size > b.size : keys[a.index] < keys[b.index]
    }

    /// Puts back an entry ``popLargest()`` returned.
    mutating func insert(_ entry: (key: PartdKey, size: Int, index: Int)) {
        let moving = (size: entry.size, index: entry.index)
        entries.append(moving)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(moving, entries[parent]) else { break }
            entries[child] = entries[parent]
            child = parent
        }
        entries[child] = moving
    }

    mutating func popLargest() -> (key: PartdKey, size: Int, index: Int)? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown(0)
        }
        return (keys[top.index], top.size, top.index)
    }

    private mutating func siftDown(_ start: Int) {
        let moving = entries[start]
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { break }
            var best = left
            if left + 1 < entries.count, before(entries[left + 1], entries[left]) { best = left + 1 }
            guard before(entries[best], moving) else { break }
            entries[parent] = entries[best]
            parent = best
        }
        entries[parent] = moving
    }
}
