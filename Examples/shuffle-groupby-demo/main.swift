// SPDX-License-Identifier: Apache-2.0
//
// An out-of-core shuffle and groupby on generated data, on the byte-store core.
//
// Generates `--rows` records (a UInt64 group key and a Float64 value, 16 bytes
// each) in chunks, hash-partitions every chunk on all cores into `--partitions`
// partitions, appends the pieces to a spilling store that keeps at most
// `--memory` bytes in memory and spills the rest to a directory, then reads
// each partition back whole and computes sum, count and mean per key, in
// parallel. The data is larger than the memory budget, so most of it goes
// through the disk. Prints throughput, spilled bytes and peak memory, and
// checks the result against totals kept while generating.
//
//   shuffle-groupby-demo [--rows N] [--groups G] [--partitions P] [--memory 64MB]
//                        [--chunk-rows N] [--dir PATH] [--seed S]

import Dispatch
import Partd

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct Options {
    var rows = 20_000_000
    var groups = 200_000
    var partitions = 64
    var memory = ByteCount.megabytes(64)
    var chunkRows = 1_000_000
    var directory: String? = nil
    var seed: UInt64 = 1

    static let usage = """
        usage: shuffle-groupby-demo [--rows N] [--groups G] [--partitions P] [--memory 64MB]
                                    [--chunk-rows N] [--dir PATH] [--seed S]

          --rows N        records to generate (default 20,000,000: 320 MB)
          --groups G      distinct group keys (default 200,000)
          --partitions P  shuffle partitions (default 64)
          --memory SIZE   memory budget of the spilling store (default 64MB)
          --chunk-rows N  records per generated chunk (default 1,000,000)
          --dir PATH      keep the partitions in PATH (default: a temporary directory, removed at the end)
          --seed S        random seed (default 1)
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

/// SplitMix64: the generator, and (its finaliser) the partitioning hash.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Peak resident memory of this process (VmHWM), in bytes.
func peakResidentBytes() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmHWM:") {
            let digits = text.filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
    }
    return 0
}

let isTerminal = isatty(STDOUT_FILENO) == 1

/// Prints a progress bar on a terminal, or a plain line every 10 % otherwise.
struct Progress {
    let label: String
    let total: Int
    var lastDecile = -1

    mutating func update(_ done: Int, _ detail: String) {
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            print("\r\(label) [\(bar)] \(Int(fraction * 100))% \(detail)   ", terminator: "")
            if done >= total { print("") }
            fflush(nil)
        } else {
            let decile = Int(fraction * 10)
            if decile != lastDecile {
                lastDecile = decile
                print("\(label): \(Int(fraction * 100))% \(detail)")
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

// MARK: - Shuffle

/// Splits a chunk of records (16 bytes each: key, value) into one byte buffer per partition,
/// using every core: each worker partitions its own row range into its own buffers.
func partition(_ keys: [UInt64], _ values: [Double], partitionKeys: [PartdKey]) -> [[(key: PartdKey, value: [UInt8])]] {
    let partitions = partitionKeys.count
    let workers = max(1, min(ProcessInfoLite.cores, keys.count / 65_536 + 1))
    let perWorker = (keys.count + workers - 1) / workers
    let results = LockedArray<[(key: PartdKey, value: [UInt8])]>(count: workers, initial: [])
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        let start = worker * perWorker
        let end = min(keys.count, start + perWorker)
        guard start < end else { return }
        var buffers = [[UInt8]](repeating: [], count: partitions)
        let expected = (end - start) / partitions * 16 * 5 / 4 + 64
        for p in 0..<partitions { buffers[p].reserveCapacity(expected) }
        for row in start..<end {
            let key = keys[row]
            let p = Int(SplitMix64.mix(key) % UInt64(partitions))
            withUnsafeBytes(of: key.littleEndian) { buffers[p].append(contentsOf: $0) }
            withUnsafeBytes(of: values[row].bitPattern.littleEndian) { buffers[p].append(contentsOf: $0) }
        }
        var batch: [(key: PartdKey, value: [UInt8])] = []
        batch.reserveCapacity(partitions)
        for p in 0..<partitions where !buffers[p].isEmpty {
            batch.append((key: partitionKeys[p], value: buffers[p]))
        }
        results.set(worker, batch)
    }
    return results.values
}

enum ProcessInfoLite {
    static let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

/// A fixed-size array that concurrent workers fill at distinct indices.
final class LockedArray<T>: @unchecked Sendable {
    private let lock = NSLockLite()
    private var storage: [T]
    init(count: Int, initial: T) { storage = Array(repeating: initial, count: count) }
    func set(_ index: Int, _ value: T) { lock.withLock { storage[index] = value } }
    var values: [T] { lock.withLock { storage } }
}

final class NSLockLite: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

// MARK: - Groupby

struct Aggregate {
    var sum = 0.0
    var count = 0
}

func aggregate(_ bytes: [UInt8], expectedGroups: Int) -> [UInt64: Aggregate] {
    var groups: [UInt64: Aggregate] = [:]
    groups.reserveCapacity(min(bytes.count / 16, expectedGroups))
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset + 16 <= raw.count {
            let key = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let value = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
            groups[key, default: Aggregate()].sum += value
            groups[key, default: Aggregate()].count += 1
            offset += 16
        }
    }
    return groups
}

// MARK: - Main

let options = Options.parse()
let partitionKeys = (0..<options.partitions).map { PartdKey($0) }

print("""
    swift-partd shuffle/groupby demo
      \(options.rows) records (\(mb(options.rows * 16))) in chunks of \(options.chunkRows), \(options.groups) groups, \
    \(options.partitions) partitions
      memory budget \(options.memory), \(ProcessInfoLite.cores) cores
    """)

do {
    let directory: DirectoryStore
    if let path = options.directory {
        directory = try DirectoryStore(path: path)
        try directory.drop()
    } else {
        directory = try DirectoryStore.temporary()
    }
    print("  partitions spill to \(directory.path)")
    let store = SpillingStore(spillingTo: directory, availableMemory: options.memory)

    // 1. Generate and shuffle.
    var rng = SplitMix64(state: options.seed)
    var expectedSum = 0.0
    var generateSeconds = 0.0
    var progress = Progress(label: "shuffle", total: options.rows)
    let shuffleStart = now()
    var done = 0
    while done < options.rows {
        let n = min(options.chunkRows, options.rows - done)
        let t0 = now()
        var keys = [UInt64](repeating: 0, count: n)
        var values = [Double](repeating: 0, count: n)
        for i in 0..<n {
            keys[i] = rng.next() % UInt64(options.groups)
            values[i] = Double(rng.next() >> 11) / Double(1 << 53)
            expectedSum += values[i]
        }
        generateSeconds += now() - t0
        for batch in partition(keys, values, partitionKeys: partitionKeys) where !batch.isEmpty {
            try store.append(batch)
        }
        done += n
        let stats = store.statistics
        progress.update(done, "\(mb(stats.spilledBytes)) spilled")
    }
    try store.flush()
    let shuffleSeconds = now() - shuffleStart - generateSeconds
    let shufflePeak = peakResidentBytes()
    let stats = store.statistics

    // 2. Read each partition back whole and aggregate it, partitions in parallel.
    let groupStart = now()
    let partials = LockedArray<[UInt64: Aggregate]>(count: options.partitions, initial: [:])
    let readBytes = LockedArray<Int>(count: options.partitions, initial: 0)
    let failures = LockedArray<String?>(count: 1, initial: nil)
    DispatchQueue.concurrentPerform(iterations: options.partitions) { p in
        do {
            let bytes = try store.get(PartdKey(p))
            readBytes.set(p, bytes.count)
            partials.set(p, aggregate(bytes, expectedGroups: options.groups / options.partitions * 5 / 4 + 16))
        } catch {
            failures.set(0, "partition \(p): \(error)")
        }
    }
    if let failure = failures.values[0] { throw PartdError(code: .io, message: failure) }
    let groupSeconds = now() - groupStart

    // 3. Check and report.
    var totalCount = 0
    var totalSum = 0.0
    var groupCount = 0
    var largest: [(key: UInt64, value: Aggregate)] = []
    for partial in partials.values {
        groupCount += partial.count
        for (key, agg) in partial {
            totalCount += agg.count
            totalSum += agg.sum
            largest.append((key, agg))
        }
    }
    largest.sort { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }
    let bytesRead = readBytes.values.reduce(0, +)
    let ok = totalCount == options.rows && abs(totalSum - expectedSum) <= 1e-6 * max(1, abs(expectedSum))
        && bytesRead == options.rows * 16

    print("""

        shuffle:  \(options.rows) records in \(Double(Int(shuffleSeconds * 1000)) / 1000) s \
        (\(rate(Double(options.rows), shuffleSeconds))records/s, \(rate(Double(options.rows * 16), shuffleSeconds))B/s)
                  spilled \(mb(stats.spilledBytes)) in \(stats.spillRounds) rounds; peak store memory \(mb(stats.peakMemoryBytes))
        groupby:  \(options.partitions) partitions, \(mb(bytesRead)) read back in \(Double(Int(groupSeconds * 1000)) / 1000) s \
        (\(rate(Double(bytesRead), groupSeconds))B/s), \(groupCount) groups
        memory:   peak resident \(mb(shufflePeak)) while shuffling, \(mb(peakResidentBytes())) overall
                  (store budget \(options.memory); the generated chunk and its partition buffers come on top)
        check:    count \(totalCount) of \(options.rows), sum \(totalSum) vs \(expectedSum): \(ok ? "OK" : "MISMATCH")
        top groups by count:
        """)
    for entry in largest.prefix(5) {
        let mean = entry.value.sum / Double(entry.value.count)
        print("  key \(entry.key): count \(entry.value.count), sum \(entry.value.sum), mean \(mean)")
    }
    if options.directory == nil { try directory.close() }
    exit(ok ? 0 : 1)
} catch {
    printError("shuffle-groupby-demo: \(error)")
    exit(1)
}
