// SPDX-License-Identifier: Apache-2.0
//
// Workload W1 (issue 2): 1,000 keys, 200,000 appends, each a batch of 16
// distinct keys chosen at random with 100-byte values; then get every key.
// Reports appends/s and get MB/s for DirectoryStore and for SpillingStore
// (64 MB budget) over a DirectoryStore. Batches are generated before the
// clock starts, exactly like Benchmarks/python/w1_partd.py.
//
//   partd-bench-w1 [--appends N] [--keys K] [--threads T] [--stores directory,spilling]
//                  [--budget 64MB] [--distinct] [--synchronous-spill] [--json]
//
// Values come from a pool of 64 arrays, as in the Python script. --distinct gives
// every value its own array; --synchronous-spill spills inside append, as partd.
// W1_TMP=DIR puts the stores under DIR; W1_KEEP=1 leaves them there.

import Dispatch
import BenchmarkSupport
import Partd

#if canImport(Glibc)
import Glibc
#endif

struct Config {
    var appends = 200_000
    var keyCount = 1000
    var threads = 1
    var json = false
    var distinct = false
    var synchronousSpill = false
    var budget = ByteCount.megabytes(64)
    var stores: Set<String> = ["directory", "spilling"]
}

func parseArguments() -> Config {
    var config = Config()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let arg = args.next() {
        switch arg {
        case "--appends": config.appends = Int(args.next() ?? "") ?? config.appends
        case "--keys": config.keyCount = Int(args.next() ?? "") ?? config.keyCount
        case "--threads": config.threads = max(1, Int(args.next() ?? "") ?? 1)
        case "--json": config.json = true
        case "--distinct": config.distinct = true
        case "--synchronous-spill": config.synchronousSpill = true
        case "--budget": config.budget = ByteCount(args.next() ?? "") ?? config.budget
        case "--stores": config.stores = Set((args.next() ?? "").split(separator: ",").map(String.init))
        default:
            print("usage: W1 [--appends N] [--keys K] [--threads T] [--stores directory,spilling] [--budget 64MB] [--distinct] [--synchronous-spill] [--json]")
            exit(2)
        }
    }
    return config
}

typealias Batch = [(key: PartdKey, value: [UInt8])]

struct Workload: Sendable {
    let keys: [PartdKey]
    let batches: [Batch]
    let expectedBytes: Int

    init(appends: Int, keyCount: Int, distinct: Bool) {
        var rng = SplitMix64(state: 42)
        keys = (0..<keyCount).map { PartdKey("k" + String(repeating: "0", count: max(0, 4 - String($0).count)) + String($0)) }
        let pool: [[UInt8]] = (0..<64).map { _ in (0..<100).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var batches: [Batch] = []
        batches.reserveCapacity(appends)
        for i in 0..<appends {
            var chosen = Set<Int>()
            var batch: Batch = []
            batch.reserveCapacity(16)
            while batch.count < 16 {
                let k = Int.random(in: 0..<keyCount, using: &rng)
                if chosen.insert(k).inserted {
                    let shared = pool[(i + batch.count) % pool.count]
                    // --distinct gives every value its own array, as a real shuffle's slices are.
                    batch.append((key: keys[k], value: distinct ? Array(shared) + [] : shared))
                }
            }
            batches.append(batch)
        }
        self.batches = batches
        expectedBytes = appends * 16 * 100
    }
}

func measure(_ name: String, _ store: any ByteStore, _ work: Workload, _ config: Config) throws {
    let batches = work.batches
    let threads = config.threads
    let t0 = now()
    if threads == 1 {
        for batch in batches { try store.append(batch) }
    } else {
        let perThread = (batches.count + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let range = (t * perThread)..<min(batches.count, (t + 1) * perThread)
            for i in range { try! store.append(batches[i]) }
        }
    }
    let t1 = now()
    var total = 0
    for key in work.keys { total += try store.get(key).count }
    let t2 = now()
    precondition(total == work.expectedBytes, "read \(total) bytes, expected \(work.expectedBytes)")
    let appendRate = Double(batches.count) / (t1 - t0)
    let getRate = Double(total) / 1e6 / (t2 - t1)
    if config.json {
        print(#"{"impl": "swift-partd", "store": "\#(name)", "appends": \#(batches.count), "threads": \#(threads), "appends_per_s": \#(appendRate), "get_mb_per_s": \#(getRate), "bytes": \#(total)}"#)
    } else {
        let padded = name.padding(toLength: 42, withPad: " ", startingAt: 0)
        print("W1 \(padded) swift-partd:  \(String(Int(appendRate)).leftPad(10)) appends/s  \(format1(getRate).leftPad(10)) get MB/s  (\(batches.count) appends, \(total) bytes, \(threads) thread\(threads == 1 ? "" : "s"))")
    }
}

extension String {
    func padding(toLength n: Int, withPad: String, startingAt: Int) -> String {
        count >= n ? self : self + String(repeating: " ", count: n - count)
    }
}

func format1(_ x: Double) -> String {
    let tenths = Int((x * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}

let config = parseArguments()
let work = Workload(appends: config.appends, keyCount: config.keyCount, distinct: config.distinct)
do {
    // With W1_KEEP=1 the store directories are left for the caller to remove, so that
    // deleting thousands of files does not slow the next run's file creation.
    let parent = getenv("W1_TMP").map { String(cString: $0) }
    let keep = getenv("W1_KEEP").map { String(cString: $0) == "1" } ?? false
    var made = 0
    func makeDirectory() throws -> DirectoryStore {
        guard keep, let parent else { return try DirectoryStore.temporary(in: parent) }
        made += 1
        return try DirectoryStore(path: "\(parent)/w1-swift-\(getpid())-\(made)")  // explicit path: never removed
    }
    if config.stores.contains("directory") {
        let directory = try makeDirectory()
        try measure("directory (DirectoryStore)", directory, work, config)
        try directory.close()
    }
    if config.stores.contains("spilling") {
        let spilling = SpillingStore(spillingTo: try makeDirectory(), availableMemory: config.budget, backgroundSpill: !config.synchronousSpill)
        try measure("spilling \(config.budget) (SpillingStore(DirectoryStore))", spilling, work, config)
        let stats = spilling.statistics
        if !config.json {
            print("   spilled \(ByteCount(bytes: stats.spilledBytes)) in \(stats.spillRounds) rounds, peak memory \(ByteCount(bytes: stats.peakMemoryBytes)), appends waited \(format1(stats.waitSeconds * 1000)) ms for the writer, which wrote for \(format1(stats.writeSeconds * 1000)) ms")
        }
        try spilling.slow.close()
    }
} catch {
    print("W1 failed: \(error)")
    exit(1)
}
