// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdTyped
import Testing

// MARK: Records nested in other record types at several levels

/// A tree record (written by hand, as `@MessagePackRecord` would write it).
struct TreeNode: MessagePackRecord, Sendable, Hashable {
    var value: Int
    var children: [TreeNode]

    init(_ value: Int, _ children: [TreeNode] = []) {
        self.value = value
        self.children = children
    }

    static let messagePackFields = ["value", "children"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(value)
        writer.pack(children)
    }
    init(unpacking reader: inout MessagePackReader) throws {
        value = try reader.unpack()
        children = try reader.unpack()
    }
}

/// A record holding a tree: the tree's type is nested in another record type, then in itself.
struct TreeDoc: MessagePackRecord, Sendable, Hashable {
    var title: String
    var tree: TreeNode

    static let messagePackFields = ["title", "tree"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(title)
        writer.pack(tree)
    }
    init(title: String, tree: TreeNode) {
        self.title = title
        self.tree = tree
    }
    init(unpacking reader: inout MessagePackReader) throws {
        title = try reader.unpack()
        tree = try reader.unpack()
    }
}

struct PlainTreeNode: Codable, Hashable {
    var value: Int
    var children: [PlainTreeNode]
    init(_ node: TreeNode) { (value, children) = (node.value, node.children.map(PlainTreeNode.init)) }
}

struct PlainTreeDoc: Codable, Hashable {
    var title: String
    var tree: PlainTreeNode
    init(_ doc: TreeDoc) { (title, tree) = (doc.title, PlainTreeNode(doc.tree)) }
}

/// Two record types nested in each other: A → B → A → B.
struct MutualA: MessagePackRecord, Sendable, Hashable {
    var name: String
    var bs: [MutualB]

    static let messagePackFields = ["name", "bs"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(name)
        writer.pack(bs)
    }
    init(name: String, bs: [MutualB]) { (self.name, self.bs) = (name, bs) }
    init(unpacking reader: inout MessagePackReader) throws {
        name = try reader.unpack()
        bs = try reader.unpack()
    }
}

struct MutualB: MessagePackRecord, Sendable, Hashable {
    var count: Int
    var flag: Bool
    var a: [MutualA]

    static let messagePackFields = ["count", "flag", "a"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(count)
        writer.pack(flag)
        writer.pack(a)
    }
    init(count: Int, flag: Bool, a: [MutualA]) { (self.count, self.flag, self.a) = (count, flag, a) }
    init(unpacking reader: inout MessagePackReader) throws {
        count = try reader.unpack()
        flag = try reader.unpack()
        a = try reader.unpack()
    }
}

struct PlainMutualA: Codable, Hashable {
    var name: String
    var bs: [PlainMutualB]
    init(_ a: MutualA) { (name, bs) = (a.name, a.bs.map(PlainMutualB.init)) }
}

struct PlainMutualB: Codable, Hashable {
    var count: Int
    var flag: Bool
    var a: [PlainMutualA]
    init(_ b: MutualB) { (count, flag, a) = (b.count, b.flag, b.a.map(PlainMutualA.init)) }
}

private func encodeList<T: Encodable>(_ values: [T], _ structs: MessagePackEncoder.StructEncoding) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try MessagePackEncoder(structEncoding: structs).encode(list: values, into: &bytes)
    return bytes
}

private func decodeList<T: Decodable>(_: T.Type, _ bytes: [UInt8]) throws -> [T] {
    var values: [T] = []
    try MessagePackDecoder().decode(list: T.self, from: bytes[...], appendingTo: &values)
    return values
}

@Suite("MessagePackRecord types nested in other record types")
struct MessagePackNestedRecordTests {
    static let docs = [
        TreeDoc(title: "two levels", tree: TreeNode(1, [TreeNode(2)])),
        TreeDoc(title: "four levels", tree: TreeNode(1, [TreeNode(2, [TreeNode(3, [TreeNode(4)]), TreeNode(5)]), TreeNode(6)])),
        TreeDoc(title: "one level", tree: TreeNode(7)),
    ]

    static let mutual = [
        MutualA(name: "a0", bs: [MutualB(count: 1, flag: true, a: [MutualA(name: "a1", bs: [MutualB(count: 2, flag: false, a: [])])])]),
        MutualA(name: "empty", bs: []),
    ]

    @Test("a record type nested in another, then in itself, is written and read at every level, as Codable writes it",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func treeInDocument(structs: MessagePackEncoder.StructEncoding) throws {
        let bytes = try encodeList(Self.docs, structs)
        #expect(bytes == (try encodeList(Self.docs.map(PlainTreeDoc.init), structs)))
        #expect(try decodeList(TreeDoc.self, bytes) == Self.docs)
        #expect(try decodeList(PlainTreeDoc.self, bytes) == Self.docs.map(PlainTreeDoc.init))
        // Written by Codable, read by the records' own members.
        #expect(try decodeList(TreeDoc.self, try encodeList(Self.docs.map(PlainTreeDoc.init), structs)) == Self.docs)
        let store = ListStore<MemoryStore, TreeDoc>(over: MemoryStore(), encoding: .messagePack(structs))
        try store.append("k", Self.docs)
        #expect(try store.get("k") == Self.docs)
    }

    @Test("record types nested in each other (A, B, A, B) are written and read at every level",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func mutualNesting(structs: MessagePackEncoder.StructEncoding) throws {
        let bytes = try encodeList(Self.mutual, structs)
        #expect(bytes == (try encodeList(Self.mutual.map(PlainMutualA.init), structs)))
        #expect(try decodeList(MutualA.self, bytes) == Self.mutual)
        #expect(try decodeList(PlainMutualA.self, bytes) == Self.mutual.map(PlainMutualA.init))
    }

    @Test("Python's msgpack reads a nested record list as the dicts Codable writes")
    func pythonReadsNested() throws {
        try #require(pythonHas("msgpack"), "Python's msgpack is needed; run scripts/test.sh")
        let path = scratchPath("nested-records.msgpack")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(try encodeList(Array(Self.docs.prefix(1)), .map)).write(to: URL(fileURLWithPath: path))
        let result = try run("/usr/bin/env", ["python3", "-c", "import sys, msgpack\nprint(msgpack.unpackb(open(sys.argv[1], 'rb').read()))", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            == "[{'title': 'two levels', 'tree': {'value': 1, 'children': [{'value': 2, 'children': []}]}}]")
    }

    @Test("hostile bytes: a nested map with another record's keys, or claiming more entries than it holds, throws")
    func hostileNestedKeys() throws {
        func str(_ s: String) -> [UInt8] { [0xa0 | UInt8(s.utf8.count)] + Array(s.utf8) }
        // What the writer once wrote for [TreeDoc(tree: TreeNode(1, [TreeNode(2)]))]: the inner node claims two
        // entries but holds the outer record's key and no second entry.
        let broken: [UInt8] = [0x91, 0x82] + str("title") + str("t") + str("tree")
            + [0x82] + str("value") + [0x01] + str("children") + [0x91, 0x82] + str("title") + [0x02, 0x90]
        #expect(throws: (any Error).self) { try decodeList(TreeDoc.self, broken) }
        // The inner node with the document's keys (complete): read through Codable, which finds no "value".
        let wrongKeys: [UInt8] = [0x91, 0x82] + str("title") + str("t") + str("tree")
            + [0x82] + str("value") + [0x01] + str("children") + [0x91, 0x82] + str("title") + str("x") + str("tree") + [0x90]
        #expect(throws: DecodingError.self) { try decodeList(TreeDoc.self, wrongKeys) }
        // Every truncation and byte flip of a deep list decodes or throws.
        for structs in [MessagePackEncoder.StructEncoding.map, .array] {
            let bytes = try encodeList(Self.docs, structs)
            for end in 0 ..< bytes.count {
                #expect(throws: (any Error).self) { try decodeList(TreeDoc.self, Array(bytes[..<end])) }
            }
            for index in bytes.indices {
                for flip: UInt8 in [0x01, 0x10, 0x80, 0xff] {
                    var damaged = bytes
                    damaged[index] ^= flip
                    _ = try? decodeList(TreeDoc.self, damaged)
                    _ = try? decodeList(MutualA.self, damaged)
                }
            }
        }
    }
}

// MARK: Keyed containers the array struct encoding must keep as maps

/// A dictionary (or any value) behind a wrapper that hands it the wrapper's own encoder and decoder.
@propertyWrapper
struct Forwarded<V: Codable & Hashable & Sendable>: Codable, Hashable, Sendable {
    var wrappedValue: V
    init(wrappedValue: V) { self.wrappedValue = wrappedValue }
    init(from decoder: any Decoder) throws { wrappedValue = try V(from: decoder) }
    func encode(to encoder: any Encoder) throws { try wrappedValue.encode(to: encoder) }
}

struct WrappedMaps: Codable, Hashable, Sendable {
    var id: Int
    @Forwarded var counts: [String: Int]
    @Forwarded var byID: [Int: String]
    var nested: Forwarded<[String: [String: Double]]>
}

/// A dictionary written through a super encoder (whose static type the encoder does not know).
struct SuperEncoded: Codable, Hashable {
    var id: Int
    var counts: [String: Int]

    enum CodingKeys: String, CodingKey { case id, counts }

    init(id: Int, counts: [String: Int]) { (self.id, self.counts) = (id, counts) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try counts.encode(to: container.superEncoder(forKey: .counts))
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int.self, forKey: .id)
        counts = try [String: Int](from: container.superDecoder(forKey: .counts))
    }
}

/// Keys made up at run time, as a struct of any name accepts them.
struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A map with keys chosen at run time, written through a keyed container of `DynamicKey`s.
struct Attributes: Codable, Hashable {
    var values: [String: Int]

    init(_ values: [String: Int]) { self.values = values }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        for (key, value) in values.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: DynamicKey(stringValue: key)) }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: DynamicKey.self)
        values = try Dictionary(uniqueKeysWithValues: container.allKeys.map { ($0.stringValue, try container.decode(Int.self, forKey: $0)) })
    }
}

struct WithAttributes: Codable, Hashable { var id: Int; var attributes: Attributes }

enum Shape: Codable, Hashable, Sendable {
    case circle(r: Double)
    case square(s: Double)
    case labelled(Int, String)
    case dot
}

enum Switch: Codable, Hashable { case on, off }

struct Drawing: Codable, Hashable, Sendable {
    var id: Int
    var shape: Shape
    var shapes: [Shape]
    var maybe: Shape?
}

@Suite("MessagePack keyed containers in the array struct encoding")
struct MessagePackKeyedContainerTests {
    private func roundTrip<T: Codable & Equatable>(_ value: T, _ structs: MessagePackEncoder.StructEncoding) throws -> [UInt8] {
        let bytes = try MessagePackEncoder(structEncoding: structs).encode(value)
        #expect(try MessagePackDecoder().decode(T.self, from: bytes[...]) == value)
        return bytes
    }

    @Test("a dictionary behind a wrapper, a property wrapper or a super encoder stays a map with its keys",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func wrappedDictionaries(structs: MessagePackEncoder.StructEncoding) throws {
        let value = WrappedMaps(id: 1, counts: ["a": 1, "b": -2], byID: [7: "seven"], nested: Forwarded(wrappedValue: ["x": ["y": 0.5]]))
        let bytes = try roundTrip(value, structs)
        // The dictionaries' bytes are a map of their keys (an `Int`-keyed one behind a wrapper with str keys:
        // the encoder cannot see its key type), read back by the dictionaries themselves.
        let counts = try MessagePackEncoder().encode(value.counts)
        #expect(bytes.firstRange(of: counts) != nil)
        #expect(bytes.firstRange(of: [0x81, 0xa1, 0x37, 0xa5] + Array("seven".utf8)) != nil)
        #expect(try roundTrip(ViaCodable(["k": 1, "l": 2]), structs).first == 0x82)
        #expect(try roundTrip([ViaCodable([3: [true]])], structs) == [0x91, 0x81, 0xa1, 0x33, 0x91, 0xc3])
        let superEncoded = try roundTrip(SuperEncoded(id: 4, counts: ["z": 26]), structs)
        #expect(superEncoded == (structs == .map ? [0x82, 0xa2, 0x69, 0x64, 0x04, 0xa6] + Array("counts".utf8) + [0x81, 0xa1, 0x7a, 0x1a]
            : [0x92, 0x04, 0x81, 0xa1, 0x7a, 0x1a]))
        let attributes = try roundTrip(WithAttributes(id: 2, attributes: Attributes(["p": 1, "q": 2])), structs)
        #expect(attributes.suffix(7) == [0x82, 0xa1, 0x70, 0x01, 0xa1, 0x71, 0x02])
        let store = ListStore<MemoryStore, WrappedMaps>(over: MemoryStore(), encoding: .messagePack(structs))
        try store.append("k", [value, value])
        #expect(try store.get("k") == [value, value])
    }

    @Test("a dictionary read from an array (what the array encoding once wrote for one behind a wrapper) throws instead of reading as empty")
    func dictionaryFromArray() throws {
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(ViaCodable<[String: Int]>.self, from: [0x92, 0x01, 0x02][...]) }
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode([String: Int].self, from: [0x91, 0x01][...]) }
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(Attributes.self, from: [0x91, 0x01][...]) }
        // An empty array holds no entries either way.
        #expect(try MessagePackDecoder().decode(ViaCodable<[String: Int]>.self, from: [0x90][...]).value == [:])
    }

    @Test("enums with associated values keep their case name as a one-entry map in both struct encodings",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func enumsWithPayloads(structs: MessagePackEncoder.StructEncoding) throws {
        let circle = try roundTrip(Shape.circle(r: 1.5), structs)
        let square = try roundTrip(Shape.square(s: 1.5), structs)
        #expect(circle != square)
        let payload: [UInt8] = structs == .map ? [0x81, 0xa1, 0x72] : [0x91]
        #expect(circle == [0x81, 0xa6] + Array("circle".utf8) + payload + [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
        #expect(try roundTrip(Switch.on, structs) == [0x81, 0xa2, 0x6f, 0x6e, structs == .map ? 0x80 : 0x90])
        _ = try roundTrip(Shape.labelled(3, "x"), structs)
        _ = try roundTrip(Shape.dot, structs)
        let drawings = [
            Drawing(id: 1, shape: .circle(r: 2), shapes: [.square(s: 1), .dot, .labelled(-1, "")], maybe: nil),
            Drawing(id: 2, shape: .dot, shapes: [], maybe: .square(s: 0.25)),
        ]
        _ = try roundTrip(drawings, structs)
        let store = ListStore<MemoryStore, Drawing>(over: MemoryStore(), encoding: .messagePack(structs))
        try store.append("k", drawings)
        #expect(try store.get("k") == drawings)
        // Python's msgpack sees the case name.
        if structs == .array, pythonHas("msgpack") {
            let path = scratchPath("enum-array.msgpack")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Data(try MessagePackEncoder(structEncoding: .array).encode(drawings[0])).write(to: URL(fileURLWithPath: path))
            let result = try run("/usr/bin/env", ["python3", "-c", "import sys, msgpack\nprint(msgpack.unpackb(open(sys.argv[1], 'rb').read()))", path])
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "[1, {'circle': [2.0]}, [{'square': [1.0]}, {'dot': []}, {'labelled': [-1, '']}], None]")
        }
    }
}

// MARK: Keyed decoding containers over arrays

struct OneField: Codable, Equatable { var p: Int }
struct TwoFields: Codable, Equatable { var x: Int; var y: String }

/// Tries one type, then another, on the same value.
enum FirstThatFits: Decodable, Equatable {
    case two(TwoFields)
    case one(OneField)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let two = try? container.decode(TwoFields.self) {
            self = .two(two)
        } else {
            self = .one(try container.decode(OneField.self))
        }
    }
}

/// Reads two nested containers interleaved.
struct Interleaved: Codable, Equatable {
    var x: Int, y: Int, p: Int, q: Int

    enum Keys: String, CodingKey { case a, b }
    enum AKeys: String, CodingKey { case x, y }
    enum BKeys: String, CodingKey { case p, q }

    init(x: Int, y: Int, p: Int, q: Int) { (self.x, self.y, self.p, self.q) = (x, y, p, q) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        var a = container.nestedContainer(keyedBy: AKeys.self, forKey: .a)
        try a.encode(x, forKey: .x)
        try a.encode(y, forKey: .y)
        var b = container.nestedContainer(keyedBy: BKeys.self, forKey: .b)
        try b.encode(p, forKey: .p)
        try b.encode(q, forKey: .q)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let a = try container.nestedContainer(keyedBy: AKeys.self, forKey: .a)
        let b = try container.nestedContainer(keyedBy: BKeys.self, forKey: .b)
        x = try a.decode(Int.self, forKey: .x)
        p = try b.decode(Int.self, forKey: .p)
        y = try a.decode(Int.self, forKey: .y)
        q = try b.decode(Int.self, forKey: .q)
    }
}

/// Many sibling containers opened first, read afterwards.
struct ManySiblings: Codable, Equatable {
    var values: [[Int]]

    enum Inner: String, CodingKey { case first, second }

    init(values: [[Int]]) { self.values = values }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for pair in values {
            var inner = container.nestedContainer(keyedBy: Inner.self)
            try inner.encode(pair[0], forKey: .first)
            try inner.encode(pair[1], forKey: .second)
        }
    }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var inners: [KeyedDecodingContainer<Inner>] = []
        while !container.isAtEnd { inners.append(try container.nestedContainer(keyedBy: Inner.self)) }
        let firsts = try inners.map { try $0.decode(Int.self, forKey: .first) }
        let seconds = try inners.map { try $0.decode(Int.self, forKey: .second) }
        values = zip(firsts, seconds).map { [$0, $1] }
    }
}

/// A subclass that writes its fields, then its superclass's, to the same container.
class BaseRecord: Codable {
    var id: Int
    init(id: Int) { self.id = id }
}

final class DerivedRecord: BaseRecord, Equatable {
    var extra: String
    enum Keys: String, CodingKey { case extra }

    init(id: Int, extra: String) {
        self.extra = extra
        super.init(id: id)
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(extra, forKey: .extra)
        try super.encode(to: encoder)
    }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        extra = try container.decode(String.self, forKey: .extra)
        try super.init(from: decoder)
    }

    static func == (a: DerivedRecord, b: DerivedRecord) -> Bool { a.id == b.id && a.extra == b.extra }
}

@Suite("MessagePack keyed decoding containers")
struct MessagePackKeyedDecodingTests {
    @Test("a type that fails on a value and another read from the same value start at its first element")
    func retryFromStart() throws {
        #expect(try MessagePackDecoder().decode(FirstThatFits.self, from: [0x92, 0x05, 0x06][...]) == .one(OneField(p: 5)))
        #expect(try MessagePackDecoder().decode(FirstThatFits.self, from: [0x92, 0x05, 0xa1, 0x36][...]) == .two(TwoFields(x: 5, y: "6")))
        #expect(try MessagePackDecoder().decode([FirstThatFits].self, from: [0x92, 0x92, 0x05, 0x06, 0x91, 0x07][...])
            == [.one(OneField(p: 5)), .one(OneField(p: 7))])
        var list: [FirstThatFits] = []
        try MessagePackDecoder().decode(list: FirstThatFits.self, from: [0x91, 0x92, 0x05, 0x06][...], appendingTo: &list)
        #expect(list == [.one(OneField(p: 5))])
    }

    @Test("sibling containers read interleaved each keep their place", arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func interleavedSiblings(structs: MessagePackEncoder.StructEncoding) throws {
        let value = Interleaved(x: 1, y: 2, p: 3, q: 4)
        let bytes = try MessagePackEncoder(structEncoding: structs).encode([value, value])
        #expect(try MessagePackDecoder().decode([Interleaved].self, from: bytes[...]) == [value, value])
        let many = ManySiblings(values: (0..<40).map { [$0, -$0] })
        let manyBytes = try MessagePackEncoder(structEncoding: structs).encode(many)
        // Each container keeps its place, or (when too many of its siblings came between) its reading throws:
        // never another element's value.
        do {
            #expect(try MessagePackDecoder().decode(ManySiblings.self, from: manyBytes[...]) == many)
        } catch let error as DecodingError {
            #expect(structs == .array, "\(error)")
        }
        let few = ManySiblings(values: (0..<3).map { [$0, -$0] })
        #expect(try MessagePackDecoder().decode(ManySiblings.self, from: MessagePackEncoder(structEncoding: structs).encode(few)[...]) == few)
    }

    @Test("a subclass and its superclass read one container in turn, as they wrote it", arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func subclassContinues(structs: MessagePackEncoder.StructEncoding) throws {
        let values = [DerivedRecord(id: 1, extra: "a"), DerivedRecord(id: 2, extra: "b")]
        let bytes = try MessagePackEncoder(structEncoding: structs).encode(values)
        if structs == .array { #expect(bytes == [0x92, 0x92, 0xa1, 0x61, 0x01, 0x92, 0xa1, 0x62, 0x02]) }
        #expect(try MessagePackDecoder().decode([DerivedRecord].self, from: bytes[...]) == values)
    }
}

// MARK: Map keys

@Suite("MessagePack map keys")
struct MessagePackMapKeyTests {
    @Test("map keys that no dictionary key can hold throw, with the map's coding path, instead of being left out")
    func unrepresentableKeys() throws {
        func fails<T: Decodable>(_: T.Type, _ bytes: [UInt8]) -> [String]? {
            do {
                _ = try MessagePackDecoder().decode(T.self, from: bytes[...])
                return nil
            } catch let DecodingError.typeMismatch(_, context) {
                return context.codingPath.map(\.stringValue)
            } catch let DecodingError.dataCorrupted(context) {
                return context.codingPath.map(\.stringValue)
            } catch {
                return ["\(type(of: error))"]
            }
        }
        let bin: [UInt8] = [0x81, 0xc4, 0x01, 0x6b, 0x01]  // {b'k': 1}
        let nonUTF8: [UInt8] = [0x81, 0xa1, 0xff, 0x01]
        let float: [UInt8] = [0x81, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01]
        let null: [UInt8] = [0x81, 0xc0, 0x01]
        let array: [UInt8] = [0x81, 0x90, 0x01]
        let huge: [UInt8] = [0x81, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]  // 2^64 - 1
        for bytes in [bin, nonUTF8, float, null, array, huge] {
            #expect(fails([String: Int].self, bytes) == [])
            #expect(fails([Int: Int].self, bytes) == [])
            #expect(fails(ViaCodable<[String: Int]>.self, bytes) == [])
            #expect(fails(PlainValue.self, bytes) == [])
            #expect(fails(Attributes.self, bytes) == [])
            #expect(fails([String: [String: Int]].self, [0x81, 0xa1, 0x61] + bytes) == ["a"])
            #expect(fails([PlainValue].self, [0x92, 0xc0] + bytes) == ["Index 1"])
        }
        // What Codable reads, these read: an int key in a String dictionary is its number, a numeric str key in
        // an Int one its value, and a struct ignores keys it does not know, of any form.
        #expect(try MessagePackDecoder().decode([String: Int].self, from: [0x81, 0x05, 0x01][...]) == ["5": 1])
        #expect(try MessagePackDecoder().decode([Int: Int].self, from: [0x81, 0xa2, 0x2d, 0x37, 0x01][...]) == [-7: 1])
        #expect(try MessagePackDecoder().decode(PlainValue.self, from: [0x81, 0x05, 0x01][...]) == .map(["5": .int(1)]))
        #expect(try MessagePackDecoder().decode(OneField.self, from: [0x82, 0xc4, 0x01, 0x6b, 0x01, 0xa1, 0x70, 0x02][...]) == OneField(p: 2))
    }

    @Test("Python partd's {b'k': 1} in a list of plain values is refused, not read as an empty map")
    func pythonBytesKey() throws {
        let memory = MemoryStore()
        // What partd.Python writes for p.append({'b': [{b'k': 1}]}).
        try memory.append("b", [0x06, 0, 0, 0, 0, 0, 0, 0, 0x91, 0x81, 0xc4, 0x01, 0x6b, 0x01])
        expectPartdError(.corruptData) { try ListStore<MemoryStore, PlainValue>(over: memory).get("b") }
    }

    @Test("map keys that differ as bytes but are one Swift key (canonically equivalent strs, an int and its number as a str) throw instead of one being left out")
    func collidingKeys() throws {
        func str(_ text: String) -> [UInt8] { [0xa0 | UInt8(text.utf8.count)] + Array(text.utf8) }
        func collides<T: Decodable>(_: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> [String]? {
            do {
                _ = try MessagePackDecoder().decode(T.self, from: bytes[...])
            } catch let DecodingError.dataCorrupted(context) where context.debugDescription.contains("one key") {
                return context.codingPath.map(\.stringValue)
            } catch {
                Issue.record("\(error)", sourceLocation: sourceLocation)
            }
            return nil
        }
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        let canonical = [0x82] + str(nfc) + [0x01] + str(nfd) + [0x02]  // {"café": 1, "café": 2}
        let intAndString: [UInt8] = [0x82, 0x01, 0xa1, 0x61, 0xa1, 0x31, 0xa1, 0x62]  // {1: "a", "1": "b"}
        let stringAndInt: [UInt8] = [0x82, 0xa1, 0x31, 0xa1, 0x62, 0x01, 0xa1, 0x61]  // {"1": "b", 1: "a"}
        let twoNumbers = [0x82] + str("05") + str("a") + str("5") + str("b")  // {"05": "a", "5": "b"}
        let manyThenCanonical = [0xde, 0x00, 0x14] + (0..<18).flatMap { str("k\($0)") + [0x00] } + str(nfd) + [0x01] + str(nfc) + [0x02]
        #expect(collides([String: Int].self, canonical) == [])
        #expect(collides(ViaCodable<[String: Int]>.self, canonical) == [])
        #expect(collides(PlainValue.self, canonical) == [])
        #expect(collides([String: Int].self, manyThenCanonical) == [])
        #expect(collides(ViaCodable<[String: Int]>.self, manyThenCanonical) == [])
        #expect(collides([String: String].self, intAndString) == [])
        #expect(collides([String: String].self, stringAndInt) == [])
        #expect(collides(ViaCodable<[String: String]>.self, intAndString) == [])
        #expect(collides(PlainValue.self, intAndString) == [])
        #expect(collides([PlainValue].self, [0x92, 0xc0] + intAndString) == ["Index 1"])
        #expect(collides([Int: String].self, stringAndInt) == [])
        #expect(collides(ViaCodable<[Int: String]>.self, stringAndInt) == [])
        #expect(collides([Int: String].self, twoNumbers) == [])
        #expect(collides([String: [String: Int]].self, [0x81] + str("m") + canonical) == ["m"])
        // Dictionary fields of a struct, and of a record (whose own reader hands such a map to Codable).
        #expect(collides(Nested.self, [0x84] + str("tags") + [0x90] + str("parent") + [0xc0] + str("scores") + canonical + str("raw") + [0xc4, 0x00]) == ["scores"])
        var records: [CountsRecord] = []
        #expect(throws: DecodingError.self) {
            try MessagePackDecoder().decode(list: CountsRecord.self, from: ([0x91, 0x81] + str("counts") + canonical)[...], appendingTo: &records)
        }
        // The message says what the keys are.
        do {
            _ = try MessagePackDecoder().decode([String: Int].self, from: canonical[...])
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("63 61 66 c3 a9") && context.debugDescription.contains("63 61 66 65 cc 81"), "\(context.debugDescription)")
        }
        // A key written twice byte for byte is one key, as before: its first entry is read. So are two forms of one int.
        #expect(try MessagePackDecoder().decode([String: Int].self, from: ([0x82] + str(nfd) + [0x01] + str(nfd) + [0x02])[...]) == [nfd: 1])
        #expect(try MessagePackDecoder().decode(ViaCodable<[String: Int]>.self, from: ([0x82] + str(nfd) + [0x01] + str(nfd) + [0x02])[...]).value == [nfd: 1])
        #expect(try MessagePackDecoder().decode([Int: Int].self, from: [0x82, 0x05, 0x01, 0xcc, 0x05, 0x02][...]) == [5: 1])
        #expect(try MessagePackDecoder().decode([Int: Int].self, from: ([0x82] + str("5") + [0x01] + str("5") + [0x02])[...]) == [5: 1])
        // Keys that are different Swift keys are all kept.
        #expect(try MessagePackDecoder().decode([String: Int].self, from: ([0x82] + str("05") + [0x01, 0x05, 0x02])[...]) == ["05": 1, "5": 2])
        // A list store refuses the list (a DecodingError is damage to it).
        let memory = MemoryStore()
        try memory.append("b", [0x09, 0, 0, 0, 0, 0, 0, 0, 0x91] + intAndString)
        expectPartdError(.corruptData) { try ListStore<MemoryStore, PlainValue>(over: memory).get("b") }
    }
}

extension MessagePackMapKeyTests {
    /// A key type of `Int` raw values, which a dictionary's `Codable` conformance keys by their int values.
    enum Slot: Int, Codable, CodingKeyRepresentable { case five = 5, six = 6 }

    @Test("map keys of one int value (\"5\" and \"05\", 5 and \"05\") throw, naming both, where a dictionary's Codable conformance reads them by int value")
    func collidingIntValues() throws {
        func str(_ text: String) -> [UInt8] { [0xa0 | UInt8(text.utf8.count)] + Array(text.utf8) }
        func message<T: Decodable>(_: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> String? {
            do {
                let value = try MessagePackDecoder().decode(T.self, from: bytes[...])
                Issue.record("read \(value)", sourceLocation: sourceLocation)
            } catch let DecodingError.dataCorrupted(context) {
                return context.debugDescription
            } catch {
                Issue.record("\(error)", sourceLocation: sourceLocation)
            }
            return nil
        }
        let twoNumbers = [0x82] + str("05") + str("a") + str("5") + str("b")  // {"05": "a", "5": "b"}
        let intAndPadded = [0x82, 0x05] + str("a") + str("05") + str("b")  // {5: "a", "05": "b"}
        // 20 keys (found by hashing rather than comparing): ints 10-27, then "+5" and "5".
        let many = [0xde, 0x00, 0x14] + (0..<18).flatMap { [UInt8(10 + $0)] + str("v") } + str("+5") + str("x") + str("5") + str("y")
        // An Int dictionary read through its own Codable conformance kept one of the two values.
        let both = message(ViaCodable<[Int: String]>.self, twoNumbers)
        #expect(both?.contains("one key") == true && both?.contains("\"05\"") == true && both?.contains("\"5\"") == true, "\(both ?? "")")
        let intAndStr = message(ViaCodable<[Int: String]>.self, intAndPadded)
        #expect(intAndStr?.contains("the int 5") == true && intAndStr?.contains("\"05\"") == true, "\(intAndStr ?? "")")
        let hashed = message(ViaCodable<[Int: String]>.self, many)
        #expect(hashed?.contains("\"+5\"") == true && hashed?.contains("\"5\"") == true, "\(hashed ?? "")")
        // So does a dictionary keyed by an enum of Int raw values (Codable reads it; the decoder does not).
        #expect(message([Slot: String].self, twoNumbers)?.contains("one key") == true)
        #expect(try MessagePackDecoder().decode([Slot: String].self, from: ([0x82] + str("5") + str("a") + [0x06] + str("b"))[...]) == [.five: "a", .six: "b"])
        // Keys of different int values are all kept; a key written again byte for byte is one key.
        #expect(try MessagePackDecoder().decode(ViaCodable<[Int: String]>.self, from: ([0x82] + str("5") + str("a") + [0x06] + str("b"))[...]).value == [5: "a", 6: "b"])
        #expect(try MessagePackDecoder().decode(ViaCodable<[Int: String]>.self, from: ([0x82] + str("05") + str("a") + str("05") + str("b"))[...]).value == [5: "a"])
        // String dictionaries the decoder reads itself keep "5", "05" and 5 apart, as Python does; so does PlainValue.
        #expect(try MessagePackDecoder().decode([String: String].self, from: twoNumbers[...]) == ["05": "a", "5": "b"])
        #expect(try MessagePackDecoder().decode([String: String].self, from: intAndPadded[...]) == ["5": "a", "05": "b"])
        #expect(try MessagePackDecoder().decode(PlainValue.self, from: intAndPadded[...]) == .map(["5": .string("a"), "05": .string("b")]))
        guard case .map(let entries) = try MessagePackDecoder().decode(PlainValue.self, from: many[...]) else {
            Issue.record("not a map")
            return
        }
        #expect(entries.count == 20)
        // What the decoder cannot tell apart: a String dictionary read through its own Codable conformance has the
        // key type an Int one has (both read keys by their string and int values), so it throws too.
        #expect(message(ViaCodable<[String: String]>.self, twoNumbers)?.contains("one key") == true)
    }
}

/// A record with a dictionary field.
struct CountsRecord: MessagePackRecord, Equatable {
    var counts: [String: Int]
    init(counts: [String: Int]) { self.counts = counts }
    static let messagePackFields = ["counts"]
    func pack(into writer: inout MessagePackWriter) { writer.pack(counts) }
    init(unpacking reader: inout MessagePackReader) throws { counts = try reader.unpack() }
}

// MARK: Data, Float range, errors of records read through Codable

struct Blob: Codable, Hashable, Sendable {
    var name: String
    var data: Data
}

/// `Blob` with its own MessagePack members (a `Data` field).
struct PackedBlob: MessagePackRecord, Hashable, Sendable {
    var name: String
    var data: Data

    init(name: String, data: Data) { (self.name, self.data) = (name, data) }
    static let messagePackFields = ["name", "data"]
    func pack(into writer: inout MessagePackWriter) {
        writer.pack(name)
        writer.pack(data)
    }
    init(unpacking reader: inout MessagePackReader) throws {
        name = try reader.unpack()
        data = try reader.unpack()
    }
}

@Suite("MessagePack Data, Float and errors")
struct MessagePackValueFormTests {
    @Test("Data is a bin both ways, in values, fields and records; the array of byte values Data's Codable form writes still reads",
          arguments: [MessagePackEncoder.StructEncoding.map, .array])
    func data(structs: MessagePackEncoder.StructEncoding) throws {
        let encoder = MessagePackEncoder(structEncoding: structs)
        #expect(try encoder.encode(Data([1, 2, 0xff])) == [0xc4, 0x03, 0x01, 0x02, 0xff])
        #expect(try encoder.encode(Data()) == [0xc4, 0x00])
        #expect(try encoder.encode([Data([7])]) == [0x91, 0xc4, 0x01, 0x07])
        let blobs = [Blob(name: "a", data: Data([0, 1, 2])), Blob(name: "big", data: Data((0..<70_000).map { UInt8($0 & 0xff) }))]
        let bytes = try encoder.encode(blobs)
        #expect(try MessagePackDecoder().decode([Blob].self, from: bytes[...]) == blobs)
        if structs == .map {
            let plain = try MessagePackDecoder().decode([[String: PlainValue]].self, from: bytes[...])
            #expect(plain.first?["data"] == .bytes([0, 1, 2]))
        }
        // Records write the same bytes and read either form.
        let packed = blobs.map { PackedBlob(name: $0.name, data: $0.data) }
        var listBytes: [UInt8] = []
        try encoder.encode(list: packed, into: &listBytes)
        var plainBytes: [UInt8] = []
        try encoder.encode(list: blobs, into: &plainBytes)
        #expect(listBytes == plainBytes)
        var back: [PackedBlob] = []
        try MessagePackDecoder().decode(list: PackedBlob.self, from: listBytes[...], appendingTo: &back)
        #expect(back == packed)
        // The old form: an array of the byte values.
        struct OldBlob: Encodable { var name: String; var data: [Int] }
        var old: [UInt8] = []
        try encoder.encode(list: [OldBlob(name: "o", data: [1, 2, 250])], into: &old)
        var fromOld: [PackedBlob] = []
        try MessagePackDecoder().decode(list: PackedBlob.self, from: old[...], appendingTo: &fromOld)
        #expect(fromOld == [PackedBlob(name: "o", data: Data([1, 2, 250]))])
        #expect(try MessagePackDecoder().decode(Data.self, from: [0x92, 0x01, 0xcc, 0xfa][...]) == Data([1, 250]))
    }

    @Test("Python's partd reads Data as bytes, and we read its bytes as Data")
    func dataWithPython() throws {
        try #require(pythonHas("partd") && pythonHas("msgpack"), "Python's partd and msgpack are needed; run scripts/test.sh")
        let path = scratchPath("data-python")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = ListStore<DirectoryStore, Blob>(over: try DirectoryStore(path: path), framing: .partd)
        try store.append(["ours": [Blob(name: "a", data: Data("hi".utf8))]])
        let script = """
            import sys, partd
            p = partd.Python(partd.File(sys.argv[1]))
            print(p.get('ours'))
            p.append({'theirs': [{'name': 'b', 'data': b'\\x00\\xff'}]})
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[{'name': 'a', 'data': b'hi'}]")
        #expect(try store.get("theirs") == [Blob(name: "b", data: Data([0, 0xff]))])
    }

    @Test("a finite number beyond Float's range is not a Float, in every path that reads one")
    func floatRange() throws {
        let big: [UInt8] = [0xcb, 0x47, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]  // Double.greatestFiniteMagnitude
        let infinity: [UInt8] = [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]
        let fits: [UInt8] = [0xcb, 0x47, 0xef, 0xff, 0xff, 0xe0, 0, 0, 0]  // Float.greatestFiniteMagnitude
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(Float.self, from: big[...]) }
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode([Float].self, from: ([0x91] + big)[...]) }
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(ViaCodable<[Float]>.self, from: ([0x91] + big)[...]) }
        struct F: Codable, Equatable { var f: Float }
        #expect(throws: DecodingError.self) { try MessagePackDecoder().decode(F.self, from: ([0x81, 0xa1, 0x66] + big)[...]) }
        #expect(try MessagePackDecoder().decode(Float.self, from: infinity[...]) == .infinity)
        #expect(try MessagePackDecoder().decode(Float.self, from: fits[...]) == .greatestFiniteMagnitude)
        #expect(try MessagePackDecoder().decode(Float.self, from: [0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][...]) == Float(Int64.max))
        #expect(try MessagePackDecoder().decode([Float].self, from: ([0x92] + fits + infinity)[...]) == [.greatestFiniteMagnitude, .infinity])
    }

    @Test("a record read through Codable reports offsets from the list's start and its index in the coding path")
    func fallbackErrors() throws {
        var bytes: [UInt8] = []
        try MessagePackEncoder().encode(list: [Rec(id: 1, x: 0, name: "a"), Rec(id: 2, x: 0, name: "b")], into: &bytes)
        var reordered: [UInt8] = []
        // A third record in another key order (read through Codable) whose id is a str.
        try MessagePackEncoder().encode(list: [["name": "c", "id": "?", "x": "0"]], into: &reordered)
        let list = [0x93] + bytes.dropFirst() + reordered.dropFirst()
        var out: [PackedRec] = []
        do {
            try MessagePackDecoder().decode(list: PackedRec.self, from: list[...], appendingTo: &out)
            Issue.record("decoded")
        } catch let DecodingError.typeMismatch(_, context) {
            #expect(context.codingPath.map(\.stringValue) == ["Index 2", "id"])
        }
        // A third record in another key order whose name is not UTF-8: found by the Codable path, at an offset
        // that counts from the list's first byte.
        var second: [UInt8] = []
        try MessagePackEncoder().encode(list: [RecReordered(name: "c", id: 3, x: 0)], into: &second)
        var damaged = [0x93] + bytes.dropFirst() + second.dropFirst()
        let string = bytes.count + 1 + 5  // the third record's header, then the key "name"
        #expect(damaged[string] == 0xa1)
        damaged[string + 1] = 0xff
        do {
            try MessagePackDecoder().decode(list: PackedRec.self, from: damaged[...], appendingTo: &out)
            Issue.record("decoded")
        } catch let error as MessagePackError {
            #expect(error.offset == string)
        }
    }
}
