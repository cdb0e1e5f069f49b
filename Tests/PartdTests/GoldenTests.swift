// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompanions
import PartdCompression
import PartdServer
import PartdTestSupport
import PartdTyped
import Testing

/// A value with a dictionary, a set, an optional, bytes and a nested struct: what the golden lists hold.
struct GoldenVisit: Codable, Hashable, Sendable {
    struct Place: Codable, Hashable, Sendable {
        var city: String
        var lat: Double
    }
    var user: Int
    var page: String
    var score: Float
    var referrer: String?
    var raw: [UInt8]
    var counts: [String: Int]
    var tags: Set<String>
    var place: Place
}

/// One committed golden file (`Tests/PartdTests/Golden/`, see its README): how today's writer makes its bytes
/// from the fixture's values, and what today's reader must read from the committed bytes.
struct GoldenFixture: CustomTestStringConvertible, Sendable {
    /// The file's path under `Golden/`.
    var name: String
    /// Whether the format fixes the bytes, so today's writer must write them again byte for byte. Compressed
    /// payloads depend on the codec library's version: for them only the frame headers' first 16 bytes
    /// (magic, version, codec, flags, original length) must match, and the bytes must decode.
    var byteExact: Bool
    var write: @Sendable () throws -> [UInt8]
    var check: @Sendable ([UInt8]) throws -> Void

    var testDescription: String { name }
}

enum Golden {
    /// The committed files.
    static var directory: String { Bundle.module.resourcePath! + "/Golden" }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// The value each compressed golden holds: compressible text, then bytes no codec shrinks (stored with
    /// codec 0 by every writer).
    static let compressible = bytes(String(repeating: "swift-partd golden frame; ", count: 12))
    static let incompressible: [UInt8] = (0..<40).map { (i: Int) -> UInt8 in
        let mixed: Int = (i &* 0x9E37 &+ 0x79B9) >> 3
        return UInt8(truncatingIfNeeded: mixed ^ (i &* 151))
    }

    static let codecs: [(String, Compression)] = [
        ("none", .none), ("zlib", .zlib()), ("bz2", .bz2()), ("snappy", .snappy), ("zstd", .zstd()), ("lz4", .lz4),
        ("blosc", .blosc(BloscSettings(typeSize: 8))),
    ]

    /// The bytes a store writes under one key when `body` writes the key "k" of the memory store it is given.
    static func written(_ body: (MemoryStore) throws -> Void) throws -> [UInt8] {
        let memory = MemoryStore()
        try body(memory)
        return try memory.get("k")
    }

    /// A memory store whose key "k" holds `bytes`.
    static func holding(_ bytes: [UInt8]) throws -> MemoryStore {
        let memory = MemoryStore()
        try memory.append([(key: "k", value: bytes)])
        return memory
    }

    static func nullsEvery3(_ n: Int) -> BitArray { BitArray((0..<n).map { $0 % 3 != 1 }) }

    /// A table with a column of every kind: nullable ones (every third row null) unless `dense`.
    static func table(rows n: Int, base: Int, categories: [String], dense: Bool) throws -> Table {
        let valid = dense ? nil : nullsEvery3(n)
        let r = (0..<n).map { base + $0 }
        return try Table([
            Column("bool", r.map { $0 % 2 == 0 }, validity: valid),
            Column("int8", r.map { Int8(truncatingIfNeeded: $0 * 37) }, validity: valid),
            Column("int16", r.map { Int16(truncatingIfNeeded: -$0 * 1000) }, validity: valid),
            Column("int32", r.map { Int32(-$0 * 100_000) }, validity: valid),
            Column("int64", r.map { Int64($0) * 1_000_000_000_000 - 5 }, validity: valid),
            Column("uint8", r.map { UInt8(truncatingIfNeeded: $0 * 29) }, validity: valid),
            Column("uint16", r.map { UInt16(truncatingIfNeeded: $0 * 1000) }, validity: valid),
            Column("uint32", r.map { UInt32($0) * 100_000 }, validity: valid),
            Column("uint64", r.map { UInt64.max - UInt64($0) }, validity: valid),
            Column("float16", r.map { Float16($0) / 4 }, validity: valid),
            Column("float32", r.map { Float($0) / 8 }, validity: valid),
            Column("float64", r.map { Double($0) / 3 }, validity: valid),
            Column("ts_s", r.map { Timestamp<Seconds>(Int64($0)) }, validity: valid),
            Column("ts_ms", r.map { Timestamp<Milliseconds>(Int64($0) * 7) }, validity: valid),
            Column("ts_us", r.map { Timestamp<Microseconds>(Int64($0) * 11) }, validity: valid),
            Column("ts_ns", r.map { Timestamp<Nanoseconds>(-Int64($0)) }, validity: valid),
            Column("int64_dense", r.map { Int64($0) }),
            Column("string", strings: r.map { $0 % 4 == 0 ? "" : "s\($0)-é" }, validity: valid),
            Column("category", categorical: r.map { categories[$0 % categories.count] }, validity: valid),
        ])
    }

    static let visits: [GoldenVisit] = (0..<3).map { (i: Int) -> GoldenVisit in
        let raw: [UInt8] = (0..<i).map { UInt8($0 * 100) }
        let counts: [String: Int] = ["k\(i)": i, "z": -i, "a": 7]
        let tags: Set<String> = ["t\(i)", "b", "a"]
        let place = GoldenVisit.Place(city: "c\(i)", lat: Double(i) + 0.5)
        let referrer: String? = i == 1 ? nil : "r\(i)"
        return GoldenVisit(
            user: i * 1000 - 1, page: "/p\(i)é", score: Float(i) / 4, referrer: referrer, raw: raw, counts: counts,
            tags: tags, place: place)
    }

    static let plainValues: [PlainValue] = [
        .null, .bool(true), .int(-5), .int(Int64.min), .unsigned(UInt64.max), .double(0.25), .string("é"),
        .bytes([0, 255]), .array([.int(1), .string("x")]), .map(["b": .int(1), "a": .array([]), "c": .null]),
    ]

    /// The wire-protocol requests of `wire-request.bin` (`docs/format.md` §8), written here from the document.
    static func wireRequests() -> [UInt8] {
        var out: [UInt8] = []
        func u8(_ v: UInt8) { out.append(v) }
        func u16(_ v: UInt16) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u32(_ v: UInt32) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u64(_ v: UInt64) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func key(_ k: PartdKey) {
            switch k.kind {
            case .string(let s):
                u8(0)
                u32(UInt32(s.utf8.count))
                out += Array(s.utf8)
            case .int(let i):
                u8(1)
                u64(UInt64(bitPattern: Int64(i)))
            case .tuple(let parts):
                u8(2)
                u32(UInt32(parts.count))
                parts.forEach(key)
            }
        }
        func frame(_ kind: UInt8, _ id: UInt32, _ body: () -> Void) {
            let start = out.count
            u64(0)
            u8(kind)
            u32(id)
            body()
            let length = UInt64(out.count - start - 8)
            out.replaceSubrange(start..<start + 8, with: withUnsafeBytes(of: length.littleEndian, Array.init))
        }
        func bytes(_ b: [UInt8]) {
            u64(UInt64(b.count))
            out += b
        }
        frame(0x01, 0) { out += Array("PDWP".utf8); u16(1); u32(0); u64(1 << 30) }  // hello, no token, limit 1 GiB
        frame(0x10, 1) { u32(3); key("a"); bytes([1, 2, 3]); key(7); bytes([]); key("a"); bytes([4]) }  // append
        frame(0x11, 2) { u32(3); key("a"); key(7); key(.tuple("t", -1)) }  // get
        frame(0x15, 3) {}  // keys
        frame(0x16, 4) { key("a") }  // contains
        frame(0x17, 5) { key("a") }  // byte count
        frame(0x14, 6) { key(.tuple("t", -1)); bytes(Array("xy".utf8)) }  // set-once
        frame(0x14, 7) { key(.tuple("t", -1)); bytes(Array("zz".utf8)) }  // set-once again: not stored
        frame(0x11, 8) { u32(1); key(.tuple("t", -1)) }  // get
        frame(0x12, 9) { u32(1); key("a") }  // delete
        frame(0x19, 10) {}  // sync
        frame(0x15, 11) {}  // keys
        return out
    }
    static let wireAnswerCount = 12

    /// What today's server answers to `requests` (over a fresh memory store, on a Unix socket).
    static func wireAnswers(to requests: [UInt8]) throws -> [UInt8] {
        let path = scratchPath("golden.sock")
        let server = try StoreServer.start(
            serving: MemoryStore(), on: [.unixSocket(path)], configuration: .init(maxFrameBytes: 1 << 30, threads: 1))
        defer { try? server.shutdown() }
        let socket = try RawSocket(path: path)
        socket.send(requests)
        return socket.readFrames(wireAnswerCount)
    }

    /// Writes a dataset entry as `dirdb/` holds it, in a new directory, and returns that directory.
    static func writeDatasetDirectory() throws -> String {
        let path = scratchPath("golden-dirdb")
        let database = try DatasetDirectory(path: path)
        try database.entry("run-7").write(
            ["loss": [0.5, 0.25], "acc": [0.75]] as [String: [Double]],
            metadata: ["model": "lstm", "epochs": 12, "rate": .number(0.001), "tags": .array(["a", "b"]), "nested": .object(["z": .null, "y": true])])
        return path
    }

    static var fixtures: [GoldenFixture] {
        var all: [GoldenFixture] = []
        // §4: compressed frames of every codec (two appends: text, then bytes stored with codec 0).
        for (name, compression) in codecs {
            all.append(GoldenFixture(
                name: "compressed-\(name).bin", byteExact: name == "none",
                write: {
                    try written { memory in
                        let store = CompressedStore(compression, over: memory)
                        try store.append([(key: "k", value: compressible)])
                        try store.append([(key: "k", value: incompressible)])
                    }
                },
                check: { golden in
                    let read = try CompressedStore(.none, over: holding(golden)).get("k")
                    #expect(read == compressible + incompressible)
                    #expect(golden[5] == compression.codec.rawValue, "codec byte")
                }))
        }
        // §5: value frames (an EncodedStore keeps the boundaries between appends).
        all.append(GoldenFixture(
            name: "value-frames.bin", byteExact: true,
            write: {
                try written { memory in
                    let store = EncodedStore<MemoryStore, [UInt8]>(over: memory, encode: { $0 }, decode: { $0 }, join: { $0.flatMap { [UInt8($0.count)] + $0 } })
                    try store.append([(key: "k", value: bytes("first value"))])
                    try store.append([(key: "k", value: [])])
                    try store.append([(key: "k", value: [0, 0xFF, 0x50, 0x44])])
                }
            },
            check: { golden in
                let store = EncodedStore<MemoryStore, [UInt8]>(over: try holding(golden), encode: { $0 }, decode: { $0 }, join: { $0.flatMap { [UInt8($0.count)] + $0 } })
                let read = try store.get("k")
                let expected: [UInt8] = [11] + bytes("first value") + [0, 4, 0, 0xFF, 0x50, 0x44]
                #expect(read == expected)
            }))
        // §6.1–6.2: arrays (two appends each).
        func array<A: StorableArray & Equatable>(_ name: String, _ first: A, _ second: A, _ expected: A) {
            all.append(GoldenFixture(
                name: "array-\(name).bin", byteExact: true,
                write: {
                    try written { memory in
                        try ArrayStore(over: memory).append("k", first)
                        try ArrayStore(over: memory).append("k", second)
                    }
                },
                check: { golden in
                    let read = try ArrayStore(over: holding(golden)).get("k", as: A.self)
                    #expect(read == expected)
                }))
        }
        array("f8-2d", try! NDArray((0..<6).map(Double.init), shape: [2, 3]), try! NDArray([6.5, -0.0, .infinity], shape: [1, 3]),
              try! NDArray((0..<6).map(Double.init) + [6.5, -0.0, .infinity], shape: [3, 3]))
        array("i2", NDArray<Int16>([.min, -1, 0, .max]), NDArray<Int16>([5]), NDArray<Int16>([.min, -1, 0, .max, 5]))
        array("u8", NDArray<UInt64>([0, .max]), NDArray<UInt64>([7]), NDArray<UInt64>([0, .max, 7]))
        array("b1", NDArray([true, false, true]), NDArray([false]), NDArray([true, false, true, false]))
        array("f2", NDArray<Float16>([1.5, -0.0, .greatestFiniteMagnitude]), NDArray<Float16>([.infinity]),
              NDArray<Float16>([1.5, -0.0, .greatestFiniteMagnitude, .infinity]))
        array("i4-3d", try! NDArray((0..<24).map(Int32.init), shape: [2, 3, 4]), try! NDArray<Int32>([], shape: [0, 3, 4]),
              try! NDArray((0..<24).map(Int32.init), shape: [2, 3, 4]))
        array("M8-us", NDArray([Timestamp<Microseconds>(0), Timestamp(1_700_000_000_123_456)]), NDArray([Timestamp<Microseconds>(-1)]),
              NDArray([Timestamp<Microseconds>(0), Timestamp(1_700_000_000_123_456), Timestamp(-1)]))
        array("M8-ns", NDArray([Timestamp<Nanoseconds>(.min + 1)]), NDArray([Timestamp<Nanoseconds>(.max)]),
              NDArray([Timestamp<Nanoseconds>(.min + 1), Timestamp(.max)]))
        array("strings", StringArray(["", "a", "é", "日本語", "a,b\n\"c\""]), StringArray(byteStrings: [[0xFF, 0x00, 0xC3], [UInt8]()]),
              StringArray(byteStrings: ["", "a", "é", "日本語", "a,b\n\"c\""].map { Array($0.utf8) } + [[0xFF, 0x00, 0xC3], []]))
        // §6.3: tables of every column kind, nulls, categoricals unified across the two frames.
        all.append(GoldenFixture(
            name: "table.bin", byteExact: true,
            write: {
                try written { memory in
                    try TableStore(over: memory).append("k", table(rows: 5, base: 0, categories: ["red", "green", "blue"], dense: false))
                    try TableStore(over: memory).append("k", table(rows: 3, base: 100, categories: ["blue", "café", "cafe\u{301}"], dense: true))
                }
            },
            check: { golden in
                let first = try table(rows: 5, base: 0, categories: ["red", "green", "blue"], dense: false)
                let second = try table(rows: 3, base: 100, categories: ["blue", "café", "cafe\u{301}"], dense: true)
                let read = try TableStore(over: holding(golden)).get("k")
                let expected = try Table.concatenate([first, second])
                #expect(read == expected)
                #expect(read["category"]?.categorical?.categories == CategoricalArray(["red", "green", "blue", "café", "cafe\u{301}"]).categories)
                let selected = try TableStore(over: holding(golden)).get("k", columns: ["ts_ns", "string"])
                #expect(selected == (try expected.selecting(["ts_ns", "string"])))
            }))
        // §6.4: lists.
        func list<T: Codable & Equatable & Sendable>(_ name: String, _ type: T.Type, _ values: [T], _ encoding: ListEncoding, _ framing: ListFraming) {
            all.append(GoldenFixture(
                name: "list-\(name).bin", byteExact: true,
                write: {
                    try written { memory in
                        let store = ListStore<MemoryStore, T>(over: memory, encoding: encoding, framing: framing)
                        try store.append("k", Array(values.prefix(2)))
                        try store.append("k", Array(values.dropFirst(2)))
                    }
                },
                check: { golden in
                    let read = try ListStore<MemoryStore, T>(over: holding(golden)).get("k")
                    #expect(read == values)
                }))
        }
        list("msgpack-map", GoldenVisit.self, visits, .messagePack(.map), .checked)
        list("msgpack-array", GoldenVisit.self, visits, .messagePack(.array), .checked)
        list("json", GoldenVisit.self, visits.map { var v = $0; v.tags = [v.tags.min()!]; return v }, .json, .checked)
        list("msgpack-partd-framing", PlainValue.self, plainValues, .messagePack(), .partd)
        list("record", DeterminismRecord.self, (1...3).map(DeterminismRecord.init), .messagePack(), .checked)
        // §8: the wire protocol, a request stream and the server's answers.
        all.append(GoldenFixture(
            name: "wire-request.bin", byteExact: true, write: { wireRequests() },
            check: { golden in
                let answers = try wireAnswers(to: golden)
                let expected = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/wire-answer.bin")))
                #expect(answers == expected)
            }))
        all.append(GoldenFixture(
            name: "wire-answer.bin", byteExact: true, write: { try wireAnswers(to: wireRequests()) },
            check: { golden in
                // Answers in request order, each with its request's id: ok (0x80) throughout.
                var at = 0
                for id in 0..<wireAnswerCount {
                    let length = (0..<8).reduce(0) { $0 | Int(golden[at + $1]) << (8 * $1) }
                    #expect(golden[at + 8] == 0x80 && golden[at + 9] == UInt8(id), "answer \(id)")
                    at += 8 + length
                }
                #expect(at == golden.count)
            }))
        // dirdb: an entry's data (MessagePack) and metadata (JSON).
        for file in ["run-7.msgpack", "run-7.meta.json"] {
            all.append(GoldenFixture(
                name: "dirdb/\(file)", byteExact: true,
                write: {
                    let path = try writeDatasetDirectory()
                    defer { removeTree(path) }
                    return Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + file)))
                },
                check: { _ in
                    let path = scratchPath("golden-dirdb-read")
                    defer { removeTree(path) }
                    try FileManager.default.copyItem(atPath: directory + "/dirdb", toPath: path)
                    let entry = try DatasetDirectory(path: path, create: false).entry("run-7")
                    let data = try entry.read([String: [Double]].self)
                    #expect(data == ["loss": [0.5, 0.25], "acc": [0.75]])
                    let metadata = try entry.metadata()
                    #expect(metadata == [
                        "model": "lstm", "epochs": 12, "rate": .number(0.001), "tags": .array(["a", "b"]),
                        "nested": .object(["z": .null, "y": true]),
                    ])
                }))
        }
        return all
    }
}

/// Files written by earlier versions stay readable, and today's writers write the same bytes
/// (`Tests/PartdTests/Golden/README.md`).
@Suite("Golden files", .serialized)
struct GoldenTests {
    @Test("today's reader reads each golden file to its values", arguments: Golden.fixtures)
    func reads(_ fixture: GoldenFixture) throws {
        let golden = Array(try Data(contentsOf: URL(fileURLWithPath: Golden.directory + "/" + fixture.name)))
        try fixture.check(golden)
    }

    @Test("today's writer, given the same values, writes the golden bytes", arguments: Golden.fixtures)
    func writes(_ fixture: GoldenFixture) throws {
        let golden = Array(try Data(contentsOf: URL(fileURLWithPath: Golden.directory + "/" + fixture.name)))
        let written = try fixture.write()
        if fixture.byteExact {
            #expect(written == golden)
        } else {
            // Each frame's header up to its stored length (the payload depends on the codec library's version).
            func headers(_ bytes: [UInt8]) -> [[UInt8]] {
                var at = 0
                var found: [[UInt8]] = []
                while at + 32 <= bytes.count {
                    found.append(Array(bytes[at..<at + 16]))
                    at += 32 + (16..<24).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * ($1 - 16)) }
                }
                return found
            }
            #expect(headers(written) == headers(golden))
            #expect(!headers(golden).isEmpty)
        }
    }

    @Test("the golden files and the fixtures are the same set, and small")
    func inventory() throws {
        let files = try filesUnder(Golden.directory).keys.filter { !$0.hasSuffix(".md") && !$0.hasPrefix("spill") }
        #expect(Set(files) == Set(Golden.fixtures.map(\.name)))
        #expect(try filesUnder(Golden.directory).values.reduce(0) { $0 + $1.count } < 32_000)
    }

    /// The spill dictionary's values, which `spill/` holds (its file names end in random suffixes, so the bytes
    /// of its key index differ from run to run: it is read back, never compared).
    static let spilled: [PartdKey: [Double]] = [.tuple("run", 7): [1, 2, 3], "b": [-0.5], 3: []]

    @Test("a spill dictionary's directory (chest), its key index and spilled values, reads back")
    func spillDictionary() throws {
        let path = scratchPath("golden-spill")
        defer { removeTree(path) }
        try FileManager.default.copyItem(atPath: Golden.directory + "/spill", toPath: path)
        let cache = try SpillDictionary<PartdKey, [Double]>(path: path, memoryBudget: .kilobytes(1))
        #expect(Set(try cache.keys()) == Set(Self.spilled.keys))
        for (key, value) in Self.spilled { #expect(try cache.value(for: key) == value) }
    }

    /// Writes every fixture's bytes, as today's code writes them, to `$PARTD_WRITE_GOLDEN` (a new directory):
    /// how the golden files were made. Copy into `Golden/` only files of a new format version.
    @Test("generate (only with PARTD_WRITE_GOLDEN=DIR)", .enabled(if: ProcessInfo.processInfo.environment["PARTD_WRITE_GOLDEN"] != nil))
    func generate() throws {
        let out = ProcessInfo.processInfo.environment["PARTD_WRITE_GOLDEN"]!
        try FileManager.default.createDirectory(atPath: out + "/dirdb", withIntermediateDirectories: true)
        for fixture in Golden.fixtures {
            try Data(try fixture.write()).write(to: URL(fileURLWithPath: out + "/" + fixture.name))
        }
        let spill = scratchPath("golden-spill-write")
        defer { removeTree(spill) }
        let cache = try SpillDictionary<PartdKey, [Double]>(path: spill, memoryBudget: .kilobytes(1))
        for (key, value) in Self.spilled.sorted(by: { $0.key < $1.key }) { try cache.set(value, for: key) }
        try cache.flush()
        try FileManager.default.createDirectory(atPath: out + "/spill", withIntermediateDirectories: true)
        for (name, bytes) in try filesUnder(spill) where name != ".lock" {
            try Data(bytes).write(to: URL(fileURLWithPath: out + "/spill/" + name))
        }
    }
}
