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
