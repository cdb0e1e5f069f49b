// SPDX-License-Identifier: Apache-2.0
//
// A multi-host shuffle in miniature: `--mappers` copies of this program (standing in for hosts) each
// shuffle their slice of generated sales (customer Int64, amount Float64) by customer into one
// RedisStore on a Redis Cluster; a ShuffleCoordinator in the same cluster is the barrier; then this
// process checks every partition's row count against what the mappers reported and sums the amount
// per customer. Start a local cluster first: scripts/redis-cluster.sh start
//
//   redis-shuffle [--nodes 127.0.0.1:7100] [--mappers 3] [--rows 300000] [--partitions 32]

import Foundation
import Partd
import PartdRedis
import PartdShuffle
import PartdTyped

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("redis-shuffle: \(message)\n".utf8))
    exit(status)
}

/// Sale `r`: customer r * 7919 mod 1,000, amount (r mod 100) / 4 (so the totals are exact).
func sales(_ range: Range<Int>) throws -> Table {
    try Table([
        Column("customer", range.map { Int64($0 * 7919 % 1000) }),
        Column("amount", range.map { Double($0 % 100) / 4 }),
    ])
}

func store(_ nodes: String, _ namespace: String) throws -> RedisStore {
    try RedisStore(nodes: nodes.split(separator: ",").map(String.init), configuration: .init(namespace: namespace))
}

let arguments = CommandLine.arguments

// A mapper: redis-shuffle map NODES NAMESPACE MAPPER MAPPERS ROWS PARTITIONS
if arguments.count == 8, arguments[1] == "map", let mapper = Int(arguments[4]), let mappers = Int(arguments[5]),
    let rows = Int(arguments[6]), let partitions = Int(arguments[7])
{
    do {
        let redis = try store(arguments[2], arguments[3])
        let lease = try ShuffleCoordinator(store: redis, job: "sales", mappers: mappers).start(mapper: mapper)
        let shuffle = try Shuffle<Table>(
            by: ["customer"], partitions: partitions, options: ShuffleOptions(memory: .megabytes(16), store: AnyByteStore(redis)))
        let lower = rows * mapper / mappers
        let upper = rows * (mapper + 1) / mappers
        for start in stride(from: lower, to: upper, by: 50_000) {
            try shuffle.add(try sales(start..<min(start + 50_000, upper)))
        }
        try shuffle.close()
        try lease.finish(partitionRows: shuffle.partitionRowCounts)
        exit(0)
    } catch {
        fail("mapper \(mapper): \(error)")
    }
}

// The driver.
var nodes = "127.0.0.1:7100"
var mappers = 3
var rows = 300_000
var partitions = 32
var index = 1
while index < arguments.count {
    let value = index + 1 < arguments.count ? arguments[index + 1] : ""
    switch arguments[index] {
    case "--nodes": nodes = value
    case "--mappers": mappers = Int(value) ?? 0
    case "--rows": rows = Int(value) ?? 0
    case "--partitions": partitions = Int(value) ?? 0
    case "--help", "-h":
        print("usage: redis-shuffle [--nodes HOST:PORT[,HOST:PORT…]] [--mappers N] [--rows N] [--partitions N]")
        exit(0)
    default: fail("unknown option \(arguments[index]); see --help", status: 2)
    }
    index += 2
}
guard mappers > 0, rows > 0, partitions > 0 else { fail("--mappers, --rows and --partitions need positive numbers", status: 2) }

do {
    let namespace = "example-\(getpid())"
    let redis = try store(nodes, namespace)
    print("Redis at \(nodes): \(redis.isCluster ? "a cluster of \(redis.primaries.count) primaries" : "one standalone server")")
    let started = Date()
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let processes = try (0..<mappers).map { mapper -> Process in
        let process = Process()
        process.executableURL = executable
        process.arguments = ["map", nodes, namespace, String(mapper), String(mappers), String(rows), String(partitions)]
        try process.run()
        return process
    }
    // The barrier: wait until every mapper reported (a mapper that died is reported, not waited for).
    let coordinator = try ShuffleCoordinator(store: redis, job: "sales", mappers: mappers)
    let report = try coordinator.waitForMappers(timeout: .seconds(300))
    for process in processes { process.waitUntilExit() }
    print("\(mappers) mapper processes shuffled \(report.mapperRows.reduce(0, +)) rows into \(partitions) partitions "
        + "in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")

    // The reducers' side: every partition must hold what the mappers wrote to it.
    let reader = try Shuffle<Table>(by: ["customer"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(redis)))
    for p in 0..<partitions { try report.check(partition: p, rows: try reader.partition(p).rowCount) }
    print("row counts of all \(partitions) partitions match the mappers' reports")
    let totals = try reader.groupBy(["customer"]).aggregate([.sum("amount"), .count])
    let total = totals["amount_sum"]!.values(as: Double.self)!.reduce(0, +)
    let expected = (0..<rows).reduce(0.0) { $0 + Double($1 % 100) / 4 }
    print("\(totals.rowCount) customers; total amount \(total) (expected \(expected)): \(total == expected ? "OK" : "MISMATCH")")
    try redis.drop()
    try coordinator.reset()
    if total != expected { exit(1) }
} catch {
    fail("\(error)")
}
