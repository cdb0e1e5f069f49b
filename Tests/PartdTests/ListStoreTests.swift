// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdTestSupport
import PartdTyped
import Testing

struct Rec: Codable, Sendable, Hashable {
    var id: Int
    var x: Double
    var name: String
}

struct Nested: Codable, Sendable, Hashable {
    var tags: [String]
    var parent: Rec?
    var scores: [String: Int]
    var raw: [UInt8]
}

/// `Rec` with its own MessagePack members.
struct PackedRec: MessagePackRecord, Sendable, Hashable {
    var id: Int
    var x: Double
    var name: String

    init(id: Int, x: Double, name: String) {
        self.id = id
        self.x = x
        self.name = name
    }

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

/// Every scalar a record field can be, as a plain `Codable` struct and as a `MessagePackRecord`.
struct Scalars: Codable, Sendable, Hashable {
    var i: Int, i8: Int8, i16: Int16, i32: Int32, i64: Int64
    var u: UInt, u8: UInt8, u16: UInt16, u32: UInt32, u64: UInt64
    var d: Double, f: Float, b: Bool, s: String, raw: [UInt8]

    static func sample(_ n: Int) -> Scalars {
        let sign = n % 2 == 0 ? 1 : -1
        return Scalars(
            i: sign * (n << (n % 60)), i8: Int8(truncatingIfNeeded: sign * n), i16: Int16(truncatingIfNeeded: sign * n * 300),
            i32: Int32(truncatingIfNeeded: sign * n * 70_000), i64: Int64(sign) * (Int64(n) << 40),
            u: UInt(n) << (n % 60), u8: UInt8(truncatingIfNeeded: n), u16: UInt16(truncatingIfNeeded: n * 300),
            u32: UInt32(truncatingIfNeeded: n * 70_000), u64: UInt64.max >> (n % 64),
            d: Double(n) / 3, f: Float(n) / 7, b: n % 3 == 0,
            s: String(repeating: "é", count: [0, 1, 15, 16, 40, 200, 40_000][n % 7]), raw: Array(repeating: UInt8(n & 0xff), count: [0, 1, 300, 70_000][n % 4]))
    }
}

struct PackedScalars: MessagePackRecord, Sendable, Hashable {
    var value: Scalars

    init(_ value: Scalars) { self.value = value }
    init(from decoder: any Decoder) throws { value = try Scalars(from: decoder) }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }

    static let messagePackFields = ["i", "i8", "i16", "i32", "i64", "u", "u8", "u16", "u32", "u64", "d", "f", "b", "s", "raw"]

    func pack(into w: inout MessagePackWriter) {
        w.pack(value.i); w.pack(value.i8); w.pack(value.i16); w.pack(value.i32); w.pack(value.i64)
        w.pack(value.u); w.pack(value.u8); w.pack(value.u16); w.pack(value.u32); w.pack(value.u64)
        w.pack(value.d); w.pack(value.f); w.pack(value.b); w.pack(value.s); w.pack(value.raw)
    }

    init(unpacking r: inout MessagePackReader) throws {
        value = Scalars(
            i: try r.unpack(), i8: try r.unpack(), i16: try r.unpack(), i32: try r.unpack(), i64: try r.unpack(),
            u: try r.unpack(), u8: try r.unpack(), u16: try r.unpack(), u32: try r.unpack(), u64: try r.unpack(),
            d: try r.unpack(), f: try r.unpack(), b: try r.unpack(), s: try r.unpack(), raw: try r.unpack())
    }
}

/// A record whose `pack` forgets a field.
struct ShortPacked: MessagePackRecord, Sendable {
    var a: Int
    var b: Int
    static let messagePackFields = ["a", "b"]
    func pack(into writer: inout MessagePackWriter) { writer.pack(a) }
    init(a: Int, b: Int) { self.a = a; self.b = b }
    init(unpacking reader: inout MessagePackReader) throws {
        a = try reader.unpack()
        b = try reader.unpack()
    }
}

/// `Rec`'s fields in another order, and `Rec` with one more field: what other writers may produce.
struct RecReordered: Codable { var name: String; var id: Int; var x: Double }
struct RecExtended: Codable { var id: Int; var x: Double; var name: String; var extra: [Int] }

@Suite("MessagePackRecord lists")
struct MessagePackRecordTests {
    @Test("record lists are byte for byte what Codable writes, and read back both ways",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func sameBytes(structs: MessagePackEncoder.StructEncoding) throws {
        let plain = (0..<60).map(Scalars.sample)
        let packed = plain.map(PackedScalars.init)
        let encoder = MessagePackEncoder(structEncoding: structs)
        var viaCodable: [UInt8] = []
        try encoder.encode(list: plain, into: &viaCodable)
        var viaRecord: [UInt8] = []
        try encoder.encode(list: packed, into: &viaRecord)
        #expect(viaRecord == viaCodable)
        var back: [PackedScalars] = []
        try MessagePackDecoder().decode(list: PackedScalars.self, from: viaCodable[...], appendingTo: &back)
        #expect(back == packed)
        var plainBack: [Scalars] = []
        try MessagePackDecoder().decode(list: Scalars.self, from: viaRecord[...], appendingTo: &plainBack)
        #expect(plainBack == plain)
    }

    @Test("a list's frame is the same bytes whatever lists the store encoded before (large, small, empty)",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func framesIndependentOfHistory(structs: MessagePackEncoder.StructEncoding) throws {
        // The store sizes its encoding buffer from the lists it encoded before.
        let long = String(repeating: "long name ", count: 40)
        let lists: [[PackedRec]] = [
            (0..<3_000).map { PackedRec(id: $0, x: Double($0), name: long) },
            (0..<5_000).map { PackedRec(id: $0, x: 0.5, name: "n\($0 % 7)") },
            [],
            (0..<2).map { PackedRec(id: $0, x: 1, name: long) },
            (0..<40_000).map { PackedRec(id: -$0, x: 2, name: "") },
        ]
        let store = ListStore<MemoryStore, PackedRec>(over: MemoryStore(), encoding: .messagePack(structs))
        for (index, list) in lists.enumerated() { try store.append(PartdKey(index), list) }
        for (index, list) in lists.enumerated() {
            let fresh = ListStore<MemoryStore, PackedRec>(over: MemoryStore(), encoding: .messagePack(structs))
            try fresh.append("k", list)
            #expect(try store.inner.get(PartdKey(index)) == fresh.inner.get("k"))
            #expect(try store.get(PartdKey(index)) == list)
        }
    }

    @Test("records in another layout (keys reordered, extra keys) decode through Codable; wrong types throw")
    func otherLayouts() throws {
        let encoder = MessagePackEncoder()
        var bytes: [UInt8] = []
        // One list mixing the three layouts.
        try encoder.encode(list: [Rec(id: 1, x: 0.5, name: "a")], into: &bytes)
        var reordered: [UInt8] = []
        try encoder.encode(list: [RecReordered(name: "b", id: 2, x: 1.5)], into: &reordered)
        var extended: [UInt8] = []
        try encoder.encode(list: [RecExtended(id: 3, x: 2.5, name: "c", extra: [1, 2])], into: &extended)
        let mixed: [UInt8] = [0x93] + bytes.dropFirst() + reordered.dropFirst() + extended.dropFirst()
        var records: [PackedRec] = []
        try MessagePackDecoder().decode(list: PackedRec.self, from: mixed[...], appendingTo: &records)
        #expect(records == [PackedRec(id: 1, x: 0.5, name: "a"), PackedRec(id: 2, x: 1.5, name: "b"), PackedRec(id: 3, x: 2.5, name: "c")])

        // A string where the id should be: the Codable path's type mismatch, and the list is left as it was.
        var wrong: [UInt8] = []
        try encoder.encode(list: [RecReordered(name: "d", id: 4, x: 0)].map { ["id": $0.name, "x": "?", "name": $0.name] }, into: &wrong)
        #expect(throws: DecodingError.self) {
            try MessagePackDecoder().decode(list: PackedRec.self, from: wrong[...], appendingTo: &records)
        }
        #expect(records.count == 3)
    }

    @Test("a pack(into:) that writes the wrong number of fields is refused; nothing is written")
    func wrongFieldCount() throws {
        let store = ListStore<MemoryStore, ShortPacked>(over: MemoryStore())
        expectPartdError(.invalidArgument) { try store.append("k", [ShortPacked(a: 1, b: 2)]) }
        #expect(try store.get("k").isEmpty)
    }

    @Test("every truncation and byte flip of a record list decodes or throws, never crashes",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func damaged(structs: MessagePackEncoder.StructEncoding) throws {
        var bytes: [UInt8] = []
        try MessagePackEncoder(structEncoding: structs).encode(
            list: (0..<4).map { PackedRec(id: $0 * 1000, x: Double($0), name: "name-\($0)") }, into: &bytes)
        for end in 0 ..< bytes.count {
            var out: [PackedRec] = []
            #expect(throws: (any Error).self) { try MessagePackDecoder().decode(list: PackedRec.self, from: bytes[0 ..< end], appendingTo: &out) }
            #expect(out.isEmpty)
        }
        for index in bytes.indices {
            for flip: UInt8 in [0x01, 0x80, 0xff] {
                var damaged = bytes
                damaged[index] ^= flip
                var out: [PackedRec] = []
                do {
                    try MessagePackDecoder().decode(list: PackedRec.self, from: damaged[...], appendingTo: &out)
                    #expect(out.count <= 4)
                } catch {
                    #expect(out.isEmpty)
                }
            }
        }
    }
}

/// Counterparts of partd's test_pickle and test_python, plus MessagePack
/// interoperability with `partd.Python(partd.File(path))`.
/// `D` coded by its own `encode(to:)` and `init(from:)` on the coder's `Encoder` or `Decoder`, never by a shortcut
/// the coders take for `D` as a field or element.
struct ViaCodable<D: Codable & Equatable>: Codable, Equatable {
    let value: D
    init(_ value: D) { self.value = value }
    init(from decoder: any Decoder) throws { value = try D(from: decoder) }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

@Suite("Lists of Codable values")
struct ListStoreTests {
    @Test("lists concatenate across appends; a missing key reads as []; setOnce is idempotent",
          arguments: [ListEncoding.messagePack(.map), .messagePack(.array), .json])
    func concatenates(encoding: ListEncoding) throws {
        let disk = try DirectoryStore.temporary()
        let store = ListStore<DirectoryStore, Int>(over: disk, encoding: encoding)
        try store.append(["a": [1, 2, 3], "b": [7]])
        try store.append(["a": [4, 5, 6]])
        #expect(try store.get("a") == [1, 2, 3, 4, 5, 6])
        #expect(try store.get(["b", "missing"]) == [[7], []])
        #expect(FileManager.default.fileExists(atPath: disk.path + "/a"))
        #expect(try store.setOnce("s", [1, 2]) == true)
        #expect(try store.setOnce("s", [1, 2]) == false)
        #expect(try store.get("s") == [1, 2])
        try store.delete("a")
        #expect(try store.get("a") == [])
        try store.drop()
        #expect(try store.keys() == [])
    }

    @Test("structs, optionals, nested values and bytes round-trip",
          arguments: [ListEncoding.messagePack(.map), .messagePack(.array), .json])
    func structs(encoding: ListEncoding) throws {
        let store = ListStore<MemoryStore, Nested>(over: MemoryStore(), encoding: encoding)
        let values = [
            Nested(tags: ["a", "é", ""], parent: Rec(id: -3, x: 0.25, name: "p"), scores: ["x": 1, "y": -2], raw: [0, 255]),
            Nested(tags: [], parent: nil, scores: [:], raw: []),
        ]
        try store.append("k", values)
        try store.append("k", [values[0]])
        #expect(try store.get("k") == values + [values[0]])
    }

    @Test("timestamps are written as their counts of units, in every encoding, and read back",
          arguments: [ListEncoding.messagePack(.map), .messagePack(.array), .json])
    func timestamps(encoding: ListEncoding) throws {
        let times: [Timestamp<Milliseconds>] = [Timestamp(1_733_475_000_123), Timestamp(-1), Timestamp(.min)]
        let store = ListStore<MemoryStore, Timestamp<Milliseconds>>(over: MemoryStore(), encoding: encoding)
        try store.append("t", times)
        #expect(try store.get("t") == times)
        let counts = ListStore<MemoryStore, Int64>(over: MemoryStore(), encoding: encoding)
        try counts.append("t", times.map(\.rawValue))
        #expect(try store.inner.get("t") == counts.inner.get("t"))
    }

    @Test("hostile MessagePack: nested maps repeating a key decode in linear time, first entry wins")
    func repeatedMapKeys() throws {
        // 10 levels, each a map of 8 entries all keyed "a": the first holds the next level, the rest 0.
        // Decoding every repetition would take 8^10 nested decodes.
        var bytes: [UInt8] = [0x01]
        for _ in 0..<10 {
            var level: [UInt8] = [0x88, 0xa1, 0x61] + bytes
            for _ in 1..<8 { level += [0xa1, 0x61, 0x00] }
            bytes = level
        }
        var value = try MessagePackDecoder().decode(PlainValue.self, from: bytes[...])
        var depth = 0
        while case .map(let entries) = value {
            #expect(entries.count == 1)
            value = entries["a"]!
            depth += 1
        }
        #expect(depth == 10)
        #expect(value == .int(1))
    }

    @Test("dictionaries with String and Int keys are written and read as Codable writes and reads them, in every form a map may take")
    func dictionaries() throws {
        // The coders write and read `[String: V]` and `[Int: V]` themselves; through `ViaCodable` the same
        // values go the `Codable` way (the dictionary's own `encode(to:)` and `init(from:)`).
        func bytes(_ value: some Encodable) throws -> [UInt8] { try MessagePackEncoder().encode(value) }
        func decode<T: Codable & Equatable>(_: T.Type, _ bytes: [UInt8]) throws -> T {
            let value = try MessagePackDecoder().decode(T.self, from: bytes[...])
            #expect(try MessagePackDecoder().decode(ViaCodable<T>.self, from: bytes[...]).value == value)
            return value
        }
        #expect(try bytes(["a": 1]) == [0x81, 0xa1, 0x61, 0x01])
        #expect(try bytes([-1: "x"]) == [0x81, 0xff, 0xa1, 0x78])
        // Round trips across the fix, 16-bit and 32-bit map forms, nested and optional values, both key types.
        for size in [0, 1, 15, 16, 300, 70_000] {
            let strings = Dictionary(uniqueKeysWithValues: (0..<size).map { ("k\($0)", $0 % 7 == 0 ? nil : [$0, -$0]) })
            #expect(try bytes(strings) == (try bytes(ViaCodable(strings))))
            #expect(try decode([String: [Int]?].self, try bytes(strings)) == strings)
            let ints = Dictionary(uniqueKeysWithValues: (0..<size).map { ($0 * 977 - 150_000, ["v": Double($0)]) })
            // (Through `ViaCodable` the encoder cannot tell a dictionary with int keys: the map's header and
            // each key and value, as the format has them.)
            var header: [UInt8] = size < 16 ? [0x80 | UInt8(size)] : size < 65_536 ? [0xde, UInt8(size >> 8), UInt8(size & 0xff)]
                : [0xdf, 0, UInt8(size >> 16), UInt8((size >> 8) & 0xff), UInt8(size & 0xff)]
            // (Entries sorted: int keys by value, `MessagePackOrder`.)
            for (key, value) in ints.sorted(by: { $0.key < $1.key }) { header += try bytes(key) + bytes(ViaCodable(value)) }
            #expect(try bytes(ints) == header)
            #expect(try decode([Int: [String: Double]].self, try bytes(ints)) == ints)
        }
        // Inside structs, as maps or arrays (dictionaries stay maps; `ViaCodable` compares with maps only, as
        // the encoder cannot tell a dictionary in it either).
        struct Holder: Codable, Equatable { var id: Int; var counts: [String: Int]; var byID: [Int: [String: Bool]] }
        struct ViaHolder: Encodable { var id: Int; var counts: ViaCodable<[String: Int]>; var byID: [Int: ViaCodable<[String: Bool]>] }
        let holders = (0..<20).map { Holder(id: $0, counts: ["a": $0, "b": -$0], byID: [$0: ["t": true]]) }
        for structs in [MessagePackEncoder.StructEncoding.array, .map] {
            let encoder = MessagePackEncoder(structEncoding: structs)
            let direct = try encoder.encode(holders)
            if structs == .map {
                #expect(direct == (try encoder.encode(holders.map { ViaHolder(id: $0.id, counts: ViaCodable($0.counts), byID: $0.byID.mapValues(ViaCodable.init)) })))
            } else {
                #expect(Array(direct[...7]) == [0xdc, 0x00, 0x14, 0x93, 0x00, 0x82, 0xa1, 0x61] || Array(direct[...7]) == [0xdc, 0x00, 0x14, 0x93, 0x00, 0x82, 0xa1, 0x62])
            }
            #expect(try decode([Holder].self, direct) == holders)
        }
        #expect(try decode([Int: String].self, try bytes([Int.min: "a", Int.max: "b", 0: ""])) == [Int.min: "a", Int.max: "b", 0: ""])
        // A key written twice: its first entry, whose value alone is decoded.
        #expect(try decode([String: Int].self, [0x83, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x02, 0xa1, 0x61, 0xa1, 0x78]) == ["a": 1, "b": 2])
        #expect(try decode([Int: Int].self, [0x82, 0x05, 0x01, 0x05, 0x02]) == [5: 1])
        // Keys of the other kind, as Codable takes them: an int key in a String dictionary is its number, a str
        // key in an Int dictionary must be one; a str that is not UTF-8 is refused (never left out).
        #expect(try decode([String: Int].self, [0x82, 0x05, 0x01, 0xa1, 0x61, 0x02]) == ["5": 1, "a": 2])
        #expect(try decode([Int: Int].self, [0x82, 0xa2, 0x2d, 0x37, 0x01, 0x03, 0x02]) == [-7: 1, 3: 2])
        #expect(throws: DecodingError.self) { try decode([Int: Int].self, [0x81, 0xa1, 0x78, 0x01]) }
        #expect(throws: DecodingError.self) { try decode([String: Int].self, [0x82, 0xa1, 0xff, 0x01, 0xa1, 0x61, 0x02]) }
        // A value of the wrong type names its key; damage throws.
        do {
            _ = try decode([String: [Int: Int]].self, try bytes(["a": ["x": 1]]))
            Issue.record("a str key in an Int dictionary decoded")
        } catch let DecodingError.typeMismatch(_, context) {
            #expect(context.codingPath.map(\.stringValue).first == "a")
        }
        do {
            _ = try decode([Int: [String: Int]].self, try bytes([7: ["x": "one"]]))
            Issue.record("a str decoded as an Int")
        } catch let DecodingError.typeMismatch(_, context) {
            #expect(context.codingPath.map(\.stringValue) == ["7", "x"] && context.codingPath.first?.intValue == 7)
        }
        let nested = try bytes(["a": [1: ["x": 1.5]], "b": [:], "c": [-2: [:]]] as [String: [Int: [String: Double]]])
        for end in 0 ..< nested.count {
            #expect(throws: (any Error).self) { try decode([String: [Int: [String: Double]]].self, Array(nested[..<end])) }
        }
        #expect(throws: (any Error).self) { try decode([String: Int].self, try bytes(["a": 1]) + [0x00]) }
        // Other key types are left to Codable (an array of keys and values for UInt8 keys).
        #expect(try decode([UInt8: String].self, try bytes([1: "a", 200: "b"] as [UInt8: String])) == [1: "a", 200: "b"])
    }

    @Test("arrays of numbers, Bools and Strings are written and read as Codable writes and reads them, element by element")
    func scalarArrays() throws {
        // The coders write and read these arrays in one loop; through `ViaCodable` the same values go the
        // `Codable` way (an unkeyed container and a call per element).
        func check<E: Codable & Equatable>(_ values: [E]) throws {
            let direct = try MessagePackEncoder().encode(values)
            #expect(direct == (try MessagePackEncoder().encode(ViaCodable(values))))
            #expect(try MessagePackDecoder().decode([E].self, from: direct[...]) == values)
            #expect(try MessagePackDecoder().decode(ViaCodable<[E]>.self, from: direct[...]).value == values)
        }
        try check((0..<70_000).map { Double($0) * -0.5 })  // the 32-bit array form
        try check((0..<70_000).map { String($0) })
        for n in [0, 1, 15, 16, 300] {  // the fix and 16-bit forms
            try check((0..<n).map { Double($0) * -0.5 })
            try check((0..<n).map { Float($0) / 3 })
            try check((0..<n).map { $0 % 3 == 0 })
            try check((0..<n).map { $0 % 5 == 0 ? "" : "é\($0)" + String(repeating: "x", count: $0 % 40) })
            try check((0..<n).map { ($0 &* 2_654_435_761) % 5_000_000_000 - 2_500_000_000 })  // Int, every width
            try check((0..<n).map { Int8(truncatingIfNeeded: $0) })
            try check((0..<n).map { Int16(truncatingIfNeeded: $0 * 211) })
            try check((0..<n).map { Int32(truncatingIfNeeded: $0 * 65_537) })
            try check((0..<n).map { Int64($0) << 40 })
            try check((0..<n).map { UInt(bitPattern: $0 &* -7) })
            try check((0..<n).map { UInt16(truncatingIfNeeded: $0) })
            try check((0..<n).map { UInt32(truncatingIfNeeded: $0 * 65_537) })
            try check((0..<n).map { UInt64.max - UInt64($0) })
        }
        try check([Double.infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude])
        // Nested, optional and in structs of either encoding.
        struct Series: Codable, Equatable { var name: String; var values: [Double]; var flags: [Bool]?; var ids: [[Int32]] }
        let series = (0..<50).map { Series(name: "s\($0)", values: (0..<$0).map(Double.init), flags: $0 % 2 == 0 ? nil : [true], ids: [[Int32($0)], []]) }
        for structs in [MessagePackEncoder.StructEncoding.array, .map] {
            let encoder = MessagePackEncoder(structEncoding: structs)
            let direct = try encoder.encode(series)
            #expect(try MessagePackDecoder().decode([Series].self, from: direct[...]) == series)
            let store = ListStore<MemoryStore, Series>(over: MemoryStore(), encoding: .messagePack(structs))
            try store.append("k", series)
            #expect(try store.get("k") == series)
        }
        // What Codable takes, these take: integers as floating point, float32 as Double.
        let mixed: [UInt8] = [0x93, 0x01, 0xd0, 0x80, 0xca, 0x3f, 0xc0, 0x00, 0x00]
        #expect(try MessagePackDecoder().decode([Double].self, from: mixed[...]) == [1, -128, 1.5])
        #expect(try MessagePackDecoder().decode(ViaCodable<[Double]>.self, from: mixed[...]).value == [1, -128, 1.5])
        // What Codable refuses, these refuse with its error: the element's index in the coding path.
        func failure<T: Decodable>(_: T.Type, _ bytes: [UInt8]) -> String {
            do {
                _ = try MessagePackDecoder().decode(T.self, from: bytes[...])
                return "decoded"
            } catch let DecodingError.typeMismatch(_, context) {
                return "typeMismatch at " + context.codingPath.map(\.stringValue).joined(separator: ".")
            } catch let DecodingError.valueNotFound(_, context) {
                return "valueNotFound at " + context.codingPath.map(\.stringValue).joined(separator: ".")
            } catch {
                return "\(type(of: error))"
            }
        }
        for (bytes, expected) in [
            ([0x92, 0x01, 0xa1, 0x61] as [UInt8], "typeMismatch at Index 1"),  // a str among ints
            ([0x92, 0x01, 0xc0], "typeMismatch at Index 1"),  // nil
            ([0x92, 0x01, 0xcd, 0x01, 0x00], "typeMismatch at Index 1"),  // 256 does not fit Int8
        ] {
            #expect(failure([Int8].self, bytes) == expected)
            #expect(failure(ViaCodable<[Int8]>.self, bytes) == expected)
        }
        #expect(failure([String].self, [0x91, 0xa2, 0xff, 0xfe]) == failure(ViaCodable<[String]>.self, [0x91, 0xa2, 0xff, 0xfe]))
        #expect(failure([Double].self, [0x92, 0x01]) == failure(ViaCodable<[Double]>.self, [0x92, 0x01]))  // truncated
    }

    @Test("mixed plain values as partd's test_python: [1, 2, b'Hello', 'Hello']")
    func plainValues() throws {
        let store = ListStore<MemoryStore, PlainValue>(over: MemoryStore())
        let values: [PlainValue] = [.int(1), .int(2), .bytes(Array("Hello".utf8)), .string("Hello"), .null, .bool(true),
                                    .double(2.5), .array([.int(-1)]), .map(["k": .string("v")]), .unsigned(UInt64.max)]
        try store.append("x", values)
        #expect(try store.get("x") == values)
    }

    @Test("a bad value in a later frame names that frame; the values decoded before it are released")
    func laterFrameFails() throws {
        let memory = MemoryStore()
        let records = (0..<50).map { Rec(id: $0, x: Double($0), name: "a name longer than fifteen bytes, \($0)") }
        try ListStore<MemoryStore, Rec>(over: memory).append("k", records)
        // The second frame: two good records, then one whose id is a string.
        var second: [UInt8] = []
        try MessagePackEncoder().encode(list: [Rec(id: 50, x: 0, name: "b"), Rec(id: 51, x: 0, name: "c")], into: &second)
        var bad: [UInt8] = []
        try MessagePackEncoder().encode(list: [["id": "?", "x": "?", "name": "?"]], into: &bad)
        second[0] = 0x93
        second += bad.dropFirst()
        try memory.append("k", ValueFrames.header(for: second) + second)
        let secondOffset = try ValueFrames.payloads(memory.get("k")[...], key: "k")[1].offset
        let error = expectPartdError(.corruptData) { try ListStore<MemoryStore, Rec>(over: memory).get("k") }
        #expect(error?.message.contains("byte offset \(secondOffset)") == true)

        // The decoder's own list function appends, and leaves the list as it was when it throws.
        var list = [Rec(id: -1, x: 0, name: "kept")]
        try MessagePackDecoder().decode(list: Rec.self, from: try MessagePackEncoder().encode(records)[...], appendingTo: &list)
        #expect(list == [Rec(id: -1, x: 0, name: "kept")] + records)
        #expect(throws: DecodingError.self) {
            try MessagePackDecoder().decode(list: Rec.self, from: second[...], appendingTo: &list)
        }
        #expect(list.count == 51)
    }

    @Test("frames of both framings and both encodings mix under one key")
    func mixedFrames() throws {
        let memory = MemoryStore()
        try ListStore<MemoryStore, Rec>(over: memory, encoding: .messagePack(.map)).append("k", [Rec(id: 1, x: 1, name: "a")])
        try ListStore<MemoryStore, Rec>(over: memory, encoding: .json, framing: .partd).append("k", [Rec(id: 2, x: 2, name: "b")])
        try ListStore<MemoryStore, Rec>(over: memory, encoding: .messagePack(.array), framing: .partd).append("k", [Rec(id: 3, x: 3, name: "c")])
        #expect(try ListStore<MemoryStore, Rec>(over: memory).get("k").map(\.id) == [1, 2, 3])
    }

    @Test("wrong element types, pickles and damage are typed errors naming key and offset")
    func errors() throws {
        let memory = MemoryStore()
        try ListStore<MemoryStore, Int>(over: memory).append("k", [1, 2])
        try ListStore<MemoryStore, Int>(over: memory).append("k", [3])
        let wrong = expectPartdError(.corruptData) { try ListStore<MemoryStore, String>(over: memory).get("k") }
        #expect(wrong?.key == "k")
        #expect(wrong?.message.contains("byte offset 0") == true)
        // A pickle written by partd's fallback path is refused, never loaded.
        let pickle: [UInt8] = [0x80, 0x05, 0x95] + [UInt8](repeating: 0, count: 10)
        try memory.append("p", withUnsafeBytes(of: UInt64(pickle.count).littleEndian, Array.init) + pickle)
        let refused = expectPartdError(.corruptData) { try ListStore<MemoryStore, Int>(over: memory).get("p") }
        #expect(refused?.message.contains("pickle") == true)
        // Every truncation and random byte flips decode or throw, never crash.
        let stored = try memory.get("k")
        let firstFrameEnd = try ValueFrames.payloads(stored[...], key: "k")[1].offset
        for length in 1..<stored.count where length != firstFrameEnd {
            let store = MemoryStore()
            try store.append("k", Array(stored[0..<length]))
            expectPartdError(.corruptData) { try ListStore<MemoryStore, Int>(over: store).get("k") }
        }
        var rng = SplitMix64(seed: 11)
        let unchecked = MemoryStore()
        try ListStore<MemoryStore, Nested>(over: unchecked, framing: .partd).append(
            "n", [Nested(tags: ["a", "bb"], parent: Rec(id: 1, x: 2, name: "c"), scores: ["s": 3], raw: [1, 2, 3])])
        let plain = try unchecked.get("n")
        for _ in 0..<3000 {
            var damaged = plain
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let store = MemoryStore()
            try store.append("n", damaged)
            do {
                _ = try ListStore<MemoryStore, Nested>(over: store).get("n")
            } catch let error as PartdError {
                #expect(error.code == .corruptData)
            }
        }
    }

    @Test("values that cannot be encoded are refused at append, and nothing is written")
    func unencodable() throws {
        struct Bad: Codable, Sendable {
            func encode(to encoder: any Encoder) throws {
                throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "no"))
            }
            init() {}
        }
        let store = ListStore<MemoryStore, Bad>(over: MemoryStore())
        expectPartdError(.invalidArgument) { try store.append(["a": [], "b": [Bad()]]) }
        #expect(try store.keys() == [])
    }

    @Test("Python's partd.Python(partd.File) reads lists we wrote, and we read lists it wrote")
    func pythonInterop() throws {
        try #require(pythonHas("partd") && pythonHas("msgpack"), "Python's partd and msgpack are needed; run scripts/test.sh")
        let ours = scratchPath("list-to-python")
        defer { try? FileManager.default.removeItem(atPath: ours) }
        let store = ListStore<DirectoryStore, Rec>(over: try DirectoryStore(path: ours), framing: .partd)
        try store.append(["x": [Rec(id: 1, x: 0.5, name: "a")], "y": []])
        try store.append(["x": [Rec(id: 2, x: -1.5, name: "é")]])
        let read = """
            import sys, partd
            p = partd.Python(partd.File(sys.argv[1]))
            print(p.get('x'), p.get('y'))
            """
        let result = try run("/usr/bin/env", ["python3", "-c", read, ours])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            == "[{'id': 1, 'x': 0.5, 'name': 'a'}, {'id': 2, 'x': -1.5, 'name': 'é'}] []")

        let theirs = scratchPath("list-from-python")
        defer { try? FileManager.default.removeItem(atPath: theirs) }
        let write = """
            import sys, partd
            p = partd.Python(partd.File(sys.argv[1]))
            p.append({'plain': [1, 2, b'Hello', 'Hello', None, 2.5, [3], {'k': 'v'}]})
            p.append({'plain': [True]})
            p.append({'recs': [{'id': 7, 'x': 1.25, 'name': 'n'}]})
            p.append({'routes': [{'id': 1, 'note': None, 'stops': [{'id': 7, 'x': 1.25, 'name': 'n'}]},
                                 {'id': 2, 'note': 'r', 'stops': []}]})
            """
        let wrote = try run("/usr/bin/env", ["python3", "-c", write, theirs])
        #expect(wrote.status == 0, "\(wrote.output)")
        let plain = try ListStore<DirectoryStore, PlainValue>(over: try DirectoryStore(path: theirs)).get("plain")
        #expect(plain == [.int(1), .int(2), .bytes(Array("Hello".utf8)), .string("Hello"), .null, .double(2.5),
                          .array([.int(3)]), .map(["k": .string("v")]), .bool(true)])
        #expect(try ListStore<DirectoryStore, Rec>(over: try DirectoryStore(path: theirs)).get("recs") == [Rec(id: 7, x: 1.25, name: "n")])
        // Records with an optional field and nested records: dicts with None and dicts in lists.
        let routes = [
            Route(id: 1, note: nil, stops: [PackedRec(id: 7, x: 1.25, name: "n")]), Route(id: 2, note: "r", stops: []),
        ]
        #expect(try ListStore<DirectoryStore, Route>(over: try DirectoryStore(path: theirs)).get("routes") == routes)
        try ListStore<DirectoryStore, Route>(over: try DirectoryStore(path: ours), framing: .partd).append(["routes": routes])
        let readRoutes = try run("/usr/bin/env", ["python3", "-c", "import sys, partd\nprint(partd.Python(partd.File(sys.argv[1])).get('routes'))", ours])
        #expect(readRoutes.output.trimmingCharacters(in: .whitespacesAndNewlines)
            == "[{'id': 1, 'note': None, 'stops': [{'id': 7, 'x': 1.25, 'name': 'n'}]}, {'id': 2, 'note': 'r', 'stops': []}]")
    }
}
