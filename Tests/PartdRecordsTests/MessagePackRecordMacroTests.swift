// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdRecordMacros
import PartdRecords
import SwiftSyntaxMacroExpansion
import SwiftSyntaxMacrosGenericTestSupport
import Testing

// MARK: Types the macro writes members for

@MessagePackRecord
struct Visit: Codable, Sendable, Hashable {
    var user: Int
    var score: Double
    var page: String
    var counted: Bool = true
    /// Not a field: computed.
    var isRoot: Bool { page == "/" }
    /// Not a field: static.
    static let unit = "visit"
}

/// The same fields as a plain `Codable` struct, whose bytes the record must match.
struct PlainVisit: Codable, Sendable, Hashable {
    var user: Int
    var score: Double
    var page: String
    var counted: Bool = true
}

/// Timestamp fields, bare, optional and in arrays.
@MessagePackRecord
struct Reading: Codable, Sendable, Hashable {
    var at: Timestamp<Microseconds>
    var since: Timestamp<Seconds>?
    var marks: [Timestamp<Nanoseconds>]
}

/// `Reading`'s fields as the counts of units they are written as.
struct ReadingCounts: Codable, Sendable, Hashable {
    var at: Int64
    var since: Int64?
    var marks: [Int64]
}

/// Custom field names and a property left out of `CodingKeys`; fields in `CodingKeys` order, not declaration order.
@MessagePackRecord
public struct Renamed: Codable, Sendable, Hashable {
    public var b: [UInt8]
    private var a: Int32
    var cache: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case a = "alpha"
        case b
    }

    public init(a: Int32, b: [UInt8]) {
        self.a = a
        self.b = b
    }

    var alpha: Int32 { a }
}

struct PlainRenamed: Codable, Hashable {
    var alpha: Int32
    var b: [UInt8]
}

@MessagePackRecord
struct Pair<Tag: Sendable & Hashable>: Codable, Sendable, Hashable {
    var left: UInt16, right: Float
}

/// A record with a generic field: a record where `Value` is a field (`Boxed<Int, Never>`), plain `Codable`
/// where it is not; the phantom `Tag` is free either way.
@MessagePackRecord
struct Boxed<Value: Codable & Sendable & Hashable, Tag>: Codable, Sendable, Hashable {
    var id: Int
    var value: Value
    var more: [Value?]
}

/// A generic record that states its conditional conformances itself: the macro's members carry the same clause.
@MessagePackRecord
struct StatedBox<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    var value: Value
}

extension StatedBox: MessagePackRecord, MessagePackField where Value: MessagePackField {}

/// A generic record with a field of an associated type of its parameter: the conformance asks that of `T.ID`.
@MessagePackRecord
struct ByID<T: Identifiable & Sendable>: Codable, Sendable, Hashable where T.ID: Codable & Sendable {
    var id: T.ID
    var count: Int
}

struct Thing: Identifiable, Sendable {
    var id: Int
}

struct VisitThing: Identifiable, Sendable {
    var id: PlainVisit
}

struct PlainByID: Codable, Hashable {
    var id: Int
    var count: Int
}

struct PlainBoxed<Value: Codable & Hashable>: Codable, Hashable {
    var id: Int
    var value: Value
    var more: [Value?]
}

/// A record nested in another type.
enum Namespace {
    @MessagePackRecord
    struct Inner: Codable, Hashable {
        var id: UInt64
        var flag: Bool
    }
}

/// Raw-value enums, fields by declaring the conformance.
enum Level: String, Codable, Sendable, Hashable, MessagePackField { case low, high }
enum Code: UInt8, Codable, Sendable, Hashable, MessagePackField { case ok = 0, failed = 200 }

/// Enum fields alone, and the same fields as their raw values.
@MessagePackRecord
struct Strict: Codable { var id: Int; var level: Level; var code: Code }
struct Loose: Codable { var id: Int; var level: String; var code: UInt8 }

@MessagePackRecord
struct Tokened: Codable { var token: UUID }
struct LooseToken: Codable { var token: String }

/// Optional, array and enum fields, nested both ways.
@MessagePackRecord
struct Tagged: Codable, Sendable, Hashable {
    var id: Int
    var at: Date
    var token: UUID?
    var level: Level
    var codes: [Code?]
    var note: String?
    var tags: [String]
    var weights: Array<Double?>
    var grid: [[Int16]]
    var raw: [UInt8]?
    var parent: Optional<UInt32>
    var flags: [Bool]!
}

struct PlainTagged: Codable, Sendable, Hashable {
    var id: Int
    var at: Date
    var token: UUID?
    var level: Level
    var codes: [Code?]
    var note: String?
    var tags: [String]
    var weights: Array<Double?>
    var grid: [[Int16]]
    var raw: [UInt8]?
    var parent: Optional<UInt32>
    var flags: [Bool]!

    init(_ record: Tagged) {
        (id, at, token, level, codes) = (record.id, record.at, record.token, record.level, record.codes)
        (note, tags, weights, grid) = (record.note, record.tags, record.weights, record.grid)
        (raw, parent, flags) = (record.raw, record.parent, record.flags)
    }
}

/// A hand-written record with an optional field whose `Codable` decoding marks the values it made, so a test
/// can tell which path read them.
struct Marked: MessagePackRecord, Hashable {
    var id: Int
    var note: String?
    var viaCodable = false

    enum CodingKeys: CodingKey { case id, note }

    init(id: Int, note: String?) { (self.id, self.note) = (id, note) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        (id, note, viaCodable) = (try container.decode(Int.self, forKey: .id), try container.decodeIfPresent(String.self, forKey: .note), true)
    }

    static let messagePackFields = ["id", "note"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(id)
        writer.pack(note)
    }
    init(unpacking reader: inout MessagePackReader) throws {
        id = try reader.unpack()
        note = try reader.unpack()
    }
}

/// Holds `Marked` records, to tell which path read them.
@MessagePackRecord
struct Holder: Codable, Hashable { var inner: Marked; var more: [Marked?] }

/// Records as fields of records: alone, in arrays and optionals, and recursively.
@MessagePackRecord
struct Point: Codable, Sendable, Hashable { var x: Double; var y: Double }

@MessagePackRecord
struct Trip: Codable, Sendable, Hashable {
    var id: Int
    var from: Point
    var stops: [Point]
    var via: Point?
    var level: Level
}

struct PlainPoint: Codable, Hashable { var x: Double; var y: Double }
/// `Point`'s fields in the other order: not its layout.
struct SwappedPoint: Codable, Hashable { var y: Double; var x: Double }

struct PlainTrip<P: Codable>: Codable {
    var id: Int
    var from: P
    var stops: [P]
    var via: P?
    var level: Level
}

@MessagePackRecord
struct Node: Codable, Sendable, Hashable {
    var value: Int
    var children: [Node]
}

struct PlainNode: Codable { var value: Int; var children: [PlainNode] }

/// Set and dictionary fields, alone and inside optionals, arrays and each other.
@MessagePackRecord
struct Keyed: Codable, Sendable, Hashable {
    var id: Int
    var counts: [String: Int]
    var names: Dictionary<Int, String?>
    var series: [String: [Double]]
    var tags: Set<String>
    var places: [String: Point]
    var extra: [Swift.String: Int]?
    var groups: [Set<Int16>]
    var nested: [Int: [String: Bool]]
    var blobs: [String: [UInt8]] = [:]
    var small: Set<UInt8> = []
}

struct PlainKeyed: Codable, Hashable {
    var id: Int
    var counts: [String: Int]
    var names: Dictionary<Int, String?>
    var series: [String: [Double]]
    var tags: Set<String>
    var places: [String: PlainPoint]
    var extra: [Swift.String: Int]?
    var groups: [Set<Int16>]
    var nested: [Int: [String: Bool]]
    var blobs: [String: [UInt8]]
    var small: Set<UInt8>

    init(_ record: Keyed) {
        (id, counts, names, series, tags) = (record.id, record.counts, record.names, record.series, record.tags)
        // `mapValues` keeps the keys where they were, so both dictionaries list them in the same order.
        places = record.places.mapValues { PlainPoint(x: $0.x, y: $0.y) }
        (extra, groups, nested, blobs, small) = (record.extra, record.groups, record.nested, record.blobs, record.small)
    }
}

/// `Keyed`'s layout with `names` keyed by strings: what a Python dict with str keys holds.
struct StringNamed: Codable { var id: Int; var counts: [String: Int]; var names: [String: String?]; var series: [String: [Double]]; var tags: [String]; var places: [String: PlainPoint]; var extra: [String: Int]?; var groups: [[Int16]]; var nested: [Int: [String: Bool]]; var blobs: [String: [UInt8]] = [:]; var small: [Int] = [] }

/// A hand-written record with set and dictionary fields whose `Codable` decoding marks the values it made.
struct MarkedKeyed: MessagePackRecord, Hashable {
    var counts: [String: Int]
    var names: [Int: String?]
    var tags: Set<String>
    var viaCodable = false

    enum CodingKeys: CodingKey { case counts, names, tags }

    init(counts: [String: Int], names: [Int: String?], tags: Set<String>) {
        (self.counts, self.names, self.tags) = (counts, names, tags)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        counts = try container.decode([String: Int].self, forKey: .counts)
        names = try container.decode([Int: String?].self, forKey: .names)
        tags = try container.decode(Set<String>.self, forKey: .tags)
        viaCodable = true
    }

    static let messagePackFields = ["counts", "names", "tags"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(counts)
        writer.pack(names)
        writer.pack(tags)
    }
    init(unpacking reader: inout MessagePackReader) throws {
        counts = try reader.unpack()
        names = try reader.unpack()
        tags = try reader.unpack()
    }
}

/// A map that writes one key twice, which no `Dictionary` can.
struct RepeatedKey: Encodable {
    let entries: [(String, Int)]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        for (key, value) in entries { try container.encode(value, forKey: AnyKey(stringValue: key)) }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// `Keyed`'s layout whose `counts` repeats a key.
struct RepeatedCounts: Encodable {
    var id: Int; var counts: RepeatedKey; var names: [Int: String?] = [:]; var series: [String: [Double]] = [:]
    var tags: [String] = []; var places: [String: PlainPoint] = [:]; var extra: [String: Int]? = nil
    var groups: [[Int16]] = []; var nested: [Int: [String: Bool]] = [:]; var blobs: [String: [UInt8]] = [:]
    var small: [Int] = []
}

/// Properties and `CodingKeys` cases spelled with backticks: named without them, as `Codable` names them.
@MessagePackRecord
struct Keyworded: Codable, Sendable, Hashable {
    var `default`: Int
    var `class`: String
    var plain: Bool
}

struct PlainKeyworded: Codable, Hashable { var `default`: Int; var `class`: String; var plain: Bool }

@MessagePackRecord
struct KeywordedKeys: Codable, Sendable, Hashable {
    var `default`: Int
    var `self`: String
    enum CodingKeys: String, CodingKey { case `default`, `self` = "me" }
}

/// A record holding a tree: `Node` nested in another record type, then in itself.
@MessagePackRecord
struct Forest: Codable, Sendable, Hashable {
    var name: String
    var tree: Node
}

struct PlainForest: Codable { var name: String; var tree: PlainNode }

/// Bytes of `values` as a MessagePack list.
/// `Visit`'s fields in another order: what another writer (a Python dict built in another order) may store.
struct ReorderedVisit: Codable { var page: String; var counted: Bool; var user: Int; var score: Double }

func listBytes<T: Encodable>(_ values: [T], _ encoding: MessagePackEncoder.StructEncoding) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try MessagePackEncoder(structEncoding: encoding).encode(list: values, into: &bytes)
    return bytes
}

/// The list of `T` that MessagePack `bytes` hold.
func readList<T: Decodable>(_: T.Type, _ bytes: [UInt8]) throws -> [T] {
    var values: [T] = []
    try MessagePackDecoder().decode(list: T.self, from: bytes[...], appendingTo: &values)
    return values
}

@Suite("@MessagePackRecord")
struct MessagePackRecordMacroTests {
    let visits: [Visit] = (0..<300).map { (n: Int) -> Visit in
        Visit(user: n * 977 - 1000, score: Double(n) / 8, page: "/p/\(n)", counted: n % 3 == 0)
    }
    var plain: [PlainVisit] { visits.map { PlainVisit(user: $0.user, score: $0.score, page: $0.page, counted: $0.counted) } }

    @Test("annotated structs are records, and their lists are byte for byte what Codable writes",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func sameBytes(encoding: MessagePackEncoder.StructEncoding) throws {
        #expect((Visit.self as Any.Type) is any MessagePackRecord.Type)
        #expect(Visit.messagePackFields == ["user", "score", "page", "counted"])
        let bytes = try listBytes(visits, encoding)
        #expect(bytes == (try listBytes(plain, encoding)))
        let back = try readList(Visit.self, bytes)
        #expect(back == visits)
        let plainBack = try readList(PlainVisit.self, bytes)
        #expect(plainBack == plain)
    }

    @Test("timestamp fields are their counts of units, byte for byte what Codable writes, and read back",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func timestampFields(encoding: MessagePackEncoder.StructEncoding) throws {
        #expect((Reading.self as Any.Type) is any MessagePackRecord.Type)
        let readings = [
            Reading(at: Timestamp(1_733_475_000_123_456), since: Timestamp(-86_400), marks: [Timestamp(.min), Timestamp(0), Timestamp(.max)]),
            Reading(at: Timestamp(0), since: nil, marks: []),
        ]
        let counts = readings.map { ReadingCounts(at: $0.at.rawValue, since: $0.since?.rawValue, marks: $0.marks.map(\.rawValue)) }
        let bytes = try listBytes(readings, encoding)
        #expect(bytes == (try listBytes(counts, encoding)))
        #expect(try readList(Reading.self, bytes) == readings)
        #expect(try readList(ReadingCounts.self, bytes) == counts)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(readings[1])
        #expect(String(decoding: json, as: UTF8.self) == #"{"at":0,"marks":[]}"#)
        #expect(try JSONDecoder().decode(Reading.self, from: json) == readings[1])
    }

    @Test("CodingKeys give the fields, their order and their names; other properties keep their defaults")
    func codingKeys() throws {
        #expect(Renamed.messagePackFields == ["alpha", "b"])
        let values = (0..<50).map { Renamed(a: Int32($0 * 70_000 - 1_000_000), b: Array(repeating: UInt8($0), count: $0 * 7)) }
        let twins = values.map { PlainRenamed(alpha: $0.alpha, b: $0.b) }
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let bytes = try listBytes(values, encoding)
            #expect(bytes == (try listBytes(twins, encoding)))
            let back = try readList(Renamed.self, bytes)
            #expect(back == values)
        }
    }

    @Test("generic and nested structs, several fields in one declaration")
    func generic() throws {
        let inner = (0..<10).map { Namespace.Inner(id: UInt64.max - UInt64($0), flag: $0 % 2 == 0) }
        #expect((Namespace.Inner.self as Any.Type) is any MessagePackRecord.Type)
        let innerBack = try readList(Namespace.Inner.self, try listBytes(inner, .map))
        #expect(innerBack == inner)
        #expect(Pair<String>.messagePackFields == ["left", "right"])
        let pairs = (0..<20).map { Pair<String>(left: UInt16($0 * 3000), right: Float($0) / 3) }
        let back = try readList(Pair<String>.self, try listBytes(pairs, .array))
        #expect(back == pairs)

        // A field of the generic type: a record where the type argument is a field, plain Codable elsewhere.
        #expect((Boxed<Int, Never>.self as Any.Type) is any MessagePackRecord.Type)
        #expect((Boxed<[String: Double], Visit>.self as Any.Type) is any MessagePackRecord.Type)
        #expect(!((Boxed<PlainVisit, Never>.self as Any.Type) is any MessagePackRecord.Type))
        #expect(Boxed<Int, Never>.messagePackFields == ["id", "value", "more"])
        #expect((StatedBox<String>.self as Any.Type) is any MessagePackRecord.Type)
        #expect(!((StatedBox<PlainVisit>.self as Any.Type) is any MessagePackRecord.Type))
        #expect(try readList(StatedBox<String>.self, try listBytes([StatedBox(value: "x")], .map)) == [StatedBox(value: "x")])
        // A field of an associated type: a record where that type is a field.
        #expect((ByID<Thing>.self as Any.Type) is any MessagePackRecord.Type)
        #expect(!((ByID<VisitThing>.self as Any.Type) is any MessagePackRecord.Type))
        let keyed = (0..<20).map { ByID<Thing>(id: $0 * 1_000_003, count: -$0) }
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let bytes = try listBytes(keyed, encoding)
            #expect(bytes == (try listBytes(keyed.map { PlainByID(id: $0.id, count: $0.count) }, encoding)))
            #expect(try readList(ByID<Thing>.self, bytes) == keyed)
        }
        let boxes = (0..<20).map { Boxed<Int, Never>(id: $0, value: -$0 * 1000, more: $0 % 3 == 0 ? [] : [$0, nil]) }
        let plainBoxes = (0..<20).map { PlainBoxed(id: $0, value: -$0 * 1000, more: $0 % 3 == 0 ? [] : [$0, nil]) }
        let visits = (0..<5).map {
            Boxed<PlainVisit, Never>(id: $0, value: PlainVisit(user: $0, score: 0.5, page: "/\($0)"), more: [nil])
        }
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let bytes = try listBytes(boxes, encoding)
            #expect(bytes == (try listBytes(plainBoxes, encoding)))
            #expect(try readList(Boxed<Int, Never>.self, bytes) == boxes)
            #expect(try readList(Boxed<PlainVisit, Never>.self, try listBytes(visits, encoding)) == visits)
        }
    }

    @Test("optional and array fields are byte for byte what Codable writes, in every length form",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func optionalsAndArrays(encoding: MessagePackEncoder.StructEncoding) throws {
        let values = (0..<40).map { (n: Int) -> Tagged in
            // Lengths cross the fix, 16-bit and 32-bit forms of arrays, strs and bins.
            let length = [0, 1, 15, 16, 255, 256, 65_535, 65_536][n % 8]
            return Tagged(
                id: n, at: Date(timeIntervalSinceReferenceDate: Double(n) * 86_400.125),
                token: n % 2 == 0 ? nil : UUID(), level: n % 2 == 0 ? .low : .high, codes: n % 3 == 0 ? [] : [.ok, nil, .failed], note: n % 3 == 0 ? nil : String(repeating: "é", count: n * 9),
                tags: (0..<(n % 5 == 4 ? length : n % 4)).map { "t\($0)" },
                weights: (0..<(n % 4)).map { $0 == 1 ? nil : Double($0) / 3 },
                grid: n % 2 == 0 ? [] : [[], [Int16(n), -300], Array(repeating: Int16.min, count: length % 300)],
                raw: n % 4 == 1 ? nil : Array(repeating: UInt8(n), count: length),
                parent: n % 2 == 0 ? nil : UInt32(n) << 24,
                flags: n % 6 == 5 ? nil : (0..<length % 20).map { $0 % 3 == 0 })
        }
        let bytes = try listBytes(values, encoding)
        #expect(bytes == (try listBytes(values.map(PlainTagged.init), encoding)))
        let back = try readList(Tagged.self, bytes)
        #expect(back == values)
    }

    @Test("optional fields are read by the record's own members, nil or not; a missing key goes through Codable")
    func optionalFastPath() throws {
        let values = [Marked(id: 1, note: nil), Marked(id: 2, note: "two")]
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let back = try readList(Marked.self, try listBytes(values, encoding))
            #expect(back == values)
        }
        // What a Python dict without the optional key holds: not the record's layout, so Codable reads it.
        struct IDOnly: Codable { var id: Int }
        let back = try readList(Marked.self, try listBytes([IDOnly(id: 3)], .map))
        #expect(back.map(\.id) == [3] && back[0].note == nil && back[0].viaCodable)
        // Nested records too are read by their own members.
        let holders = [Holder(inner: values[0], more: [values[1], nil])]
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let back = try readList(Holder.self, try listBytes(holders, encoding))
            #expect(back == holders)
        }
    }

    @Test("an enum field holding no case's raw value, or a UUID field no UUID, is read through Codable, which throws")
    func unknownRawValue() throws {
        for (level, code) in [("medium", UInt8(0)), ("low", UInt8(7))] {
            let bytes = try listBytes([Loose(id: 1, level: level, code: code)], .map)
            var out: [Strict] = []
            #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(list: Strict.self, from: bytes[...], appendingTo: &out) }
            #expect(out.isEmpty)
        }
        let out = try readList(Strict.self, try listBytes([Loose(id: 1, level: "high", code: 200)], .map))
        #expect(out.map(\.level) == [.high] && out.map(\.code) == [.failed])
        // The same for a string that is no UUID.
        #expect(throws: DecodingError.self) { try readList(Tokened.self, try listBytes([LooseToken(token: "x")], .array)) }
        let token = UUID()
        let tokens = try readList(Tokened.self, try listBytes([LooseToken(token: token.uuidString)], .array))
        #expect(tokens.map(\.token) == [token])
    }

    @Test("records nested in records are byte for byte what Codable writes; another nested layout goes through Codable",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func nestedRecords(encoding: MessagePackEncoder.StructEncoding) throws {
        let trips = (0..<30).map { (n: Int) -> Trip in
            let point = { (k: Int) in Point(x: Double(n * 10 + k), y: -Double(k)) }
            return Trip(id: n, from: point(0), stops: (0..<(n % 20)).map(point), via: n % 2 == 0 ? nil : point(99), level: .high)
        }
        let plain = trips.map { trip in
            let point = { (p: Point) in PlainPoint(x: p.x, y: p.y) }
            return PlainTrip(id: trip.id, from: point(trip.from), stops: trip.stops.map(point), via: trip.via.map(point), level: trip.level)
        }
        let bytes = try listBytes(trips, encoding)
        #expect(bytes == (try listBytes(plain, encoding)))
        let back = try readList(Trip.self, bytes)
        #expect(back == trips)

        // Trees: a record type nested in itself.
        func tree(_ depth: Int, _ value: Int) -> Node {
            Node(value: value, children: depth == 0 ? [] : (0..<3).map { tree(depth - 1, value * 3 + $0) })
        }
        func plainTree(_ node: Node) -> PlainNode { PlainNode(value: node.value, children: node.children.map(plainTree)) }
        let trees = (0..<4).map { tree($0, $0) }
        let treeBytes = try listBytes(trees, encoding)
        #expect(treeBytes == (try listBytes(trees.map(plainTree), encoding)))
        let treesBack = try readList(Node.self, treeBytes)
        #expect(treesBack == trees)

        if encoding == .map {
            // Nested maps with their keys in another order (another writer's dicts): read through Codable.
            let swapped = plain.map { trip in
                let point = { (p: PlainPoint) in SwappedPoint(y: p.y, x: p.x) }
                return PlainTrip(id: trip.id, from: point(trip.from), stops: trip.stops.map(point), via: trip.via.map(point), level: trip.level)
            }
            let fromSwapped = try readList(Trip.self, try listBytes(swapped, .map))
            #expect(fromSwapped == trips)
        }
    }

    @Test("set and dictionary fields are byte for byte what Codable writes, and read back",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func setsAndDictionaries(encoding: MessagePackEncoder.StructEncoding) throws {
        let values = (0..<40).map { (n: Int) -> Keyed in
            // Sizes cross the fix and 16-bit forms of maps and arrays.
            let size = [0, 1, 15, 16, 300][n % 5]
            return Keyed(
                id: n,
                counts: Dictionary(uniqueKeysWithValues: (0..<size).map { ("k\($0)", $0 * n - 500) }),
                names: Dictionary(uniqueKeysWithValues: (0..<(n % 4)).map { ([-1, 1 << 40, 7][$0 % 3] + $0, $0 == 1 ? nil : "n\($0)") }),
                series: n % 3 == 0 ? [:] : ["a": [], "b": [Double(n), 0.25]],
                tags: Set((0..<(size % 20)).map { "t\($0)" }),
                places: ["home": Point(x: Double(n), y: 1), "work": Point(x: -2, y: Double(n) / 3)],
                extra: n % 2 == 0 ? nil : ["e": n],
                groups: n % 3 == 1 ? [] : [[], Set([Int16(n), -300, .max])],
                nested: [n: ["yes": true, "no": false], -n - 1: [:]],
                blobs: n % 2 == 0 ? [:] : ["b": Array(repeating: UInt8(n), count: size)],
                small: Set((0..<(size % 20)).map { UInt8($0 * 13) }))
        }
        let bytes = try listBytes(values, encoding)
        #expect(bytes == (try listBytes(values.map(PlainKeyed.init), encoding)))
        #expect(try readList(Keyed.self, bytes) == values)
        #expect(try readList(PlainKeyed.self, bytes) == values.map(PlainKeyed.init))
    }

    @Test("a dictionary field in another form (str keys for Int, a key written twice) is read as Codable reads it")
    func dictionariesThroughCodable() throws {
        // Sets and dictionaries as Codable writes them are read by the record's own members.
        let marked = [MarkedKeyed(counts: ["a": 1, "b": -2], names: [7: nil, -1 << 40: "x"], tags: ["t", "u"])]
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let back = try readList(MarkedKeyed.self, try listBytes(marked, encoding))
            #expect(back == marked && !back[0].viaCodable)
        }
        struct Repeated: Encodable { var counts: RepeatedKey; var names: [Int: String?] = [:]; var tags: [String] = [] }
        let twice = try readList(MarkedKeyed.self, try listBytes([Repeated(counts: RepeatedKey(entries: [("a", 1), ("a", 2)]))], .map))
        #expect(twice.map(\.counts) == [["a": 1]] && twice[0].viaCodable)

        // Python's {"1": "a"} for a [Int: String?] field: Codable takes the str keys that are numbers.
        let named = StringNamed(
            id: 1, counts: ["c": 1], names: ["1": "a", "-5": nil], series: [:], tags: ["t"], places: [:], extra: nil,
            groups: [[3, 3]], nested: [:])
        let bytes = try listBytes([named], .map)
        let expected = try readList(PlainKeyed.self, bytes)
        #expect(expected.first?.names == [1: "a", -5: nil])
        #expect(try readList(Keyed.self, bytes).map(PlainKeyed.init) == expected)
        // A key written twice: Codable reads its first entry, and so does the record.
        let repeated = try listBytes([RepeatedCounts(id: 2, counts: RepeatedKey(entries: [("a", 1), ("b", 2), ("a", 3)]))], .map)
        let first = try readList(Keyed.self, repeated)
        #expect(first.map(\.counts) == [["a": 1, "b": 2]])
        #expect(first.map(PlainKeyed.init) == (try readList(PlainKeyed.self, repeated)))
    }

    @Test("records nested deeper than 256 levels are refused both ways, as Codable refuses them")
    func deepNesting() throws {
        var deep = Node(value: 0, children: [])
        for level in 1...300 { deep = Node(value: level, children: [deep]) }
        #expect(throws: EncodingError.self) { try listBytes([deep], .array) }
        // The same chain as bytes: [value, [[value, [...]]]] 1,000 levels deep.
        var bytes: [UInt8] = [0x91]
        for _ in 0 ..< 1000 { bytes += [0x92, 0x01, 0x91] }
        bytes += [0x92, 0x01, 0x90]
        var out: [Node] = []
        #expect(throws: (any Error).self) { try MessagePackDecoder().decode(list: Node.self, from: bytes[...], appendingTo: &out) }
        #expect(out.isEmpty)
    }

    @Test("every truncation and byte flip of a list with optional, array, set and dictionary fields decodes or throws, never crashes")
    func damaged() throws {
        try expectDamageCaught([
            Tagged(id: 1, at: Date(timeIntervalSinceReferenceDate: 1.5), token: UUID(), level: .high, codes: [.failed, nil], note: "n", tags: ["a", "bc"], weights: [nil, 0.5], grid: [[1], []], raw: [9], parent: 4, flags: [true]),
            Tagged(id: 2, at: Date(timeIntervalSinceReferenceDate: 0), token: nil, level: .low, codes: [], note: nil, tags: [], weights: [], grid: [], raw: nil, parent: nil, flags: nil),
        ])
        try expectDamageCaught([
            Keyed(id: 1, counts: ["a": 1, "bc": -2], names: [3: nil, -4: "d"], series: ["s": [0.5]], tags: ["t"], places: ["p": Point(x: 1, y: 2)], extra: ["e": 300], groups: [[1, 2]], nested: [5: ["f": true]]),
            Keyed(id: 2, counts: [:], names: [:], series: [:], tags: [], places: [:], extra: nil, groups: [], nested: [:]),
        ])
    }

    private func expectDamageCaught<T: Codable>(_ values: [T]) throws {
        for encoding in [MessagePackEncoder.StructEncoding.map, .array] {
            let bytes = try listBytes(values, encoding)
            for end in 0 ..< bytes.count {
                var out: [T] = []
                #expect(throws: (any Error).self) { try MessagePackDecoder().decode(list: T.self, from: bytes[..<end], appendingTo: &out) }
            }
            for index in bytes.indices {
                for flip: UInt8 in [0x01, 0x10, 0x80, 0xff] {
                    var damaged = bytes
                    damaged[index] ^= flip
                    var out: [T] = []
                    if (try? MessagePackDecoder().decode(list: T.self, from: damaged[...], appendingTo: &out)) == nil {
                        #expect(out.isEmpty)
                    }
                }
            }
        }
    }

    @Test("a property or CodingKeys case spelled with backticks is named without them, as Codable names it",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func backtickedNames(encoding: MessagePackEncoder.StructEncoding) throws {
        #expect(Keyworded.messagePackFields == ["default", "class", "plain"])
        #expect(KeywordedKeys.messagePackFields == ["default", "me"])
        let values = (0..<20).map { Keyworded(default: $0, class: "c\($0)", plain: $0 % 2 == 0) }
        let plain = values.map { PlainKeyworded(default: $0.default, class: $0.class, plain: $0.plain) }
        let bytes = try listBytes(values, encoding)
        #expect(bytes == (try listBytes(plain, encoding)))
        #expect(try readList(Keyworded.self, bytes) == values)
        let keyed = [KeywordedKeys(default: 1, self: "x")]
        #expect(try readList(KeywordedKeys.self, try listBytes(keyed, encoding)) == keyed)
        if encoding == .map { #expect(try listBytes(keyed, .map) == [0x91, 0x82, 0xa7] + Array("default".utf8) + [0x01, 0xa2, 0x6d, 0x65, 0xa1, 0x78]) }
    }

    @Test("a record type nested in another record type, then in itself, has its own field names at every level",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func treeInAnotherRecord(encoding: MessagePackEncoder.StructEncoding) throws {
        func plainTree(_ node: Node) -> PlainNode { PlainNode(value: node.value, children: node.children.map(plainTree)) }
        let forests = [
            Forest(name: "two", tree: Node(value: 1, children: [Node(value: 2, children: [])])),
            Forest(name: "three", tree: Node(value: 1, children: [Node(value: 2, children: [Node(value: 3, children: [])]), Node(value: 4, children: [])])),
        ]
        let plain = forests.map { PlainForest(name: $0.name, tree: plainTree($0.tree)) }
        let bytes = try listBytes(forests, encoding)
        #expect(bytes == (try listBytes(plain, encoding)))
        #expect(try readList(Forest.self, bytes) == forests)
        let store = ListStore<MemoryStore, Forest>(over: MemoryStore(), encoding: .messagePack(encoding))
        try store.append("k", forests)
        #expect(try store.get("k") == forests)
    }

    @Test("ListStore round trip over memory and directory stores; old layouts still read through Codable")
    func listStore() throws {
        let directory = try DirectoryStore.temporary()
        defer { try? directory.drop() }
        for inner in [MemoryStore() as any ByteStore, directory] {
            try roundTrip(inner)
        }
    }

    private func roundTrip(_ inner: some ByteStore) throws {
        let store = ListStore<_, Visit>(over: inner)
        try store.append(["a": Array(visits[..<100]), "b": Array(visits[100...])])
        try store.append(["a": Array(visits[100...])])
        #expect(try store.get("a") == visits)
        #expect(try store.get("b") == Array(visits[100...]))
        #expect(try store.get("missing") == [])
        // A map in another key order (what a Python dict may hold) is not the record's layout: read through Codable.
        try ListStore<_, ReorderedVisit>(over: inner).append(["c": [ReorderedVisit(page: "/x", counted: false, user: 7, score: 0.5)]])
        #expect(try store.get("c") == [Visit(user: 7, score: 0.5, page: "/x", counted: false)])
    }
}

// MARK: Expansion

/// Checks with swift-syntax's expansion test that `@MessagePackRecord` on `declaration` (the attribute is
/// line 1, the declaration starts on line 2) leaves it as it is and adds `added` after it (nothing if empty),
/// reporting `diagnostics`; failures are reported to Swift Testing. With `statesConformances`, the compiler asks
/// for no conformances, as for a struct that states them itself.
func expectExpansion(
    of declaration: String, adds added: String = "", diagnostics: [DiagnosticSpec] = [],
    statesConformances: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) {
    assertMacroExpansion(
        "@MessagePackRecord\n" + declaration, expandedSource: added.isEmpty ? declaration : declaration + "\n\n" + added,
        diagnostics: diagnostics,
        macroSpecs: ["MessagePackRecord": MacroSpec(type: MessagePackRecordMacro.self, conformances: statesConformances ? [] : ["MessagePackRecord", "MessagePackField"])],
        failureHandler: { Issue.record(Comment(rawValue: $0.message), sourceLocation: sourceLocation) })
}

@Suite("@MessagePackRecord expansion")
struct MessagePackRecordExpansionTests {
    @Test("members follow the stored properties; access follows the struct")
    func members() {
        expectExpansion(
            of: """
                public struct Visit: Codable {
                    public var user: Int
                    var a, b: String
                    var observed: Double { didSet { print(oldValue) } }
                    var computed: Int { 1 }
                    static var shared = 0
                }
                """,
            adds: """
                extension Visit: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField {
                    public static var messagePackFields: [String] {
                        ["user", "a", "b", "observed"]
                    }

                    public func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.user)
                        writer.pack(self.a)
                        writer.pack(self.b)
                        writer.pack(self.observed)
                    }

                    public init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.user = try reader.unpack()
                        self.a = try reader.unpack()
                        self.b = try reader.unpack()
                        self.observed = try reader.unpack()
                    }
                }
                """)
    }

    @Test("a generic parameter a field's type names must be a field for the conformance; others are free")
    func genericParameters() {
        expectExpansion(
            of: """
                struct Box<T: Codable, Phantom, U>: Codable where U: Codable {
                    var id: Int
                    var items: [String: T?]
                    var last: Inner<U>
                    var cache: [T] = []
                    enum CodingKeys: CodingKey {
                        case id, items, last
                    }
                }
                """,
            adds: """
                extension Box: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField where T: PartdTyped.MessagePackField, U: PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["id", "items", "last"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.id)
                        writer.pack(self.items)
                        writer.pack(self.last)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.id = try reader.unpack()
                        self.items = try reader.unpack()
                        self.last = try reader.unpack()
                    }
                }
                """)
        // An associated type of a parameter is required itself (`T` is not, unless a field names it too); a type
        // that merely has a parameter's name (`Other.T`) is no parameter, but `Self.V` and `Keyed.W` are (`U` of
        // `Array<U>.Index` is required, though that type is `Int`: the macro cannot know).
        expectExpansion(
            of: """
                struct Keyed<T: Identifiable, U, V, W>: Codable where T.ID: Codable, U: Codable, V: Codable, W: Codable {
                    var id: T.ID
                    var parents: [T.ID.Raw?]
                    var other: Other.T
                    var list: Array<U>.Index
                    var mine: Self.V
                    var named: Keyed.W
                }
                """,
            adds: """
                extension Keyed: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField where T.ID: PartdTyped.MessagePackField, T.ID.Raw: PartdTyped.MessagePackField, U: PartdTyped.MessagePackField, V: PartdTyped.MessagePackField, W: PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["id", "parents", "other", "list", "mine", "named"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.id)
                        writer.pack(self.parents)
                        writer.pack(self.other)
                        writer.pack(self.list)
                        writer.pack(self.mine)
                        writer.pack(self.named)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.id = try reader.unpack()
                        self.parents = try reader.unpack()
                        self.other = try reader.unpack()
                        self.list = try reader.unpack()
                        self.mine = try reader.unpack()
                        self.named = try reader.unpack()
                    }
                }
                """)
        // A struct that states the conformances itself gets no conformance, but the members keep the clause.
        expectExpansion(
            of: """
                struct Held<T: Codable>: Codable {
                    var value: T
                }
                """,
            adds: """
                extension Held where T: PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["value"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.value)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.value = try reader.unpack()
                    }
                }
                """,
            statesConformances: true)
        // Only the fields count: a parameter used by a property left out of CodingKeys adds nothing.
        expectExpansion(
            of: """
                struct Cached<T: Codable>: Codable {
                    var id: Int
                    var cache: [T] = []
                    enum CodingKeys: CodingKey {
                        case id
                    }
                }
                """,
            adds: """
                extension Cached: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["id"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.id)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.id = try reader.unpack()
                    }
                }
                """)
    }

    @Test("CodingKeys cases and raw values name the fields")
    func codingKeys() {
        expectExpansion(
            of: """
                struct R: Codable {
                    var x: Int
                    var y: String
                    var skipped: [Int] = []
                    enum CodingKeys: String, CodingKey {
                        case y = "why", x
                    }
                }
                """,
            adds: """
                extension R: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["why", "x"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.y)
                        writer.pack(self.x)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.y = try reader.unpack()
                        self.x = try reader.unpack()
                    }
                }
                """)
    }

    @Test("names spelled with backticks are keys without them and members with them")
    func backticks() {
        expectExpansion(
            of: """
                struct K: Codable {
                    var `default`: Int
                    var plain: String
                }
                """,
            adds: """
                extension K: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["default", "plain"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.`default`)
                        writer.pack(self.plain)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.`default` = try reader.unpack()
                        self.plain = try reader.unpack()
                    }
                }
                """)
    }

    @Test("stored properties inside #if are an error; other members inside #if are not")
    func conditionalProperties() {
        expectExpansion(
            of: "struct S: Codable {\n    var x: Int\n    #if DEBUG\n    var note: String\n    #endif\n}",
            diagnostics: [DiagnosticSpec(
                message: "@MessagePackRecord cannot tell which clause of this #if declares the stored properties Codable "
                    + "encodes; move them out of the #if, or conform the struct to MessagePackRecord by hand",
                line: 4, column: 5)])
        expectExpansion(
            of: "struct S: Codable {\n    var x: Int\n    #if os(Linux)\n    #else\n    #if DEBUG\n    var note: String\n    #endif\n    #endif\n}",
            diagnostics: [DiagnosticSpec(
                message: "@MessagePackRecord cannot tell which clause of this #if declares the stored properties Codable "
                    + "encodes; move them out of the #if, or conform the struct to MessagePackRecord by hand",
                line: 4, column: 5)])
        expectExpansion(
            of: """
                struct S: Codable {
                    var x: Int
                    #if DEBUG
                    static var verbose = true
                    var described: String { "\\(x)" }
                    func dump() {}
                    #endif
                }
                """,
            adds: """
                extension S: PartdTyped.MessagePackRecord, PartdTyped.MessagePackField {
                    static var messagePackFields: [String] {
                        ["x"]
                    }

                    func pack(into writer: inout PartdTyped.MessagePackWriter) {
                        writer.pack(self.x)
                    }

                    init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                        self.x = try reader.unpack()
                    }
                }
                """)
    }

    @Test("what cannot be a record is an error on the declaration, and nothing is generated")
    func diagnostics() {
        expectExpansion(
            of: "class C: Codable {\n    var x = 1\n}",
            diagnostics: [DiagnosticSpec(
                message: "@MessagePackRecord applies to structs; conform other types to MessagePackRecord by hand",
                line: 1, column: 1)])
        let fieldTypes = "record fields are integers, Float, Double, Bool, String, Date, UUID, records, raw-value enums "
            + "conforming to MessagePackField, and optionals, arrays, sets and String- or Int-keyed dictionaries of these; "
            + "store this type as plain Codable instead"
        expectExpansion(
            of: "struct S: Codable {\n    var tags: Set<String>\n    var map: Dictionary<UInt8, Int>\n    var counts: [Date: Int]?\n    var pairs: [String: [(Int, Int)]]\n}",
            diagnostics: [
                DiagnosticSpec(message: "field 'map' has type Dictionary<UInt8, Int>, a dictionary with UInt8 keys (String or Int keys only): " + fieldTypes, line: 4, column: 14),
                DiagnosticSpec(message: "field 'counts' has type [Date: Int]?, a dictionary with Date keys (String or Int keys only): " + fieldTypes, line: 5, column: 17),
                DiagnosticSpec(message: "field 'pairs' has type [String: [(Int, Int)]], a tuple: " + fieldTypes, line: 6, column: 16),
            ])
        expectExpansion(
            of: "struct S: Codable {\n    @Clamped var level: Int\n    @available(*, deprecated) var x: Int\n}",
            diagnostics: [DiagnosticSpec(
                message: "field 'level' has the attribute @Clamped, which changes what Codable writes; store this "
                    + "type as plain Codable instead",
                line: 3, column: 18)])
        expectExpansion(
            of: "struct S: Codable {\n    var x: Int\n    func encode(to encoder: any Encoder) throws {}\n}",
            diagnostics: [DiagnosticSpec(
                message: "@MessagePackRecord writes the fields Codable synthesises, and this struct codes itself; "
                    + "conform it to MessagePackRecord by hand to match its own encode(to:) and init(from:)",
                line: 4, column: 5)])
        expectExpansion(
            of: "struct S: Codable {\n    let version = 2\n    var x: Int\n}",
            diagnostics: [DiagnosticSpec(
                message: "'version' is a let with an initial value, which Codable encodes but never decodes; make it "
                    + "a var, or leave it out of CodingKeys",
                line: 3, column: 9)])
        expectExpansion(
            of: "struct S: Codable {\n    var x: Int\n    enum CodingKeys: String, CodingKey {\n        case x, y\n    }\n}",
            diagnostics: [DiagnosticSpec(message: "CodingKeys case 'y' names no stored property of this struct", line: 2, column: 8)])
    }
}
