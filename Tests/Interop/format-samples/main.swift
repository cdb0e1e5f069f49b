// SPDX-License-Identifier: Apache-2.0
//
// Writes sample stores with swift-partd's own API for the clean-room reader
// Tests/Interop/format_from_docs.py (written from docs/format.md alone) to check:
//
//   format-samples OUT      writes OUT/store (raw keys, compressed frames of every codec, arrays of every
//                           dtype, tables of every column kind, lists), OUT/shuffle-* (shuffles into
//                           directories), OUT/manifest.json (what each key holds) and OUT/hashes.json
//   format-samples --read DIR   reads DIR/py-store, written by the Python side, and prints what it holds

import Foundation
import Partd
import PartdCompression
import PartdShuffle
import PartdTyped

func keyJSON(_ key: PartdKey) -> Any {
    switch key.kind {
    case .string(let s): return s
    case .int(let i): return ["int": i]
    case .tuple(let parts): return ["tuple": parts.map(keyJSON)]
    }
}

nonisolated(unsafe) var manifest: [[String: Any]] = []
func record(_ key: PartdKey, _ kind: String, _ expected: Any) {
    manifest.append(["key": keyJSON(key), "kind": kind, "expected": expected])
}
func jd(_ d: Double) -> Any { d.isFinite ? d : "\(d)" }
func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func writeJSON(_ value: Any, _ path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
}

struct Rec: Codable, Sendable {
    var id: Int
    var name: String
    var score: Double
    var tags: [String]
    var opt: Int?
    var data: [UInt8]
    var counts: [String: Int]
}

func recJSON(_ r: Rec) -> [String: Any] {
    ["id": r.id, "name": r.name, "score": r.score, "tags": r.tags, "opt": r.opt.map { $0 as Any } ?? NSNull(),
     "data": hex(r.data), "counts": r.counts]
}

func writeSamples(_ out: String) throws {
    try? FileManager.default.removeItem(atPath: out)
    let root = out + "/store"
    let disk = try DirectoryStore(path: root)

    // 1. Raw keys, odd names included.
    let long = String(repeating: "a", count: 255)
    let rawKeys: [PartdKey] = [
        "x", "part-0.data_1", "-12", "a!", "", ".", "..", ".lock", "../x", "a b", "é", "e\u{301}", "a\u{0}",
        "(x)", "%", "a/b", "日本語", "😀", PartdKey(long), PartdKey(7), PartdKey(-12), PartdKey(0),
        PartdKey(Int.min), PartdKey(Int.max), .tuple("a", 1), .tuple("a", .tuple("b,", "")), .tuple(),
        .tuple(.tuple()), .tuple("", PartdKey(-1), "x y"),
    ]
    for (i, key) in rawKeys.enumerated() {
        let value = Array("raw \(i):".utf8) + (0..<(i * 7)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
        let cut = value.count / 2
        try disk.append([(key: key, value: Array(value[..<cut]))])
        try disk.append([(key: key, value: Array(value[cut...]))])
        record(key, "raw", hex(value))
    }
    try disk.append([(key: "empty-append", value: [])])
    record("empty-append", "raw", "")
    _ = try disk.setOnce("set-once", Array("set once".utf8))
    record("set-once", "raw", hex(Array("set once".utf8)))

    // 2. Compressed frames with every codec; several frames per key (small chunk size), an empty value,
    // an incompressible value (stored as codec 0), and append(chunked:).
    let codecs: [(String, Compression)] = [
        ("none", .none), ("zlib", .zlib()), ("zlib9", .zlib(level: 9)), ("bz2", .bz2()), ("snappy", .snappy),
        ("zstd", .zstd()), ("lz4", .lz4), ("blosc", .blosc()),
        ("blosc-zstd-bit", .blosc(BloscSettings(compressor: .zstd, level: 9, shuffle: .bit, typeSize: 4))),
    ]
    var noise: UInt64 = 0x9E37_79B9_7F4A_7C15
    func random() -> UInt8 {
        noise = noise &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: noise >> 33)
    }
    for (name, compression) in codecs {
        let store = CompressedStore(compression, over: disk, chunkSize: 64 << 10)
        let text = Array(String(repeating: "swift-partd \(name) frame. ", count: 9_000).utf8)  // > 64 KiB: several frames
        let random = (0..<5_000).map { _ in random() }
        let key = PartdKey.tuple("compressed", PartdKey(name))
        try store.append([(key: key, value: text)])
        try store.append([(key: key, value: [])])
        try store.append([(key: key, value: random)])
        try store.append(chunked: [(key: key, chunks: [Array("chunk-a|".utf8), [], Array("chunk-b".utf8)])])
        let all = text + random + Array("chunk-a|chunk-b".utf8)
        guard try store.get(key) == all else { fatalError("compressed round trip \(name)") }
        record(key, "compressed", ["length": all.count, "xxh3": String(XXHash.hash64(all[...], seed: 0), radix: 16)])
    }

    // 3. Arrays of every dtype, N-d, timestamps, strings; and arrays over a compressed store.
    let arrays = ArrayStore(over: disk)
    func arr<E: ArrayElement>(_ name: String, _ a: [E], _ b: [E], _ json: (E) -> Any) throws {
        let key = PartdKey.tuple("npy", PartdKey(name))
        try arrays.append(key, NDArray(a))
        try arrays.append(key, NDArray(b))
        record(key, "npy", ["dtype": E.dtype.numpy, "shape": [a.count + b.count], "values": (a + b).map(json)])
    }
    try arr("bool", [true, false, true], [false], { $0 })
    try arr("int8", [Int8.min, -1, 0, Int8.max], [5], { Int($0) })
    try arr("int16", [Int16.min, -1, 0, Int16.max], [5], { Int($0) })
    try arr("int32", [Int32.min, -1, 0, Int32.max], [5], { Int($0) })
    try arr("int64", [Int64.min, -1, 0, Int64.max], [5], { $0 })
    try arr("int", [Int.min, 42], [], { $0 })
    try arr("uint8", [0, 1, UInt8.max], [7], { Int($0) })
    try arr("uint16", [0, 1, UInt16.max], [7], { Int($0) })
    try arr("uint32", [0, 1, UInt32.max], [7], { Int($0) })
    try arr("uint64", [0, 1, UInt64.max], [7], { NSNumber(value: $0) })
    try arr("float16", [Float16(1.5), -0.0, Float16.greatestFiniteMagnitude, Float16.infinity], [0.099975586], { jd(Double($0)) })
    try arr("float32", [1.5, -0.0, Float.greatestFiniteMagnitude, .leastNonzeroMagnitude], [3.25], { Double($0) })
    try arr("float64", [1.5, -0.0, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 1e-300], [3.25], { $0 })
    try arr("ts-s", [Timestamp<Seconds>(0), Timestamp(1_700_000_000)], [Timestamp(-1)], { $0.rawValue })
    try arr("ts-ms", [Timestamp<Milliseconds>(0), Timestamp(1_700_000_000_123)], [Timestamp(-1)], { $0.rawValue })
    try arr("ts-us", [Timestamp<Microseconds>(0), Timestamp(1_700_000_000_123_456)], [Timestamp(-1)], { $0.rawValue })
    try arr("ts-ns", [Timestamp<Nanoseconds>(0), Timestamp(1_700_000_000_123_456_789)], [Timestamp(Int64.min + 1)], { $0.rawValue })
    do {
        let key = PartdKey.tuple("npy", "2d")
        try arrays.append(key, try NDArray((0..<6).map(Double.init), shape: [2, 3]))
        try arrays.append(key, try NDArray((6..<9).map(Double.init), shape: [1, 3]))
        record(key, "npy", ["dtype": "<f8", "shape": [3, 3], "values": (0..<9).map(Double.init)])
        let key3 = PartdKey.tuple("npy", "3d")
        try arrays.append(key3, try NDArray((0..<24).map(Int32.init), shape: [2, 3, 4]))
        record(key3, "npy", ["dtype": "<i4", "shape": [2, 3, 4], "values": (0..<24).map { $0 }])
        let key0 = PartdKey.tuple("npy", "empty")
        try arrays.append(key0, NDArray<Int16>([]))
        record(key0, "npy", ["dtype": "<i2", "shape": [0], "values": [Int]()])
        let keyRows0 = PartdKey.tuple("npy", "2d-zero-width")
        try arrays.append(keyRows0, try NDArray<UInt8>([], shape: [3, 0]))
        record(keyRows0, "npy", ["dtype": "|u1", "shape": [3, 0], "values": [Int]()])
    }
    do {
        let key = PartdKey.tuple("strings", "mixed")
        let first = StringArray(["", "a", "é", "日本語", "😀", "a,b\n\"c\""])
        let second = StringArray(byteStrings: [[0xFF, 0x00, 0xC3], [UInt8]()])
        try arrays.append(key, first)
        try arrays.append(key, second)
        let expected = ["", "a", "é", "日本語", "😀", "a,b\n\"c\""].map { hex(Array($0.utf8)) } + ["ff00c3", ""]
        record(key, "strings", expected)
    }
    do {
        let zarrays = ArrayStore(over: CompressedStore(.zstd(), over: disk))
        let key = PartdKey.tuple("npy-zstd", "float32-2d")
        let values = (0..<4_000).map { Float($0 % 17) / 4 }
        try zarrays.append(key, try NDArray(values, shape: [1_000, 4]))
        record(key, "npy", ["dtype": "<f4", "shape": [1_000, 4], "values": values.map(Double.init)])
    }

    // 4. Tables with every column kind, nulls and categoricals.
    let tables = TableStore(over: disk)
    func nullsEvery3(_ n: Int) -> BitArray { BitArray((0..<n).map { $0 % 3 != 1 }) }
    func tableColumns(_ n: Int, base: Int, cats: [String], nullable: Bool) -> ([Column], [String: Any]) {
        var cols: [Column] = []
        var exp: [String: Any] = [:]
        let valid = nullable ? nullsEvery3(n) : nil
        func add<E: ArrayElement>(_ name: String, _ v: [E], _ json: (E) -> Any, nullableToo: Bool = true) {
            cols.append(Column(name, v, validity: nullableToo ? valid : nil))
            exp[name] = v.enumerated().map { (i, e) -> Any in
                (nullableToo && valid != nil && !valid![i]) ? NSNull() : json(e)
            }
        }
        let r = (0..<n).map { base + $0 }
        add("bool", r.map { $0 % 2 == 0 }, { $0 })
        add("int8", r.map { Int8(truncatingIfNeeded: $0 * 37) }, { Int($0) })
        add("int16", r.map { Int16(truncatingIfNeeded: -$0 * 1000) }, { Int($0) })
        add("int32", r.map { Int32(-$0 * 100_000) }, { Int($0) })
        add("int64", r.map { Int64($0) * 1_000_000_000_000 - 5 }, { $0 })
        add("uint8", r.map { UInt8(truncatingIfNeeded: $0 * 29) }, { Int($0) })
        add("uint16", r.map { UInt16(truncatingIfNeeded: $0 * 1000) }, { Int($0) })
        add("uint32", r.map { UInt32($0) * 100_000 }, { Int($0) })
        add("uint64", r.map { UInt64.max - UInt64($0) }, { NSNumber(value: $0) })
        add("float16", r.map { Float16($0) / 4 }, { Double($0) })
        add("float32", r.map { Float($0) / 8 }, { Double($0) })
        add("float64", r.map { Double($0) / 3 }, { $0 })
        add("ts_s", r.map { Timestamp<Seconds>(Int64($0)) }, { $0.rawValue })
        add("ts_ms", r.map { Timestamp<Milliseconds>(Int64($0) * 7) }, { $0.rawValue })
        add("ts_us", r.map { Timestamp<Microseconds>(Int64($0) * 11) }, { $0.rawValue })
        add("ts_ns", r.map { Timestamp<Nanoseconds>(-Int64($0)) }, { $0.rawValue })
        add("int64_dense", r.map { Int64($0) }, { $0 }, nullableToo: false)
        let strings = r.map { $0 % 4 == 0 ? "" : "s\($0)-é" }
        cols.append(Column("string", strings: StringArray(strings), validity: valid))
        exp["string"] = strings.enumerated().map { (i, s) -> Any in valid.map { $0[i] } == false ? NSNull() : s }
        let catValues = r.map { cats[$0 % cats.count] }
        cols.append(Column("category", categorical: CategoricalArray(catValues), validity: valid))
        exp["category"] = catValues.enumerated().map { (i, s) -> Any in valid.map { $0[i] } == false ? NSNull() : s }
        cols.append(Column("category_dense", categorical: CategoricalArray(catValues)))
        exp["category_dense"] = catValues
        return (cols, exp)
    }
    do {
        let key: PartdKey = "table-all"
        let (c1, e1) = tableColumns(9, base: 0, cats: ["red", "green", "blue"], nullable: true)
        let (c2, e2) = tableColumns(4, base: 100, cats: ["blue", "café", "cafe\u{301}"], nullable: false)
        try tables.append(key, try Table(c1))
        try tables.append(key, try Table(c2))
        record(key, "table", ["frames": [["rows": 9, "columns": e1], ["rows": 4, "columns": e2]]])
        let keyEmpty: PartdKey = "table-empty"
        let (c0, e0) = tableColumns(0, base: 0, cats: ["x"], nullable: true)
        try tables.append(keyEmpty, try Table(c0))
        record(keyEmpty, "table", ["frames": [["rows": 0, "columns": e0]]])
        let keyBinary: PartdKey = .tuple("table", "binary-strings")
        try tables.append(keyBinary, try Table([
            Column("b", strings: StringArray(byteStrings: [[0xFF], [0x61, 0x00]])),
            Column("allnull", categorical: CategoricalArray([String](repeating: "", count: 2)), validity: BitArray([false, false])),
        ]))
        record(keyBinary, "table", ["frames": [["rows": 2, "columns": ["b": ["ff", "6100"], "allnull": [NSNull(), NSNull()]]]]])
        let keyNoCols: PartdKey = .tuple("table", "no-columns")
        try tables.append(keyNoCols, try Table(c1).selecting([]))
        record(keyNoCols, "table", ["frames": [["rows": 9, "columns": [String: Any]()]]])
        // §10: Arrow IPC output of the same tables.
        try FileManager.default.createDirectory(atPath: out + "/arrow", withIntermediateDirectories: true)
        for (name, table) in [("nulls", try Table(c1)), ("dense", try Table(c2)), ("empty", try Table(c0)),
                              ("binary", try tables.get(keyBinary)), ("nocolumns", try Table(c1).selecting([]))] {
            for (format, fname) in [(Table.ArrowFormat.file, "arrow"), (.stream, "arrows")] {
                for (compression, cname) in [(Table.ArrowCompression?.none, ""), (.lz4, "-lz4"), (.zstd, "-zstd")] {
                    var bytes: [UInt8] = []
                    try table.writeArrow(format, compression: compression) { bytes += $0 }
                    try Data(bytes).write(to: URL(fileURLWithPath: "\(out)/arrow/\(name)\(cname).\(fname)"))
                }
            }
            guard try Table(arrow: table.arrowFile()) == table, try Table(arrow: table.arrowStream()) == table else {
                fatalError("arrow round trip \(name)")
            }
        }
        var arrowExpect: [String: Any] = ["nulls": e1, "dense": e2, "empty": e0]
        arrowExpect["binary"] = ["b": ["ff", "6100"], "allnull": [NSNull(), NSNull()]]
        try writeJSON(arrowExpect, out + "/arrow/expect.json")
        let ztables = TableStore(over: CompressedStore(.lz4, over: disk))
        let keyZ: PartdKey = .tuple("table-lz4", 3)
        try ztables.append(keyZ, try Table(c2))
        record(keyZ, "table", ["frames": [["rows": 4, "columns": e2]]])
    }

    // 5. Lists of Codable values: MessagePack (map and array structs), JSON, partd framing.
    let recs = (0..<5).map { i in
        Rec(id: i - 2, name: "n\(i)é", score: Double(i) / 2, tags: (0..<i).map { "t\($0)" }, opt: i % 2 == 0 ? nil : i * 1000,
            data: (0..<i).map { UInt8($0 * 50) }, counts: ["k\(i)": i, "z": -i])
    }
    let encodings: [(String, ListEncoding, ListFraming)] = [
        ("msgpack-map", .messagePack(.map), .checked), ("msgpack-array", .messagePack(.array), .checked),
        ("json", .json, .checked), ("msgpack-partd", .messagePack(.map), .partd),
    ]
    for (name, encoding, framing) in encodings {
        let lists = ListStore<DirectoryStore, Rec>(over: disk, encoding: encoding, framing: framing)
        let key = PartdKey.tuple("list", PartdKey(name))
        try lists.append(key, Array(recs[0..<3]))
        try lists.append(key, Array(recs[3...]))
        try lists.append(key, [])
        record(key, "list-" + name, recs.map(recJSON))
    }
    do {
        let ints = ListStore<DirectoryStore, [Int: String]>(over: disk)
        try ints.append(.tuple("list", "int-keys"), [[1: "a", -5: "b"], [:]])
        record(.tuple("list", "int-keys"), "list-int-keys", [["1": "a", "-5": "b"], [String: String]()])
    }
    do {
        let edge: [Int] = [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129,
                           -32768, -32769, -2147483648, -2147483649, .min, .max]
        try ListStore<DirectoryStore, Int>(over: disk).append(.tuple("list", "msgpack-ints"), edge)
        record(.tuple("list", "msgpack-ints"), "list-ints", edge)
        let unsigned: [UInt64] = [0, 200, 70000, .max]
        try ListStore<DirectoryStore, UInt64>(over: disk).append(.tuple("list", "msgpack-uints"), unsigned)
        record(.tuple("list", "msgpack-uints"), "list-ints", unsigned.map { NSNumber(value: $0) })
        let small: [Int8] = [-128, -1, 0, 127]
        try ListStore<DirectoryStore, Int8>(over: disk).append(.tuple("list", "msgpack-int8"), small)
        record(.tuple("list", "msgpack-int8"), "list-ints", small.map { Int($0) })
        let mixed: [[String: [Double?]]] = [["a": [1.5, nil, -0.0]], [:]]
        try ListStore<DirectoryStore, [String: [Double?]]>(over: disk).append(.tuple("list", "msgpack-nested"), mixed)
        record(.tuple("list", "msgpack-nested"), "list-ints", [["a": [1.5, NSNull(), -0.0]], [String: Any]()])
    }
    try writeJSON(manifest, out + "/manifest.json")

    // 6. Shuffles into directories: partition files and the rows in each, to check §7 end to end.
    let tableChunk = try Table([
        Column("id", (0..<200).map { Int64($0 * 7919 % 1000 - 500) }),
        Column("name", strings: StringArray((0..<200).map { "name\($0 % 13)" })),
        Column("x", (0..<200).map { Double($0) * 0.5 }, validity: BitArray((0..<200).map { $0 % 10 != 3 })),
    ])
    let tshuffle = try Shuffle<Table>(by: ["id", "name"], partitions: 8, options: ShuffleOptions(directory: out + "/shuffle-table"))
    try tshuffle.add(tableChunk)
    try tshuffle.close()
    let fshuffle = try Shuffle<Table>(by: ["x"], partitions: 5, options: ShuffleOptions(directory: out + "/shuffle-table-nullable"))
    try fshuffle.add(tableChunk)
    try fshuffle.close()
    let kinds = try Table([
        Column("b", (0..<60).map { $0 % 2 == 0 }),
        Column("i8", (0..<60).map { Int8($0 % 7 - 3) }),
        Column("u64", (0..<60).map { UInt64.max - UInt64($0 % 5) }),
        Column("h", (0..<60).map { Float16($0 % 9) / 4 }),
        Column("f", (0..<60).map { Float($0 % 11) / 3 }),
        Column("ts", (0..<60).map { Timestamp<Milliseconds>(Int64($0 % 4) * 1_000) }),
        Column("cat", categorical: CategoricalArray((0..<60).map { ["x", "yé", ""][$0 % 3] })),
        Column("s", strings: StringArray((0..<60).map { "s\($0 % 6)" }), validity: BitArray((0..<60).map { $0 % 5 != 0 })),
    ])
    let kshuffle = try Shuffle<Table>(by: ["b", "i8", "u64", "h", "f", "ts", "cat", "s"], partitions: 7,
                                      options: ShuffleOptions(directory: out + "/shuffle-table-kinds"))
    try kshuffle.add(kinds)
    try kshuffle.close()
    let bshuffle = try Shuffle<NDArray<Int16>>(partitions: 4, options: ShuffleOptions(directory: out + "/shuffle-array-int16"))
    try bshuffle.add(NDArray((0..<50).map { Int16($0 * 1000 - 25_000) }))
    try bshuffle.close()
    let ashuffle = try Shuffle<NDArray<Double>>(partitions: 6, options: ShuffleOptions(directory: out + "/shuffle-array"))
    try ashuffle.add(try NDArray((0..<120).map { Double($0) * 0.75 - 20 }, shape: [40, 3]))
    try ashuffle.close()
    let rshuffle = try Shuffle<[Rec]>(partitions: 3, options: ShuffleOptions(directory: out + "/shuffle-records")) { CompositeKey($0.name, $0.id) }
    try rshuffle.add(recs)
    try rshuffle.close()

    // 7. Partition-hash values from the Swift API.
    var hashes: [[String: Any]] = []
    func h(_ label: String, _ input: Any, _ value: UInt64) {
        hashes.append(["label": label, "input": input, "hash": String(value, radix: 16),
                       "partitions": [1, 7, 64, 1000].map { PartitionHash.partition(of: value, count: $0) }])
    }
    for v: Int64 in [0, 1, -1, 123456789, .min, .max] { h("int64", ["int": v], v.partitionHash) }
    for v: UInt64 in [0, 1, .max, 1 << 63] { h("uint64", ["uint": NSNumber(value: v)], v.partitionHash) }
    for v: Int8 in [-1, 127] { h("int8", ["int": Int(v)], v.partitionHash) }
    for v: UInt8 in [255] { h("uint8", ["uint": Int(v)], v.partitionHash) }
    for v: Double in [1.5, -0.0, 5.0, 0.1, 1e300, -9.223372036854775808e18, 9.223372036854775808e18, .infinity, -.infinity] {
        h("double", ["double": "\(v)"], v.partitionHash)
    }
    h("double", ["double": "nan"], Double.nan.partitionHash)
    h("double", ["double": "-nan"], (-Double.nan).partitionHash)
    h("float", ["double": "\(Double(Float(0.1)))"], Float(0.1).partitionHash)
    h("float16", ["double": "\(Double(Float16(0.1)))"], Float16(0.1).partitionHash)
    for s in ["", "abc", "é", "e\u{301}", "日本語", String(repeating: "long string ", count: 40)] { h("string", ["string": s], s.partitionHash) }
    h("timestamp", ["int": 1_700_000_000], Timestamp<Seconds>(1_700_000_000).partitionHash)
    h("null", ["null": true], Optional<Int>.none.partitionHash)
    h("row", ["row": [["int": 1], ["string": "abc"]]], CompositeKey(Int64(1), "abc").partitionHash)
    h("row", ["row": [["string": "abc"], ["int": 1]]], CompositeKey("abc", Int64(1)).partitionHash)
    h("row", ["row": [["int": 1], ["null": true], ["double": "2.5"]]], CompositeKey(Int64(1), Optional<Int>.none, 2.5).partitionHash)
    h("row", ["row": [Any]()], CompositeKey().partitionHash)
    try writeJSON(hashes, out + "/hashes.json")
    print("wrote \(manifest.count) keys to \(root), 4 shuffles, \(hashes.count) hashes")
}

// The reverse direction: read what Tests/Interop/write_from_docs.py wrote from the document, one JSON line
// per key: {"file", "ok", "value"} or {"file", "ok": false, "code", "error"}.
func readPython(_ dir: String) throws {
    let disk = try DirectoryStore(path: dir + "/py-store")
    func line(_ object: [String: Any]) {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
        print(String(decoding: data, as: UTF8.self))
    }
    func nums<E: ArrayElement>(_ a: NDArray<E>, _ f: (E) -> Any) -> Any {
        a.shape.count == 1 ? a.elements.map(f) as Any : ["shape": a.shape, "values": a.elements.map(f)] as Any
    }
    let arrowDir = dir + "/py-arrow"
    for name in ((try? FileManager.default.contentsOfDirectory(atPath: arrowDir)) ?? []).sorted() where !name.hasSuffix(".json") {
        do {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: arrowDir + "/" + name)))
            let table = try Table(arrow: bytes)
            var columns: [String: Any] = [:]
            for column in table.columns {
                columns[column.name] = ["type": "\(column.type)", "values": (0..<table.rowCount).map { row -> Any in column.text(at: row) ?? NSNull() }]
            }
            line(["file": "arrow/" + name, "ok": true, "value": ["rows": table.rowCount, "columns": columns]])
        } catch let error as PartdError {
            line(["file": "arrow/" + name, "ok": false, "code": "\(error.code)", "error": error.message])
        }
    }
    line(["file": "__keys__", "ok": true, "value": try disk.keys().map { (try? KeyFileName.encode($0)) ?? "?" }.sorted()])
    for key in try disk.keys() {
        guard case .tuple(let parts) = key.kind, parts.count == 2, case .string(let what) = parts[0].kind else { continue }
        let file = (try? KeyFileName.encode(key)) ?? "?"
        do {
            let value: Any
            switch what {
            case "compressed":
                let bytes = try CompressedStore(.none, over: disk).get(key)
                value = ["length": bytes.count, "xxh3": String(XXHash.hash64(bytes[...], seed: 0), radix: 16)]
            case "npy-f8": value = nums(try ArrayStore(over: disk).get(key, as: NDArray<Double>.self)) { $0 }
            case "npy-b1": value = nums(try ArrayStore(over: disk).get(key, as: NDArray<Bool>.self)) { $0 }
            case "npy-f2": value = nums(try ArrayStore(over: disk).get(key, as: NDArray<Float16>.self)) { Double($0) }
            case "npy-i4": value = nums(try ArrayStore(over: disk).get(key, as: NDArray<Int32>.self)) { Int($0) }
            case "npy-M8ns": value = nums(try ArrayStore(over: disk).get(key, as: NDArray<Timestamp<Nanoseconds>>.self)) { $0.rawValue }
            case "strings":
                let strings = try ArrayStore(over: disk).get(key, as: StringArray.self)
                value = (0..<strings.count).map { hex(Array(strings.bytes(at: $0))) }
            case "table":
                let table = try TableStore(over: disk).get(key)
                // A list, not a dictionary keyed by String: Swift's String == would merge NFC and NFD names.
                var columns: [[String: Any]] = []
                for column in table.columns {
                    columns.append(["name_hex": hex(Array(column.name.utf8)), "values": (0..<table.rowCount).map { row -> Any in
                        guard let text = column.text(at: row) else { return NSNull() }
                        switch column.type {
                        case .fixed(let d) where d == .float16 || d == .float32 || d == .float64: return Double(text) ?? text
                        default: return text
                        }
                    }])
                }
                value = ["rows": table.rowCount, "columns": columns]
            case "list": value = try ListStore<DirectoryStore, Rec>(over: disk).get(key).map(\.id)
            case "list-int": value = try ListStore<DirectoryStore, Int>(over: disk).get(key)
            case "list-partd": value = try ListStore<DirectoryStore, Rec>(over: disk, framing: .partd).get(key).map(\.id)
            default: continue
            }
            line(["file": file, "ok": true, "value": value])
        } catch let error as PartdError {
            line(["file": file, "ok": false, "code": "\(error.code)", "error": error.message])
        } catch {
            line(["file": file, "ok": false, "code": "other", "error": "\(error)"])
        }
    }
}

let args = CommandLine.arguments
do {
    if args.count == 3, args[1] == "--read" { try readPython(args[2]) } else if args.count == 2 { try writeSamples(args[1]) } else {
        print("usage: format-samples OUT | --read DIR"); exit(2)
    }
} catch {
    print("format-samples: \(error)")
    exit(1)
}
