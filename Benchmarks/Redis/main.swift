// SPDX-License-Identifier: Apache-2.0
//
// The W3 shuffle across processes: N rows (default 10,000,000: id Int64 uniform in 0..<1,000,000,
// x Float64, name one of 1,000 strings, plain) in chunks of 500,000 rows, hashed by id into 64
// partitions. Lines:
//   directory   one process, Shuffle<Table> over a spilling directory store (256 MB budget)
//   redis M     M mapper processes, each shuffling 1/M of the rows into one RedisStore on a local
//               Redis Cluster (64 MB budget each); the ShuffleCoordinator is the barrier; then one
//               reducer process reads every partition back (on all cores).
// Each mapper generates its rows before its clock starts; map rows/s is all rows over the span from
// the first mapper's start to the last one's end (wall clock).
//
//   partd-bench-redis [--nodes 127.0.0.1:7100] [--rows N] [--mappers 1,2,4] [--wait R] [--no-directory]
//   partd-bench-redis map NODE NAMESPACE JOB MAPPER MAPPERS ROWS WAIT     (one mapper, started by the above)

import BenchmarkSupport
import Foundation
import Partd
import PartdRedis
import PartdShuffle
import PartdTyped

let partitions = 64
let chunkRows = 500_000

/// Rows `lower..<upper` of the workload, in chunks (row r's values depend only on r).
func generate(_ lower: Int, _ upper: Int) -> [Table] {
    let names = StringArray((0..<1000).map { "name-\($0)" })
    return stride(from: lower, to: upper, by: chunkRows).map { start in
        let n = min(chunkRows, upper - start)
        var ids = [Int64](repeating: 0, count: n)
        var xs = [Double](repeating: 0, count: n)
        var codes = [Int](repeating: 0, count: n)
        var rng = SplitMix64(state: UInt64(start))
        for i in 0..<n {
            let r = rng.next()
            ids[i] = Int64(r.multipliedFullWidth(by: 1_000_000).high)
            xs[i] = Double(start + i)
            codes[i] = Int(r % 1000)
        }
        return try! Table([Column("id", ids), Column("x", xs), Column("name", strings: names.take(codes))])
    }
}

func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("partd-bench-redis: \(message)\n".utf8))
    exit(1)
}

func redisStore(_ node: String, _ namespace: String, wait: Int) throws -> RedisStore {
    try RedisStore(nodes: [node], configuration: RedisStore.Configuration(namespace: namespace, waitForReplicas: wait))
}

// MARK: - Mapper (child process)

let arguments = CommandLine.arguments
if arguments.count == 9, arguments[1] == "map", let mapper = Int(arguments[5]), let mappers = Int(arguments[6]),
    let rows = Int(arguments[7]), let wait = Int(arguments[8])
{
    do {
        let chunks = generate(rows * mapper / mappers, rows * (mapper + 1) / mappers)
        let store = try redisStore(arguments[2], arguments[3], wait: wait)
        let coordinator = try ShuffleCoordinator(store: store, job: arguments[4], mappers: mappers)
        let start = wallClock()
        let lease = try coordinator.start(mapper: mapper)
        let shuffle = try Shuffle<Table>(
            by: ["id"], partitions: partitions, options: ShuffleOptions(memory: .megabytes(64), store: AnyByteStore(store)))
        try shuffle.add(contentsOf: chunks)
        try shuffle.close()
        try lease.finish(partitionRows: shuffle.partitionRowCounts)
        print("mapped \(start) \(wallClock()) \(shuffle.rowCount)")
        exit(0)
    } catch {
        fail("mapper \(mapper): \(error)")
    }
}

// MARK: - Driver

var node = "127.0.0.1:7100"
var rows = 10_000_000
var mapperCounts = [1, 2, 4]
var wait = 0
var directory = true
var index = 1
while index < arguments.count {
    let value = index + 1 < arguments.count ? arguments[index + 1] : ""
    switch arguments[index] {
    case "--nodes": node = value; index += 2
    case "--rows": rows = Int(value) ?? rows; index += 2
    case "--mappers": mapperCounts = value.split(separator: ",").compactMap { Int($0) }; index += 2
    case "--wait": wait = Int(value) ?? 0; index += 2
    case "--no-directory": directory = false; index += 1
    default: fail("usage: partd-bench-redis [--nodes HOST:PORT] [--rows N] [--mappers 1,2,4] [--wait R] [--no-directory]")
    }
}

print("W3 shuffle: \(rows) rows (id Int64 of 1,000,000 values, x Float64, name plain string of 1,000) in chunks of "
    + "\(chunkRows), \(partitions) partitions; Redis Cluster at \(node), waitForReplicas \(wait); \(ProcessInfo.processInfo.activeProcessorCount) cores")
print("store        mappers   map s   map rows/s   reduce s   reduce rows/s")

func line(_ store: String, _ mappers: Int, _ map: Double, _ reduce: Double, rows: Int) {
    func rate(_ s: Double) -> String { String(Int(Double(rows) / s)) }
    print(
        store.padding(toLength: 13, withPad: " ", startingAt: 0)
            + String(mappers).leftPad(7) + String(format: "%8.2f", map) + rate(map).leftPad(13)
            + String(format: "%11.2f", reduce) + rate(reduce).leftPad(16))
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// CPU seconds (user + system) every node of the cluster has used so far, from `INFO cpu`.
func redisCPU(_ store: RedisStore) throws -> Double {
    guard let seed = store.primaries.first, case .string(let listing) = try store.call(seed, ["CLUSTER", "NODES"]) else {
        return 0
    }
    var total = 0.0
    for line in String(decoding: listing, as: UTF8.self).split(whereSeparator: \.isNewline) {
        let fields = line.split(separator: " ")
        guard fields.count > 2, !fields[2].contains("fail"), let hostPort = fields[1].split(separator: "@").first,
            let address = try? RedisAddress(parsing: String(hostPort)),
            case .string(let info) = try store.call(address, ["INFO", "cpu"])
        else { continue }
        for entry in String(decoding: info, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let parts = entry.split(separator: ":")
            if parts.count == 2, parts[0] == "used_cpu_sys" || parts[0] == "used_cpu_user" { total += Double(parts[1]) ?? 0 }
        }
    }
    return total
}

/// CPU seconds used by finished child processes so far.
func childrenCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Reads every partition back on all cores; returns the seconds taken and the rows read.
func reduce(_ shuffle: Shuffle<Table>) throws -> (Double, Int) {
    let t0 = now()
    let counts = try shuffle.mapPartitions { _, table in table.rowCount }
    return (now() - t0, counts.reduce(0, +))
}

do {
    if directory {
        let chunks = generate(0, rows)
        let shuffle = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(memory: .megabytes(256)))
        let t0 = now()
        try shuffle.add(contentsOf: chunks)
        try shuffle.finish()
        let map = now() - t0
        let (read, count) = try reduce(shuffle)
        guard count == rows else { fail("directory shuffle read \(count) rows, not \(rows)") }
        line("directory", 1, map, read, rows: rows)
        try shuffle.close()
    }
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var cpuLines: [String] = []
    for mappers in mapperCounts {
        let namespace = "bench\(mappers)"
        let store = try redisStore(node, namespace, wait: wait)
        try store.drop()
        let coordinator = try ShuffleCoordinator(store: store, job: "w3", mappers: mappers)
        try coordinator.reset()
        let redisBefore = try redisCPU(store)
        let mappersBefore = childrenCPU()
        let processes = try (0..<mappers).map { mapper -> (Process, Pipe) in
            let process = Process()
            process.executableURL = executable
            process.arguments = ["map", node, namespace, "w3", String(mapper), String(mappers), String(rows), String(wait)]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            return (process, pipe)
        }
        var starts: [Double] = []
        var ends: [Double] = []
        for (process, pipe) in processes {
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let fields = output.split(whereSeparator: \.isWhitespace)
            guard process.terminationStatus == 0, fields.count == 4, let s = Double(fields[1]), let e = Double(fields[2]) else {
                fail("a mapper failed: \(output)")
            }
            starts.append(s)
            ends.append(e)
        }
        let redisSeconds = try redisCPU(store) - redisBefore
        let mapperSeconds = childrenCPU() - mappersBefore
        cpuLines.append(
            "redis \(mappers): CPU per million rows: mappers \(String(format: "%.3f", mapperSeconds * 1e6 / Double(rows))) s "
                + "(includes generating the rows), Redis nodes \(String(format: "%.3f", redisSeconds * 1e6 / Double(rows))) s")
        let report = try coordinator.waitForMappers(timeout: .seconds(60))
        let reducer = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(store)))
        let (read, count) = try reduce(reducer)
        guard count == rows, report.partitionRows.reduce(0, +) == rows else {
            fail("redis shuffle with \(mappers) mappers read \(count) rows; mappers reported \(report.partitionRows.reduce(0, +))")
        }
        line("redis", mappers, ends.max()! - starts.min()!, read, rows: rows)
        try store.drop()
        try coordinator.reset()
    }
    for line in cpuLines { print(line) }
} catch {
    fail("\(error)")
}
