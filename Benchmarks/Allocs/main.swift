// SPDX-License-Identifier: Apache-2.0
//
// Allocation audit: runs one hot path over N units of work, so that Benchmarks/run-allocs.sh can count the
// heap blocks a run allocates (valgrind's DHAT) at N and at 2N units and divide the difference by N: the
// allocations one more unit costs, whatever the set-up and the process cost. It also times the path (run
// without valgrind, at a larger N).
//
//   partd-bench-allocs PATH UNITS [--json]
//   partd-bench-allocs --list
//
// A path's set-up does not grow with UNITS unless the path names a `base` (run-allocs.sh then subtracts the
// base path's allocations at the same UNITS: `groupby` is `shuffle-add` followed by the groupby, so its
// figure is the groupby's alone). Work is done in fixed-size pieces (rows per chunk, values per batch), so a
// unit's share of a per-piece allocation is counted too.

import BenchmarkSupport
import Partd
import PartdCompression
import PartdServer
import PartdShuffle
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

/// A record as `@MessagePackRecord` writes it (the macro's expansion, written out, so that this benchmark
/// builds without swift-syntax): one `pack`/`unpack` call per field.
struct Visit: Codable, Sendable, MessagePackRecord {
    var id: Int
    var x: Double
    var name: String

    init(id: Int, x: Double, name: String) { (self.id, self.x, self.name) = (id, x, name) }

    static let messagePackFields = ["id", "x", "name"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(id)
        writer.pack(x)
        writer.pack(name)
    }
    init(unpacking reader: inout MessagePackReader) throws {
        id = try reader.unpack()
        x = try reader.unpack()
        name = try reader.unpack()
    }
}

/// Seconds for `n` gets of 512-element arrays from an ``ArrayStore`` over `inner`, one array per key of `keys64`.
func timeArrayGets(over inner: some ByteStore, _ n: Int) throws -> Double {
    let store = ArrayStore(over: inner)
    for key in keys64 { try store.append(key, NDArray((0..<512).map { Double($0) })) }
    let t0 = now()
    var total = 0
    for i in 0..<n { total &+= try store.get(keys64[i & 63], as: NDArray<Double>.self).elements.count }
    precondition(total == n * 512)
    return now() - t0
}

/// Seconds for gets of at least `rows` rows, 1,000-row tables from a ``TableStore`` over `inner`, one per key of
/// `keys64`.
func timeTableGets(over inner: some ByteStore, _ rows: Int) throws -> Double {
    let store = TableStore(over: inner)
    for (i, key) in keys64.enumerated() { try store.append(key, sampleTable(rows: 1000, from: i * 1000)) }
    let t0 = now()
    var read = 0
    for i in 0..<((rows + 999) / 1000) { read += try store.get(keys64[i & 63]).rowCount }
    precondition(read >= rows)
    return now() - t0
}

struct Path {
    let name: String
    let unit: String
    /// A path whose allocations at the same UNITS are subtracted (its work is this path's set-up).
    let base: String?
    let what: String
    /// The units run-allocs.sh counts at (and twice that): several of the path's pieces (chunks, batches).
    var countUnits = 4000
    /// The units run-allocs.sh times without valgrind.
    var timeUnits: Int { countUnits * 25 }
    /// Runs the path over `units` units; returns the seconds the measured part took.
    let run: (Int) throws -> Double
}

let names = (0..<1000).map { "name-\($0)" }
let keys64 = (0..<64).map { PartdKey("k\($0)") }
let tmpParent = Glibc.getenv("ALLOCS_TMP").map { String(cString: $0) }

func temporaryDirectory() throws -> DirectoryStore { try DirectoryStore.temporary(in: tmpParent) }

/// `count` bytes of pseudo-random data with some repetition (compressible, as columns of numbers are).
func sampleBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(state: seed)
    return (0..<count).map { i in i % 4 == 0 ? UInt8(truncatingIfNeeded: rng.next() & 0x0F) : UInt8(i % 7) }
}

/// A table of `rows` rows: id Int64, x Float64, name plain strings, kind categorical.
func sampleTable(rows: Int, from start: Int) -> Table {
    let ids = (0..<rows).map { Int64(($0 + start) &* 2_654_435_761 % 100_000) }
    let xs = (0..<rows).map { Double($0 + start) * 0.25 }
    let strings = (0..<rows).map { names[($0 + start) % 1000] }
    let codes = (0..<rows).map { Int32(($0 + start) % 50) }
    let categories = StringArray(names.prefix(50))
    return try! Table([
        Column("id", ids), Column("x", xs), Column("name", strings: strings),
        Column("kind", categorical: CategoricalArray(codes: codes, categories: categories)!),
    ])
}

/// Adds `rows` rows to a shuffle by id (64 partitions, a 4 MB budget, so most of it spills), chunks of 10,000.
func shuffled(rows: Int) throws -> (Shuffle<Table>, Double) {
    let shuffle = try Shuffle<Table>(
        by: ["id"], partitions: 64, options: ShuffleOptions(memory: .megabytes(4), temporaryParent: tmpParent))
    let chunkRows = 10_000
    let chunks = stride(from: 0, to: rows, by: chunkRows).map { sampleTable(rows: min(chunkRows, rows - $0), from: $0) }
    let t0 = now()
    for chunk in chunks { try shuffle.add(chunk) }
    try shuffle.finish()
    return (shuffle, now() - t0)
}

/// Appends `units` values of `size` bytes to the 64 keys, 16 values per batch.
func appendSmall<S: ByteStore>(_ store: S, units: Int, size: Int = 100) throws -> Double {
    let values = (0..<16).map { sampleBytes(size, seed: UInt64($0)) }
    let batches = (0..<4).map { b in (0..<16).map { (key: keys64[b * 16 + $0], value: values[$0]) } }
    let t0 = now()
    var done = 0
    var b = 0
    while done < units {
        try store.append(batches[b & 3])
        b += 1
        done += 16
    }
    try store.waitForWrites()
    return now() - t0
}

/// `units` single-key gets, round robin over the 64 keys, each holding one appended value.
func getEach<S: ByteStore>(_ store: S, units: Int, size: Int) throws -> Double {
    let value = sampleBytes(size, seed: 9)
    for key in keys64 { try store.append(key, value) }
    try store.waitForWrites()
    let t0 = now()
    var total = 0
    for i in 0..<units { total &+= try store.get(keys64[i & 63]).count }
    precondition(total == units * size)
    return now() - t0
}

func compressedPaths(_ label: String, _ compression: Compression) -> [Path] {
    [
        Path(name: "compressed-append-\(label)", unit: "frame", base: nil,
             what: "CompressedStore(\(label)) over a MemoryStore: append 4 KiB values (one frame each), 16 per batch", countUnits: 2000) {
            try appendSmall(CompressedStore(compression, over: MemoryStore()), units: $0, size: 4096)
        },
        Path(name: "compressed-get-\(label)", unit: "frame", base: nil,
             what: "CompressedStore(\(label)) over a MemoryStore: get one key holding one 4 KiB frame", countUnits: 2000) {
            try getEach(CompressedStore(compression, over: MemoryStore()), units: $0, size: 4096)
        },
    ]
}

let paths: [Path] = [
    Path(name: "shuffle-add", unit: "row", base: nil,
         what: "Shuffle<Table> by id, 64 partitions, 4 MB budget: add chunks of 10,000 rows (Int64, Float64, string, categorical) + finish",
         countUnits: 40000) {
        try shuffled(rows: $0).1
    },
    Path(name: "groupby", unit: "row", base: "shuffle-add",
         what: "the shuffle-add shuffle, then groupBy([id]).aggregate([sum(x), count]) read back and aggregated",
         countUnits: 40000) {
        let (shuffle, _) = try shuffled(rows: $0)
        let t0 = now()
        let result = try shuffle.groupBy(["id"]).aggregate([.sum("x"), .count])
        precondition(result.rowCount > 0)
        return now() - t0
    },
    Path(name: "directory-append", unit: "append", base: nil,
         what: "DirectoryStore: append 100-byte values to 64 keys, 16 per batch") {
        let store = try temporaryDirectory()
        defer { try? store.close() }
        return try appendSmall(store, units: $0)
    },
    Path(name: "directory-get", unit: "get", base: nil,
         what: "DirectoryStore: get one key of 64 holding 100 bytes") {
        let store = try temporaryDirectory()
        defer { try? store.close() }
        return try getEach(store, units: $0, size: 100)
    },
    Path(name: "spilling-append", unit: "append", base: nil,
         what: "SpillingStore (1 MB budget, background spill) over a DirectoryStore: append 100-byte values to 64 keys, 16 per batch") {
        let disk = try temporaryDirectory()
        defer { try? disk.close() }
        return try appendSmall(SpillingStore(spillingTo: disk, availableMemory: .megabytes(1)), units: $0)
    },
] + compressedPaths("blosc", .blosc(BloscSettings())) + compressedPaths("snappy", .snappy)
    + compressedPaths("zstd", .zstd(level: 1)) + [
    Path(name: "array-append", unit: "append", base: nil,
         what: "ArrayStore over a MemoryStore: append NDArray<Double> of 512 elements (4 KiB), 16 per batch") {
        let store = ArrayStore(over: MemoryStore())
        let arrays = (0..<16).map { a in NDArray((0..<512).map { Double($0 + a) }) }
        let batches = (0..<4).map { b in (0..<16).map { (key: keys64[b * 16 + $0], value: arrays[$0]) } }
        let t0 = now()
        for i in 0..<(($0 + 15) / 16) { try store.append(batches[i & 3]) }
        return now() - t0
    },
    Path(name: "array-get", unit: "get", base: nil,
         what: "ArrayStore over a MemoryStore: get one key holding one NDArray<Double> of 512 elements (4 KiB)") {
        try timeArrayGets(over: MemoryStore(), $0)
    },
    Path(name: "array-get-directory", unit: "get", base: nil,
         what: "ArrayStore over a DirectoryStore: get one key holding one NDArray<Double> of 512 elements (4 KiB)") {
        let disk = try temporaryDirectory()
        defer { try? disk.close() }
        return try timeArrayGets(over: disk, $0)
    },
    Path(name: "table-append", unit: "row", base: nil,
         what: "TableStore over a MemoryStore: append 1,000-row tables (Int64, Float64, string, categorical) to 64 keys", countUnits: 40000) {
        let store = TableStore(over: MemoryStore())
        let tables = (0..<8).map { sampleTable(rows: 1000, from: $0 * 1000) }
        let t0 = now()
        for i in 0..<(($0 + 999) / 1000) { try store.append(keys64[i & 63], tables[i & 7]) }
        return now() - t0
    },
    Path(name: "table-get", unit: "row", base: nil,
         what: "TableStore over a MemoryStore: get one key holding one 1,000-row table (Int64, Float64, string, categorical)", countUnits: 40000) {
        try timeTableGets(over: MemoryStore(), $0)
    },
    Path(name: "table-get-directory", unit: "row", base: nil,
         what: "TableStore over a DirectoryStore: get one key holding one 1,000-row table (Int64, Float64, string, categorical)",
         countUnits: 40000) {
        let disk = try temporaryDirectory()
        defer { try? disk.close() }
        return try timeTableGets(over: disk, $0)
    },
    Path(name: "list-append", unit: "record", base: nil,
         what: "ListStore<MessagePackRecord (id Int, x Double, name String)>, map encoding, over a MemoryStore: append lists of 1,000 records", countUnits: 40000) {
        let store = ListStore<MemoryStore, Visit>(over: MemoryStore())
        let lists = (0..<8).map { l in (0..<1000).map { Visit(id: l * 1000 + $0, x: Double($0), name: names[$0]) } }
        let t0 = now()
        for i in 0..<(($0 + 999) / 1000) { try store.append(keys64[i & 63], lists[i & 7]) }
        return now() - t0
    },
    Path(name: "list-get", unit: "record", base: nil,
         what: "ListStore<MessagePackRecord (id Int, x Double, name String)>, map encoding, over a MemoryStore: get one key holding 1,000 records", countUnits: 40000) {
        let store = ListStore<MemoryStore, Visit>(over: MemoryStore())
        for (l, key) in keys64.enumerated() {
            try store.append(key, (0..<1000).map { Visit(id: l * 1000 + $0, x: Double($0), name: names[$0]) })
        }
        let t0 = now()
        var records = 0
        for i in 0..<(($0 + 999) / 1000) { records += try store.get(keys64[i & 63]).count }
        precondition(records >= $0)
        return now() - t0
    },
    Path(name: "remote-append", unit: "request", base: nil,
         what: "RemoteStore to a StoreServer (same process, Unix socket, MemoryStore): append batches of 16 × 100 bytes") {
        units in
        try withServer { store in
            let values = (0..<16).map { sampleBytes(100, seed: UInt64($0)) }
            let batch = (0..<16).map { (key: keys64[$0], value: values[$0]) }
            let t0 = now()
            for _ in 0..<units { try store.append(batch) }
            try store.flush()
            return now() - t0
        }
    },
    Path(name: "remote-get", unit: "request", base: nil,
         what: "RemoteStore to a StoreServer (same process, Unix socket, MemoryStore): get one key holding 100 bytes") {
        units in try withServer { try getEach($0, units: units, size: 100) }
    },
]

/// Serves a MemoryStore on a Unix socket in this process and runs `body` with a client.
func withServer(_ body: (RemoteStore) throws -> Double) throws -> Double {
    let socket = "\(tmpParent ?? "/tmp")/partd-allocs-\(getpid()).sock"
    let server = try StoreServer.start(
        serving: MemoryStore(), on: [.unixSocket(socket)], configuration: StoreServer.Configuration(threads: 1))
    defer { try? server.shutdown() }
    let store = try RemoteStore(connectingTo: .unixSocket(socket))
    defer { try? store.close() }
    return try body(store)
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--list" {
    for path in paths { print("\(path.name)\t\(path.unit)\t\(path.base ?? "-")\t\(path.countUnits)\t\(path.timeUnits)\t\(path.what)") }
    exit(0)
}
guard arguments.count >= 2, let path = paths.first(where: { $0.name == arguments[0] }), let units = Int(arguments[1]),
    units > 0
else {
    print("usage: partd-bench-allocs PATH UNITS [--json] | --list\npaths: \(paths.map(\.name).joined(separator: " "))")
    exit(2)
}
do {
    let seconds = try path.run(units)
    if arguments.contains("--json") {
        print("{\"path\": \"\(path.name)\", \"unit\": \"\(path.unit)\", \"units\": \(units), \"seconds\": \(seconds)}")
    } else {
        print("\(path.name): \(units) \(path.unit)s in \(seconds) s (\(Int(seconds * 1e9 / Double(units))) ns per \(path.unit))")
    }
} catch {
    print("partd-bench-allocs \(path.name): \(error)")
    exit(1)
}
