// SPDX-License-Identifier: Apache-2.0
//
// partd-test-worker DIR WRITER BATCHES MAXLEN [fsync]
// Appends the deterministic batches of `workerBatches(writer:)` to the
// directory store at DIR (or, for DIR = unix:PATH, to the server listening
// there), as one of several concurrent processes.

import Dispatch
import Partd
import PartdCompanions
import PartdCompression
import PartdRedis
import PartdServer
import PartdShuffle
import PartdTestSupport
import PartdTyped
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments

// partd-test-worker redis-map NODE NAMESPACE JOB MAPPER MAPPERS ROWS PARTITIONS WAIT PAUSE_MS: mapper MAPPER of a
// multi-host shuffle: registers with the job's coordinator, shuffles its slice of `redisShuffleSlice` by "id"
// into the Redis store (waiting for WAIT replicas per batch), sleeping PAUSE_MS after each chunk, prints
// "chunk N" after each chunk, then reports its per-partition row counts and prints "done".
if arguments.count == 11, arguments[1] == "redis-map", let mapper = Int(arguments[5]), let mappers = Int(arguments[6]),
    let rows = Int(arguments[7]), let partitions = Int(arguments[8]), let wait = Int(arguments[9]),
    let pause = Int(arguments[10])
{
    do {
        let store = try RedisStore(
            nodes: [arguments[2]],
            configuration: RedisStore.Configuration(namespace: arguments[3], waitForReplicas: wait, retryTimeout: .seconds(60)))
        let coordinator = try ShuffleCoordinator(store: store, job: arguments[4], mappers: mappers)
        let lease = try coordinator.start(mapper: mapper)
        let shuffle = try Shuffle<Table>(
            by: ["id"], partitions: partitions, options: ShuffleOptions(memory: .megabytes(2), store: AnyByteStore(store)))
        for (index, chunk) in redisShuffleSlice(mapper: mapper, mappers: mappers, rows: rows).enumerated() {
            try shuffle.add(chunk)
            try shuffle.store.flush()
            print("chunk \(index)")
            fflush(nil)
            if pause > 0 { usleep(UInt32(pause) * 1000) }
        }
        try shuffle.close()
        try lease.finish(partitionRows: shuffle.partitionRowCounts)
        print("done")
        exit(0)
    } catch {
        print("redis mapper \(mapper): \(error)")
        exit(1)
    }
}

// partd-test-worker determinism DIR: writes, to files in DIR, the bytes every encoder writes for fixed inputs
// that hold dictionaries, sets and categories (whose in-memory order Swift seeds per process), so that a test
// can compare what separate processes write (`DeterminismTests`).
if arguments.count == 3, arguments[1] == "determinism" {
    do {
        try writeDeterminismSamples(to: arguments[2])
        exit(0)
    } catch {
        print("determinism: \(error)")
        exit(1)
    }
}

// partd-test-worker spill PATH WRITER N: sets N keys "w<WRITER>-<i>" in the spill dictionary at PATH,
// flushing every 25, as one of several processes sharing it.
if arguments.count == 5, arguments[1] == "spill", let writer = Int(arguments[3]), let count = Int(arguments[4]) {
    do {
        let dictionary = try SpillDictionary<String, [Int]>(path: arguments[2], memoryBudget: .kilobytes(2))
        for i in 0..<count {
            try dictionary.set([writer, i, writer * i], for: "w\(writer)-\(i)")
            if i % 25 == 24 { try dictionary.flush() }
        }
        try dictionary.flush()
        exit(0)
    } catch {
        print("spill worker \(writer): \(error)")
        exit(1)
    }
}

// partd-test-worker rewrite PATH: rewrites entries e0…e9 of the dataset directory at PATH forever,
// each a value whose every element is the generation number, until killed.
if arguments.count == 3, arguments[1] == "rewrite" {
    do {
        let database = try DatasetDirectory(path: arguments[2])
        var generation = 1
        print("started")
        fflush(nil)
        while true {
            for i in 0..<10 {
                try database.entry("e\(i)").write(
                    [Int](repeating: generation, count: 20_000), metadata: ["generation": .integer(Int64(generation))])
            }
            generation += 1
        }
    } catch {
        print("rewrite worker: \(error)")
        exit(1)
    }
}

// partd-test-worker killappend PATH START: appends self-delimiting records (length, sequence
// number, filler) to five keys of a compressed store over the directory store at PATH, printing
// "done N" once each append returned, until killed.
if arguments.count == 4, arguments[1] == "killappend", let start = Int(arguments[3]) {
    do {
        let store = CompressedStore(.lz4, over: try DirectoryStore(path: arguments[2]))
        var n = start
        while true {
            let length = 16 + (n * 7919) % 4_000
            var record = [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: length)
            for i in 0..<4 { record[i] = UInt8(truncatingIfNeeded: length >> (8 * i)) }
            for i in 0..<8 { record[4 + i] = UInt8(truncatingIfNeeded: n >> (8 * i)) }
            try store.append([(key: PartdKey("k\(n % 5)"), value: record)])
            print("done \(n)")
            fflush(nil)
            n += 1
        }
    } catch {
        print("killappend: \(error)")
        exit(1)
    }
}

// partd-test-worker mix PATH PROCESS STEPS: 8 threads of `mixedSteps` (appends to shared and
// private keys, gets, deletes) on the directory store at PATH.
if arguments.count == 5, arguments[1] == "mix", let process = Int(arguments[3]), let steps = Int(arguments[4]) {
    let store: DirectoryStore
    do { store = try DirectoryStore(path: arguments[2]) } catch {
        print("mix: \(error)")
        exit(1)
    }
    let failures = Locked<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 8) { thread in
        do {
            for step in mixedSteps(process: process, thread: thread, steps: steps) {
                try store.append([(key: step.sharedKey, value: step.shared.encoded())])
                try store.append([(key: step.privateKey, value: step.privateRecord.encoded())])
                // Never a torn or mixed record; only the last may be cut short, by an append still in flight
                // in another process (the kernel can extend the file page by page while it copies).
                if step.reads { _ = try Record.parseAll(try store.get(step.sharedKey), allowingPartialTail: true) }
                if step.deletesPrivate { try store.delete([step.privateKey]) }
            }
        } catch {
            failures.withLock { $0.append("thread \(thread): \(error)") }
        }
    }
    let failed = failures.withLock { $0 }
    if !failed.isEmpty {
        print(failed.joined(separator: "\n"))
        exit(1)
    }
    exit(0)
}

// partd-test-worker fault fsize|nofile|perm PATH: provokes a resource fault on a directory store,
// prints the error code it got, whether earlier data is intact, and whether the store works
// once the limit is lifted.
if arguments.count == 4, arguments[1] == "fault" {
    do {
        let store = try DirectoryStore(path: arguments[3])
        try store.append([(key: "before", value: [UInt8](repeating: 7, count: 10_000))])
        var code = "none"
        switch arguments[2] {
        case "fsize":
            signal(SIGXFSZ, SIG_IGN)
            var limit = rlimit(rlim_cur: 64 * 1024, rlim_max: rlim_t.max)
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
            do {
                try store.append([(key: "big", value: [UInt8](repeating: 1, count: 40_000))])
                try store.append([(key: "big", value: [UInt8](repeating: 2, count: 40_000))])
            } catch let error as PartdError {
                code = "\(error.code)"
            }
            print("big holds \(try store.byteCount(of: "big")) bytes")
            limit.rlim_cur = rlim_t.max
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
            try store.append([(key: "big", value: [UInt8](repeating: 3, count: 40_000))])
            print("recovered: big holds \(try store.byteCount(of: "big")) bytes")
        case "fsize-other-writer":
            // Another store (as another process would) appends to the key after the failed append's partial
            // write and before its cut: the cut must not take that writer's bytes.
            signal(SIGXFSZ, SIG_IGN)
            var limit = rlimit(rlim_cur: 64 * 1024, rlim_max: rlim_t.max)
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
            let other = try DirectoryStore(path: arguments[3])
            DirectoryStore.beforeCutBack.withLock {
                $0 = {
                    var lifted = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)
                    setrlimit(Int32(RLIMIT_FSIZE.rawValue), &lifted)
                    try? other.append([(key: "big", value: [UInt8](repeating: 9, count: 1_000))])
                }
            }
            try store.append([(key: "big", value: [UInt8](repeating: 1, count: 40_000))])
            do {
                try store.append([(key: "big", value: [UInt8](repeating: 2, count: 40_000))])
            } catch let error as PartdError {
                code = "\(error.code)"
                print("message: \(error.message)")
            }
            DirectoryStore.beforeCutBack.withLock { $0 = nil }
            let big = try store.get("big")
            print("big holds \(big.count) bytes; the other writer's bytes intact: \(big.suffix(1_000) == [UInt8](repeating: 9, count: 1_000))")
        case "fsize-chunked":
            // The chunked writes (one `writev`; many small chunks joined into one `write`) and a spilling
            // store whose spill fails part-way: each failed write is cut back off, so no byte is kept twice.
            signal(SIGXFSZ, SIG_IGN)
            var limit = rlimit(rlim_cur: 64 * 1024, rlim_max: rlim_t.max)
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
            let vectored = [[UInt8]](repeating: [UInt8](repeating: 1, count: 10_000), count: 4)
            let gathered = [[UInt8]](repeating: [UInt8](repeating: 2, count: 500), count: 80)
            for (key, chunks) in [("vectored", vectored), ("gathered", gathered)] {
                do {
                    for _ in 0..<2 { try store.append(chunked: [(key: PartdKey(key), chunks: chunks)]) }
                } catch let error as PartdError {
                    code = "\(error.code)"
                }
                print("\(key) holds \(try store.byteCount(of: PartdKey(key))) bytes")
            }
            let spilling = SpillingStore(spillingTo: store, availableMemory: .megabytes(64), backgroundSpill: false)
            try spilling.append([(key: "spilled", value: [UInt8](repeating: 4, count: 40_000))])
            try spilling.flush()
            try spilling.append([(key: "spilled", value: [UInt8](repeating: 5, count: 40_000))])
            do { try spilling.flush() } catch let error as PartdError { print("spill: \(error.code)") }
            let read = try spilling.get("spilled")
            print("spilled reads \(read.count) bytes, as appended: \(read == [UInt8](repeating: 4, count: 40_000) + [UInt8](repeating: 5, count: 40_000))")
            limit.rlim_cur = rlim_t.max
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
            try spilling.flush()
            print("recovered: spilled holds \(try store.byteCount(of: "spilled")) bytes on disk")
        case "nofile":
            // Forty keys written by another store, so this one holds no descriptor for them.
            let many = (0..<40).map { PartdKey("many-\($0)") }
            let writer = try DirectoryStore(path: arguments[3])
            try writer.append(many.map { (key: $0, value: Array("\($0)".utf8)) })
            try writer.close()
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            let saved = limit
            limit.rlim_cur = 24
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            // Hold the remaining descriptors so the store itself runs out.
            var held: [Int32] = []
            while true {
                let fd = open("/dev/null", O_RDONLY)
                if fd < 0 { break }
                held.append(fd)
            }
            // The open store survives: it gives up a cached descriptor and retries.
            try store.append([(key: "new-key", value: [1, 2, 3])])
            // A multi-key read of more files than there are descriptors reads them a few at a time.
            let read = try store.get(many)
            print("read \(read.count) keys while out of descriptors, as written: \(read == many.map { Array("\($0)".utf8) })")
            // Opening another store needs descriptors there are none of.
            do {
                _ = try DirectoryStore(path: arguments[3] + "-second")
            } catch let error as PartdError {
                code = "\(error.code)"
            }
            // Nor does a temporary store, and the directory it made for itself is removed again.
            while true {
                let fd = open("/dev/null", O_RDONLY)
                if fd < 0 { break }
                held.append(fd)
            }
            do {
                _ = try DirectoryStore.temporary(in: arguments[3] + "-temporaries")
                print("temporary: opened")
            } catch let error as PartdError {
                print("temporary: \(error.code)")
            }
            for fd in held { close(fd) }
            limit = saved
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = try DirectoryStore(path: arguments[3] + "-second")
            print("recovered: new-key holds \(try store.get("new-key"))")
        case "perm":
            // Run as root: drop the effective user to nobody (65534), so file modes apply, and take
            // it back only to lift the cause (root must be the one to chmod a root-owned directory).
            guard getuid() == 0 else {
                print("perm needs root")
                exit(2)
            }
            chmod(arguments[3], 0o555)
            guard seteuid(65534) == 0 else {
                print("seteuid failed: errno \(errno)")
                exit(1)
            }
            do {
                try store.append([(key: "new", value: [1])])
            } catch let error as PartdError {
                code = "\(error.code)"
                print("message: \(error)")
            }
            print("reads as nobody: \(try store.get("before").count) bytes")
            seteuid(0)
            chmod(arguments[3], 0o777)
            seteuid(65534)
            try store.append([(key: "new", value: [1, 2])])
            print("recovered: new holds \(try store.get("new"))")
            seteuid(0)
        default:
            print("unknown fault \(arguments[2])")
            exit(2)
        }
        print("error: \(code)")
        print("before intact: \(try store.get("before") == [UInt8](repeating: 7, count: 10_000))")
        exit(0)
    } catch {
        print("fault worker: \(error)")
        exit(1)
    }
}

guard arguments.count >= 5, let writer = Int(arguments[2]), let count = Int(arguments[3]),
    let maxLength = Int(arguments[4])
else {
    print("usage: partd-test-worker DIR WRITER BATCHES MAXLEN [fsync]")
    exit(2)
}
do {
    let store: any ByteStore
    let close: () throws -> Void
    if arguments[1].hasPrefix("unix:") {
        let remote = try RemoteStore(connectingTo: .unixSocket(String(arguments[1].dropFirst(5))))
        (store, close) = (remote, remote.close)
    } else {
        let directory = try DirectoryStore(
            path: arguments[1], configuration: .init(fsync: arguments.count > 5 && arguments[5] == "fsync"))
        (store, close) = (directory, directory.close)
    }
    for batch in workerBatches(writer: writer, count: count, maxLength: maxLength) {
        try store.append(batch)
    }
    try close()
} catch {
    print("worker \(writer): \(error)")
    exit(1)
}
