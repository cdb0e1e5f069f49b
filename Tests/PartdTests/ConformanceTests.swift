// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Partd
import PartdTestSupport
import Testing

/// The behaviours partd's test_dict, test_file, test_partd and test_buffer
/// assert of every store, run against every store kind.
@Suite("Store conformance")
struct ConformanceTests {
    @Test("appends concatenate per key; list get keeps request order", arguments: StoreKind.allCases)
    func appendConcatenates(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["x": bytes("Hello"), "y": bytes("123")])
        try store.append(["x": bytes("World!"), "y": bytes("456")])
        #expect(try store.get("x") == bytes("HelloWorld!"))
        #expect(try store.get(["y", "x"]) == [bytes("123456"), bytes("HelloWorld!")])
        #expect(try store.get(["x", "y", "x"]) == [bytes("HelloWorld!"), bytes("123456"), bytes("HelloWorld!")])
    }

    @Test("withBytes sees what get returns", arguments: StoreKind.allCases)
    func withBytes(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["x": bytes("Hello"), "big": [UInt8](repeating: 7, count: 100_000)])
        try store.append(["x": bytes(", world")])
        #expect(try store.withBytes(of: "x") { Array($0) } == bytes("Hello, world"))
        #expect(try store.withBytes(of: "missing") { $0.count } == 0)
        #expect(try store.withBytes(of: "big") { $0.count } == 100_000)
        // The buffer is reused: a smaller key read after a larger one is exact.
        #expect(try store.withBytes(of: "x") { Array($0) } == bytes("Hello, world"))
    }

    @Test("a missing key reads as empty bytes", arguments: StoreKind.allCases)
    func missingKeyIsEmpty(kind: StoreKind) throws {
        let store = try kind.make()
        #expect(try store.get("z") == [])
        try store.append(["x": bytes("1")])
        #expect(try store.get(["z", "x", "w"]) == [[], bytes("1"), []])
        #expect(try store.contains("z") == false)
        #expect(try store.byteCount(of: "z") == 0)
    }

    @Test("tuple and integer keys round-trip", arguments: StoreKind.allCases)
    func compositeKeys(kind: StoreKind) throws {
        let store = try kind.make()
        let keys: [PartdKey] = [.tuple("a", "b"), 1, .tuple("z", "a", 3), .tuple("a", .tuple("b", "c")), "a", -7, .tuple()]
        for (i, key) in keys.enumerated() { try store.append(key, bytes("v\(i)")) }
        for (i, key) in keys.enumerated() { try store.append(key, bytes("w\(i)")) }
        for (i, key) in keys.enumerated() { #expect(try store.get(key) == bytes("v\(i)w\(i)")) }
        #expect(try store.keys() == keys.sorted())
    }

    @Test("setOnce keeps the first value and replaces earlier appends", arguments: StoreKind.allCases)
    func setOnceIsIdempotent(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["x": bytes("appended")])
        #expect(try store.setOnce("x", bytes("Hello")) == true)
        #expect(try store.setOnce("x", bytes("Hello")) == false)
        #expect(try store.setOnce("x", bytes("Other")) == false)
        #expect(try store.get("x") == bytes("Hello"))
        try store.append(["x": bytes("!")])
        #expect(try store.get("x") == bytes("Hello!"))
        // Deleting a key forgets that it was set, unlike partd.
        try store.delete("x")
        #expect(try store.setOnce("x", bytes("again")) == true)
        #expect(try store.get("x") == bytes("again"))
    }

    @Test("deleting missing keys is fine", arguments: StoreKind.allCases)
    func deleteMissing(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["x": bytes("Hello")])
        try store.delete(["x", "y"])
        #expect(try store.get(["x", "y"]) == [[], []])
        #expect(try store.keys() == [])
        try store.delete("never")
    }

    @Test("nested get returns values in the shape of the request", arguments: StoreKind.allCases)
    func nestedGet(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["x": bytes("1"), "y": bytes("2"), "z": bytes("3")])
        let tree: KeyTree = ["x", ["y", "z"]]
        #expect(try store.get(nested: tree) == .list([.value(bytes("1")), .list([.value(bytes("2")), .value(bytes("3"))])]))
        #expect(try store.get(nested: "y") == .value(bytes("2")))
        #expect(try store.get(nested: [[], ["q"]]) == .list([.list([]), .list([.value([])])]))
    }

    @Test("drop empties appended and set keys and the store stays usable", arguments: StoreKind.allCases)
    func dropKeepsStoreUsable(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["x": bytes("Hello"), "y": bytes("abc")])
        try store.setOnce("z", bytes("set"))
        try store.drop()
        #expect(try store.get(["x", "y", "z"]) == [[], [], []])
        #expect(try store.keys() == [])
        try store.append(["x": bytes("new")])
        #expect(try store.setOnce("z", bytes("newer")) == true)
        #expect(try store.get(["x", "z"]) == [bytes("new"), bytes("newer")])
    }

    @Test("keys, contains and byteCount describe the store", arguments: StoreKind.allCases)
    func listing(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append(["b": bytes("12345"), "a": bytes("1"), 3: bytes("xy")])
        try store.append(["b": bytes("678")])
        try store.append(["empty": []])
        #expect(try store.keys() == [3, "a", "b", "empty"])
        #expect(try store.contains("b"))
        #expect(try store.contains("empty"))
        #expect(try store.contains(3))
        #expect(try !store.contains("3"))
        #expect(try store.byteCount(of: "b") == 8)
        #expect(try store.byteCount(of: "empty") == 0)
        #expect(try store.totalByteCount() == 11)
    }

    @Test("a batch may name a key twice; entries land in batch order", arguments: StoreKind.allCases)
    func repeatedKeyInBatch(kind: StoreKind) throws {
        let store = try kind.make()
        try store.append([(key: PartdKey("k"), value: bytes("ab")), (key: PartdKey("j"), value: bytes("-")), (key: PartdKey("k"), value: bytes("cd"))])
        #expect(try store.get("k") == bytes("abcd"))
    }

    @Test("a reused key value and equal keys made anew name the same key", arguments: StoreKind.allCases)
    func reusedAndRebuiltKeys(kind: StoreKind) throws {
        let store = try kind.make()
        // Stores may find a key by the identity of its shared storage first; a key built again
        // from the same string, integer or tuple must still land on the same key.
        let kept: [PartdKey] = ["a", 7, .tuple("t", 1)]
        let rebuilt: () -> [PartdKey] = { [PartdKey("a"), PartdKey(7), .tuple(PartdKey("t"), PartdKey(1))] }
        for round in 0..<40 {
            let keys = round % 3 == 0 ? rebuilt() : kept
            try store.append(keys.map { (key: $0, value: bytes("\(round),")) })
        }
        let expected = bytes((0..<40).map { "\($0)," }.joined())
        for key in rebuilt() { #expect(try store.get(key) == expected, "\(key)") }
        #expect(try store.keys().count == 3)
    }

    @Test("chunked appends of many small chunks land joined, in order, after earlier bytes", arguments: StoreKind.allCases)
    func manySmallChunks(kind: StoreKind) throws {
        let store = try kind.make()
        var rng = SplitMix64(seed: 11)
        // Sizes 0...300: empty chunks among them, and several thousand chunks per key
        // (the directory store joins small chunks in a scratch buffer before one write).
        let chunks = (0..<3_000).map { i in (0..<(i * 37 % 301)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        try store.append(["k": bytes("head:")])
        try store.append(chunked: [(key: "k", chunks: chunks), (key: "j", chunks: Array(chunks.prefix(20)))])
        try store.append(chunked: [(key: "k", chunks: Array(chunks.suffix(100)))])
        #expect(try store.get("k") == bytes("head:") + chunks.joined() + chunks.suffix(100).joined())
        #expect(try store.get("j") == Array(chunks.prefix(20).joined()))
    }

    @Test("awkward keys are distinct and never escape the store", arguments: StoreKind.allCases)
    func awkwardKeys(kind: StoreKind) throws {
        let store = try kind.make()
        let keys: [PartdKey] = [
            "a!", "a?", "a", "..", ".", "/", "../x", "/etc/passwd", ".lock", "", "a/b", "a\u{0}b", "é", "%s", "%i1",
            "1", 1, .tuple("1"), "a b", "(x)", ",",
        ]
        for (i, key) in keys.enumerated() { try store.append(key, bytes("value \(i)")) }
        for (i, key) in keys.enumerated() { #expect(try store.get(key) == bytes("value \(i)"), "\(key)") }
        #expect(try store.keys() == keys.sorted())
        try store.delete(["a!"])
        #expect(try store.get("a?") == bytes("value 1"))
    }

    @Test("keys that differ only in Unicode normalisation are distinct keys", arguments: StoreKind.allCases)
    func unicodeNormalisation(kind: StoreKind) throws {
        let store = try kind.make()
        // "é" as one scalar (NFC) and as "e" plus a combining acute accent (NFD): Swift's String ==
        // calls them equal, but they are different scalars, different UTF-8 bytes and different file
        // names, and distinct keys in Python's partd.
        let composed = PartdKey("\u{E9}")
        let decomposed = PartdKey("e\u{301}")
        #expect(composed != decomposed)
        try store.append([(key: composed, value: bytes("one")), (key: decomposed, value: bytes("two"))])
        try store.append(decomposed, bytes("2"))
        #expect(try store.get(composed) == bytes("one"))
        #expect(try store.get(decomposed) == bytes("two2"))
        #expect(try store.keys().count == 2)
        try store.delete([decomposed])
        #expect(try store.get(composed) == bytes("one"))
        #expect(try store.keys().count == 1)
    }

    @Test("binary and large values round-trip", arguments: StoreKind.allCases)
    func binaryAndLarge(kind: StoreKind) throws {
        let store = try kind.make()
        let all = (0..<256).map { UInt8($0) }
        var rng = SplitMix64(seed: 7)
        let large = (0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try store.append(["bin": all, "large": large])
        try store.append(["large": all])
        #expect(try store.get("bin") == all)
        #expect(try store.get("large") == large + all)
    }

    @Test("concurrent appends from many threads all land, whole and unmixed", arguments: StoreKind.allCases)
    func concurrentAppends(kind: StoreKind) throws {
        let store = try kind.make()
        let writers = 6
        let batchesPerWriter = 150
        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            for batch in workerBatches(writer: writer, count: batchesPerWriter, maxLength: 300) {
                try! store.append(batch)
            }
        }
        try verifyWorkerRecords(in: store, writers: writers, batches: batchesPerWriter, maxLength: 300)
    }
}

/// Checks that every record `workerBatches` produced for the given writers is
/// present exactly once, under the right key, whole, and in batch order per writer.
func verifyWorkerRecords(in store: any ByteStore, writers: Int, batches: Int, maxLength: Int) throws {
    var expected: [PartdKey: [Record]] = [:]
    for writer in 0..<writers {
        for batch in workerBatches(writer: writer, count: batches, maxLength: maxLength) {
            for entry in batch { let r = try Record.parseAll(entry.value)[0]
                expected[entry.key, default: []].append(Record(writer: r.writer, batch: r.batch, keyIndex: r.keyIndex, length: 0)) }
        }
    }
    for (key, want) in expected {
        let records = try Record.parseAll(try store.get(key))
        #expect(records.count == want.count, "key \(key)")
        let got = Set(records.map { Record(writer: $0.writer, batch: $0.batch, keyIndex: $0.keyIndex, length: 0) })
        #expect(got.count == records.count, "duplicate records under \(key)")
        #expect(got == Set(want), "key \(key)")
        for record in records { #expect(workerKey(record.keyIndex) == key) }
        // Per writer, a key's records appear in the order the writer appended them.
        var lastBatch: [Int: Int] = [:]
        for record in records {
            if let last = lastBatch[record.writer] { #expect(record.batch >= last) }
            lastBatch[record.writer] = record.batch
        }
    }
}
