// SPDX-License-Identifier: Apache-2.0
//
// A resource audit: each public API, run many times on its success and error paths, gives back the file
// descriptors, threads, temporary files and objects it took. Other suites run in parallel with this one, so
// nothing here counts the process's totals: descriptors are counted by what they point at (a file under the
// test's own directory, a socket of the test's own server port), threads by the event-loop group the test's
// own server made, temporary files under a parent directory the test made, objects through weak references.

import Foundation
import Partd
import PartdCompanions
import PartdCompression
import PartdCSV
import PartdServer
import PartdShuffle
import PartdTestSupport
import PartdTyped
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What this process holds now, read from `/proc` and attributed to one test's own directory, port or threads.
enum Held {
    /// What every open descriptor points at (`readlink` of `/proc/self/fd/N`).
    static func descriptorTargets() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
    }

    /// The open descriptors of `root` or anything below it (removed files and directories too).
    static func descriptors(under root: String) -> [String] {
        descriptorTargets().filter { $0 == root || $0.hasPrefix(root + "/") || $0.hasPrefix(root + " (deleted)") }
    }

    /// The inodes of the TCP sockets (IPv4 and IPv6) whose local or remote port is `port`.
    static func socketInodes(port: Int) -> Set<String> {
        let hex = String(format: ":%04X", port)
        var inodes = Set<String>()
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9 else { continue }
                if fields[1].hasSuffix(hex) || fields[2].hasSuffix(hex) { inodes.insert(String(fields[9])) }
            }
        }
        return inodes
    }

    /// The open descriptors of TCP sockets to or from `port`.
    static func sockets(port: Int) -> Int {
        let inodes = socketInodes(port: port)
        return descriptorTargets().filter { target in
            target.hasPrefix("socket:[") && inodes.contains(String(target.dropFirst(8).dropLast()))
        }.count
    }

    /// The names of this process's threads.
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap {
            (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The NIO event-loop groups (`NIO-ELT-<group>-#<loop>` threads) running now, by group id, with their
    /// thread counts.
    static func eventLoopGroups() -> [String: Int] {
        var groups: [String: Int] = [:]
        for name in threadNames() where name.hasPrefix("NIO-ELT-") {
            groups[String(name.dropFirst(8).prefix { $0 != "-" }), default: 0] += 1
        }
        return groups
    }

    /// Every file and directory below `root`.
    static func files(under root: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []).sorted()
    }
}

/// Waits until `condition` holds, up to 10 s (what another thread releases, an event loop or a dispatch queue,
/// may be released just after the call that released it returns); whether it held.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<10_000 {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

/// A directory of its own for one audit, with symbolic links resolved (descriptors point at real paths).
func auditRoot(_ name: String) throws -> String {
    let path = scratchPath("audit-\(name)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
}

/// A store every operation of which fails (a disk that is gone, a store that is down).
final class BrokenStore: ByteStore {
    static let failure = PartdError(code: .io, message: "injected failure")
    func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws { throw Self.failure }
    func get(_ keys: [PartdKey]) throws -> [[UInt8]] { throw Self.failure }
    func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool { throw Self.failure }
    func delete(_ keys: [PartdKey]) throws { throw Self.failure }
    func drop() throws { throw Self.failure }
    func keys() throws -> [PartdKey] { throw Self.failure }
    func contains(_ key: PartdKey) throws -> Bool { throw Self.failure }
    func byteCount(of key: PartdKey) throws -> Int { throw Self.failure }
}

@Suite("Resource audit", .serialized)
struct ResourceAuditTests {
    static let rounds = 40

    func table(rows: Int, offset: Int = 0) throws -> Table {
        try Table([
            Column("id", (0..<rows).map { Int64(($0 + offset) % 23) }),
            Column("x", (0..<rows).map { Double($0 + offset) }),
        ])
    }

    // MARK: - DirectoryStore

    @Test("DirectoryStore: opening, closing (twice) and dropping unclosed stores, temporary() ones too, leaves no descriptor and no directory")
    func directoryStoreLifecycle() throws {
        let root = try auditRoot("dir-lifecycle")
        defer { removeTree(root) }
        let parent = root + "/temporaries"
        for round in 0..<Self.rounds {
            let store = try DirectoryStore(path: root + "/store")
            try store.append([PartdKey("k\(round % 5)"): [1, 2, 3]])
            if round % 2 == 0 {
                try store.close()
                try store.close()
            }
            let scratch = try DirectoryStore.temporary(in: parent)
            try scratch.append(["a": [1], "b": [2]])
            _ = try scratch.get(["a", "b"])
            if round % 2 == 0 {
                try scratch.close()
                try scratch.close()
            }
            // The functional interface opens and closes a store per call, on errors too.
            let functional = root + "/functional"
            try PartdPath.create(functional)
            try PartdPath.put(functional, ["x": [1]])
            _ = try PartdPath.get(functional, ["x", "y"])
            #expect(throws: PartdError.self) { try PartdPath.create(functional) }
            #expect(throws: PartdError.self) { try PartdPath.get(functional, [PartdKey(String(repeating: "x", count: 300))]) }
            try PartdPath.destroy(functional)
        }
        #expect(Held.descriptors(under: root).isEmpty)
        #expect(Held.files(under: parent).isEmpty)
    }

    @Test("DirectoryStore: close() releases every descriptor, the root's and the lock file's too, while the object is still referenced")
    func directoryStoreCloseReleasesDescriptors() throws {
        let root = try auditRoot("dir-close")
        defer { removeTree(root) }
        var kept: [DirectoryStore] = []
        for round in 0..<Self.rounds {
            let store = try DirectoryStore(path: root + "/store-\(round % 4)")
            try store.append(["x": [1], "y": [2]])
            _ = try store.get("x")
            try store.close()
            #expect(throws: PartdError.self) { try store.append(["x": [3]]) }
            #expect(throws: PartdError.self) { try store.get("x") }
            #expect(throws: PartdError.self) { try store.keys() }
            kept.append(store)
            let scratch = try DirectoryStore.temporary(in: root + "/temporaries")
            try scratch.append(["x": [1]])
            try scratch.close()
            kept.append(scratch)
        }
        #expect(Held.descriptors(under: root).isEmpty, "\(kept.count) closed stores still referenced")
        #expect(Held.files(under: root + "/temporaries").isEmpty)
    }

    @Test("DirectoryStore: every operation on success and error paths (missing keys, a closed store, unopenable files, failed replaces) keeps no descriptor beyond its cache, and no temporary file")
    func directoryStoreOperations() throws {
        let root = try auditRoot("dir-ops")
        defer { removeTree(root) }
        let path = root + "/store"
        let store = try DirectoryStore(path: path, configuration: .init(maxOpenFiles: 8))
        // A key whose file is a directory: appends, reads and replaces of it fail.
        let blocked = try store.filePath(for: "blocked")
        try FileManager.default.createDirectory(atPath: blocked + "/inside", withIntermediateDirectories: true)
        func round(_ i: Int) throws {
            let keys = (0..<12).map { PartdKey("k\($0)") }
            try store.append(keys.map { (key: $0, value: [UInt8](repeating: UInt8(i & 0xFF), count: 100)) })
            try store.append(chunked: [(key: "chunked", chunks: [[1, 2], [3]])])
            _ = try store.get(keys)
            _ = try store.get("missing")
            _ = try store.withBytes(of: "k1") { $0.count }
            _ = try store.keys()
            _ = try store.contains("k2")
            _ = try store.byteCount(of: "k3")
            try store.setOnce(PartdKey("once-\(i % 3)"), [1])
            try store.setOnce(PartdKey("once-\(i % 3)"), [2])
            try store.truncate("k4", to: 10)
            try store.rewrite("k5") { $0 + [9] }
            #expect(throws: PartdError.self) { try store.rewrite("k6") { _ in throw BrokenStore.failure } }
            try store.delete(["k7", "missing"])
            #expect(throws: PartdError.self) { try store.append(["blocked": [1]]) }
            #expect(throws: PartdError.self) { try store.get("blocked") }
            #expect(throws: PartdError.self) { try store.setOnce("blocked", [1]) }
            #expect(throws: PartdError.self) { try store.truncate("blocked", to: 0) }
            if i % 10 == 9 { try store.drop() }
            try FileManager.default.createDirectory(atPath: blocked + "/inside", withIntermediateDirectories: true)
        }
        try round(0)
        let warm = Held.descriptors(under: root).count
        for i in 1..<Self.rounds { try round(i) }
        // The cache holds at most 8 descriptors; the root and the lock file 2 more.
        #expect(Held.descriptors(under: root).count <= max(warm, 10))
        #expect(!Held.files(under: path).contains { $0.hasPrefix(".tmp-") })
        try store.close()
        // A store that cannot be opened: its path is a file, or its lock file a directory.
        let file = root + "/a-file"
        writeFile(file, [1])
        let lockIsDirectory = root + "/lock-is-directory"
        try FileManager.default.createDirectory(atPath: lockIsDirectory + "/.lock/inside", withIntermediateDirectories: true)
        for _ in 0..<Self.rounds {
            #expect(throws: PartdError.self) { try DirectoryStore(path: file) }
            #expect(throws: PartdError.self) { try DirectoryStore(path: lockIsDirectory) }
            #expect(throws: PartdError.self) { try DirectoryStore.temporary(in: file) }
        }
        withExtendedLifetime(store) {}
        #expect(Held.descriptors(under: root).isEmpty)
    }

    @Test("DirectoryStore: lock contention between stores on one directory (appends, deletes, setOnce, drop from threads) leaves no descriptor")
    func directoryStoreLocks() throws {
        let root = try auditRoot("dir-locks")
        defer { removeTree(root) }
        do {
            let stores = try (0..<4).map { _ in try DirectoryStore(path: root + "/shared") }
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                let store = stores[t]
                for i in 0..<Self.rounds {
                    try? store.append([PartdKey("k\(i % 7)"): [UInt8(t)]])
                    _ = try? store.setOnce(PartdKey("s\(i % 5)"), [UInt8(t)])
                    if i % 3 == 0 { try? store.delete([PartdKey("k\(i % 7)")]) }
                    if i % 13 == 0 { try? store.drop() }
                    _ = try? store.get(PartdKey("k\(i % 7)"))
                }
            }
            for store in stores { try store.close() }
        }
        #expect(Held.descriptors(under: root).isEmpty)
    }

    @Test("DirectoryStore and SpillingStore: dropped objects are freed (no retain cycle), a temporary directory with them")
    func storesAreFreed() throws {
        let root = try auditRoot("freed")
        defer { removeTree(root) }
        weak var directory: DirectoryStore?
        weak var spilling: SpillingStore<DirectoryStore>?
        do {
            let disk = try DirectoryStore.temporary(in: root)
            let store = SpillingStore(spillingTo: disk, availableMemory: .kilobytes(4))
            for i in 0..<200 { try store.append([PartdKey("k\(i % 9)"): [UInt8](repeating: 1, count: 300)]) }
            try store.flush()
            directory = disk
            spilling = store
        }
        #expect(eventually { spilling == nil && directory == nil })
        #expect(Held.files(under: root).isEmpty)
        #expect(Held.descriptors(under: root).isEmpty)
    }

    // MARK: - SpillingStore

    @Test("SpillingStore over a directory store: spills, reads, deletes, drops and failed spills to a failing store keep no descriptor or file")
    func spillingStore() throws {
        let root = try auditRoot("spilling")
        defer { removeTree(root) }
        for round in 0..<10 {
            let disk = try DirectoryStore.temporary(in: root)
            let store = SpillingStore(spillingTo: disk, availableMemory: .kilobytes(8))
            for i in 0..<100 { try store.append([PartdKey("k\(i % 11)"): [UInt8](repeating: UInt8(i & 0xFF), count: 400)]) }
            _ = try store.get(["k1", "k2", "missing"])
            try store.delete(["k3"])
            try store.flush(["k4"])
            if round % 2 == 0 { try store.drop() }
            try store.flush()
            if round % 3 == 0 { try disk.close() }
            // Spills that fail: the bytes stay buffered, the failure is reported, nothing is held.
            let failing = SpillingStore(spillingTo: BrokenStore(), availableMemory: .kilobytes(2), backgroundSpill: round % 2 == 0)
            var failed = false
            for i in 0..<50 {
                do { try failing.append([PartdKey("k\(i % 5)"): [UInt8](repeating: 1, count: 300)]) } catch { failed = true }
            }
            do { try failing.flush() } catch { failed = true }
            #expect(failed)
        }
        #expect(eventually { Held.files(under: root).isEmpty })
        #expect(Held.descriptors(under: root).isEmpty)
    }

    // MARK: - Compression and typed stores

    @Test("Compressed stores, every codec: appends, reads and corrupt frames keep no descriptor, and the stores are freed")
    func compressedStores() throws {
        let root = try auditRoot("compressed")
        defer { removeTree(root) }
        let codecs: [Compression] = [.none, .zlib(), .bz2(), .snappy, .zstd(), .lz4, .blosc(BloscSettings(typeSize: 8))]
        weak var lastDisk: DirectoryStore?
        for (index, codec) in codecs.enumerated() {
            let disk = try DirectoryStore(path: root + "/codec-\(index)")
            let store = CompressedStore(codec, over: disk)
            let value = (0..<4_000).map { UInt8($0 % 7) }
            for round in 0..<20 {
                try store.append([PartdKey("k\(round % 3)"): value])
                _ = try store.get(PartdKey("k\(round % 3)"))
                _ = try store.get("missing")
            }
            // A frame damaged on disk: reading it throws, every time.
            var damaged = try disk.get("k0")
            damaged[damaged.count / 2] ^= 0xFF
            damaged[damaged.count - 1] ^= 0xFF
            try disk.delete(["k0"])
            try disk.append(["k0": damaged])
            try disk.append(["junk": [0xFF, 0x00, 0x13, 0x37, 0x01]])
            for _ in 0..<20 {
                #expect(throws: (any Error).self) { try store.get("k0") }
                #expect(throws: (any Error).self) { try store.get("junk") }
            }
            try disk.close()
            lastDisk = disk
        }
        #expect(lastDisk == nil)
        #expect(Held.descriptors(under: root).isEmpty)
    }

    @Test("ArrayStore, TableStore and ListStore over a directory store: appends, reads, type mismatches and corrupt values keep no descriptor")
    func typedStores() throws {
        let root = try auditRoot("typed")
        defer { removeTree(root) }
        let disk = try DirectoryStore(path: root + "/store")
        let arrays = ArrayStore(over: disk)
        let tables = TableStore(over: disk)
        let lists = ListStore<DirectoryStore, Int>(over: disk)
        let compressedTables = TableStore(over: CompressedStore(.lz4, over: disk))
        try disk.append(["garbage": [1, 2, 3, 4, 5, 6, 7, 8, 9]])
        for round in 0..<Self.rounds {
            try arrays.append(PartdKey("a\(round % 3)"), NDArray([1.5, 2.5, Double(round)]))
            _ = try arrays.get(PartdKey("a\(round % 3)"), as: NDArray<Double>.self)
            #expect(throws: PartdError.self) { try arrays.get("a0", as: NDArray<Int32>.self) }
            try tables.append(PartdKey("t\(round % 3)"), try table(rows: 50, offset: round))
            _ = try tables.get(PartdKey("t\(round % 3)"), columns: ["x"])
            #expect(throws: PartdError.self) { try tables.get("t0", columns: ["nope"]) }
            #expect(throws: PartdError.self) { try tables.get("a0") }
            try compressedTables.append(PartdKey("z\(round % 2)"), try table(rows: 20))
            _ = try compressedTables.get("z0")
            try lists.append(PartdKey("l\(round % 3)"), [round, round + 1])
            _ = try lists.get(PartdKey("l\(round % 3)"))
            // Bytes that are not this store's frames: read (or refused) without holding anything.
            for key: PartdKey in ["garbage", "t1"] {
                _ = try? lists.get(key)
                _ = try? arrays.get(key, as: NDArray<Double>.self)
            }
        }
        try disk.close()
        #expect(Held.descriptors(under: root).isEmpty)
    }

    // MARK: - Shuffle

    @Test("Shuffle: add, finish, partition, groupBy, join, sort and distinct, closed or dropped unclosed, leave no directory, descriptor or shuffle object")
    func shuffleLifecycle() throws {
        let root = try auditRoot("shuffle")
        defer { removeTree(root) }
        let options = ShuffleOptions(memory: .kilobytes(16), temporaryParent: root)
        weak var lastShuffle: Shuffle<Table>?
        for round in 0..<6 {
            let chunks = try (0..<4).map { try table(rows: 300, offset: $0 * 300) }
            do {
                let plain = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try plain.add(contentsOf: chunks)
                try plain.finish()
                _ = try plain.partition(1)
                _ = try plain.mapPartitions { $1.rowCount }
                if round % 2 == 0 { try plain.close(); try plain.close() }
                lastShuffle = plain
            }
            do {
                let grouped = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try grouped.add(contentsOf: chunks)
                _ = try grouped.groupBy(["id"]).aggregate([.sum("x"), .count])
            }
            do {
                let left = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                let right = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try left.add(contentsOf: chunks)
                try right.add(contentsOf: chunks.prefix(2))
                _ = try left.join(right, on: ["id"], kind: .left)
            }
            do {
                let keys: [SortKey] = ["x"]
                let boundaries = try chunks[0].sortBoundaries(by: keys, partitions: 4)
                let sorting = try Shuffle<Table>(sortingBy: keys, boundaries: boundaries, options: options)
                try sorting.add(contentsOf: chunks)
                _ = try sorting.sortedPartitions { $1.rowCount }
            }
            do {
                let events = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try events.add(contentsOf: chunks)
                _ = try events.droppingDuplicates(by: ["id"], keep: .last)
            }
        }
        #expect(lastShuffle == nil)
        #expect(eventually { Held.files(under: root).isEmpty })
        #expect(Held.descriptors(under: root).isEmpty)
    }

    @Test("Shuffle: a failing consuming read, a failing add, a failing store and a mismatched chunk leave no directory or descriptor")
    func shuffleFailures() throws {
        let root = try auditRoot("shuffle-fail")
        defer { removeTree(root) }
        let options = ShuffleOptions(memory: .kilobytes(8), temporaryParent: root)
        struct Stop: Error {}
        for round in 0..<6 {
            let chunks = try (0..<3).map { try table(rows: 200, offset: $0 * 200) }
            do {
                let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try shuffle.add(contentsOf: chunks)
                // The body fails on the third partition, after two were consumed.
                #expect(throws: Stop.self) {
                    try shuffle.groupByPartitions(["id"], [.sum("x")]) { p, _ in if p == 2 { throw Stop() } }
                }
                #expect(throws: PartdError.self) { try shuffle.partition(0) }
                if round % 2 == 0 { try shuffle.close() }
            }
            do {
                let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try shuffle.add(chunks[0])
                // The body fails on the first partition, before anything was consumed: the shuffle stays open.
                #expect(throws: Stop.self) { try shuffle.groupByPartitions(["id"], [.sum("x")]) { _, _ in throw Stop() } }
                #expect(throws: PartdError.self) { try shuffle.groupBy(["id"]).aggregate([.sum("nope")]) }
                if round % 2 == 1 { try shuffle.close() }
            }
            do {
                let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try shuffle.add(chunks[0])
                let other = try Table([Column("id", [1.5, 2.5])])
                #expect(throws: PartdError.self) { try shuffle.add(other) }
                #expect(throws: PartdError.self) { try shuffle.add(chunks[1]) }
            }
            do {
                let left = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                let right = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
                try left.add(contentsOf: chunks)
                try right.add(contentsOf: chunks)
                #expect(throws: Stop.self) {
                    try left.joinPartitions(right, on: ["id"]) { p, _ in if p == 3 { throw Stop() } }
                }
                let keys: [SortKey] = ["x"]
                let sorting = try Shuffle<Table>(
                    sortingBy: keys, boundaries: try chunks[0].sortBoundaries(by: keys, partitions: 4), options: options)
                try sorting.add(contentsOf: chunks)
                #expect(throws: Stop.self) { try sorting.sortedPartitions { p, _ in if p == 1 { throw Stop() } } }
            }
            do {
                // A store that fails: the add throws and the shuffle is closed.
                let failing = try Shuffle<Table>(
                    by: ["id"], partitions: 4, options: ShuffleOptions(memory: .kilobytes(1), store: AnyByteStore(BrokenStore())))
                #expect(throws: (any Error).self) {
                    for chunk in chunks { try failing.add(chunk) }
                    try failing.close()
                }
            }
        }
        #expect(eventually { Held.files(under: root).isEmpty })
        #expect(Held.descriptors(under: root).isEmpty)
    }

    @Test("Shuffle: an async add that is cancelled, or whose sequence fails, removes the temporary directory and its descriptors while the shuffle is still held")
    func shuffleCancelled() async throws {
        let root = try auditRoot("shuffle-cancel")
        defer { removeTree(root) }
        let options = ShuffleOptions(memory: .kilobytes(8), temporaryParent: root)
        let chunk = try table(rows: 200)
        struct Broken: Error {}
        var kept: [Shuffle<Table>] = []
        for round in 0..<6 {
            let shuffle = try Shuffle<Table>(by: ["id"], partitions: 4, options: options)
            kept.append(shuffle)
            let (stream, continuation) = AsyncThrowingStream<Table, any Error>.makeStream()
            for _ in 0..<3 { continuation.yield(chunk) }
            if round % 2 == 0 { continuation.finish(throwing: Broken()) }
            let adding = Task { try await shuffle.add(contentsOf: stream) }
            if round % 2 == 1 {
                #expect(eventually { shuffle.rowCount == 600 })
                adding.cancel()
            }
            await #expect(throws: (any Error).self) { try await adding.value }
            continuation.finish()
            #expect(throws: PartdError.self) { try shuffle.add(chunk) }
        }
        #expect(Held.files(under: root).isEmpty)
        #expect(Held.descriptors(under: root).isEmpty, "\(kept.count) failed shuffles held")
    }

    // MARK: - Companions

    @Test("SpillDictionary: temporary and durable dictionaries, spilled, dropped or left to deinit, with a corrupt index, keep no descriptor or directory")
    func spillDictionary() throws {
        let root = try auditRoot("spill")
        defer { removeTree(root) }
        var temporaries: [String] = []
        struct Stop: Error {}
        for round in 0..<20 {
            let cache = try SpillDictionary<PartdKey, [Double]>(memoryBudget: .kilobytes(2))
            temporaries.append(cache.path)
            for i in 0..<30 { try cache.set([Double](repeating: Double(i), count: 40), for: .tuple("k", PartdKey(i % 9))) }
            _ = try cache.value(for: .tuple("k", 1))
            _ = try cache.value(for: .tuple("missing", 0))
            _ = try cache.removeValue(for: .tuple("k", 2))
            if round % 2 == 0 {
                try cache.drop()
                #expect(throws: PartdError.self) { try cache.set([1], for: "x") }
                try cache.drop()  // a second drop does nothing
            }
            let durable = try SpillDictionary<String, [Int]>(path: root + "/durable", memoryBudget: .kilobytes(1), durable: false)
            for i in 0..<10 { try durable.set(Array(0..<50), for: "k\(i)") }
            try durable.flush()
            _ = try durable.keys()
            #expect(throws: Stop.self) {
                try SpillDictionary<String, Int>.withTemporary { dictionary in
                    temporaries.append(dictionary.path)
                    try dictionary.set(1, for: "x")
                    throw Stop()
                }
            }
        }
        // A dictionary over a directory whose index is damaged cannot be opened.
        let corrupt = root + "/corrupt"
        try FileManager.default.createDirectory(atPath: corrupt, withIntermediateDirectories: true)
        writeFile(corrupt + "/.keys", [0xC1, 0xFF, 0x00])
        for _ in 0..<Self.rounds {
            #expect(throws: PartdError.self) { try SpillDictionary<String, Int>(path: corrupt) }
        }
        #expect(temporaries.allSatisfy { !exists($0) })
        #expect(Held.descriptors(under: root).isEmpty)
        #expect(Held.descriptorTargets().filter { target in temporaries.contains { target.hasPrefix($0) } }.isEmpty)
    }

    @Test("DatasetDirectory: writes, reads, metadata, locks and deletes, and failed writes, reads and metadata, leave no descriptor or temporary file")
    func datasetDirectory() throws {
        let root = try auditRoot("datasets")
        defer { removeTree(root) }
        let db = try DatasetDirectory(path: root + "/db", encoding: .json)
        // The data file of "blocked" is a directory: its writes fail when they rename over it.
        try FileManager.default.createDirectory(atPath: root + "/db/blocked.json/inside", withIntermediateDirectories: true)
        writeFile(root + "/db/bad.meta.json", Array("not json".utf8))
        let before = Held.files(under: root + "/db")
        for round in 0..<Self.rounds {
            let entry = try db.entry("run-\(round % 4)")
            try entry.write([0.5, Double(round)], metadata: ["epochs": .integer(Int64(round))])
            _ = try entry.read([Double].self)
            _ = try entry.metadata()
            try entry.updateMetadata { $0["seen"] = .bool(true) }
            try entry.withLock { _ = try entry.stat() }
            _ = try db.names()
            #expect(throws: PartdError.self) { try entry.read([String].self) }
            #expect(throws: PartdError.self) { try db.entry("missing").read(Int.self) }
            #expect(throws: PartdError.self) { try db.entry("missing").readBytes() }
            #expect(throws: PartdError.self) { try db.entry("bad").metadata() }
            #expect(throws: PartdError.self) { try db.entry("blocked").write([1]) }
            #expect(throws: PartdError.self) { try db.entry(".hidden") }
            if round % 4 == 3 { try entry.delete() }
            let sub = try db.subdirectory("sub")
            try sub.entry("x").writeBytes([1, 2, 3])
            _ = try sub.entry("x").readBytes()
        }
        #expect(throws: PartdError.self) { try DatasetDirectory(path: root + "/nope", create: false) }
        let after = Held.files(under: root + "/db").filter { !before.contains($0) }
        #expect(after.allSatisfy { !$0.contains(".tmp-") }, "\(after)")
        #expect(Held.descriptors(under: root).count <= 1, "only the database's own directory")
        withExtendedLifetime(db) {}
    }

    // MARK: - Server and client

    /// A server configuration of 3 event-loop threads that records the id of each event-loop group a start makes
    /// (`NIO-ELT-<id>-#<loop>`), so a test finds its own server's threads among those of servers other suites
    /// start meanwhile.
    func recordingGroups(token: String? = nil) -> (configuration: StoreServer.Configuration, groups: GroupLog) {
        let groups = GroupLog()
        var configuration = StoreServer.Configuration(token: token, threads: 3)
        configuration.madeEventLoopGroup = { description in
            // "MultiThreadedEventLoopGroup { threadPattern = NIO-ELT-12-#* }"
            let id = description.components(separatedBy: "NIO-ELT-").last.map { String($0.prefix { $0 != "-" }) } ?? description
            groups.ids.withLock { $0.append(id) }
        }
        return (configuration, groups)
    }

    /// Starts a server of 3 event-loop threads on a free TCP port; the id of the event-loop group it made.
    func startServer(_ store: any ByteStore, token: String? = nil) throws -> (server: StoreServer, port: Int, group: String) {
        let (configuration, groups) = recordingGroups(token: token)
        let server = try StoreServer.start(serving: store, on: [.tcp(port: 0)], configuration: configuration)
        let made = groups.all
        guard case .tcp(_, let port) = server.addresses[0], made.count == 1, Held.eventLoopGroups()[made[0]] == 3 else {
            try? server.shutdown()
            throw PartdError(code: .invalidArgument, message: "cannot tell the server's threads: \(made), \(Held.eventLoopGroups())")
        }
        return (server, port, made[0])
    }

    @Test("StoreServer: starting and stopping, with clients connected, leaves none of its threads, sockets or objects")
    func serverLifecycle() throws {
        weak var lastServer: StoreServer?
        var groups: [String] = []
        var ports: [Int] = []
        for round in 0..<8 {
            let (server, port, group) = try startServer(MemoryStore())
            groups.append(group)
            ports.append(port)
            let clients = try (0..<3).map { _ in try RemoteStore(connectingTo: .tcp(host: "127.0.0.1", port: port)) }
            for (i, client) in clients.enumerated() { try client.append([PartdKey("k\(i)"): [1, 2, 3]]) }
            _ = try clients[0].get("k0")
            try server.shutdown()
            // The clients find the server gone: their calls fail, and closing them gives back their sockets.
            for client in clients {
                #expect(throws: PartdError.self) { try client.get("k0") }
                try? client.close()
                if round % 2 == 0 { try? client.close() }
            }
            lastServer = server
        }
        #expect(lastServer == nil)
        let stopped = Held.eventLoopGroups()
        #expect(groups.allSatisfy { stopped[$0] == nil }, "\(stopped)")
        #expect(eventually { ports.allSatisfy { Held.sockets(port: $0) == 0 } })
        // A server that cannot bind (its port is taken) stops the threads it started.
        let (server, port, _) = try startServer(MemoryStore())
        let (failing, failedGroups) = recordingGroups()
        for _ in 0..<5 {
            #expect(throws: PartdError.self) {
                try StoreServer.start(serving: MemoryStore(), on: [.tcp(port: port)], configuration: failing)
            }
        }
        #expect(failedGroups.all.count == 5)
        // Nor does one that bound a Unix socket before failing on its next address leave the socket's file.
        let root = try auditRoot("server-socket")
        defer { removeTree(root) }
        for _ in 0..<3 {
            #expect(throws: PartdError.self) {
                try StoreServer.start(
                    serving: MemoryStore(), on: [.unixSocket(root + "/s.sock"), .tcp(port: port)], configuration: failing)
            }
            #expect(Held.files(under: root).isEmpty, "left \(Held.files(under: root))")
        }
        let running = Held.eventLoopGroups()
        #expect(failedGroups.all.count == 8 && failedGroups.all.allSatisfy { running[$0] == nil }, "\(running)")
        try server.shutdown()
        // A shutdown whose flush fails still stops the server's threads and closes its sockets.
        struct FlushFailed: Error {}
        for _ in 0..<3 {
            let (server, port, group) = try startServer(MemoryStore())
            let client = try RemoteStore(connectingTo: .tcp(host: "127.0.0.1", port: port))
            try client.append(["k": [1]])
            try client.flush()
            #expect(throws: FlushFailed.self) { try server.shutdown(flush: { throw FlushFailed() }) }
            #expect(Held.eventLoopGroups()[group] == nil, "the server's threads still run after its shutdown threw")
            try? client.close()
            #expect(eventually { Held.sockets(port: port) == 0 })
            // Called again (after it threw, or after it returned), shutdown returns.
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                try? server.shutdown()
                try? server.shutdown()
                done.signal()
            }
            #expect(done.wait(timeout: .now() + 20) == .success, "a second shutdown() never returned")
        }
    }

    @Test("RemoteStore: connecting and closing many times, refused connections, refused tokens and dropped clients leave no socket, and each connection's handler is freed")
    func remoteStoreConnections() throws {
        let (server, port, _) = try startServer(MemoryStore(), token: "s3cret")
        let address = RemoteStore.Address.tcp(host: "127.0.0.1", port: port)
        let configuration = RemoteStore.Configuration(token: "s3cret")
        var handlers: [Weak] = []
        for round in 0..<Self.rounds {
            let client = try RemoteStore(connectingTo: address, configuration: configuration)
            try client.append([PartdKey("k\(round % 3)"): [UInt8](repeating: 1, count: 100)])
            _ = try client.get(PartdKey("k\(round % 3)"))
            handlers.append(Weak(client.connectionHandler))
            switch round % 3 {
            case 0:
                try client.close()
                try client.close()
            case 1:
                try client.close()
                _ = try client.keys()  // reconnects
                handlers.append(Weak(client.connectionHandler))
                try client.close()
            default:
                break  // dropped without close()
            }
            #expect(throws: PartdError.self) { try RemoteStore(connectingTo: address, configuration: .init(token: "wrong")) }
        }
        #expect(eventually { server.connectionCount == 0 })
        #expect(eventually { Held.sockets(port: port) == 1 }, "only the server's listening socket")
        #expect(eventually { handlers.allSatisfy { $0.object == nil } }, "\(handlers.filter { $0.object != nil }.count) of \(handlers.count) connection handlers never freed")
        try server.shutdown()
        #expect(Held.sockets(port: port) == 0)
        // Nothing listens on the port now: connecting is refused, and leaves no socket.
        for _ in 0..<Self.rounds {
            #expect(throws: PartdError.self) { try RemoteStore(connectingTo: address, configuration: .init(connectTimeout: .seconds(2))) }
        }
        #expect(Held.sockets(port: port) == 0)
    }

    // MARK: - CSV and Arrow readers

    @Test("CSV reader: whole files, bad lines, no header and missing files leave no descriptor")
    func csvReader() throws {
        let root = try auditRoot("csv")
        defer { removeTree(root) }
        let good = root + "/good.csv"
        try ("id,x\n" + (0..<500).map { "\($0 % 7),\($0)" }.joined(separator: "\n") + "\n").write(toFile: good, atomically: true, encoding: .utf8)
        let bad = root + "/bad.csv"
        try "id,x\n1,2\n2,3\n4\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let unclosed = root + "/unclosed.csv"
        try "id,x\n1,\"2\n".write(toFile: unclosed, atomically: true, encoding: .utf8)
        let empty = root + "/empty.csv"
        writeFile(empty, [])
        for _ in 0..<Self.rounds {
            let reader = try CSVReader(path: good, chunkRows: 100, types: [:])
            while try reader.nextChunk() != nil {}
            let partial = try CSVReader(path: good, chunkRows: 100, types: [:])
            _ = try partial.nextChunk()  // dropped half read
            #expect(throws: (any Error).self) {
                let reader = try CSVReader(path: bad, chunkRows: 100, types: [:])
                while try reader.nextChunk() != nil {}
            }
            #expect(throws: (any Error).self) {
                let reader = try CSVReader(path: unclosed, chunkRows: 100, types: [:])
                while try reader.nextChunk() != nil {}
            }
            #expect(throws: (any Error).self) { try CSVReader(path: empty, chunkRows: 100, types: [:]) }
            #expect(throws: (any Error).self) { try CSVReader(path: root + "/missing.csv", chunkRows: 100, types: [:]) }
            #expect(throws: (any Error).self) { try CSVReader(path: root, chunkRows: 100, types: [:]) }
            #expect(throws: (any Error).self) { try CSVReader(path: good, chunkRows: 100, types: ["nope": .string]) }
        }
        #expect(Held.descriptors(under: root).isEmpty)
    }

    @Test("Arrow reader: whole files and damaged ones read batch by batch throw, and the reader and its source are freed")
    func arrowReader() throws {
        let bytes = try table(rows: 1_000).arrowFile()
        final class Source: Sendable {
            let bytes: [UInt8]
            init(_ bytes: [UInt8]) { self.bytes = bytes }
        }
        weak var lastSource: Source?
        for round in 0..<Self.rounds {
            var damaged = bytes
            damaged[(round * 97) % (damaged.count - 16) + 8] ^= 0xFF
            let source = Source(round % 2 == 0 ? bytes : damaged)
            lastSource = source
            do {
                var reader = try ArrowBatchReader(size: source.bytes.count) { offset, count in source.bytes[offset..<(offset + count)] }
                while try reader.next() != nil {}
            } catch {}
            _ = try? Table(arrow: Array(bytes.prefix(bytes.count / 2)))
        }
        #expect(lastSource == nil)
    }

    // MARK: - The partd command

    @Test("partd command: failing shuffle, groupby, sort, join and distinct runs (bad lines, missing files and columns, a truncated Arrow stream), and serve failing to listen or stopped by a client, leave nothing in $TMPDIR")
    func commandScratch() throws {
        let executable = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build the package first: \(executable)")
        let root = try auditRoot("command")
        defer { removeTree(root) }
        let temporary = root + "/tmp"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let good = root + "/good.csv"
        try ("id,x\n" + (0..<3_000).map { "\($0 % 11),\($0)" }.joined(separator: "\n") + "\n").write(toFile: good, atomically: true, encoding: .utf8)
        let bad = root + "/bad.csv"
        try ("id,x\n" + (0..<3_000).map { "\($0 % 11),\($0)" }.joined(separator: "\n") + "\n4\n").write(toFile: bad, atomically: true, encoding: .utf8)
        // An Arrow stream of four batches, cut off in the middle of the last.
        let arrow = root + "/truncated.arrows"
        var arrowBytes: [UInt8] = []
        var writer = ArrowBatchWriter(.stream, schema: try table(rows: 1).schema)
        for batch in 0..<4 { try writer.write(try table(rows: 1_000, offset: batch * 1_000)) { arrowBytes += $0 } }
        try writer.finish { arrowBytes += $0 }
        writeFile(arrow, Array(arrowBytes.prefix(arrowBytes.count - 3_000)))
        func partd(_ arguments: [String]) throws -> Int32 {
            let process = try startedQuietly(executable, arguments, environment: ["TMPDIR": temporary])
            process.waitUntilExit()
            return process.terminationStatus
        }
        let small = ["--memory", "16kB", "--chunk-rows", "500"]
        let failing: [[String]] = [
            ["shuffle", bad, "--by", "id", "--out", root + "/out-1"] + small,
            ["groupby", bad, "--by", "id", "--agg", "sum:x"] + small,
            ["groupby", good, "--by", "id", "--agg", "sum:nope"] + small,
            ["groupby", root + "/missing.csv", "--by", "id"],
            ["sort", bad, "--by", "x"] + small,
            ["sort", good, "--by", "nope"] + small,
            ["distinct", bad, "--by", "id"] + small,
            ["join", good, bad, "--on", "id"] + small,
            ["join", good, root + "/missing.csv", "--on", "id"] + small,
            ["groupby", arrow, "--by", "id", "--agg", "count"] + small,
            ["sort", arrow, "--by", "x"] + small,
        ]
        for arguments in failing {
            #expect(try partd(arguments) != 0, "\(arguments)")
            #expect(Held.files(under: temporary).isEmpty, "\(arguments) left \(Held.files(under: temporary))")
        }
        // And a run that succeeds.
        #expect(try partd(["groupby", good, "--by", "id", "--agg", "sum:x"] + small) == 0)
        #expect(Held.files(under: temporary).isEmpty)

        // partd serve on a temporary store: one that cannot listen (its port is taken), and one stopped by a
        // client's shutdown request (`ServerTests.serveStopsOnEarlySignal` stops it by SIGTERM).
        let (server, port, _) = try startServer(MemoryStore())
        #expect(try partd(["serve", "--port", "\(port)", "--memory", "1MB"]) != 0)
        #expect(Held.files(under: temporary).isEmpty, "a serve that failed left \(Held.files(under: temporary))")
        try server.shutdown()
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: executable)
        serve.arguments = ["serve", "--port", "0", "--memory", "1MB", "--log-level", "error"]
        serve.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": temporary]) { $1 }
        let out = Pipe()
        serve.standardOutput = out
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        var printed = ""
        while !printed.contains("listening on") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            printed += String(decoding: data, as: UTF8.self)
        }
        #expect(Held.files(under: temporary).count == 2, "the store's directory and its lock file: \(Held.files(under: temporary))")
        if let address = printed.split(separator: " ").last.map(String.init), let served = Int(address.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") {
            let client = try RemoteStore(connectingTo: .tcp(host: "127.0.0.1", port: served))
            try client.append(["k": [1, 2, 3]])
            try client.requestServerShutdown()
        } else {
            Issue.record("no address in \(printed)")
            serve.terminate()
        }
        var waited = 0
        while serve.isRunning && waited < 2_000 {  // bounded: a server that runs on fails the test, not hangs it
            usleep(10_000)
            waited += 1
        }
        #expect(!serve.isRunning, "partd serve ran on after the shutdown request")
        if serve.isRunning { kill(serve.processIdentifier, SIGKILL) }
        serve.waitUntilExit()
        #expect(serve.terminationReason == .exit && serve.terminationStatus == 0)
        #expect(Held.files(under: temporary).isEmpty, "a stopped serve left \(Held.files(under: temporary))")
    }
}

/// The ids of the event-loop groups a server's starts made (see `recordingGroups`).
final class GroupLog: Sendable {
    let ids = Mutex<[String]>([])
    var all: [String] { ids.withLock { $0 } }
}

/// A weak reference, to see whether an object was freed.
struct Weak {
    weak var object: AnyObject?
    init(_ object: AnyObject?) { self.object = object }
}
