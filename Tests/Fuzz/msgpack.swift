// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the MessagePack decoder. Built and run by scripts/fuzz.sh.

import PartdTyped

struct Record: Codable {
    var id: Int
    var x: Double
    var name: String
    var tags: [String]?
}

/// The same fields read by `MessagePackRecord` members (falling back to `Codable` for other layouts).
struct PackedRecord: MessagePackRecord {
    var id: Int
    var x: Double
    var name: String
    var raw: [UInt8]

    static let messagePackFields = ["id", "x", "name", "raw"]

    func pack(into writer: inout MessagePackWriter) {
        writer.pack(id)
        writer.pack(x)
        writer.pack(name)
        writer.pack(raw)
    }

    init(unpacking reader: inout MessagePackReader) throws {
        id = try reader.unpack()
        x = try reader.unpack()
        name = try reader.unpack()
        raw = try reader.unpack()
    }
}

/// Record fields of every kind: an enum, optionals, arrays, sets, dictionaries, records nested in records and in
/// themselves.
enum Kind: UInt8, Codable, MessagePackField { case a, b }

struct Leaf: MessagePackRecord {
    var kind: Kind
    var values: [Int16?]
    var tags: Set<String>
    var counts: [String: Int]
    var names: [Int: [Bool]?]

    static let messagePackFields = ["kind", "values", "tags", "counts", "names"]

    func pack(into writer: inout MessagePackWriter) {
        writer.pack(kind)
        writer.pack(values)
        writer.pack(tags)
        writer.pack(counts)
        writer.pack(names)
    }

    init(unpacking reader: inout MessagePackReader) throws {
        kind = try reader.unpack()
        values = try reader.unpack()
        tags = try reader.unpack()
        counts = try reader.unpack()
        names = try reader.unpack()
    }
}

struct Tree: MessagePackRecord {
    var id: Int
    var note: String?
    var leaf: Leaf?
    var children: [Tree]

    static let messagePackFields = ["id", "note", "leaf", "children"]

    func pack(into writer: inout MessagePackWriter) {
        writer.pack(id)
        writer.pack(note)
        writer.pack(leaf)
        writer.pack(children)
    }

    init(unpacking reader: inout MessagePackReader) throws {
        id = try reader.unpack()
        note = try reader.unpack()
        leaf = try reader.unpack()
        children = try reader.unpack()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? MessagePackDecoder().decode(PlainValue.self, from: bytes[...])
    _ = try? MessagePackDecoder().decode([Record].self, from: bytes[...])
    _ = try? MessagePackDecoder().decode([String: [Int: [String?]]].self, from: bytes[...])
    var records: [PackedRecord] = []
    try? MessagePackDecoder().decode(list: PackedRecord.self, from: bytes[...], appendingTo: &records)
    var trees: [Tree] = []
    try? MessagePackDecoder().decode(list: Tree.self, from: bytes[...], appendingTo: &trees)
    return 0
}
