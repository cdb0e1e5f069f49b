// SPDX-License-Identifier: Apache-2.0
//
// The spill-dictionary workload (`SpillDictionary`, Python's chest): N values
// (default 20,000), each an array of 512 Float64, under a 16 MB memory budget, so
// most of them spill. Set every key in order, read every key back in a seeded
// random order (each read of a spilled value loads it and spills another), then
// flush. Reports sets/s, reads/s and the flush's seconds, exactly like
// Benchmarks/python/spill_chest.py.
//
//   partd-bench-spill [--config temporary|unsynced|durable] [--values N] [--length L] [--budget 16MB] [--json]
//
// Configurations: `temporary` (the default) is a temporary dictionary (files written
// in place, no fsyncs, as chest does); `unsynced` is one over a given directory with
// `durable: false` (files replaced by rename, no fsyncs); `durable` is one over a given
// directory with its default, every file fsynced. The given directories go under
// SPILL_TMP (default /tmp), a temporary one under TMPDIR. All are removed at the end
// unless SPILL_KEEP=1, which leaves them for the caller (Benchmarks/run-spill.sh removes
// them after both sides ran: deleting thousands of files slows the next run's file
// creation on this VM's ext4).

import BenchmarkSupport
import Partd
import PartdCompanions

#if canImport(Glibc)
import Glibc
#endif

struct Config {
    var values = 20_000
    var length = 512
    var budget = ByteCount.megabytes(16)
    var configuration = "temporary"
    var json = false
}

func parseArguments() -> Config {
    var config = Config()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let arg = args.next() {
        switch arg {
        case "--values": config.values = Int(args.next() ?? "") ?? config.values
        case "--length": config.length = Int(args.next() ?? "") ?? config.length
        case "--budget": config.budget = ByteCount(args.next() ?? "") ?? config.budget
        case "--config": config.configuration = args.next() ?? ""
        case "--json": config.json = true
        default:
            print("usage: partd-bench-spill [--config temporary|unsynced|durable] [--values N] [--length L] [--budget 16MB] [--json]")
            exit(2)
        }
    }
    return config
}

struct Result {
    var sets: Double
    var reads: Double
    var flush: Double
    var total: Double
}

func measure(_ values: [[Double]], _ order: [Int], _ config: Config, path: String?, durable: Bool?, keep: Bool) throws -> Result {
    let dictionary = try SpillDictionary<Int, [Double]>(path: path, memoryBudget: config.budget, durable: durable)
    defer {
        if keep {
            // Never deinitialised, so a temporary dictionary's directory stays too.
            _ = Unmanaged.passRetained(dictionary)
        } else {
            try? dictionary.drop()
        }
    }
    let t0 = now()
    for (i, value) in values.enumerated() { try dictionary.set(value, for: i) }
    let t1 = now()
    var total = 0.0
    for i in order { total += try dictionary[i]![0] }
    let t2 = now()
    try dictionary.flush()
    let t3 = now()
    let expected = values.reduce(0) { $0 + $1[0] }
    precondition(abs(total - expected) <= 1e-6 * max(1, abs(expected)), "read back \(total), expected \(expected)")
    return Result(sets: Double(values.count) / (t1 - t0), reads: Double(order.count) / (t2 - t1), flush: t3 - t2, total: t3 - t0)
}

/// The values, and the order the reads visit the keys in.
func workload(_ config: Config) -> (values: [[Double]], order: [Int]) {
    var rng = SplitMix64(state: 42)
    let values: [[Double]] = (0..<config.values).map { _ in
        (0..<config.length).map { _ in Double(rng.next() >> 11) * 0x1p-53 }
    }
    var order = Array(0..<config.values)
    order.shuffle(using: &rng)
    return (values, order)
}

let config = parseArguments()
let (values, order) = workload(config)
let parent = getenv("SPILL_TMP").map { String(cString: $0) } ?? "/tmp"
let keep = getenv("SPILL_KEEP").map { String(cString: $0) == "1" } ?? false
let path = "\(parent)/spill-swift-\(getpid())"
let (label, run): (String, () throws -> Result)
switch config.configuration {
case "unsynced":
    (label, run) = ("given directory, durable: false (no fsync)", { try measure(values, order, config, path: path, durable: false, keep: keep) })
case "durable":
    (label, run) = ("given directory, every file fsynced (its default)", { try measure(values, order, config, path: path, durable: nil, keep: keep) })
case "temporary":
    (label, run) = ("temporary dictionary (no fsync, files written in place)", { try measure(values, order, config, path: nil, durable: nil, keep: keep) })
default:
    print("unknown configuration \(config.configuration): temporary, unsynced or durable")
    exit(2)
}
do {
    let r = try run()
    if config.json {
        print(#"{"impl": "swift-partd", "store": "\#(label)", "values": \#(config.values), "sets_per_s": \#(r.sets), "reads_per_s": \#(r.reads), "flush_s": \#(r.flush), "total_s": \#(r.total)}"#)
    } else {
        print("spill dictionary, \(label): swift-partd \(Int(r.sets)) sets/s, \(Int(r.reads)) reads/s, flush \(r.flush) s, total \(r.total) s (\(config.values) values of \(config.length) Float64, budget \(config.budget))")
    }
} catch {
    print("spill benchmark failed: \(error)")
    exit(1)
}
