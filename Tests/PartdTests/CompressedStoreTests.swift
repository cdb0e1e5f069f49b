// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import PartdTestSupport
import Testing

@Suite("CompressedStore")
struct CompressedStoreTests {
    @Test("partd test_encode / test_compressed: append, get, missing key, setOnce", arguments: allCompressions)
    func partdEncodeBehaviour(compression: Compression) throws {
        let store = CompressedStore(compression, over: try DirectoryStore.temporary())
        try store.append(["x": bytes("Hello"), "y": bytes("abc")])
        try store.append(["x": bytes("World!"), "y": bytes("def")])
        #expect(try store.get(["x", "y", "z"]) == [bytes("HelloWorld!"), bytes("abcdef"), []])
        #expect(try store.setOnce("s", bytes("one")) == true)
        #expect(try store.setOnce("s", bytes("two")) == false)
        #expect(try store.setOnce("s", bytes("three")) == false)
        #expect(try store.get("s") == bytes("one"))
        // One file per key, as partd's ZLib(File) writes.
        #expect(readFile(try store.inner.filePath(for: "x")) != nil)
        #expect(try store.byteCount(of: "x") == 11)
    }

    @Test("a key can hold frames of several codecs and reads back without being told which")
    func mixedCodecs() throws {
        let disk = try DirectoryStore.temporary()
        let values = (0..<allCompressions.count).map { i in (0..<(1000 + i)).map { UInt8(truncatingIfNeeded: $0 % (i + 2)) } }
        for (compression, value) in zip(allCompressions, values) {
            try CompressedStore(compression, over: disk).append(["k": value])
        }
        let reader = CompressedStore(.none, over: disk)
        #expect(try reader.get("k") == values.flatMap { $0 })
        let codecs = Set(try FrameFormat.describe(try disk.get("k"), key: "k").map(\.codec))
        #expect(codecs == Set(Codec.all))
    }

    @Test("large values become several frames; incompressible chunks are stored as they are")
    func chunkingAndFallback() throws {
        let memory = MemoryStore()
        let store = CompressedStore(.zstd(), over: memory, chunkSize: 10_000)
        var rng = SplitMix64(seed: 9)
        let random = (0..<25_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try store.append(["r": random])
        let frames = try FrameFormat.describe(try memory.get("r"), key: "r")
        #expect(frames.map(\.original) == [10_000, 10_000, 5_000])
        #expect(frames.allSatisfy { $0.codec == .none })
        #expect(try store.get("r") == random)
        let zeros = [UInt8](repeating: 0, count: 100_000)
        try store.append(["z": zeros])
        #expect(try FrameFormat.describe(try memory.get("z"), key: "z").allSatisfy { $0.codec == .zstd })
        #expect(try memory.byteCount(of: "z") < 2_000)
        #expect(try store.get("z") == zeros)
    }

    @Test("chunked appends: small neighbouring chunks share a frame, large ones keep their own")
    func smallChunksShareFrames() throws {
        let memory = MemoryStore()
        let store = CompressedStore(.lz4, over: memory)
        let header = [UInt8](repeating: 1, count: 24)
        let small = [UInt8](repeating: 2, count: 1_000)
        let large = [UInt8](repeating: 3, count: 100_000)
        // A header and a small payload: one frame, as for a value appended whole.
        try store.append(chunked: [(key: "s", chunks: [header, [], small])])
        #expect(try FrameFormat.describe(try memory.get("s"), key: "s").map(\.original) == [1_024])
        // A header before a large payload stays a frame of its own (the payload is not copied to join it);
        // small chunks after it join again.
        try store.append(chunked: [(key: "l", chunks: [header, large, small, header])])
        #expect(try FrameFormat.describe(try memory.get("l"), key: "l").map(\.original) == [24, 100_000, 1_024])
        #expect(try store.get("l") == header + large + small + header)
        try store.append(chunked: [(key: "e", chunks: [[], []])])
        #expect(try store.get("e") == [])
    }

    @Test("every byte flip and every truncation decodes correctly or throws corruptData naming the key",
        arguments: [Compression.zlib(), .snappy, .blosc(), .lz4, .zstd(), .bz2(), .none])
    func corruption(compression: Compression) throws {
        let memory = MemoryStore()
        let store = CompressedStore(compression, over: memory)
        let value = Array("the quick brown fox jumps over the lazy dog; the quick brown fox again".utf8)
        try store.append(["k": value])
        try store.append(["k": Array(value.reversed())])
        let good = try memory.get("k")
        let expected = value + value.reversed()
        func check(_ damaged: [UInt8]) {
            let probe = MemoryStore()
            try! probe.append(["k": damaged])
            do {
                let out = try CompressedStore(compression, over: probe).get("k")
                #expect(out == expected || out.count <= expected.count)
            } catch let error as PartdError {
                #expect(error.code == .corruptData)
                #expect(error.key == "k")
                #expect(error.message.contains("byte offset"))
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        for index in good.indices {
            var damaged = good
            damaged[index] ^= 0x5A
            check(damaged)
        }
        for length in 0..<good.count {
            check(Array(good.prefix(length)))
        }
    }

    @Test("with checksums every single byte flip is detected")
    func checksumsDetectFlips() throws {
        let memory = MemoryStore()
        let store = CompressedStore(.lz4, over: memory)
        try store.append(["k": Array(repeating: Array("abcdefgh".utf8), count: 200).flatMap { $0 }])
        let good = try memory.get("k")
        for index in good.indices {
            var damaged = good
            damaged[index] ^= 0x01
            #expect(throws: PartdError.self) { try FrameFormat.decodeAll(damaged, key: "k") }
        }
    }

    @Test("a frame claiming a huge size or payload is refused without allocating it")
    func hostileLengths() throws {
        var header = [UInt8](repeating: 0, count: FrameFormat.headerSize)
        header[0..<4] = FrameFormat.magic[...]
        header[4] = 1
        header[5] = Codec.zstd.rawValue
        for i in 8..<16 { header[i] = 0xFF }  // original length: 2^64 - 1
        #expect(throws: PartdError.self) { try FrameFormat.decodeAll(header + [1, 2, 3], key: "h") }
        var second = header
        for i in 8..<16 { second[i] = 0 }
        second[8] = 10
        for i in 16..<24 { second[i] = 0xFF }  // stored length far beyond the input
        do {
            _ = try FrameFormat.decodeAll(second + [1, 2, 3], key: "h")
            Issue.record("accepted")
        } catch let error as PartdError {
            #expect(error.message.contains("truncated"))
        }
        // A payload that is present but far larger than its original length could ever compress to
        // (an LZ4 or bzip2 decoder given more than 2 or 4 GiB would trap on its length).
        var bloated = second
        for i in 16..<24 { bloated[i] = 0 }
        bloated[17] = 0x20  // stored length 8,192 for 10 original bytes
        do {
            _ = try FrameFormat.decodeAll(bloated + [UInt8](repeating: 0, count: 8_192), key: "h")
            Issue.record("accepted")
        } catch let error as PartdError {
            #expect(error.code == .corruptData)
            #expect(error.message.contains("more than any codec writes"))
        }
        var newer = second
        newer[4] = 2
        do {
            _ = try FrameFormat.decodeAll(newer, key: "h")
            Issue.record("accepted")
        } catch let error as PartdError {
            #expect(error.message.contains("version 2"))
        }
    }

    @Test("wrapping order: compression over a spilling store over a directory, reopened by path")
    func composition() throws {
        let path = scratchPath("compressed")
        defer { removeTree(path) }
        do {
            let spilling = SpillingStore(spillingTo: try DirectoryStore(path: path), availableMemory: .kilobytes(8))
            let store = CompressedStore(.blosc(BloscSettings(compressor: .zstd, typeSize: 4)), over: spilling)
            for i in 0..<200 {
                try store.append([PartdKey(i % 7): (0..<400).map { UInt8(truncatingIfNeeded: $0 + i) }])
            }
            try spilling.flush()
        }
        let reopened = CompressedStore(.none, over: try DirectoryStore(path: path))
        #expect(try reopened.keys() == (0..<7).map { PartdKey($0) })
        for k in 0..<7 {
            let expected = stride(from: k, to: 200, by: 7).flatMap { i in (0..<400).map { UInt8(truncatingIfNeeded: $0 + i) } }
            #expect(try reopened.get(PartdKey(k)) == expected)
        }
    }
}

@Suite("EncodedStore")
struct EncodedStoreTests {
    static func intLists<S: ByteStore>(over inner: S) -> EncodedStore<S, [Int]> {
        EncodedStore(
            over: inner,
            encode: { ints in ints.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) } },
            decode: { bytes in
                guard bytes.count % 8 == 0 else { throw PartdError(code: .corruptData, message: "not a multiple of 8") }
                return stride(from: 0, to: bytes.count, by: 8).map { i in
                    Int(Int64(littleEndian: bytes[i..<(i + 8)].reversed().reduce(0) { $0 << 8 | Int64($1) }))
                }
            },
            join: { $0.flatMap { $0 } })
    }

    @Test("typed values: appends join in order; missing keys give join([]); setOnce is idempotent")
    func typedValues() throws {
        let store = Self.intLists(over: try DirectoryStore.temporary())
        try store.append("a", [1, 2, 3])
        try store.append(["a": [4], "b": [-5]])
        #expect(try store.get("a") == [1, 2, 3, 4])
        #expect(try store.get(["b", "missing"]) == [[-5], []])
        #expect(try store.setOnce("s", [7]) == true)
        #expect(try store.setOnce("s", [8]) == false)
        #expect(try store.get("s") == [7])
        try store.delete("a")
        #expect(try store.keys() == ["b", "s"])
    }

    @Test("damaged frames and decoder failures throw corruptData naming the key and offset")
    func damage() throws {
        let memory = MemoryStore()
        let store = Self.intLists(over: memory)
        try store.append("k", [1, 2])
        try store.append("k", [3])
        var bytes = try memory.get("k")
        bytes[bytes.count - 1] ^= 1
        try memory.delete("k")
        try memory.append("k", bytes)
        do {
            _ = try store.get("k")
            Issue.record("accepted damaged data")
        } catch let error as PartdError {
            #expect(error.code == .corruptData)
            #expect(error.key == "k")
            #expect(error.message.contains("byte offset 40"))
        }
        let raw = EncodedStore<MemoryStore, [UInt8]>(over: MemoryStore(), encode: { $0 }, decode: { $0 }, join: { $0.flatMap { $0 } })
        try raw.append("odd", [1, 2, 3])
        let lists = Self.intLists(over: raw.inner)
        #expect(throws: PartdError.self) { try lists.get("odd") }
    }
}
