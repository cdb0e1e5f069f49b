// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdTyped

/// A list element whose fields hold dictionaries and sets: Swift iterates them in an order it seeds per
/// process, so their bytes show whether an encoder writes the same input the same way in every process.
public struct DeterminismDoc: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, CodingKeyRepresentable, Sendable { case alpha, beta, gamma, delta, epsilon }

    public var id: Int
    public var counts: [String: Int]
    public var names: [Int: String]
    public var tags: Set<String>
    public var kinds: [Kind: Double]
    public var nested: [String: [String: Int]]

    public init(_ seed: Int) {
        id = seed
        counts = Dictionary(uniqueKeysWithValues: (0..<12).map { ("key-\($0)", $0 * seed) })
        names = Dictionary(uniqueKeysWithValues: (0..<12).map { ($0 * 37 - 100, "name \($0)") })
        tags = Set((0..<12).map { "tag-\($0 + seed)" })
        kinds = [.alpha: 1, .beta: 2, .gamma: 3, .delta: 4, .epsilon: 5]
        nested = Dictionary(uniqueKeysWithValues: (0..<6).map { ("n\($0)", ["x": $0, "y": -$0, "z": seed, "w": 7]) })
    }
}

/// `DeterminismDoc`'s dictionary and set fields as a `MessagePackRecord` (conformed by hand, as the macro would).
public struct DeterminismRecord: MessagePackRecord, Hashable, Sendable {
    public var counts: [String: Int]
    public var names: [Int: String]
    public var tags: Set<String>

    public init(_ seed: Int) {
        let doc = DeterminismDoc(seed)
        counts = doc.counts
        names = doc.names
        tags = doc.tags
    }

    public static var messagePackFields: [String] { ["counts", "names", "tags"] }

    public func pack(into writer: inout MessagePackWriter) {
        writer.pack(counts)
        writer.pack(names)
        writer.pack(tags)
    }

    public init(unpacking reader: inout MessagePackReader) throws {
        counts = try reader.unpack()
        names = try reader.unpack()
        tags = try reader.unpack()
    }
}

/// The bytes every encoder writes for fixed inputs, by name: lists of `Codable` values and records holding
/// dictionaries and sets (MessagePack maps and arrays, JSON), tables with categorical columns (built from
/// strings, unified across appends, exported to Arrow), a dataset entry's metadata and JSON data.
/// is an empty directory the dataset entry is written in.
public func determinismSamples() throws -> [(name: String, bytes: [UInt8])] {
    var samples: [(name: String, bytes: [UInt8])] = []
    let memory = MemoryStore()
    let docs = (1...3).map(DeterminismDoc.init)

    try ListStore<MemoryStore, DeterminismDoc>(over: memory).append([(key: "map", value: docs)])
    try ListStore<MemoryStore, DeterminismDoc>(over: memory, encoding: .messagePack(.array)).append([(key: "array", value: docs)])
    // JSONEncoder writes a set in its iteration order, which it cannot sort: the JSON sample's sets hold one tag.
    let jsonDocs = docs.map { doc in
        var doc = doc
        doc.tags = [doc.tags.min()!]
        return doc
    }
    try ListStore<MemoryStore, DeterminismDoc>(over: memory, encoding: .json).append([(key: "json", value: jsonDocs)])
    try ListStore<MemoryStore, DeterminismRecord>(over: memory).append([(key: "record", value: (1...3).map(DeterminismRecord.init))])
    let plain = PlainValue.map(Dictionary(uniqueKeysWithValues: (0..<12).map { ("k\($0)", PlainValue.int(Int64($0))) }))
    try ListStore<MemoryStore, PlainValue>(over: memory).append([(key: "plain", value: [plain])])
    for key in ["map", "array", "json", "record", "plain"] {
        samples.append(("list-\(key)", try memory.get(PartdKey(key))))
    }

    // Categories from strings, and unified across two appends with different categories.
    let words = (0..<40).map { "w\(($0 * 7) % 13)" }
    let first = try Table([Column("id", (0..<20).map(Int64.init)), Column("word", categorical: Array(words[0..<20]))])
    let second = try Table([Column("id", (20..<40).map(Int64.init)), Column("word", categorical: Array(words[20..<40]).reversed())])
    let tables = TableStore(over: memory)
    try tables.append([(key: "t", value: first)])
    try tables.append([(key: "t", value: second)])
    samples.append(("table-appended", try memory.get("t")))
    let unified = try tables.get("t")
    try tables.append([(key: "u", value: unified)])
    samples.append(("table-unified", try memory.get("u")))
    samples.append(("arrow-file", unified.arrowFile()))
    var writer = ArrowBatchWriter(.stream, schema: first.schema)
    var stream: [UInt8] = []
    try writer.write(first, to: { stream += $0 })
    try writer.write(second, to: { stream += $0 })
    try writer.finish(to: { stream += $0 })
    samples.append(("arrow-stream-batches", stream))

    return samples
}
