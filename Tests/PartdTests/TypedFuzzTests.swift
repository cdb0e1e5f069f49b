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
