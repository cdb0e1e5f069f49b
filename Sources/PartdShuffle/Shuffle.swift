// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import PartdTyped
import Synchronization

/// How a shuffle stores its partitions, and what it reports while it runs.
public struct ShuffleOptions: Sendable {
    /// The most partition bytes held in memory; the rest spill to disk. The default is 256 MB.
    public var memory: ByteCount
    /// Where the partitions are kept. `nil` (the default) makes a temporary
    /// directory, removed when the shuffle is closed or deinitialised and when it
    /// fails; a given directory is left in place, holding every partition, after
    /// ``Shuffle/close()``, and after a failure holding every row added before it that no consuming read
    /// took (what was in memory is flushed to it). A given directory must not hold any of the shuffle's
    /// partitions yet (a rerun's would get the rows twice): the shuffle's initialiser throws
    /// ``PartdError/Code/alreadyExists`` naming it. To read partitions a directory holds, or to append to
    /// them on purpose, pass it as ``store`` (`AnyByteStore(DirectoryStore(path:))`).
    public var directory: String?
    /// The parent of the temporary directory (`$TMPDIR` or `/tmp` by default).
    public var temporaryParent: String?
    /// Compression of the bytes spilled to disk (`nil`: none).
    public var compression: Compression?
    /// A store to keep the partitions in instead of a directory: for example a
    /// `RedisStore` that several mapper processes (or hosts) shuffle into. Appends
    /// are still buffered within ``memory``; ``Shuffle/close()`` flushes them (a close whose flush throws
    /// keeps them in memory, and calling it again retries), and
    /// the shuffle never drops or deletes anything of a store it was given, even
    /// after a failure (other mappers' and reducers' data lives there too): the
    /// consuming reads (a groupby, join, sort or drop of duplicates without
    /// `keepPartitions`) close the shuffle but leave the partitions in the store.
    /// Delete or drop them yourself once every reader is done. `directory`,
    /// `temporaryParent` and `compression` are ignored when it is set: wrap the
    /// store in a `CompressedStore` to compress. Partitions are stored under their
    /// numbers (``Shuffle/key(ofPartition:)``), so two different shuffles (the two
    /// sides of a join, say) need two stores: two directories, or two
    /// `RedisStore`s of different namespaces over one cluster.
    public var store: AnyByteStore?
    /// Called after each chunk is partitioned and after each partition is read
    /// by ``Shuffle/mapPartitions(_:)``, from the thread doing the work.
    public var progress: (@Sendable (ShuffleProgress) -> Void)?

    public init(
        memory: ByteCount = .megabytes(256),
        directory: String? = nil,
        temporaryParent: String? = nil,
        compression: Compression? = nil,
        store: AnyByteStore? = nil,
        progress: (@Sendable (ShuffleProgress) -> Void)? = nil
    ) {
        self.store = store
        self.memory = memory
        self.directory = directory
        self.temporaryParent = temporaryParent
        self.compression = compression
        self.progress = progress
    }
}

/// Where a shuffle is.
public struct ShuffleProgress: Sendable, Hashable {
    public enum Phase: Sendable, Hashable {
        /// Chunks are being hashed and appended to their partitions.
        case partitioning
        /// Partitions are being read back.
        case reading
    }
    public var phase: Phase
    /// Rows partitioned so far.
    public var rowsIn: Int
    /// Bytes moved from memory to disk so far.
    public var bytesSpilled: Int
    /// Partitions read back so far.
    public var partitionsDone: Int
    /// The number of partitions.
    public var partitionCount: Int

    public init(phase: Phase, rowsIn: Int, bytesSpilled: Int, partitionsDone: Int, partitionCount: Int) {
        self.phase = phase
        self.rowsIn = rowsIn
        self.bytesSpilled = bytesSpilled
        self.partitionsDone = partitionsDone
        self.partitionCount = partitionCount
    }
}

extension ShuffleProgress: CustomStringConvertible {
    /// One line for a log or a terminal: `partitioning: 1200000 rows in, 64.0 MB spilled` while rows go in,
    /// `reading: 3 of 64 partitions (1200000 rows in, 64.0 MB spilled)` while partitions are read back.
    public var description: String {
        let totals = "\(rowsIn) rows in, \(ByteCount(bytes: bytesSpilled)) spilled"
        return switch phase {
        case .partitioning: "partitioning: " + totals
        case .reading: "reading: \(partitionsDone) of \(partitionCount) partitions (" + totals + ")"
        }
    }
}

/// A disk-backed hash shuffle (dask's disk shuffle): rows of every chunk go
/// to the partition their key's ``PartitionHash`` names, chunks are split on
/// all cores and appended to a spilling store with a memory budget, and after
/// the last chunk each partition reads back whole.
///
/// ```swift
/// let shuffle = try Shuffle<Table>(by: ["id"], partitions: 64, options: ShuffleOptions(memory: .megabytes(256)))
/// try shuffle.add(contentsOf: chunks)           // any Sequence (or AsyncSequence) of tables
/// let first = try shuffle.partition(0)          // every row whose id hashes to partition 0
/// let sums = try shuffle.groupBy(["id"]).aggregate([.sum("x")])
/// try shuffle.close()                           // removes the temporary directory
/// ```
///
/// Shuffles of ``Table``s (by column names), ``NDArray``s (by value) and
/// arrays of records (by a key function) are made by the initialisers in the
/// extensions. A shuffle whose `add` throws (or is cancelled) drops its data
/// and removes its temporary directory before rethrowing; later calls throw
/// ``PartdError/Code/closed``. So does a consuming read (a groupby, join, sort
/// or drop of duplicates without `keepPartitions`) that throws once it has
/// deleted a partition holding rows (its `body` threw, say): the partitions
/// left are no longer every row, and no later read may take them for the whole.
public final class Shuffle<Chunk: Sendable>: Sendable {
    /// The number of partitions.
    public let partitionCount: Int
    public let options: ShuffleOptions
    /// The byte store holding the partitions: a spilling store over the directory
    /// (or over ``ShuffleOptions/store``).
    public let store: SpillingStore<AnyByteStore>
    /// The directory the partitions spill to (`nil` when ``ShuffleOptions/store`` was given).
    public let directory: DirectoryStore?
    let kind: ShuffleKind<Chunk>
    private let state = Locked(State())

    struct State {
        var rowsIn = 0
        /// Rows added to each partition by this shuffle.
        var partitionRows: [Int] = []
        var partitionsDone = 0
        var finished = false
        var closed: String? = nil
        /// Whether `close()` has yet to finish: it was not called, or its flush (or drop) threw, so the next
        /// call tries again.
        var closeUnfinished = true
        /// A zero-row chunk shaped like the input, returned for empty partitions.
        var empty: Chunk? = nil
    }

    init(
        partitions: Int, options: ShuffleOptions,
        kind makeKind: (SpillingStore<AnyByteStore>) -> ShuffleKind<Chunk>
    ) throws {
        guard partitions > 0 else {
            throw PartdError(code: .invalidArgument, message: "a shuffle needs at least one partition, not \(partitions)")
        }
        partitionCount = partitions
        self.options = options
        let directory: DirectoryStore?
        let slow: AnyByteStore
        if let given = options.store {
            directory = nil
            slow = given
        } else {
            let made = try options.directory.map { try DirectoryStore(path: $0) }
                ?? DirectoryStore.temporary(in: options.temporaryParent)
            if options.directory != nil {
                do {
                    try Self.checkHoldsNoPartitions(made, partitions: partitions)
                } catch {
                    try? made.close()
                    throw error
                }
            }
            directory = made
            slow = options.compression.map { AnyByteStore(CompressedStore($0, over: made)) } ?? AnyByteStore(made)
        }
        let store = SpillingStore(spillingTo: slow, availableMemory: options.memory)
        self.directory = directory
        self.store = store
        state.withLock { $0.partitionRows = [Int](repeating: 0, count: partitions) }
        kind = makeKind(store)
    }

    /// Refuses a given directory that already holds partitions (of an earlier run, say): the shuffle would
    /// append to them, its partitions holding their rows too.
    private static func checkHoldsNoPartitions(_ directory: DirectoryStore, partitions: Int) throws {
        let held = Set(try directory.keys())
        let clashing = (0..<partitions).filter { held.contains(key(ofPartition: $0)) }
        guard let first = clashing.first else { return }
        throw PartdError(
            code: .alreadyExists,
            message: "the directory \(directory.path) already holds \(clashing.count) of this shuffle's \(partitions) "
                + "partitions (key \(first) first), which it would append to: remove the directory (or those keys) "
                + "first, or pass it as ShuffleOptions.store (AnyByteStore(DirectoryStore(path:))) to append to them "
                + "on purpose",
            path: directory.path)
    }

    /// Whether the consuming reads delete each partition once read: yes from the shuffle's own directory,
    /// never from a store it was given (``ShuffleOptions/store``), which other readers may share.
    var deletesConsumedPartitions: Bool { options.store == nil }

    /// Whether a consuming read deletes a partition before handing it to its body, freeing its memory and
    /// disk sooner: from the shuffle's temporary directory, which a failure drops whole anyway. From a given
    /// directory a partition is deleted once its body has returned, so one whose body threw stays there.
    var deletesBeforeBody: Bool { directory?.isTemporary == true }

    /// The key columns of a table shuffle (empty for other kinds).
    public var keyColumns: [String] { kind.keyColumns }

    /// The key partition `index` is stored under (its number).
    public static func key(ofPartition index: Int) -> PartdKey { PartdKey(index) }

    /// Hashes `chunk`'s rows and appends each partition's rows to it.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` for a table whose columns
    ///   (names, order or types) differ from the first table's, or an array whose
    ///   rows have another shape than the first array's, a zero-row first chunk
    ///   included; what partitioning or storing throws (the shuffle is then
    ///   dropped and closed, as after every error here); ``PartdError/Code/closed`` after ``finish()``,
    ///   ``close()`` or an earlier failure.
    public func add(_ chunk: Chunk) throws {
        try checkOpen(adding: true)
        do {
            try partitionAndAppend(chunk)
        } catch {
            fail(error)
            throw error
        }
    }

    /// Adds every chunk of `chunks`, in order.
    public func add<S: Sequence>(contentsOf chunks: S) throws where S.Element == Chunk {
        for chunk in chunks { try add(chunk) }
    }

    /// Adds every chunk of `chunks`, in order; cancelling the task, or an error of the sequence, drops the
    /// shuffle (``PartdError/Code/closed`` afterwards) and throws that error. As ``add(_:)``, it throws
    /// ``PartdError/Code/closed`` after ``finish()``, ``close()`` or an earlier failure, and leaves the
    /// shuffle as it is.
    public func add<S: AsyncSequence>(contentsOf chunks: S) async throws where S.Element == Chunk {
        // A closed or finished shuffle is no failure of this call's (it dropped every row added before).
        try checkOpen(adding: true)
        var iterator = chunks.makeAsyncIterator()
        while true {
            let next: Chunk?
            do {
                try Task.checkCancellation()
                next = try await iterator.next()
                try Task.checkCancellation()
            } catch {
                fail(error)
                throw error
            }
            guard let chunk = next else { return }
            // Drops the shuffle itself on an error of partitioning or storing, not on `closed` (finished meanwhile).
            try add(chunk)
        }
    }

    /// The barrier: no chunk may be added afterwards. Reading a partition
    /// finishes the shuffle implicitly.
    public func finish() throws {
        try checkOpen(adding: false)
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        // What partitioning freed goes back to the system before the partitions are read.
        if first { Posix.releaseFreeMemory() }
    }

    /// Every row added whose key hashes to partition `index`, in the order the
    /// chunks were added; an empty chunk for a partition that received nothing.
    /// (Chunks added from several threads at once come in the order their appends completed, which may
    /// differ from run to run.)
    public func partition(_ index: Int) throws -> Chunk {
        try partition(index, columns: nil)
    }

    func partition(_ index: Int, columns: [String]?) throws -> Chunk {
        guard (0..<partitionCount).contains(index) else {
            throw PartdError(code: .invalidArgument, message: "partition \(index) is outside 0..<\(partitionCount)")
        }
        try finish()
        let chunk = try kind.get(Self.key(ofPartition: index), columns)
        if kind.rowCount(chunk) == 0, let empty = state.withLock({ $0.empty }) {
            return columns.map { kind.selecting(empty, $0) } ?? empty
        }
        return chunk
    }

    /// `transform` of every partition, read and run on all cores (several calls at once, hence `@Sendable`);
    /// results in partition order.
    public func mapPartitions<R: Sendable>(_ transform: @Sendable (Int, Chunk) throws -> R) throws -> [R] {
        try mapPartitions(columns: nil, transform)
    }

    func mapPartitions<R: Sendable>(columns: [String]?, _ transform: (Int, Chunk) throws -> R) throws -> [R] {
        try finish()
        return try Parallel.map(Array(0..<partitionCount), totalBytes: .max, minimumBytes: 0) { index in
            let result = try transform(index, try partition(index, columns: columns))
            let done = state.withLock { state in
                state.partitionsDone += 1
                return state.partitionsDone
            }
            report(.reading, partitionsDone: done)
            return result
        }
    }

    /// A zero-row chunk shaped like the shuffle's rows: its first chunk's, or for a shuffle that never received
    /// one (a reader of what mappers stored in a given store) what the first partition holding
    /// anything holds; nil if none does (or the kind cannot tell).
    func storedEmpty() throws -> Chunk? {
        if let empty = state.withLock({ $0.empty }) { return empty }
        guard let stored = kind.stored else { return nil }
        for index in 0..<partitionCount {
            if let found = try stored(Self.key(ofPartition: index)) { return found }
        }
        return nil
    }

    /// Rows added so far.
    public var rowCount: Int { state.withLock { $0.rowsIn } }

    /// Rows this shuffle added to each partition so far (a mapper of a multi-host
    /// shuffle reports them, so reducers can check that nothing was lost).
    public var partitionRowCounts: [Int] {
        state.withLock { $0.partitionRows }
    }

    /// Ends the shuffle: a temporary directory is removed with everything in it;
    /// a given directory or store is left holding every partition (memory flushed to it).
    ///
    /// A close whose flush throws (a full disk, a store that is down) leaves what was in memory there and
    /// the shuffle closed to adds and reads: call `close()` again to retry the flush; only a close that
    /// returns has written every row. Once one has, further calls do nothing.
    public func close() throws {
        let unfinished = state.withLock { state in
            defer { state.closed = state.closed ?? "closed" }
            // After a failure (`fail`) the shuffle is closed and has nothing left to do.
            return state.closed == nil || state.closeUnfinished
        }
        guard unfinished else { return }
        do {
            if directory?.isTemporary == true { try store.drop() } else { try store.flush() }
            try directory?.close()
        } catch {
            state.withLock { $0.closed = "closed, but its close failed (\(error)): close() again to retry" }
            throw error
        }
        state.withLock { state in
            state.closed = "closed"
            state.closeUnfinished = false
        }
    }

    // MARK: - Internals

    private func checkOpen(adding: Bool) throws {
        try state.withLock { state in
            if let reason = state.closed {
                throw PartdError(code: .closed, message: "the shuffle is \(reason)", path: directory?.path)
            }
            if adding && state.finished {
                throw PartdError(code: .closed, message: "the shuffle is finished: chunks can no longer be added", path: directory?.path)
            }
        }
    }

    /// Closes the shuffle after a failure: its temporary directory is dropped (dask's
    /// `ensure_cleanup_on_exception`); a given directory or store gets what was still in memory (best effort),
    /// so it holds every row added before the failure that no consuming read took.
    func fail(_ error: any Error) {
        let first = state.withLock { state in
            guard state.closed == nil else { return false }
            state.closed = "dropped after an error: \(error)"
            state.closeUnfinished = false
            return true
        }
        guard first else { return }
        if directory?.isTemporary == true {
            try? store.drop()
        } else {
            try? store.flush()
        }
        try? directory?.close()
    }

    private func report(_ phase: ShuffleProgress.Phase, partitionsDone: Int? = nil) {
        guard let progress = options.progress else { return }
        let (rows, done) = state.withLock { ($0.rowsIn, $0.partitionsDone) }
        progress(ShuffleProgress(
            phase: phase, rowsIn: rows, bytesSpilled: store.statistics.spilledBytes,
            partitionsDone: partitionsDone ?? done, partitionCount: partitionCount))
    }

    private func partitionAndAppend(_ chunk: Chunk) throws {
        let rows = kind.rowCount(chunk)
        try kind.check(chunk)
        if let first = state.withLock({ $0.empty }) {
            if let mismatch = kind.mismatch(first, chunk) { throw PartdError(code: .typeMismatch, message: mismatch) }
        } else {
            let empty = kind.take(chunk, [])
            state.withLock { $0.empty = $0.empty ?? empty }
        }
        guard rows > 0 else { return }
        let bytes = kind.byteEstimate(chunk)

        // 1. Hash row ranges on all cores into partition numbers.
        let count = partitionCount
        let pieces = max(1, min(Parallel.processorCount * 4, rows / 16_384))
        let ranges = (0..<pieces).map { rows * $0 / pieces..<rows * ($0 + 1) / pieces }
        var partitions: [Int] = []
        partitions.reserveCapacity(rows)
        for part in try Parallel.map(ranges, totalBytes: bytes, { range in
            if let assign = kind.assign { return try assign(chunk, range) }
            return try kind.hashes(chunk, range).map { PartitionHash.partition(of: $0, count: count) }
        }) {
            partitions.append(contentsOf: part)
        }

        // 2. Split the rows by partition (rows keep their order within a
        // partition), and 3. append the pieces a group of partitions at a time.
        var bounds = [Int](repeating: 0, count: count + 1)
        for p in partitions { bounds[p + 1] += 1 }
        for p in 0..<count { bounds[p + 1] += bounds[p] }
        // A chunk of fewer rows than partitions reaches few of them: taking each one's rows costs work per
        // partition reached, where a split costs work (a piece per column) for every partition. (Chunks of 1,000
        // rows into 4096 partitions took 10.3 s per million rows split; chunks of 200,000 took 0.6 s.)
        if let split = kind.split, rows >= count {
            try split(chunk, partitions, count, max(8, (count + 3) / 4)) { range, parts in
                let batch = range.filter { bounds[$0 + 1] > bounds[$0] }.map {
                    (key: Self.key(ofPartition: $0), value: parts[$0 - range.lowerBound])
                }
                if !batch.isEmpty { try kind.append(batch) }
            }
        } else {
            var next = bounds
            var order = [Int](repeating: 0, count: rows)
            for (row, p) in partitions.enumerated() {
                order[next[p]] = row
                next[p] += 1
            }
            let filled = (0..<count).filter { bounds[$0 + 1] > bounds[$0] }
            let groupSize = max(8, (filled.count + 3) / 4)
            for start in stride(from: 0, to: filled.count, by: groupSize) {
                let group = Array(filled[start..<min(start + groupSize, filled.count)])
                let batch = try Parallel.map(group, totalBytes: bytes) { p in
                    (key: Self.key(ofPartition: p), value: kind.take(chunk, order[bounds[p]..<bounds[p + 1]]))
                }
                try kind.append(batch)
            }
        }
        state.withLock { state in
            state.rowsIn += rows
            for p in 0..<count { state.partitionRows[p] += bounds[p + 1] - bounds[p] }
        }
        report(.partitioning)
    }
}

/// What a shuffle needs to know about one kind of chunk.
struct ShuffleKind<Chunk: Sendable>: Sendable {
    var keyColumns: [String] = []
    var rowCount: @Sendable (Chunk) -> Int
    /// Approximate bytes of a chunk (decides whether work is worth sharing across cores).
    var byteEstimate: @Sendable (Chunk) -> Int
    /// Throws if the chunk cannot be partitioned (a key column is missing, say).
    var check: @Sendable (Chunk) throws -> Void
    var hashes: @Sendable (Chunk, Range<Int>) throws -> [UInt64]
    /// The partition of each row in a range, where rows are not partitioned by hash (range partitioning).
    var assign: (@Sendable (Chunk, Range<Int>) throws -> [Int])? = nil
    /// A range-partitioned table shuffle's sort keys and boundaries (`nil` for hash partitioning).
    var ranges: (keys: [SortKey], boundaries: Table)? = nil
    var take: @Sendable (Chunk, ArraySlice<Int>) -> Chunk
    /// Splits a chunk by each row's partition number (faster than `take` per
    /// partition), handing `body` a range of partitions at a time, if the kind can.
    var split: (@Sendable (Chunk, [Int], Int, Int, (Range<Int>, [Chunk]) throws -> Void) throws -> Void)? = nil
    var append: @Sendable ([(key: PartdKey, value: Chunk)]) throws -> Void
    /// A key's chunk; for tables, only the given columns (all if `nil`).
    var get: @Sendable (PartdKey, [String]?) throws -> Chunk
    /// A zero-row chunk shaped like what a key holds (from its first frame, not decoding the rest), or nil if it
    /// holds nothing (tables; `nil` for kinds that cannot tell).
    var stored: (@Sendable (PartdKey) throws -> Chunk?)? = nil
    /// Only the given columns of a chunk (tables; other kinds return it as it is).
    var selecting: @Sendable (Chunk, [String]) -> Chunk = { chunk, _ in chunk }
    /// Why a chunk does not fit the shuffle's first chunk (other columns or column types, another row shape),
    /// or nil if it does. Partitions must agree, and each partition's store checks only its own appends.
    var mismatch: @Sendable (_ first: Chunk, _ chunk: Chunk) -> String? = { _, _ in nil }
}

// MARK: - Tables

extension Shuffle where Chunk == Table {
    /// Partition `index` with only the named columns, in that order (the other
    /// columns are not decoded).
    public func partition(_ index: Int, columns: [String]) throws -> Table {
        try partition(index, columns: Optional(columns))
    }

    /// Every partition (only `columns`, all when nil) read on all cores, made into `transform`'s table and
    /// handed to `body`; results in partition order. A partition of a shuffle that never received a chunk
    /// has no columns and passes as it is. Unless `keepPartitions` is set, each partition is deleted once
    /// read (not from a given store) and the shuffle is closed at the end, or when an error is thrown after
    /// a partition holding rows was deleted: what is left is no longer every row, so no later read may take
    /// it for the whole. What the groupby, the drop of duplicates and the sort share.
    func consumePartitions<R: Sendable>(
        columns: [String]? = nil, keepPartitions: Bool, _ transform: (Table) throws -> Table,
        _ body: (Int, Table) throws -> R
    ) throws -> [R] {
        let consumed = Atomic<Bool>(false)
        func delete(_ index: Int, rows: Int) throws {
            try store.delete([Self.key(ofPartition: index)])
            if rows > 0 { consumed.store(true, ordering: .relaxed) }
        }
        do {
            let results = try mapPartitions(columns: columns) { index, table -> R in
                let made = table.columns.isEmpty ? table : try transform(table)
                let consume = !keepPartitions && deletesConsumedPartitions
                if consume && deletesBeforeBody { try delete(index, rows: table.rowCount) }
                let result = try body(index, made)
                if consume && !deletesBeforeBody { try delete(index, rows: table.rowCount) }
                return result
            }
            if !keepPartitions { try close() }
            return results
        } catch {
            if consumed.load(ordering: .relaxed) { fail(error) }
            throw error
        }
    }

    /// Partitions' results joined into one table, those without columns (from partitions that never
    /// received a chunk) left out; ``PartdError/Code/typeMismatch`` if the others' schemas differ (their
    /// columns were dropped: all but the first part's).
    static func joined(_ parts: [Table]) throws -> Table {
        try GroupBy.concatenate(parts.filter { !$0.columns.isEmpty })
    }

    /// A shuffle of tables by the values of the named key columns.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for no columns or no partitions.
    public convenience init(by columns: [String], partitions: Int, options: ShuffleOptions = ShuffleOptions()) throws {
        guard !columns.isEmpty else {
            throw PartdError(code: .invalidArgument, message: "a table shuffle needs at least one key column")
        }
        try self.init(partitions: partitions, options: options) { Self.tableKind(columns, $0) }
    }

    /// The kind of a table shuffle by `columns`, its partitions in `store` (hash partitioning).
    static func tableKind(_ columns: [String], _ store: SpillingStore<AnyByteStore>) -> ShuffleKind<Table> {
          let tables = TableStore(over: store)
          return ShuffleKind(
            keyColumns: columns,
            rowCount: { $0.rowCount },
            byteEstimate: { $0.rowCount * max(1, $0.columns.count) * 8 },
            check: { table in
                for name in columns where table[name] == nil {
                    throw PartdError(
                        code: .invalidArgument,
                        message: "the table has no key column \"\(name)\" (it has \(table.schema))")
                }
            },
            hashes: { table, rows in RowHashing.hashes(columns.map { table[$0]! }, rows: rows) },
            take: { table, rows in table.take(Array(rows)) },
            split: { table, partitions, count, atOnce, body in
                try table.split(byPartition: partitions, count: count, partitionsAtOnce: atOnce, body)
            },
            append: { try tables.append($0) },
            get: { try tables.get($0, columns: $1) },
            stored: { key in try tables.schema(of: key).map { Table(empty: $0) } },
            selecting: { table, names in (try? table.selecting(names)) ?? table },
            mismatch: { first, table in
                first.schema == table.schema
                    ? nil : "a table of columns \(table.schema) added to a shuffle whose first table has \(first.schema)"
            })
    }
}

// MARK: - Arrays

extension Shuffle {
    /// A shuffle of numeric arrays by value: each element (each row of an
    /// N-dimensional array, its elements' hashes combined) goes to the
    /// partition its hash names.
    public convenience init<E: ArrayElement & PartitionKey>(
        partitions: Int, options: ShuffleOptions = ShuffleOptions()
    ) throws where Chunk == NDArray<E> {
        try self.init(partitions: partitions, options: options) { store in
          let arrays = ArrayStore(over: store)
          return ShuffleKind(
            rowCount: { $0.count },
            byteEstimate: { $0.elements.count * MemoryLayout<E>.stride },
            check: { _ in },
            hashes: { array, rows in
                let width = array.shape.dropFirst().reduce(1, *)
                let elements = array.elements
                return rows.map { row in
                    let start = row * width
                    guard width > 0 else { return PartitionHash.null }
                    var hash = elements[start].partitionHash
                    for i in (start + 1)..<(start + width) { hash = PartitionHash.combine(hash, elements[i].partitionHash) }
                    return hash
                }
            },
            take: { array, rows in
                let rowShape = Array(array.shape.dropFirst())
                let width = rowShape.reduce(1, *)
                var elements: [E] = []
                elements.reserveCapacity(rows.count * width)
                for row in rows { elements.append(contentsOf: array.elements[(row * width)..<((row + 1) * width)]) }
                return (try? NDArray(elements, shape: [rows.count] + rowShape)) ?? NDArray(emptyWithRowShape: rowShape)
            },
            append: { try arrays.append($0) },
            get: { key, _ in try arrays.get(key, as: NDArray<E>.self) },
            mismatch: { first, array in
                first.shape.dropFirst().elementsEqual(array.shape.dropFirst())
                    ? nil
                    : "an array of rows of shape \(Array(array.shape.dropFirst())) added to a shuffle whose first "
                        + "array has rows of shape \(Array(first.shape.dropFirst()))"
            })
        }
    }
}

// MARK: - Records

extension Shuffle {
    /// A shuffle of records (arrays of any `Codable` value, stored as
    /// MessagePack lists) by the key `key` returns for each record.
    ///
    /// ```swift
    /// let shuffle = try Shuffle<[Sale]>(partitions: 16) { $0.customerID }
    /// ```
    public convenience init<Record: Codable & Sendable, Key: PartitionKey>(
        partitions: Int, options: ShuffleOptions = ShuffleOptions(),
        by key: @escaping @Sendable (Record) -> Key
    ) throws where Chunk == [Record] {
        try self.init(partitions: partitions, options: options) { store in
          let lists = ListStore<SpillingStore<AnyByteStore>, Record>(over: store)
          return ShuffleKind(
            rowCount: { $0.count },
            byteEstimate: { $0.count * 64 },
            check: { _ in },
            hashes: { records, rows in rows.map { key(records[$0]).partitionHash } },
            take: { records, rows in rows.map { records[$0] } },
            append: { try lists.append($0) },
            get: { key, _ in try lists.get(key) })
        }
    }
}
