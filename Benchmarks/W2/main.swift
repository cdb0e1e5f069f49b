// SPDX-License-Identifier: Apache-2.0
//
// Workload W2 (issue 3): 256 keys, 400 rounds; each round appends the bytes of
// a 10,000-element Float64 array to each of 64 random keys (about 2 GB in all);
// then get every key. Reports append and get MB/s with no codec, Blosc (lz4,
// byte shuffle, typesize 8) and Snappy, each over a DirectoryStore, and the
// machine's page-cache write bandwidth (2 GB written in 4 MB chunks), measured
// in the same run. The arrays are generated before the clock starts, exactly
// as Benchmarks/python/w2_partd.py does.
//
//   partd-bench-w2 [--rounds N] [--codecs none,blosc,snappy] [--json]
//   W2_TMP=DIR puts the stores under DIR.

import BenchmarkSupport
import Partd
import PartdCompression

#if canImport(Glibc)
import Glibc
#endif

var rounds = 400
var codecs = ["none", "blosc", "snappy"]
var json = false
var args = CommandLine.arguments.dropFirst().makeIterator()
while let arg = args.next() {
    switch arg {
    case "--rounds": rounds = Int(args.next() ?? "") ?? rounds
    case "--codecs": codecs = (args.next() ?? "").split(separator: ",").map(String.init)
    case "--json": json = true
    default:
        print("usage: partd-bench-w2 [--rounds N] [--codecs none,blosc,snappy] [--json]")
        exit(2)
    }
}
let parent = getenv("W2_TMP").map { String(cString: $0) } ?? "/tmp"

// 64 arrays: element j of array p is ((j + 7919 p) mod 100003) / 1000, as in the Python script.
let pool: [[UInt8]] = (0..<64).map { p in
    (0..<10_000).flatMap { j -> [UInt8] in
        let x = Double((j + 7919 * p) % 100_003) * 0.001
        return withUnsafeBytes(of: x.bitPattern.littleEndian, Array.init)
    }
}
let keys = (0..<256).map { PartdKey("k\($0)") }
var rng = SplitMix64(state: 7)
var batches: [[(key: PartdKey, value: [UInt8])]] = []
for round in 0..<rounds {
    var chosen: [Int] = []
    var seen = Set<Int>()
    while chosen.count < 64 {
        let k = Int.random(in: 0..<256, using: &rng)
        if seen.insert(k).inserted { chosen.append(k) }
    }
    batches.append(chosen.enumerated().map { (i, k) in (key: keys[k], value: pool[(round + i) % 64]) })
}
let totalBytes = rounds * 64 * 80_000

@MainActor func report(_ store: String, _ append: Double, _ get: Double) {
    if json {
        print(#"{"impl": "swift-partd", "store": "\#(store)", "append_mb_s": \#(append), "get_mb_s": \#(get), "bytes": \#(totalBytes)}"#)
    } else {
        print("W2 \(store.padding(18)) swift-partd: append \(Int(append)) MB/s, get \(Int(get)) MB/s (\(totalBytes) bytes)")
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

@MainActor func measure(_ name: String, _ store: any ByteStore) throws {
    let t0 = now()
    for batch in batches { try store.append(batch) }
    let t1 = now()
    var read = 0
    for chunk in stride(from: 0, to: keys.count, by: 16) {
        for value in try store.get(Array(keys[chunk..<min(keys.count, chunk + 16)])) { read += value.count }
    }
    let t2 = now()
    precondition(read == totalBytes, "read \(read) of \(totalBytes) bytes")
    report(name, Double(totalBytes) / 1e6 / (t1 - t0), Double(read) / 1e6 / (t2 - t1))
}

/// Page-cache write bandwidth: 2 GB in 4 MB chunks to one new file, no fsync.
func pageCacheBandwidth() throws -> Double {
    let path = "\(parent)/w2-bandwidth-\(getpid())"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw PartdError(code: .io, message: "cannot create \(path)") }
    defer { close(fd); unlink(path) }
    let chunk = [UInt8](repeating: 0x5A, count: 4 << 20)
    let t0 = now()
    for _ in 0..<512 {
        let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == chunk.count else { throw PartdError(code: .io, message: "short write") }
    }
    return 2048.0 * 1.048576 / (now() - t0)
}

do {
    let bandwidth = try pageCacheBandwidth()
    if json {
        print(#"{"impl": "machine", "store": "page-cache write", "append_mb_s": \#(bandwidth), "get_mb_s": 0, "bytes": 2147483648}"#)
    } else {
        print("W2 page-cache write bandwidth: \(Int(bandwidth)) MB/s (2 GiB in 4 MiB chunks)")
    }
    for codec in codecs {
        let disk = try DirectoryStore.temporary(in: parent)
        switch codec {
        case "none": try measure("uncompressed", disk)
        case "blosc":
            try measure("blosc lz4 shuffle", CompressedStore(.blosc(BloscSettings(compressor: .lz4, level: 5, shuffle: .byte, typeSize: 8)), over: disk))
        case "snappy": try measure("snappy", CompressedStore(.snappy, over: disk))
        default: print("unknown codec \(codec)")
        }
        try disk.close()
    }
} catch {
    print("W2 failed: \(error)")
    exit(1)
}
