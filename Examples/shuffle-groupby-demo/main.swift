// SPDX-License-Identifier: Apache-2.0
//
// An out-of-core shuffle and groupby on generated data, with PartdShuffle.
//
// Generates `--rows` rows of a table (id Int64 uniform in 0..<groups, x Float64,
// name: one of 1,000 short strings, categorical or plain) in chunks, feeds them
// to a `Shuffle<Table>` by `id` with `--partitions` partitions over a spilling
// store holding at most `--memory` bytes in memory (the rest spills to a
// directory), then reads each partition back whole and computes sum(x),
// count and mean(x) per id on all cores. The data is larger than the memory
// budget, so most of it goes through the disk. Prints throughput per phase,
// spilled bytes and peak memory over the baseline, and checks the result
// against totals kept while generating.
//
//   shuffle-groupby-demo [--rows N] [--groups G] [--partitions P] [--memory 32MB]
//                        [--chunk-rows N] [--strings categorical|plain]
//                        [--compression none|lz4|zstd|snappy] [--dir PATH] [--seed S] [--json]

import Dispatch
import Partd
import PartdCompression
import PartdShuffle
import PartdTyped
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct Options {
    var rows = 10_000_000
    var groups = 1_000_000
    var partitions = 64
    var memory = ByteCount.megabytes(32)
    var chunkRows = 500_000
    var categorical = true
    var compression: Compression? = nil
    var directory: String? = nil
    var seed: UInt64 = 1
    var json = false

    static let usage = """
        usage: shuffle-groupby-demo [--rows N] [--groups G] [--partitions P] [--memory 32MB]
                                    [--chunk-rows N] [--strings categorical|plain]
                                    [--compression none|lz4|zstd|snappy] [--dir PATH] [--seed S] [--json]

          --rows N         rows to generate (default 10,000,000: 200 MB with categorical names)
          --groups G       distinct ids (default 1,000,000)
          --partitions P   shuffle partitions (default 64)
          --memory SIZE    memory budget of the spilling store (default 32MB)
          --chunk-rows N   rows per generated chunk (default 500,000)
          --strings KIND   the name column: categorical (default) or plain strings
          --compression C  compress what spills to disk (default none)
          --dir PATH       keep the partitions in PATH (default: a temporary directory, removed at the end)
          --seed S         random seed (default 1)
          --json           print one JSON object of figures instead of the report
        """

    static func parse() -> Options {
        var options = Options()
        var args = CommandLine.arguments.dropFirst().makeIterator()
        func fail(_ message: String) -> Never {
            printError("shuffle-groupby-demo: \(message)\n\(usage)")
            exit(2)
        }
        func number(_ flag: String) -> Int {
            guard let text = args.next(), let value = Int(text.replacingUnderscores()), value > 0 else {
                fail("\(flag) needs a positive whole number")
            }
            return value
        }
        while let arg = args.next() {
            switch arg {
            case "--rows": options.rows = number(arg)
            case "--groups": options.groups = number(arg)
            case "--partitions": options.partitions = number(arg)
            case "--chunk-rows": options.chunkRows = number(arg)
            case "--seed": options.seed = UInt64(number(arg))
            case "--memory":
                guard let text = args.next(), let size = ByteCount(text) else { fail("--memory needs a size such as 64MB") }
                options.memory = size
            case "--json": options.json = true
            case "--strings":
                switch args.next() {
                case "categorical": options.categorical = true
                case "plain": options.categorical = false
                default: fail("--strings needs categorical or plain")
                }
            case "--compression":
                switch args.next() {
                case "none": options.compression = nil
                case "lz4": options.compression = .lz4
                case "zstd": options.compression = .zstd(level: 1)
                case "snappy": options.compression = .snappy
                default: fail("--compression needs none, lz4, zstd or snappy")
                }
            case "--dir":
                guard let path = args.next() else { fail("--dir needs a path") }
                options.directory = path
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                fail("unknown option \(arg)")
            }
        }
        return options
    }
}

extension String {
    func replacingUnderscores() -> String { String(filter { $0 != "_" && $0 != "," }) }
}

// MARK: - Helpers

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// SplitMix64: a small seeded generator, so every run generates the same data.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return PartitionHash.mix(state)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A field of /proc/self/status (VmHWM: peak resident memory, VmRSS: current), in bytes.
func statusBytes(_ field: String) -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix(field + ":") {
            let digits = text.filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
    }
    return 0
}

let isTerminal = isatty(STDOUT_FILENO) == 1

/// A progress bar on a terminal, or a plain line every 10 % otherwise; safe to
/// update from the shuffle's worker threads.
final class ProgressBar: Sendable {
    private let label: String
    private let total: Int
    private let lastDecile = Mutex(-1)

    init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    func update(_ done: Int, _ detail: String) {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        lastDecile.withLock { last in
            if isTerminal {
                let width = 30
                let filled = Int(fraction * Double(width))
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                print("\r\(label) [\(bar)] \(Int(fraction * 100))% \(detail)   ", terminator: "")
                if done >= total { print("") }
                fflush(nil)
            } else {
                let decile = Int(fraction * 10)
                if decile != last {
                    last = decile
                    print("\(label): \(Int(fraction * 100))% \(detail)")
                }
            }
        }
    }
}

func mb(_ bytes: Int) -> String { ByteCount(bytes: bytes).description }

func rate(_ count: Double, _ seconds: Double) -> String {
    let perSecond = count / max(seconds, 1e-9)
    if perSecond >= 1e6 { return "\(Double(Int(perSecond / 1e4)) / 100) M" }
    if perSecond >= 1e3 { return "\(Double(Int(perSecond / 10)) / 100) k" }
    return "\(Int(perSecond)) "
}

func seconds(_ s: Double) -> String { "\(Double(Int(s * 1000)) / 1000) s" }

// MARK: - Generated data

/// The generated table, one chunk at a time (never all in memory); keeps the
/// totals the result is checked against and the time spent generating.
final class GeneratedChunks: Sequence, IteratorProtocol {
    let options: Options
    var rng: SplitMix64
    var produced = 0
    var expectedSum = 0.0
    var generateSeconds = 0.0
    let names: [String] = (0..<1000).map { "name-\($0)" }
    lazy var categories = StringArray(names)

    init(_ options: Options) {
        self.options = options
        rng = SplitMix64(state: options.seed)
    }

    func next() -> Table? {
        guard produced < options.rows else { return nil }
        let t0 = now()
        let n = Swift.min(options.chunkRows, options.rows - produced)
        var ids = [Int64](repeating: 0, count: n)
        var xs = [Double](repeating: 0, count: n)
        var codes = [Int32](repeating: 0, count: n)
        let groups = UInt64(options.groups)
        for i in 0..<n {
            let r = rng.next()
            ids[i] = Int64(r.multipliedFullWidth(by: groups).high)
            xs[i] = Double(rng.next() >> 11) / Double(1 << 53)
            codes[i] = Int32(truncatingIfNeeded: r % 1000)
            expectedSum += xs[i]
        }
        let name: Column
        if options.categorical {
            name = Column("name", categorical: CategoricalArray(codes: codes, categories: categories)!)
        } else {
            name = Column("name", strings: categories.take(codes.map { Int($0) }))
        }
        let table = try! Table([Column("id", ids), Column("x", xs), name])
        produced += n
        generateSeconds += now() - t0
        return table
    }
}

/// A group of the result: its id, row count and sum of x.
struct Group: Sendable {
    let id: Int64
    let count: Int64
    let sum: Double

    /// More rows first, ties by id.
    func before(_ other: Group) -> Bool { count != other.count ? count > other.count : id < other.id }
}

/// The `count` groups of `groups` with the most rows (ties by id), in that order, in one pass: sorting a
/// million groups here, with a comparison closure of the main actor's top-level code, took longer than the
/// job (every call checked which executor it ran on).
func topGroups<S: Sequence<Group>>(_ groups: S, count: Int) -> [Group] {
    var top: [Group] = []
    for group in groups where top.count < count || group.before(top[top.count - 1]) {
        top.insert(group, at: top.firstIndex { group.before($0) } ?? top.count)
        if top.count > count { top.removeLast() }
    }
    return top
}

/// What the check and the report keep of one partition's aggregated groups, so that the whole result is never
/// in memory at once (20 million groups would take over a gigabyte): their number and totals, whether every
/// id is there once and in the partition its hash names, and the largest five.
struct PartitionSummary: Sendable {
    let groups: Int
    let count: Int64
    let sum: Double
    let keysOK: Bool
    let top: [Group]

    init(partition: Int, of partitions: Int, _ result: Table) {
        let ids = result["id"]?.values(as: Int64.self) ?? []
        let counts = result["count"]?.values(as: Int64.self) ?? []
        let sums = result["x_sum"]?.values(as: Double.self) ?? []
        groups = result.rowCount
        count = counts.reduce(0, +)
        sum = sums.reduce(0, +)
        keysOK = ids.count == groups && Set(ids).count == groups
            && ids.allSatisfy { PartitionHash.partition(of: $0.partitionHash, count: partitions) == partition }
        top = topGroups(ids.indices.lazy.map { Group(id: ids[$0], count: counts[$0], sum: sums[$0]) }, count: 5)
    }
}

// MARK: - Main

let options = Options.parse()
let nameKind = options.categorical ? "categorical" : "plain-string"
if !options.json {
    print("""
        swift-partd shuffle/groupby demo
          \(options.rows) rows (id Int64 in 0..<\(options.groups), x Float64, name \(nameKind) of 1,000 values) \
        in chunks of \(options.chunkRows)
          \(options.partitions) partitions, memory budget \(options.memory), spill compression \
        \(options.compression.map { "\($0.codec)" } ?? "none"), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores
        """)
}

do {
    let baseline = statusBytes("VmRSS")
    let shuffleBar = options.json ? nil : ProgressBar(label: "shuffle", total: options.rows)
    let readBar = options.json ? nil : ProgressBar(label: "groupby", total: options.partitions)
    let shuffle = try Shuffle<Table>(
        by: ["id"], partitions: options.partitions,
        options: ShuffleOptions(
            memory: options.memory, directory: options.directory, compression: options.compression,
            progress: { progress in
                switch progress.phase {
                case .partitioning: shuffleBar?.update(progress.rowsIn, "\(mb(progress.bytesSpilled)) spilled")
                case .reading: readBar?.update(progress.partitionsDone, "")
                }
            }))
    if !options.json { print("  partitions spill to \(shuffle.directory?.path ?? "the given store")") }

    // 1. Generate and shuffle.
    let chunks = GeneratedChunks(options)
    let start = now()
    try shuffle.add(contentsOf: chunks)
    try shuffle.finish()
    let shuffleSeconds = now() - start - chunks.generateSeconds
    let spilled = shuffle.store.statistics.spilledBytes
    let shufflePeakOverBaseline = statusBytes("VmHWM") - baseline

    // 2. Read each partition back whole and aggregate it, partitions on all cores; each partition's groups are
    // summarised as they come, so memory stays bounded however many groups there are.
    let groupStart = now()
    let partitions = options.partitions
    let summaries = try shuffle.groupByPartitions(["id"], [.sum("x"), .count]) { index, result in
        PartitionSummary(partition: index, of: partitions, result)
    }
    let groupSeconds = now() - groupStart
    let totalSeconds = shuffleSeconds + groupSeconds
    let peakOverBaseline = statusBytes("VmHWM") - baseline
    try shuffle.close()

    // 3. Check and report.
    let groupCount = summaries.reduce(0) { $0 + $1.groups }
    let totalSum = summaries.reduce(0) { $0 + $1.sum }
    let totalCount = Int(summaries.reduce(0) { $0 + $1.count })
    let ok = totalCount == options.rows && abs(totalSum - chunks.expectedSum) <= 1e-6 * max(1, abs(chunks.expectedSum))
        && summaries.allSatisfy(\.keysOK)

    if options.json {
        print("""
            {"rows": \(options.rows), "partitions": \(options.partitions), "memory_bytes": \(options.memory.bytes), \
            "strings": "\(nameKind)", "shuffle_s": \(shuffleSeconds), "read_aggregate_s": \(groupSeconds), \
            "total_s": \(totalSeconds), "generate_s": \(chunks.generateSeconds), "spilled_bytes": \(spilled), \
            "peak_over_baseline_bytes": \(peakOverBaseline), \
            "shuffle_peak_over_baseline_bytes": \(shufflePeakOverBaseline), "store_peak_bytes": \(shuffle.store.statistics.peakMemoryBytes), "groups": \(groupCount), "ok": \(ok)}
            """)
    } else {
        let top = topGroups(summaries.lazy.flatMap(\.top), count: 5)
        let rows = Double(options.rows)
        print("""

            shuffle:  \(options.rows) rows in \(seconds(shuffleSeconds)) (\(rate(rows, shuffleSeconds))rows/s); \
            spilled \(mb(spilled)) (generating the rows took \(seconds(chunks.generateSeconds)) more)
            groupby:  \(options.partitions) partitions read and aggregated in \(seconds(groupSeconds)) \
            (\(rate(rows, groupSeconds))rows/s), \(groupCount) groups
            job:      \(seconds(totalSeconds)) (\(rate(rows, totalSeconds))rows/s)
            memory:   peak resident \(mb(peakOverBaseline)) over the baseline (budget \(options.memory))
            check:    count \(totalCount) of \(options.rows), sum \(totalSum) vs \(chunks.expectedSum): \(ok ? "OK" : "MISMATCH")
            top groups by count:
            """)
        for group in top {
            print("  id \(group.id): count \(group.count), sum \(group.sum), mean \(group.sum / Double(group.count))")
        }
    }
    exit(ok ? 0 : 1)
} catch {
    printError("shuffle-groupby-demo: \(error)")
    exit(1)
}
