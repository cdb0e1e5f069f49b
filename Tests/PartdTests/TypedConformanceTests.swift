// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Partd
import PartdTyped
import Testing

/// The typed encoders over every store and wrapper stack of the conformance suite
/// (memory, directory, spilling, compressed, encoded).
@Suite("Typed store conformance")
struct TypedConformanceTests {
    @Test("arrays: appends concatenate, missing keys are empty, delete and drop work", arguments: StoreKind.allCases)
    func arrays(kind: StoreKind) throws {
        let store = ArrayStore(over: AnyByteStore(try kind.make()))
        try store.append(["a": try NDArray<Double>([1, 2, 3, 4], shape: [2, 2]), "b": NDArray<Double>([9])])
        try store.append(["s": StringArray(["x", "yz"])])
        try store.append(["a": try NDArray<Double>([5, 6], shape: [1, 2])])
        try store.append(["s": StringArray(["", "w"])])
        let a = try store.get("a", as: NDArray<Double>.self)
        #expect(a.shape == [3, 2] && a.elements == [1, 2, 3, 4, 5, 6])
        #expect(Array(try store.get("s", as: StringArray.self)) == ["x", "yz", "", "w"])
        #expect(try store.get(["b", "missing"], as: NDArray<Double>.self) == [[9], []])
        #expect(try store.keys() == ["a", "b", "s"])
        try store.delete(["b"])
        #expect(try store.get("b", as: NDArray<Double>.self) == [])
        try store.drop()
        #expect(try store.keys() == [])
        try store.append("a", NDArray<Int8>([1]))
        #expect(try store.get("a", as: NDArray<Int8>.self) == [1])
    }

    @Test("tables: appends concatenate, selection, missing keys, delete and drop", arguments: StoreKind.allCases)
    func tables(kind: StoreKind) throws {
        let store = TableStore(over: AnyByteStore(try kind.make()))
        let t = try sampleTable(rows: 50)
        try store.append(["p": t, "q": t.slice(0..<3)])
        try store.append(["p": t.slice(10..<20)])
        #expect(try store.get("p") == (try Table.concatenate([t, t.slice(10..<20)])))
        #expect(try store.get(["q", "none"]).map { $0.rowCount } == [3, 0])
        #expect(try store.get("p", columns: ["x"]).columns.map { $0.name } == ["x"])
        try store.delete("q")
        #expect(try store.get("q").rowCount == 0)
        try store.drop()
        #expect(try store.keys() == [])
    }

    @Test("Codable lists: appends concatenate, missing keys, setOnce, delete and drop", arguments: StoreKind.allCases)
    func lists(kind: StoreKind) throws {
        let store = ListStore<AnyByteStore, Rec>(over: AnyByteStore(try kind.make()))
        let recs = (0..<100).map { Rec(id: $0, x: Double($0) / 4, name: "n\($0 % 7)") }
        try store.append(["a": Array(recs[0..<60]), "b": []])
        try store.append(["a": Array(recs[60...])])
        #expect(try store.get("a") == recs)
        #expect(try store.get(["b", "missing"]) == [[], []])
        #expect(try store.setOnce("s", [recs[0]]) == true)
        #expect(try store.setOnce("s", [recs[1]]) == false)
        #expect(try store.get("s") == [recs[0]])
        try store.delete("a")
        #expect(try store.get("a") == [])
        try store.drop()
        #expect(try store.keys() == [])
    }

    @Test("MessagePackRecord lists: appends concatenate, and read back as plain Codable lists", arguments: StoreKind.allCases)
    func recordLists(kind: StoreKind) throws {
        let inner = AnyByteStore(try kind.make())
        let store = ListStore<AnyByteStore, PackedRec>(over: inner)
        let recs = (0..<100).map { PackedRec(id: $0, x: Double($0) / 4, name: "n\($0 % 7)") }
        try store.append(["a": Array(recs[0..<60]), "b": []])
        try store.append(["a": Array(recs[60...])])
        #expect(try store.get("a") == recs)
        #expect(try store.get(["b", "missing"]) == [[], []])
        #expect(try ListStore<AnyByteStore, Rec>(over: inner).get("a").map(\.id) == Array(0..<100))
        // Records with optional, array and nested-record fields.
        let routes = ListStore<AnyByteStore, Route>(over: inner)
        let values = (0..<50).map { Route(id: $0, note: $0 % 3 == 0 ? nil : "r\($0)", stops: Array(recs[..<($0 % 5)])) }
        try routes.append(["r": Array(values[..<20])])
        try routes.append(["r": Array(values[20...])])
        #expect(try routes.get("r") == values)
        try store.drop()
        #expect(try store.keys() == [])
    }

    @Test("typed appends from many threads all land", arguments: StoreKind.allCases)
    func concurrent(kind: StoreKind) throws {
        let store = ArrayStore(over: AnyByteStore(try kind.make()))
        DispatchQueue.concurrentPerform(iterations: 4) { writer in
            for i in 0..<50 {
                try! store.append([PartdKey("k\(i % 5)"): NDArray<Int64>([Int64(writer), Int64(i)])])
            }
        }
        var pairs: [[Int64]] = []
        for k in 0..<5 {
            let values = try store.get(PartdKey("k\(k)"), as: NDArray<Int64>.self).elements
            pairs += stride(from: 0, to: values.count, by: 2).map { [values[$0], values[$0 + 1]] }
        }
        #expect(pairs.count == 200)
        #expect(Set(pairs).count == 200)
    }
}

/// A record with an optional field and an array of nested records, written by hand.
struct Route: MessagePackRecord, Sendable, Hashable {
    var id: Int
    var note: String?
    var stops: [PackedRec]

    init(id: Int, note: String?, stops: [PackedRec]) {
        (self.id, self.note, self.stops) = (id, note, stops)
    }

    static let messagePackFields = ["id", "note", "stops"]

    func pack(into writer: inout MessagePackWriter) {
        writer.pack(id)
        writer.pack(note)
        writer.pack(stops)
    }

    init(unpacking reader: inout MessagePackReader) throws {
        id = try reader.unpack()
        note = try reader.unpack()
        stops = try reader.unpack()
    }
}
