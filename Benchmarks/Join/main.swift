// SPDX-License-Identifier: Apache-2.0
//
// The out-of-core join workload (`Benchmarks/run-join.sh` runs it beside Python's partd + pandas):
// a left table of --rows rows (id Int64 uniform in 0..<keys, x Float64) and a right table of --keys
// rows (each id once, in random order, and a name: one of 1,000 short strings, categorical or plain),
// both generated in chunks of 500,000 rows and shuffled by id into --partitions partitions, each
// shuffle through a spilling store of --memory bytes; then partition p of the left joins partition p
// of the right (an inner join on id, or --kind left, right or outer), on all cores, and each
// partition's result is reduced to its row count and sum(x), without being kept. Every left row has
// exactly one match, so the result has --rows rows (right and outer joins: plus the ids no left row
// drew) and sum(x) equals the left's (checked).
//
//   partd-bench-join [--rows N] [--keys K] [--partitions P] [--memory 64MB] [--strings categorical|plain]
//                    [--kind inner|left|right|outer]
//
// Prints one JSON object: phase times (generation left out), rows/s, peak resident memory over the
// baseline taken before the shuffles.

import BenchmarkSupport
import Partd
import PartdShuffle
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

var rows = 10_000_000
var keys = 1_000_000
var partitions = 64
var memory = ByteCount.megabytes(64)
var categorical = true
var kind = JoinKind.inner
let chunkRows = 500_000

var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rows": rows = Int(arguments.next() ?? "") ?? rows
    case "--keys": keys = Int(arguments.next() ?? "") ?? keys
    case "--partitions": partitions = Int(arguments.next() ?? "") ?? partitions
    case "--memory": memory = arguments.next().flatMap { ByteCount($0) } ?? memory
    case "--strings": categorical = arguments.next() != "plain"
    case "--kind": kind = arguments.next().flatMap(JoinKind.init(rawValue:)) ?? kind
    default:
        print("usage: partd-bench-join [--rows N] [--keys K] [--partitions P] [--memory 64MB] [--strings categorical|plain] [--kind inner|left|right|outer]")
        exit(2)
    }
}

/// A field of /proc/self/status (VmHWM: peak resident memory, VmRSS: current), in bytes.
func statusBytes(_ field: String) -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix(field + ":") {
            return (Int(text.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0) * 1024
        }
    }
    return 0
}

/// The sum of a Float64 column's non-null values (right rows without a match have a null x, whose slot
/// holds some value).
nonisolated func validSum(_ column: Column) -> Double {
    let values = column.values(as: Double.self)!
    guard column.validity != nil else { return values.reduce(0, +) }
    var sum = 0.0
    for row in 0..<values.count where column.isValid(row) { sum += values[row] }
    return sum
}

let names = (0..<1_000).map { "name-\($0)" }
var rng = SplitMix64(state: 1)
var generating = 0.0
var leftSum = 0.0
/// The ids some left row drew (the others are the right rows a right or outer join keeps without a match).
var drawn = [Bool](repeating: false, count: keys)

let baseline = statusBytes("VmRSS")
let left = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(memory: memory))
let right = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(memory: memory))
let start = now()
var done = 0
while done < rows {
    let t0 = now()
    let n = min(chunkRows, rows - done)
    let ids = (0..<n).map { _ in Int64(rng.next() % UInt64(keys)) }
    let xs = (0..<n).map { _ in Double(rng.next() >> 11) / Double(1 << 53) }
    for x in xs { leftSum += x }
    for id in ids { drawn[Int(id)] = true }
    let chunk = try Table([Column("id", ids), Column("x", xs)])
    generating += now() - t0
    try left.add(chunk)
    done += n
}
// The right side: every id once, in a random order (Fisher-Yates), with a name.
var order = Array(0..<keys)
for i in stride(from: keys - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
done = 0
while done < keys {
    let t0 = now()
    let n = min(chunkRows, keys - done)
    let ids = order[done..<(done + n)].map(Int64.init)
    let picked = (0..<n).map { _ in names[Int(rng.next() % 1_000)] }
    let name = categorical ? Column("name", categorical: CategoricalArray(picked)) : Column("name", strings: StringArray(picked))
    let chunk = try Table([Column("id", ids), name])
    generating += now() - t0
    try right.add(chunk)
    done += n
}
let shuffled = now()
let parts = try left.joinPartitions(right, on: ["id"], kind: kind) { _, joined -> (rows: Int, sum: Double) in
    (joined.rowCount, validSum(joined["x"]!))
}
let finished = now()
let joinedRows = parts.reduce(0) { $0 + $1.rows }
let joinedSum = parts.reduce(0) { $0 + $1.sum }
let shuffleSeconds = shuffled - start - generating
let joinSeconds = finished - shuffled
let expectedRows = kind == .right || kind == .outer ? rows + drawn.lazy.filter { !$0 }.count : rows
let ok = joinedRows == expectedRows && abs(joinedSum - leftSum) <= 1e-6 * max(1, abs(leftSum))
print("""
    {"impl": "swift-partd", "workload": "shuffle-join", "rows": \(rows), "keys": \(keys), "partitions": \(partitions), \
    "memory_bytes": \(memory.bytes), "strings": "\(categorical ? "categorical" : "plain")", "kind": "\(kind.rawValue)", \
    "shuffle_s": \(shuffleSeconds), "join_s": \(joinSeconds), "total_s": \(shuffleSeconds + joinSeconds), \
    "generate_s": \(generating), "rows_per_s": \(Double(rows + keys) / (shuffleSeconds + joinSeconds)), \
    "peak_over_baseline_bytes": \(statusBytes("VmHWM") - baseline), "joined_rows": \(joinedRows), "ok": \(ok)}
    """)
if !ok { exit(1) }
