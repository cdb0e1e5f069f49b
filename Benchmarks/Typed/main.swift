// SPDX-License-Identifier: Apache-2.0
//
// Typed-encoder workloads (issue 4), each the same as its Python reference in
// Benchmarks/python/ (run both with Benchmarks/run-typed.sh):
//
//   W3 arrays  64 keys x 40 rounds of a 10,000-element Float64 array (204.8 MB),
//              then get every key (16 keys per call). ArrayStore over a DirectoryStore.
//   W4 tables  10,000,000 rows (id Int64 = row, x Float64 = (row % 1000) * 0.5,
//              name one of 1,000 strings "name-%03d" % (row * 7 % 1000)) in 20 chunks of
//              500,000 rows, each split into 64 pieces by id % 64 before the clock; append
//              every chunk's pieces, then get the 64 keys. TableStore over a DirectoryStore,
//              plain and with Blosc (lz4, shuffle, typesize 8); name as strings and as categorical.
//   W5 lists   2,000,000 records (id Int, x Double = id * 0.25, name "name-%03d" % (id % 1000))
//              in 20 rounds of 100,000, record i to key i % 64 (split before the clock), then
//              read the 64 keys back, 16 keys per get (decoded on all cores). ListStore (MessagePack) over a DirectoryStore.
//   W5 floor   W5's 2,000,000 records coded on one thread without a store: through `Codable`'s calls alone
//              (a coder that copies no bytes), through the least `Codable` coder (CodableFloor.swift), through
//              MessagePackEncoder/Decoder, and as `@MessagePackRecord` (`w5-floor`).
//   W5 rich    the same records with two more fields: note String? (nil when id % 3 == 0, else "n"), and
//              tags [String] (id % 4 names from the pool, starting at id's) (`w5-rich`; not part of `w5`).
//   W5 maps    the same records with a dictionary field: counts [String: Int], {"a": id, "b": -id,
//              "c": id % 7} (`w5-maps`; not part of `w5`).
//
//   partd-bench-typed [--workloads w3,w4,w4-strings,w5,w5-codable,w5-record,w5-rich,w5-rich-record,w5-maps,w5-floor] [--repeat R] [--json]
//   TYPED_TMP=DIR puts the stores under DIR.

import BenchmarkSupport
import Partd
import PartdCompression
import PartdRecords
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var workloads = ["w3", "w4", "w5"]
    var repeats = 1
    var json = false
    var parent = getenv("TYPED_TMP").map { String(cString: $0) } ?? "/tmp"
}

func parseOptions() -> Options {
    var options = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let arg = args.next() {
        switch arg {
        case "--workloads": options.workloads = (args.next() ?? "").split(separator: ",").map(String.init)
        case "--repeat": options.repeats = max(1, Int(args.next() ?? "") ?? 1)
        case "--json": options.json = true
        default:
            print("usage: partd-bench-typed [--workloads w3,w4,w4-strings,w5,w5-codable,w5-record,w5-rich,w5-rich-record,w5-maps,w5-floor] [--repeat R] [--json]")
            exit(2)
        }
    }
    return options
}

/// Prints one result line: the workload, the variant and the figures with units.
/// `phases` names the two timed phases (W5 floor: encode and decode).
func report(
    _ options: Options, workload: String, variant: String, append: Double, get: Double, extra: [(String, String)],
    phases: (String, String) = ("append", "get")
) {
    if options.json {
        let fields = [("impl", "\"swift-partd\""), ("workload", "\"\(workload)\""), ("variant", "\"\(variant)\""),
                      ("\(phases.0)_s", "\(append)"), ("\(phases.1)_s", "\(get)"), ("seconds", "\(append + get)")] + extra
        print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
    } else {
        let details = extra.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        print("\(workload) \(variant) swift-partd: \(phases.0) \(fmt(append)) s, \(phases.1) \(fmt(get)) s, \(fmt(append + get)) s total (\(details))")
    }
}

func fmt(_ x: Double) -> String {
    let scaled = Int((x * 1000).rounded())
    return "\(scaled / 1000).\(String(repeating: "0", count: 3 - String(scaled % 1000).count))\(scaled % 1000)"
}

/// Runs `body` `repeat` times and returns the (append, get) pair with the smallest total.
func best(_ repeats: Int, _ body: () throws -> (Double, Double)) rethrows -> (Double, Double) {
    var result = (Double.infinity, Double.infinity)
    for _ in 0..<repeats {
        let r = try body()
        if r.0 + r.1 < result.0 + result.1 { result = r }
    }
    return result
}

// MARK: W3

func w3(_ options: Options) throws {
    let pool = (0..<64).map { p in NDArray((0..<10_000).map { j in Double((j + 7919 * p) % 100_003) * 0.001 }) }
    let keys = (0..<64).map { PartdKey("k\($0)") }
    let rounds = 40
    let total = rounds * 64 * 80_000
    let (a, g) = try best(options.repeats) {
        let disk = try DirectoryStore.temporary(in: options.parent)
        defer { try? disk.close() }
        let store = ArrayStore(over: disk)
        let t0 = now()
        for r in 0..<rounds {
            try store.append(keys.indices.map { i in (key: keys[i], value: pool[(r + i) % 64]) })
        }
        let t1 = now()
        var read = 0
        for start in stride(from: 0, to: 64, by: 16) {
            for array in try store.get(Array(keys[start..<(start + 16)]), as: NDArray<Double>.self) { read += array.elements.count * 8 }
        }
        let t2 = now()
        precondition(read == total, "read \(read) of \(total) bytes")
        return (t1 - t0, t2 - t1)
    }
    report(options, workload: "w3-arrays", variant: "directory", append: a, get: g, extra: [
        ("append_mb_s", "\(Int(Double(total) / 1e6 / a))"), ("get_mb_s", "\(Int(Double(total) / 1e6 / g))"), ("bytes", "\(total)"),
    ])
}

// MARK: W4

/// The 1,000 names "name-000" … "name-999" and the 64 keys "p0" … "p63" of W4 and W5.
let namePool = (0..<1000).map { i in "name-" + String(repeating: "0", count: 3 - String(i).count) + String(i) }
let partitionKeys = (0..<64).map { PartdKey("p\($0)") }

/// W4 with plain and categorical name columns, each without and with Blosc; `only` narrows it to one variant.
func w4(_ options: Options, only: String? = nil) throws {
    let rows = 10_000_000
    let chunks = 20
    let per = rows / chunks
    let (names, keys) = (namePool, partitionKeys)
    for categorical in [false, true] {
        var pieces: [[(key: PartdKey, value: Table)]] = []
        for c in 0..<chunks {
            let ids = (c * per..<(c + 1) * per).map(Int64.init)
            let x = ids.map { Double($0 % 1000) * 0.5 }
            let nameColumn: Column
            if categorical {
                let codes = ids.map { Int32(($0 * 7) % 1000) }
                nameColumn = Column("name", categorical: CategoricalArray(codes: codes, categories: StringArray(names))!)
            } else {
                var strings = StringArray()
                for id in ids { strings.append(names[Int((id * 7) % 1000)]) }
                nameColumn = Column("name", strings: strings)
            }
            let table = try Table([Column("id", ids), Column("x", x), nameColumn])
            let parts = table.split(byPartition: ids.map { Int($0 % 64) }, count: 64)
            pieces.append(parts.indices.map { (key: keys[$0], value: parts[$0]) })
        }
        for compressed in [false, true] {
            let variant = (categorical ? "categorical" : "strings") + (compressed ? "+blosc" : "")
            if let only, only != variant { continue }
            let (a, g) = try best(options.repeats) {
                let disk = try DirectoryStore.temporary(in: options.parent)
                defer { try? disk.close() }
                let blosc = Compression.blosc(BloscSettings(compressor: .lz4, level: 5, shuffle: .byte, typeSize: 8))
                return compressed
                    ? try w4Run(TableStore(over: CompressedStore(blosc, over: disk)), pieces: pieces, keys: keys, rows: rows)
                    : try w4Run(TableStore(over: disk), pieces: pieces, keys: keys, rows: rows)
            }
            report(options, workload: "w4-tables", variant: variant, append: a, get: g, extra: [
                ("rows", "\(rows)"), ("append_mrows_s", "\(Double(rows) / 1e6 / a)"), ("get_mrows_s", "\(Double(rows) / 1e6 / g)"),
            ])
        }
    }
}

func w4Run<S: ByteStore>(_ store: TableStore<S>, pieces: [[(key: PartdKey, value: Table)]], keys: [PartdKey], rows: Int) throws
    -> (Double, Double)
{
    let t0 = now()
    for chunk in pieces { try store.append(chunk) }
    let t1 = now()
    var got = 0
    var idSum: Int64 = 0
    for start in stride(from: 0, to: 64, by: 16) {
        for table in try store.get(Array(keys[start..<(start + 16)])) {
            got += table.rowCount
            idSum &+= table["id"]!.values(as: Int64.self)!.reduce(0, &+)
        }
    }
    let t2 = now()
    precondition(got == rows && idSum == Int64(rows) * Int64(rows - 1) / 2, "read \(got) rows")
    return (t1 - t0, t2 - t1)
}

// MARK: W5

struct Record: Codable, Sendable {
    var id: Int
    var x: Double
    var name: String
}

/// The same record as a `MessagePackRecord`, its members written by `@MessagePackRecord`: the same bytes.
@MessagePackRecord
struct PackedRecord: Codable, Sendable {
    var id: Int
    var x: Double
    var name: String
}

/// W5 rich: optional and array fields, through `Codable` and through `@MessagePackRecord`.
struct RichRecord: Codable, Sendable {
    var id: Int
    var x: Double
    var name: String
    var note: String?
    var tags: [String]
}

@MessagePackRecord
struct PackedRichRecord: Codable, Sendable {
    var id: Int
    var x: Double
    var name: String
    var note: String?
    var tags: [String]
}

/// W5 maps: a dictionary field, through `Codable` and through `@MessagePackRecord`.
struct MapRecord: Codable, Sendable {
    var id: Int
    var x: Double
    var name: String
    var counts: [String: Int]
}

@MessagePackRecord
struct PackedMapRecord: Codable, Sendable {
    var id: Int
    var x: Double
    var name: String
    var counts: [String: Int]
}

/// W5 maps' dictionary for record `id`: three entries.
func mapCounts(_ id: Int) -> [String: Int] { ["a": id, "b": -id, "c": id % 7] }

/// W5 rich's extra fields for record `id`.
func richFields(_ id: Int) -> (note: String?, tags: [String]) {
    (id % 3 == 0 ? nil : "n", (0 ..< id % 4).map { namePool[(id + $0) % 1000] })
}

/// W5 through `Codable` (`codable`), through `MessagePackRecord` (`record`), or both; `rich` runs W5 rich,
/// `maps` W5 maps.
func w5(_ options: Options, _ paths: [String] = ["codable", "record"]) throws {
    if paths.contains("codable") { try w5(options, Record.self, suffix: "", make: Record.init, id: \.id) }
    if paths.contains("record") { try w5(options, PackedRecord.self, suffix: "+record", make: PackedRecord.init, id: \.id) }
    if paths.contains("rich") {
        try w5(options, RichRecord.self, suffix: "+rich", make: { id, x, name in
            let (note, tags) = richFields(id)
            return RichRecord(id: id, x: x, name: name, note: note, tags: tags)
        }, id: \.id)
    }
    if paths.contains("rich") || paths.contains("rich-record") {
        try w5(options, PackedRichRecord.self, suffix: "+rich+record", make: { id, x, name in
            let (note, tags) = richFields(id)
            return PackedRichRecord(id: id, x: x, name: name, note: note, tags: tags)
        }, id: \.id)
    }
    if paths.contains("maps") {
        try w5(options, MapRecord.self, suffix: "+maps", make: { MapRecord(id: $0, x: $1, name: $2, counts: mapCounts($0)) }, id: \.id)
        try w5(options, PackedMapRecord.self, suffix: "+maps+record", make: {
            PackedMapRecord(id: $0, x: $1, name: $2, counts: mapCounts($0))
        }, id: \.id)
    }
}

func w5<R: Codable & Sendable>(
    _ options: Options, _: R.Type, suffix: String, make: (Int, Double, String) -> R, id: (R) -> Int
) throws {
    let records = 2_000_000
    let rounds = 20
    let per = records / rounds
    let (names, keys) = (namePool, partitionKeys)
    // Record i goes to key i % 64; the split is made before the clock, as in the Python script.
    let batches: [[(key: PartdKey, value: [R])]] = (0..<rounds).map { r in
        var lists = [[R]](repeating: [], count: 64)
        for i in (r * per)..<((r + 1) * per) { lists[i % 64].append(make(i, Double(i) * 0.25, names[i % 1000])) }
        return (0..<64).map { (key: keys[$0], value: lists[$0]) }
    }
    for (variant, encoding) in [("msgpack-map", ListEncoding.messagePack(.map)), ("msgpack-array", .messagePack(.array))] {
        let (a, g) = try best(options.repeats) {
            let disk = try DirectoryStore.temporary(in: options.parent)
            defer { try? disk.close() }
            let store = ListStore<DirectoryStore, R>(over: disk, encoding: encoding)
            let t0 = now()
            for batch in batches { try store.append(batch) }
            let t1 = now()
            var count = 0
            var idSum = 0
            for start in stride(from: 0, to: 64, by: 16) {
                for values in try store.get(Array(keys[start..<(start + 16)])) {
                    count += values.count
                    for value in values { idSum &+= id(value) }
                }
            }
            let t2 = now()
            precondition(count == records && idSum == records * (records - 1) / 2, "read \(count) records")
            return (t1 - t0, t2 - t1)
        }
        report(options, workload: "w5-lists", variant: variant + suffix, append: a, get: g, extra: [
            ("records", "\(records)"), ("records_per_s", "\(Int(Double(records) / (a + g)))"),
        ])
    }
}

/// W5 floor: the cost of `Codable` itself against our coders, per record, on one thread.
func w5Floor(_ options: Options) throws {
    let records = (0..<2_000_000).map { Record(id: $0, x: Double($0) * 0.25, name: namePool[$0 % 1000]) }
    let packed = records.map { PackedRecord(id: $0.id, x: $0.x, name: $0.name) }
    let runs: [(String, () throws -> (Double, Double))] = [
        ("codable-calls", { try floorRun(records, copying: false) }),
        ("codable-floor", { try floorRun(records) }),
        ("msgpack-array", { try messagePackRun(records, .array) }),
        ("msgpack-map", { try messagePackRun(records, .map) }),
        ("msgpack-array+record", { try messagePackRun(packed, .array) }),
        ("msgpack-map+record", { try messagePackRun(packed, .map) }),
    ]
    for (variant, run) in runs {
        let (encode, decode) = try best(options.repeats, run)
        report(options, workload: "w5-floor", variant: variant, append: encode, get: decode, extra: [
            ("records", "\(records.count)"), ("ns_per_record", "\(Int((encode + decode) * 1e9 / Double(records.count)))"),
        ], phases: ("encode", "decode"))
    }
}

let options = parseOptions()
do {
    for workload in options.workloads {
        switch workload {
        case "w3": try w3(options)
        case "w4": try w4(options)
        case "w4-strings": try w4(options, only: "strings")
        case "w5": try w5(options)
        case "w5-codable": try w5(options, ["codable"])
        case "w5-record": try w5(options, ["record"])
        case "w5-rich": try w5(options, ["rich"])
        case "w5-rich-record": try w5(options, ["rich-record"])
        case "w5-maps": try w5(options, ["maps"])
        case "w5-floor": try w5Floor(options)
        default: print("unknown workload \(workload)")
        }
    }
} catch {
    print("partd-bench-typed failed: \(error)")
    exit(1)
}
