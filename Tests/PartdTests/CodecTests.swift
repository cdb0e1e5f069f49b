// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Foundation
import Partd
import PartdCompression
import PartdTestSupport
import Testing

extension Compression: CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case .blosc(let s): return "blosc(\(s.compressor), shuffle \(s.shuffle), typesize \(s.typeSize))"
        default: return "\(codec)"
        }
    }
}

let allCompressions: [Compression] = [
    .none, .zlib(), .bz2(), .snappy, .zstd(), .lz4, .blosc(),
    .blosc(BloscSettings(compressor: .zstd, level: 9, shuffle: .bit, typeSize: 4)),
    .blosc(BloscSettings(compressor: .blosclz, level: 1, shuffle: .none, typeSize: 1)),
    .blosc(BloscSettings(compressor: .zlib)), .blosc(BloscSettings(compressor: .lz4hc)),
    .blosc(BloscSettings(compressor: .snappy)),
]

func sampleInputs() -> [(name: String, bytes: [UInt8])] {
    var rng = SplitMix64(seed: 3)
    let random = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let compressible = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 / 1000) }
    let doubles = (0..<50_000).flatMap { i -> [UInt8] in
        withUnsafeBytes(of: (Double(i) * 0.5).bitPattern.littleEndian) { Array($0) }
    }
    return [
        ("empty", []), ("one byte", [42]), ("random 100 kB", random), ("compressible 1 MB", compressible),
        ("zeros 4 MB", [UInt8](repeating: 0, count: 4 << 20)), ("float64 ramp", doubles),
    ]
}

@Suite("Compression codecs")
struct CodecTests {
    @Test("round trips of empty, tiny, random, compressible and large inputs", arguments: allCompressions)
    func roundTrip(compression: Compression) throws {
        for (name, input) in sampleInputs() {
            let packed = try compression.compress(input)
            let back = try Compression.decompress(packed, codec: compression.codec, originalSize: input.count)
            #expect(back == input, "\(name)")
            if name == "zeros 4 MB" && compression != .none { #expect(packed.count < input.count / 10, "\(name)") }
        }
    }

    @Test("a wrong recorded size, truncation or garbage throws corruptData", arguments: allCompressions)
    func corruptInput(compression: Compression) throws {
        let input = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7 / 3) }
        let packed = try compression.compress(input)
        for size in [input.count - 1, input.count + 1, 0] {
            #expect(throws: PartdError.self) {
                try Compression.decompress(packed, codec: compression.codec, originalSize: size)
            }
        }
        #expect(throws: PartdError.self) {
            try Compression.decompress(Array(packed.prefix(packed.count / 2)), codec: compression.codec, originalSize: input.count)
        }
        do {
            _ = try Compression.decompress([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
                codec: compression.codec, originalSize: 1000)
            Issue.record("garbage decoded")
        } catch let error as PartdError {
            #expect(error.code == .corruptData)
        }
        // A hostile size is refused before anything is allocated.
        #expect(throws: PartdError.self) {
            try Compression.decompress(packed, codec: compression.codec, originalSize: 1 << 40)
        }
    }

    @Test("an input longer than any codec writes for one chunk throws corruptData", arguments: allCompressions)
    func oversizedInput(compression: Compression) throws {
        // 2 GiB + 1 bytes: LZ4's C API takes the length as an Int32 (it trapped converting it). The array is
        // never written here, so its pages stay untouched (the kernel's zero pages) and cost no memory.
        let count = (1 << 31) + 1
        let huge = [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        do {
            _ = try Compression.decompress(huge[...], codec: compression.codec, originalSize: 1000)
            Issue.record("a 2 GiB input decoded to 1000 bytes")
        } catch let error as PartdError {
            #expect(error.code == .corruptData)
        }
    }

    @Test("every single-byte flip of a small compressed value decodes or throws", arguments: allCompressions)
    func byteFlips(compression: Compression) throws {
        let input = Array("the quick brown fox jumps over the lazy dog, again and again and again".utf8)
        let packed = try compression.compress(input)
        for index in packed.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = packed
                damaged[index] ^= flip
                if let out = try? Compression.decompress(damaged, codec: compression.codec, originalSize: input.count) {
                    #expect(out.count == input.count)
                }
            }
        }
    }

    @Test("data decodes only with the codec that wrote it")
    func wrongCodec() throws {
        let input = Array(repeating: Array("abcdefgh".utf8), count: 1000).flatMap { $0 }
        let packed = try Compression.zstd().compress(input)
        for codec in [Codec.zlib, .bz2, .snappy, .lz4, .blosc] {
            if let out = try? Compression.decompress(packed, codec: codec, originalSize: input.count) {
                Issue.record("\(codec) decoded zstd data to \(out.count) bytes")
            }
        }
        #expect(throws: PartdError.self) {
            try Compression.decompress(packed, codec: Codec(rawValue: 99), originalSize: input.count)
        }
    }

    @Test("codecs are safe to use from many threads at once", arguments: allCompressions)
    func concurrentUse(compression: Compression) throws {
        let inputs = (0..<16).map { i in (0..<(10_000 + i * 997)).map { UInt8(truncatingIfNeeded: $0 * (i + 1) / 5) } }
        let failures = Synchronization.Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let input = inputs[i % inputs.count]
            do {
                let packed = try compression.compress(input)
                let back = try Compression.decompress(packed, codec: compression.codec, originalSize: input.count)
                if back != input { failures.withLock { $0 += 1 } }
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }

    @Test("a codec's output does not depend on what it compressed or decompressed before, nor on a failure in between")
    func noStateCarriedOver() throws {
        // zstd keeps its contexts for reuse: a context must come back as a fresh one would be, after a larger
        // input at another level, and after a damaged input. The larger input is small enough (200 KB) that its
        // level-9 context (about 4 MB) is kept, not freed; the smaller one large enough (20 KB) that the level
        // changes the context's parameters.
        let small = (0..<20_000).map { UInt8(truncatingIfNeeded: ($0 * 31) % 251 / 3) }
        let large = (0..<200_000).map { UInt8(truncatingIfNeeded: ($0 * 7) / 1000) }
        for compression in [Compression.zstd(level: 1), .zstd(), .zstd(level: 7), .zstd(level: 12), .zstd(level: 19),
                            .zstd(level: -5), .snappy, .lz4, .blosc()] {
            let first = try compression.compress(small)
            let other: Compression = compression.codec == .zstd ? .zstd(level: 9) : compression
            let packedLarge = try other.compress(large)
            #expect(try Compression.decompress(packedLarge, codec: other.codec, originalSize: large.count) == large)
            var damaged = first
            damaged[damaged.count / 2] ^= 0xFF
            damaged.removeLast(damaged.count / 3)
            _ = try? Compression.decompress(damaged, codec: compression.codec, originalSize: small.count)
            let again = try compression.compress(small)
            #expect(again == first, "\(compression)")
            if case .zstd(let level) = compression {
                // Against a context made for the call alone (the one-shot `ZSTD_compress`), too.
                #expect(again == Compression.zstdCompressedByAFreshContext(small, level: level), "\(compression)")
                #expect(try other.compress(large) == Compression.zstdCompressedByAFreshContext(large, level: 9))
            }
            #expect(try Compression.decompress(first, codec: compression.codec, originalSize: small.count) == small)
        }
    }

    @Test("invalid settings throw compressionFailed")
    func invalidSettings() {
        // A zstd level outside Int32 trapped converting it for the C call.
        for compression in [Compression.zlib(level: 12), .bz2(level: 0), .blosc(BloscSettings(level: 10)),
            .blosc(BloscSettings(typeSize: 0)), .zstd(level: 1 << 40), .zstd(level: -(1 << 40))]
        {
            do {
                _ = try compression.compress([1, 2, 3])
                Issue.record("\(compression) accepted")
            } catch let error as PartdError {
                #expect(error.code == .compressionFailed)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}

import Synchronization

@Suite("Codec interoperability with Python", .serialized)
struct CodecInteropTests {
    @Test("snappy, blosc, zlib and bz2 data made here decode in Python, and the reverse")
    func pythonCodecs() throws {
        let check = try run("/usr/bin/env", ["python3", "-c", "import snappy, blosc, zlib, bz2"])
        try #require(check.status == 0, "python-snappy and python-blosc are needed; run scripts/test.sh, which installs them")
        let dir = scratchPath("codec-interop")
        try PartdPath.create(dir)
        defer { removeTree(dir) }
        let input = (0..<200_000).flatMap { i -> [UInt8] in
            withUnsafeBytes(of: (Double(i % 977) * 0.25).bitPattern.littleEndian, Array.init)
        }
        writeFile(dir + "/input", input)
        let ours: [(String, Compression)] = [
            ("zlib", .zlib()), ("bz2", .bz2()), ("snappy", .snappy),
            ("blosc", .blosc(BloscSettings(compressor: .lz4, level: 5, shuffle: .byte, typeSize: 8))),
        ]
        for (name, compression) in ours { writeFile(dir + "/swift.\(name)", try compression.compress(input)) }
        let script = """
            import sys, zlib, bz2, snappy, blosc
            d = sys.argv[1]
            data = open(d + '/input', 'rb').read()
            decoders = {'zlib': zlib.decompress, 'bz2': bz2.decompress, 'snappy': snappy.decompress, 'blosc': blosc.decompress}
            for name, decode in decoders.items():
                assert decode(open(d + '/swift.' + name, 'rb').read()) == data, name
            encoders = {'zlib': zlib.compress, 'bz2': bz2.compress, 'snappy': snappy.compress,
                        'blosc': lambda b: blosc.compress(b, typesize=8, cname='zstd', shuffle=blosc.BITSHUFFLE)}
            for name, encode in encoders.items():
                open(d + '/py.' + name, 'wb').write(encode(data))
            print('python ok')
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, dir])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("python ok"))
        for (name, codec) in [("zlib", Codec.zlib), ("bz2", .bz2), ("snappy", .snappy), ("blosc", .blosc)] {
            let theirs = try #require(readFile(dir + "/py.\(name)"))
            #expect(try Compression.decompress(theirs, codec: codec, originalSize: input.count) == input, "\(name)")
        }
    }
}

@Suite("Large values")
struct LargeValueTests {
    @Test("a 100 MB value round-trips through a compressed store with every codec", arguments: [
        Compression.none, .zlib(level: 1), .bz2(level: 1), .snappy, .zstd(level: 1), .lz4, .blosc(),
    ])
    func hundredMegabytes(compression: Compression) throws {
        var rng = SplitMix64(seed: 100)
        var value = [UInt8](repeating: 0, count: 100_000_000)
        // Mostly compressible (a ramp of Float64), with a random stretch every 4 MB.
        for i in stride(from: 0, to: value.count - 8, by: 8) {
            withUnsafeBytes(of: (Double(i / 8 % 4096) * 0.5).bitPattern.littleEndian) { value.replaceSubrange(i..<(i + 8), with: $0) }
        }
        for block in stride(from: 0, to: value.count, by: 4_000_000) {
            for i in block..<min(value.count, block + 100_000) { value[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        let memory = MemoryStore()
        let store = CompressedStore(compression, over: memory)
        try store.append(["big": value])
        #expect(try store.byteCount(of: "big") == value.count)
        #expect(try store.get("big") == value)
        if compression != .none { #expect(try memory.byteCount(of: "big") < value.count / 2) }
    }
}

@Suite("Values over 2 GiB")
struct HugeValueTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["PARTD_HUGE_TESTS"] == "1" }

    @Test(
        "a 2.2 GB value round-trips through Blosc and LZ4 frames (set PARTD_HUGE_TESTS=1; needs about 8 GB of memory)",
        .enabled(if: HugeValueTests.enabled), arguments: [Compression.blosc(), .lz4])
    func overTwoGigabytes(compression: Compression) throws {
        let size = 2_200_000_000
        var value = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 4096) { value[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let memory = MemoryStore()
        let store = CompressedStore(compression, over: memory)
        try store.append(["huge": value])
        #expect(try store.byteCount(of: "huge") == size)
        let back = try store.get("huge")
        #expect(back.count == size)
        #expect(back == value)
    }
}

@Suite("Streaming gzip")
struct GzipInflaterTests {
    /// `gzip.compress(b"hello\n", mtime=0)` and `gzip.compress(b"partd," * 50, mtime=0)` from Python.
    static let hello: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00,
        0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00,
    ]
    static let partd: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x2b, 0x48, 0x2c, 0x2a, 0x49, 0xd1, 0x29, 0x18,
        0x25, 0x89, 0x20, 0x01, 0xf5, 0x40, 0xbf, 0xbd, 0x2c, 0x01, 0x00, 0x00,
    ]
    static let expected = Array("hello\n".utf8) + Array(String(repeating: "partd,", count: 50).utf8)

    @Test("concatenated members inflate whole, fed at once or a byte at a time")
    func members() throws {
        for pieceSize in [1, 3, 1000] {
            let input = Self.hello + Self.partd
            let inflater = try GzipInflater()
            var output: [UInt8] = []
            for start in stride(from: 0, to: input.count, by: pieceSize) {
                try inflater.inflate(Array(input[start..<min(input.count, start + pieceSize)]), into: &output)
            }
            try inflater.finish()
            #expect(output == Self.expected, "pieces of \(pieceSize)")
        }
        // Nothing at all is an empty stream.
        try GzipInflater().finish()
    }

    @Test("a truncated member, damaged bytes and bytes that are not gzip are corruptData errors")
    func damage() throws {
        for cut in [5, 12, Self.partd.count - 1] {
            let inflater = try GzipInflater()
            var output: [UInt8] = []
            try inflater.inflate(Self.hello + Self.partd.prefix(cut), into: &output)
            let error = #expect(throws: PartdError.self) { try inflater.finish() }
            #expect(error?.code == .corruptData && error?.message.contains("truncated") == true)
        }
        var damaged = Self.hello
        damaged[damaged.count - 6] ^= 0xFF  // the checksum
        var output: [UInt8] = []
        #expect(throws: PartdError.self) { try GzipInflater().inflate(damaged, into: &output) }
        let error = #expect(throws: PartdError.self) { try GzipInflater().inflate(Array("id,x\n1,2\n".utf8), into: &output) }
        #expect(error?.code == .corruptData)
    }
}
