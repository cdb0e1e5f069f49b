// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import PartdTestSupport
@testable import PartdTyped
import Testing

/// Random byte flips and every truncation of each typed format: decoding either
/// succeeds or throws a typed error; it never crashes, hangs or over-allocates.
/// The frame checksum catches damage before the parsers see it, so the parsers
/// are also fed damaged payloads directly.
@Suite("Typed formats under damage")
struct TypedFuzzTests {
    /// One payload per typed format.
    static func payloads() throws -> [(name: String, payload: [UInt8])] {
        [
            ("npy", try NDArray<Int32>([1, 2, 3, 4, 5, 6], shape: [3, 2]).framePayload()),
            ("npy-bool", NDArray<Bool>([true, false, true]).framePayload()),
            ("strings", StringArray(["a", "", "héllo"]).framePayload()),
            ("table", TableFrames.payload(try sampleTable(rows: 9))),
            ("table-wide", TableFrames.payload(try sampleTable(rows: 9), wideStringOffsets: true)),
        ]
    }

    /// Decodes a payload with the parser of its format; returns whether it decoded.
    static func decode(_ name: String, _ payload: [UInt8]) throws {
        let frames = [(offset: 0, bytes: payload[...])]
        switch name {
        case "npy": _ = try NDArray<Int32>.decode(frames: frames, key: "k")
        case "npy-bool": _ = try NDArray<Bool>.decode(frames: frames, key: "k")
        case "strings": _ = try StringArray.decode(frames: frames, key: "k")
        default: _ = try TableFrames.decode(frames: frames, selection: nil, key: "k")
        }
    }

    @Test("every truncation of every payload decodes or throws")
    func truncations() throws {
        for (name, payload) in try Self.payloads() {
            for length in 0..<payload.count {
                #expect(throws: (any Error).self, "\(name) cut to \(length)") { try Self.decode(name, Array(payload[0..<length])) }
            }
            try Self.decode(name, payload)
        }
    }

    @Test("random byte flips of every payload decode or throw", arguments: 0..<4)
    func flips(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 99)
        for (name, payload) in try Self.payloads() {
            for _ in 0..<2000 {
                var damaged = payload
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    try Self.decode(name, damaged)
                } catch is PartdError {
                }
            }
        }
    }

    /// Decodes two payloads as the frames of one key with the parser of their format.
    static func decodeTwo(_ name: String, _ first: [UInt8], _ second: [UInt8]) throws {
        let frames = [(offset: 0, bytes: first[...]), (offset: first.count, bytes: second[...])]
        switch name {
        case "npy": _ = try NDArray<Int32>.decode(frames: frames, key: "k")
        case "npy-bool": _ = try NDArray<Bool>.decode(frames: frames, key: "k")
        case "strings": _ = try StringArray.decode(frames: frames, key: "k")
        default: _ = try TableFrames.decode(frames: frames, selection: nil, key: "k")
        }
    }

    @Test("random byte flips in either of two frames of one key decode or throw", arguments: 0..<2)
    func twoFrameFlips(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 7)
        // A second table of other categories, so the frames' dictionaries are unified.
        let otherTable = TableFrames.payload(try sampleTable(rows: 6, seed: 2, categories: ["blue", "cyan"]))
        for (name, payload) in try Self.payloads() {
            let second = name == "table" ? otherTable : payload
            try Self.decodeTwo(name, payload, second)
            for _ in 0..<2000 {
                var frames = [payload, second]
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let which = Int.random(in: 0...1, using: &rng)
                    frames[which][Int.random(in: 0..<frames[which].count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    try Self.decodeTwo(name, frames[0], frames[1])
                } catch is PartdError {
                }
            }
        }
    }

    @Test("length fields claiming terabytes are refused without allocating")
    func hostileLengths() throws {
        var strings = StringArray(["abc"]).framePayload()
        for i in 8..<16 { strings[i] = 0xFF }
        expectPartdError(.corruptData) { try StringArray.decode(frames: [(0, strings[...])], key: "k") }
        var table = TableFrames.payload(try Table([Column("a", [1] as [Int64])]))
        for i in 8..<16 { table[i] = 0x7F }
        expectPartdError(.corruptData) { try TableFrames.decode(frames: [(0, table[...])], selection: nil, key: "k") }
        for shape in [[99_999_999_999, 99_999_999_999], [Int.max / 4], [1 << 40]] {
            let npy = NPYHeader(dtype: .float64, shape: shape).encoded() + [UInt8](repeating: 0, count: 8)
            expectPartdError(.corruptData) { try NDArray<Double>.decode(frames: [(0, npy[...])], key: "k") }
        }
    }

    @Test("frames whose lengths add up past Int.max, or whose data length wraps, are refused")
    func overflowingLengths() throws {
        // A string-array frame of no strings whose data length is 2^64 - 1.
        var strings = Array("PDSA".utf8) + [1, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
        strings += [UInt8](repeating: 0xFF, count: 8) + [UInt8](repeating: 0, count: 8)
        expectPartdError(.corruptData) { try StringArray.decode(frames: [(0, strings[...])], key: "k") }
        // Arrays whose rows hold no elements may have any first axis; two of Int.max rows do not add up.
        let empty = NPYHeader(dtype: .float64, shape: [Int.max, 0]).encoded()
        #expect(try NDArray<Double>.decode(frames: [(0, empty[...])], key: "k").shape == [Int.max, 0])
        expectPartdError(.corruptData) { try NDArray<Double>.decode(frames: [(0, empty[...]), (empty.count, empty[...])], key: "k") }
        // A table frame without columns claims a row count alone, at most 2^32 - 1.
        var columnless = Array("PDTB".utf8) + [1, 0, 0, 0] + [UInt8](repeating: 0, count: 16)
        for i in 8..<12 { columnless[i] = 0xFF }
        #expect(try TableFrames.decode(frames: [(0, columnless[...])], selection: nil, key: "k")?.rowCount == Int(UInt32.max))
        columnless[12] = 1
        expectPartdError(.corruptData) { try TableFrames.decode(frames: [(0, columnless[...])], selection: nil, key: "k") }
    }

    @Test("categorical columns from other writers: all-null rows without categories, repeated categories")
    func foreignCategoricals() throws {
        let store = TableStore(over: MemoryStore())
        try store.append("k", try Table([Column("c", categorical: ["a"])]))
        // §6.3 leaves a null row's code unspecified: here 0, with no categories at all.
        let allNull = try Table([Column("c", categorical: CategoricalArray(unchecked: [0], categories: []), validity: BitArray([false]))])
        try store.append("k", allNull)
        var read = try store.get("k")
        #expect(read.rowCount == 2)
        #expect(read.columns[0].validity == BitArray([true, false]))
        #expect(read.columns[0].categorical?[0] == "a")
        // Alone, the null rows read as one empty category.
        let alone = TableStore(over: MemoryStore())
        try alone.append("k", allNull)
        #expect(try alone.get("k").columns[0].categorical?.categories == StringArray([""]))
        // Repeated categories, in the first frame and a later one, are merged: equal values share a code.
        let repeats = TableStore(over: MemoryStore())
        let first = CategoricalArray(unchecked: [0, 1, 2], categories: StringArray(["x", "y", "x"]))
        let later = CategoricalArray(unchecked: [1, 0], categories: StringArray(["y", "y"]))
        try repeats.append("k", try Table([Column("c", categorical: first)]))
        try repeats.append("k", try Table([Column("c", categorical: later)]))
        read = try repeats.get("k")
        let merged = try #require(read.columns[0].categorical)
        #expect(merged.categories == StringArray(["x", "y"]))
        #expect(merged.codes == [0, 1, 0, 1, 1])
        #expect(CategoricalArray(codes: merged.codes, categories: merged.categories) != nil)
    }

    @Test("damage to stored frames is reported with the key and byte offset")
    func storedDamage() throws {
        let memory = MemoryStore()
        let tables = TableStore(over: memory)
        try tables.append("t", try sampleTable(rows: 5))
        try tables.append("t", try sampleTable(rows: 5))
        let stored = try memory.get("t")
        var rng = SplitMix64(seed: 5)
        for _ in 0..<300 {
            var damaged = stored
            damaged[Int.random(in: 0..<damaged.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            let store = MemoryStore()
            try store.append("t", damaged)
            let error = expectPartdError(.corruptData) { try TableStore(over: store).get("t") }
            #expect(error?.key == "t")
            #expect(error?.message.contains("byte offset") == true)
        }
        for length in stride(from: 0, to: stored.count, by: 7) {
            let store = MemoryStore()
            try store.append("t", Array(stored[0..<length]))
            if length == 0 { continue }
            expectPartdError(.corruptData) { try TableStore(over: store).get("t") }
            expectPartdError(.corruptData) { try ArrayStore(over: store).get("t", as: NDArray<Int8>.self) }
        }
    }
}
