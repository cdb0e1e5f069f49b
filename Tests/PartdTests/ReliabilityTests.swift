// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The records `partd-test-worker killappend` writes: (length u32, sequence u64, filler), back to back.
func killAppendRecords(_ bytes: [UInt8]) -> [Int]? {
    var numbers: [Int] = []
    var offset = 0
    while offset < bytes.count {
        guard bytes.count - offset >= 12 else { return nil }
        let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        guard length >= 12, offset + length <= bytes.count else { return nil }
        let n = (0..<8).reduce(0) { $0 | Int(bytes[offset + 4 + $1]) << (8 * $1) }
        let filler = UInt8(truncatingIfNeeded: n)
        guard bytes[offset + 12] == filler, bytes[offset + length - 1] == filler else { return nil }
        numbers.append(n)
        offset += length
    }
    return numbers
}

@Suite("Reliability", .serialized)
struct ReliabilityTests {
    let worker = productsDirectory + "/partd-test-worker"

    @Test("a writer SIGKILLed at random moments, 50 times: every append it reported is there, verify finds at most one torn frame per key, repair cleans up")
    func killTest() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        var rng = SystemRandomNumberGenerator()
        var repairedKeys = 0
        var total = 0
        for round in 0..<50 {
            // A fresh store per round keeps the data each check reads small.
            let path = scratchPath("kill-\(round)")
            defer { removeTree(path) }
            var reported = Set<Int>()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: worker)
            process.arguments = ["killappend", path, String(round * 1_000_000)]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            // Kill at a random moment after the writer got going (its first reported append), so a slow
            // start (under a sanitizer, say) does not leave every round without appends.
            var head = Data()
            while !head.contains(UInt8(ascii: "\n")) {
                let byte = out.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty { break }
                head.append(byte)
            }
            usleep(UInt32.random(in: 0...50_000, using: &rng))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let text = String(decoding: head + out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("done ") { reported.insert(Int(line.dropFirst(5))!) }

            let store = try DirectoryStore(path: path)
            let damage = try StoreIntegrity.verify(store)
            #expect(Set(damage.map(\.key)).count == damage.count)  // at most one torn frame per key
            repairedKeys += try StoreIntegrity.repair(store).count
            #expect(try StoreIntegrity.verify(store).isEmpty)
            var present: [Int] = []
            for key in try store.keys() {
                let records = try #require(killAppendRecords(try CompressedStore(.none, over: store).get(key)), "key \(key) holds a partial record")
                present += records
            }
            #expect(Set(present).count == present.count, "round \(round): a record appears twice")
            #expect(reported.isSubset(of: Set(present)), "round \(round): a reported append is missing")
            try store.close()
            total += reported.count
        }
        #expect(total > 50)
        print("kill test: \(total) appends reported done, \(repairedKeys) torn keys repaired over 50 rounds")
    }

    @Test("a file-size limit (the full-disk path): typed error, the partial write cut off, earlier data intact, works again once lifted")
    func fileSizeLimit() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("fsize")
        defer { removeTree(path) }
        let result = try run(worker, ["fault", "fsize", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("error: file too large"))
        #expect(result.output.contains("big holds 40000 bytes"))  // the failed append left nothing behind
        #expect(result.output.contains("recovered: big holds 80000 bytes"))
        #expect(result.output.contains("before intact: true"))
    }

    @Test("a failed append is not cut back when another writer appended after its partial write: that writer's bytes stay")
    func fileSizeLimitOtherWriter() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("fsize-other")
        defer { removeTree(path) }
        let result = try run(worker, ["fault", "fsize-other-writer", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("error: file too large"))
        #expect(result.output.contains("bytes of this append were left in the file"), "\(result.output)")
        // 40,000 bytes, the failed append's 25,536 up to the 64 KiB limit, then the other writer's 1,000.
        #expect(result.output.contains("big holds 66536 bytes; the other writer's bytes intact: true"), "\(result.output)")
    }

    @Test("a file-size limit on chunked writes and spills: each partial write cut off, so no byte is kept twice")
    func fileSizeLimitChunked() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("fsize-chunked")
        defer { removeTree(path) }
        let result = try run(worker, ["fault", "fsize-chunked", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("error: file too large"))
        // 10,000 bytes of "before", then one whole 40,000-byte append each; the second did not fit.
        #expect(result.output.contains("vectored holds 40000 bytes"))
        #expect(result.output.contains("gathered holds 40000 bytes"))
        #expect(result.output.contains("spill: spill failed"))
        #expect(result.output.contains("spilled reads 80000 bytes, as appended: true"))
        #expect(result.output.contains("recovered: spilled holds 80000 bytes on disk"))
        #expect(result.output.contains("before intact: true"))
    }

    @Test("out of file descriptors: the open store evicts and carries on (appends, and reads of many keys), a new one gets tooManyOpenFiles, and works once freed")
    func tooManyOpenFiles() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("nofile")
        defer { removeTree(path); removeTree(path + "-second"); removeTree(path + "-temporaries") }
        let result = try run(worker, ["fault", "nofile", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("error: too many open files"))
        // A temporary store that could not be opened removed the directory it had made.
        #expect(result.output.contains("temporary: too many open files"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: path + "-temporaries") == [])
        #expect(result.output.contains("read 40 keys while out of descriptors, as written: true"))
        #expect(result.output.contains("recovered: new-key holds [1, 2, 3]"))
        #expect(result.output.contains("before intact: true"))
    }

    @Test("the directory removed underneath: typed errors naming the path; the same store works once it is made again")
    func directoryRemoved() throws {
        let path = scratchPath("removed")
        let store = try DirectoryStore(path: path)
        try store.append(["k": [1, 2, 3]])
        removeTree(path)
        // New keys, keys whose descriptor is cached (the write would go to an unreachable file), reads and
        // listings: each says the directory is gone, naming it.
        let error = expectPartdError(.notFound) { try store.append(["other": [4]]) }
        #expect(error?.path?.hasPrefix(path) == true)
        expectPartdError(.notFound) { try store.append(["k": [4]]) }
        expectPartdError(.notFound) { try store.get("k") }
        expectPartdError(.notFound) { try store.keys() }
        // Once the directory exists again, the same store works on it.
        mkdir(path, 0o755)
        defer { removeTree(path) }
        try store.append(["k": [5]])
        #expect(try store.get("k") == [5])
        #expect(try store.keys() == ["k"])
        // A second store on the path sees the same files.
        #expect(try DirectoryStore(path: path).get("k") == [5])
    }

    @Test("a directory the process may not write: a typed permissionDenied error, reads still work (not as root, which ignores modes)",
          .enabled(if: getuid() != 0))
    func permissionDenied() throws {
        let path = scratchPath("readonly")
        defer { chmod(path, 0o755); removeTree(path) }
        let store = try DirectoryStore(path: path)
        try store.append(["k": [1, 2, 3]])
        try store.close()
        chmod(path, 0o555)
        let readOnly = try DirectoryStore(path: path)
        expectPartdError(.permissionDenied) { try readOnly.append(["new": [1]]) }
        #expect(try readOnly.get("k") == [1, 2, 3])
    }

    @Test("permission denied as root: a child drops to user nobody; typed error naming the key, reads work, recovers once writable",
          .enabled(if: getuid() == 0))
    func permissionDeniedDroppingRoot() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("perm")
        defer { chmod(path, 0o755); removeTree(path) }
        let result = try run(worker, ["fault", "perm", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("error: permission denied"))
        #expect(result.output.contains("key \"new\"") && result.output.contains("EACCES"))
        #expect(result.output.contains("check the permissions"))
        #expect(result.output.contains("reads as nobody: 10000 bytes"))
        #expect(result.output.contains("recovered: new holds [1, 2]"))
        #expect(result.output.contains("before intact: true"))
    }

    @Test("verify finds a torn tail and a flipped byte with their offsets; repair removes the damaged frames and keeps the rest")
    func repairTornTail() throws {
        let path = scratchPath("torn")
        defer { removeTree(path) }
        let directory = try DirectoryStore(path: path)
        let store = CompressedStore(.zstd(), over: directory)
        for i in 0..<3 { try store.append([(key: "a", value: [UInt8](repeating: UInt8(i), count: 1000)), (key: "b", value: [UInt8(i)])]) }
        let good = try directory.get("a")
        // A torn append: half a frame at the end of a.
        try directory.append([(key: "a", value: Array(good.prefix(20)))])
        // A flipped byte in b's second frame.
        var b = try directory.get("b")
        let frames = try FrameFormat.describe(b, key: "b")
        let second = FrameFormat.headerSize + frames[0].stored
        b[second + FrameFormat.headerSize] ^= 0xFF
        try directory.delete(["b"])
        try directory.append([(key: "b", value: b)])

        let damage = try StoreIntegrity.verify(directory).sorted { $0.key < $1.key }
        #expect(damage.map(\.key) == ["a", "b"])
        #expect(damage[0].validBytes == good.count && damage[0].detail.contains("cut off"))
        #expect(damage[1].validBytes == second && damage[1].detail.contains("checksum"))
        let repaired = try StoreIntegrity.repair(directory)
        #expect(repaired.count == 2)
        #expect(try StoreIntegrity.verify(directory).isEmpty)
        #expect(try store.get("a") == (0..<3).flatMap { [UInt8](repeating: UInt8($0), count: 1000) })
        #expect(try store.get("b") == [0, 2])  // b keeps every frame but the damaged one
    }

    @Test("repair keeps the frames after a damaged one, restores a damaged magic, and keeps appends made after a crash")
    func repairSalvages() throws {
        let path = scratchPath("salvage")
        defer { removeTree(path) }
        let directory = try DirectoryStore(path: path)
        let store = CompressedStore(.zstd(), over: directory)
        let values = EncodedStore<DirectoryStore, [UInt8]>(over: directory, encode: { $0 }, decode: { $0 }, join: { $0.flatMap { $0 } })
        func rewriteFile(_ key: PartdKey, _ change: (inout [UInt8]) -> Void) throws {
            var bytes = try directory.get(key)
            change(&bytes)
            try directory.delete([key])
            try directory.append([(key: key, value: bytes)])
        }
        for i in 0..<3 {
            try store.append([(key: "magic", value: [UInt8](repeating: UInt8(i), count: 500)), (key: "tail", value: [UInt8(i)])])
            try values.append([(key: "length", value: [UInt8](repeating: UInt8(i), count: 100))])
        }
        // magic: the first frame's magic is damaged; the rest of the frame checks.
        try rewriteFile("magic") { $0[1] ^= 0x20 }
        // length: the second value frame's length field is damaged, so the next frame is found by its magic.
        try rewriteFile("length") { $0[ValueFrames.headerSize + 100 + 12] = 0x7F }
        // tail: a crash tore an append, and the restarted writer appended more after it.
        let whole = try directory.get("tail")
        try directory.append([(key: "tail", value: Array(whole.prefix(FrameFormat.headerSize + 1 - 3)))])
        try store.append([(key: "tail", value: [9])])

        let damage = try StoreIntegrity.verify(directory).sorted { $0.key < $1.key }
        #expect(damage.map(\.key) == ["length", "magic", "tail"])
        #expect(damage[0].ranges == [(ValueFrames.headerSize + 100)..<(2 * (ValueFrames.headerSize + 100))])
        #expect(damage[1].ranges.isEmpty && damage[1].restoredMagic == [0] && damage[1].detail.contains("bad magic"))
        #expect(damage[2].ranges == [whole.count..<(whole.count + FrameFormat.headerSize - 2)])
        #expect(damage[2].detail.contains("checksum") || damage[2].detail.contains("claims"))

        let repaired = try StoreIntegrity.repair(directory).sorted { $0.key < $1.key }
        #expect(repaired.map(\.key) == ["length", "magic", "tail"])
        #expect(try StoreIntegrity.verify(directory).isEmpty)
        #expect(try values.get("length") == [UInt8](repeating: 0, count: 100) + [UInt8](repeating: 2, count: 100))
        #expect(try store.get("magic") == (0..<3).flatMap { [UInt8](repeating: UInt8($0), count: 500) })
        #expect(try store.get("tail") == [0, 1, 2, 9])
        // Keys that are not frames at all are raw bytes: nothing to verify or repair.
        try directory.append([(key: "raw", value: Array("PDZ? plain bytes".utf8))])
        #expect(try StoreIntegrity.repair(directory).isEmpty)
        #expect(try directory.get("raw") == Array("PDZ? plain bytes".utf8))
    }

    @Test("frames of a newer format (a newer version, or an unknown codec whose checksum checks) are reported and never repaired away; repair changes nothing then")
    func repairNewerFormat() throws {
        func frame(_ payload: [UInt8]) -> [UInt8] { ValueFrames.header(for: payload) + payload }
        let a = frame([1, 2, 3])
        // A frame as a newer release might write it: version 2, its checksum seeded with that header.
        var newer = frame([UInt8](repeating: 5, count: 40))
        newer[4] = ValueFrames.version + 1
        let newerChecksum = XXHash.hash64(newer[ValueFrames.headerSize...], seed: XXHash.hash64(newer[0..<16], seed: 0))
        withUnsafeBytes(of: newerChecksum.littleEndian) { newer.replaceSubrange(16..<24, with: $0) }
        let after = frame([6])
        // A newer version: reported at its offset; the walk stops there.
        let damage = try #require(StoreIntegrity.damage(in: a + newer + after, key: "k"))
        #expect(damage.newerFormatAt == a.count)
        #expect(damage.description.contains("newer format"), "\(damage)")
        let error = expectPartdError(.corruptData) { try StoreIntegrity.repaired(a + newer + after, key: "k") }
        #expect(error?.message.contains("newer release") == true, "\(error.map { "\($0)" } ?? "")")
        // A newer frame first, and one found while looking past a damaged frame.
        #expect(StoreIntegrity.damage(in: newer + after, key: "k")?.newerFormatAt == 0)
        var damaged = frame([UInt8](repeating: 7, count: 30))
        damaged[10] ^= 0xFF  // its length field: the search for the next frame starts
        #expect(StoreIntegrity.damage(in: a + damaged + newer + after, key: "k")?.newerFormatAt == a.count + damaged.count)
        // A compressed frame naming a codec this build does not know, whose checksum checks.
        let path = scratchPath("newer")
        defer { removeTree(path) }
        let directory = try DirectoryStore(path: path)
        let store = CompressedStore(.none, over: directory)
        try store.append([(key: "codec", value: [UInt8](repeating: 4, count: 64))])
        var unknown = try directory.get("codec")
        unknown[5] = 200
        let seed = XXHash.hash64(unknown[0..<24], seed: 0)
        let checksum = XXHash.hash64(unknown[FrameFormat.headerSize...], seed: seed)
        withUnsafeBytes(of: checksum.littleEndian) { unknown.replaceSubrange(24..<32, with: $0) }
        #expect(StoreIntegrity.damage(in: unknown, key: "k")?.newerFormatAt == 0)
        // The same byte damaged (the checksum no longer checks): damage, repaired away.
        var flipped = try directory.get("codec")
        flipped[5] = 200
        #expect(StoreIntegrity.damage(in: flipped, key: "k")?.newerFormatAt == nil)
        #expect(try StoreIntegrity.repaired(flipped, key: "k")?.bytes == [])

        // Behind a damaged frame, the search for the next frame stops at one of an unknown codec that checks.
        let plain = try CompressedStore(.none, over: DirectoryStore(path: path + "-plain"))
        defer { removeTree(path + "-plain") }
        try plain.append([(key: "z", value: [1]), (key: "z", value: [UInt8](repeating: 2, count: 40))])
        let two = try plain.inner.get("z")
        var zd = Array(two[33...])
        zd[FrameFormat.headerSize + 3] ^= 1
        let z1 = Array(two[..<33])
        #expect(StoreIntegrity.damage(in: z1 + zd + unknown + z1, key: "k")?.newerFormatAt == z1.count + zd.count)

        // repair leaves such keys as they are, and repairs the others.
        try directory.delete(["codec"])
        try directory.append([(key: "newer", value: a + newer + after), (key: "codec", value: unknown), (key: "torn", value: a + Array(a.prefix(10)))])
        let found = try StoreIntegrity.repair(directory).sorted { $0.key < $1.key }
        #expect(found.map(\.key) == ["codec", "newer", "torn"])
        #expect(found.map { $0.newerFormatAt != nil } == [true, true, false])
        #expect(try directory.get("newer") == a + newer + after)
        #expect(try directory.get("codec") == unknown)
        #expect(try directory.get("torn") == a)
    }

    @Test("what looks newer but is damage: a version byte damaged alone is restored; a magic followed by text in a damaged frame's payload is not a frame")
    func repairNotNewer() throws {
        func frame(_ payload: [UInt8]) -> [UInt8] { ValueFrames.header(for: payload) + payload }
        let (a, b, c) = (frame([1, 2, 3]), frame([UInt8](repeating: 4, count: 30)), frame([5]))
        // One bit of b's version byte flipped (1 to 3): b checks with it set back, so it is kept, restored.
        var flipped = b
        flipped[4] ^= 2
        let restored = try #require(try StoreIntegrity.repaired(a + flipped + c, key: "k"))
        #expect(restored.damage.newerFormatAt == nil && restored.damage.ranges.isEmpty)
        #expect(restored.damage.restoredVersion == [a.count])
        #expect(restored.bytes == a + b + c)
        // The same frame right behind a frame whose length field is damaged: found by the search, restored.
        var lengthDamaged = b
        lengthDamaged[9] ^= 0x40
        let behind = try #require(try StoreIntegrity.repaired(a + lengthDamaged + flipped + c, key: "k"))
        #expect(behind.damage.newerFormatAt == nil)
        #expect(behind.damage.ranges == [a.count..<(a.count + lengthDamaged.count)])
        #expect(behind.damage.restoredVersion == [a.count + lengthDamaged.count])
        #expect(behind.bytes == a + b + c)
        // A torn last append whose payload holds the text "PDVF marks…": nothing newer, the tail is cut.
        let text = frame(Array("the magic PDVF marks value frames; PDZF compressed ones".utf8))
        let torn = try #require(try StoreIntegrity.repaired(a + Array(text.dropLast(5)), key: "k"))
        #expect(torn.damage.newerFormatAt == nil)
        #expect(torn.bytes == a)
        // The same text in a frame whose length field is damaged, with a frame after it.
        var long = text
        long[9] ^= 0x40
        let middle = try #require(try StoreIntegrity.repaired(a + long + c, key: "k"))
        #expect(middle.damage.newerFormatAt == nil)
        #expect(middle.bytes == a + c)
    }

    @Test("the frame walk: a magic flipped to the other kind's, a torn append whose claimed length lands on a later frame, a damaged magic after a damaged frame, hostile headers")
    func repairWalkCases() throws {
        func frame(_ payload: [UInt8]) -> [UInt8] { ValueFrames.header(for: payload) + payload }
        // "PDVF" and "PDZF" differ in one byte: a value-frame key whose first magic reads "PDZF" is still value
        // frames (it was taken for compressed frames, none of which checked, and repair emptied it).
        let five = (0..<5).flatMap { frame([UInt8](repeating: UInt8($0), count: 100)) }
        var flipped = five
        flipped[2] = UInt8(ascii: "Z")
        let kindFlip = try #require(try StoreIntegrity.repaired(flipped, key: "k"))
        #expect(kindFlip.damage.ranges.isEmpty && kindFlip.damage.restoredMagic == [0])
        #expect(kindFlip.bytes == five)

        // A torn append claiming 100 bytes with 20 written, then whole frames: the torn header's claimed end
        // falls exactly on the second of them, yet the first (which checks) is kept.
        let a = frame([1])
        let torn = Array(frame([UInt8](repeating: 7, count: 100)).prefix(24 + 20))
        let g1 = frame([UInt8](repeating: 8, count: 56))
        let g2 = frame([9])
        let coincidence = try #require(try StoreIntegrity.repaired(a + torn + g1 + g2, key: "k"))
        #expect(coincidence.damage.ranges == [a.count..<(a.count + torn.count)])
        #expect(coincidence.bytes == a + g1 + g2)

        // A frame whose magic alone is damaged, right after a damaged frame: found, restored, kept.
        var damaged = frame([UInt8](repeating: 3, count: 50))
        damaged[30] ^= 1
        var magicOnly = frame([4, 4, 4])
        magicOnly[0] = 0
        let after = try #require(try StoreIntegrity.repaired(a + damaged + magicOnly + g2, key: "k"))
        #expect(after.damage.ranges == [a.count..<(a.count + damaged.count)])
        #expect(after.damage.restoredMagic == [a.count + damaged.count])
        #expect(after.bytes == a + frame([4, 4, 4]) + g2)

        // Hostile bytes: a header every 24 bytes, each claiming nearly all the rest. The search is bounded
        // (it took quadratic time: 4 MiB in about 10 s); what it cannot explain counts as damaged.
        let size = 4 << 20
        var hostile = frame([1, 2, 3])
        while hostile.count + 24 <= size {
            var header = [UInt8](repeating: 0, count: 24)
            header[0..<4] = ValueFrames.magic[...]
            header[4] = 1
            let length = UInt64(size - hostile.count - 24 - 1)
            for i in 0..<8 { header[8 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
            hostile += header
        }
        hostile += [UInt8](repeating: 0, count: size - hostile.count)
        let bounded = try #require(StoreIntegrity.damage(in: hostile, key: "k"))
        #expect(bounded.ranges == [27..<size])

        // Compressed headers naming an unknown codec, each claiming the rest, between small frames: telling
        // such a frame from damage hashes its payload, which the budget bounds too (it did not, and 4 MiB took
        // several seconds).
        let smallPath = scratchPath("small-frame")
        defer { removeTree(smallPath) }
        let smallStore = CompressedStore(.none, over: try DirectoryStore(path: smallPath))
        try smallStore.append([(key: "s", value: [7])])
        let small = try smallStore.inner.get("s")
        var codecs: [UInt8] = []
        let codecSize = (1 << 20) / (32 + small.count) * (32 + small.count)
        while codecs.count < codecSize {
            var header = [UInt8](repeating: 0, count: 32)
            header[0..<4] = FrameFormat.magic[...]
            header[4] = FrameFormat.version
            header[5] = 9
            let stored = UInt64(codecSize - codecs.count - 32)
            for i in 0..<8 {
                header[8 + i] = UInt8(truncatingIfNeeded: UInt64(16 << 20) >> (8 * UInt64(i)))
                header[16 + i] = UInt8(truncatingIfNeeded: stored >> (8 * UInt64(i)))
            }
            codecs += header + small
        }
        let codecDamage = try #require(StoreIntegrity.damage(in: small + codecs, key: "k"))
        #expect(codecDamage.detail.contains("gave up"), "\(codecDamage)")
    }

    @Test("DirectoryStore.rewrite replaces a value whole under the exclusive lock; a prefix is cut in place")
    func directoryRewrite() throws {
        let path = scratchPath("rewrite")
        defer { removeTree(path) }
        let directory = try DirectoryStore(path: path)
        let other = try DirectoryStore(path: path)
        try directory.append([(key: "k", value: [1, 2, 3])])
        #expect(try other.get("k") == [1, 2, 3])  // other caches its descriptor
        #expect(try directory.rewrite("k") { $0 + [4] })
        #expect(try !directory.rewrite("k") { _ in nil })
        #expect(try !directory.rewrite("k") { $0 })
        try other.append([(key: "k", value: [5])])  // lands in the new file, not the replaced one
        #expect(try directory.get("k") == [1, 2, 3, 4, 5])
        #expect(try directory.rewrite("k") { Array($0.prefix(2)) })
        #expect(try other.get("k") == [1, 2])
        #expect(try directory.rewrite("new") { $0.isEmpty ? [7] : nil })
        #expect(try other.get("new") == [7])
        #expect(try directory.keys() == ["k", "new"])  // no temporary file is left or listed
    }

    @Test("8 processes x 8 threads mixing append, get and delete on overlapping keys: nothing lost, nothing duplicated")
    func mixedConcurrency() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("mixed")
        defer { removeTree(path) }
        _ = try DirectoryStore(path: path)
        let steps = 120
        let processes = try (0..<8).map { index -> (Process, Pipe) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: worker)
            process.arguments = ["mix", path, String(index), String(steps)]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            return (process, output)
        }
        for (index, (process, output)) in processes.enumerated() {
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "worker \(index): \(printed)")
        }
        var expectedShared: [PartdKey: Set<Record>] = [:]
        var expectedPrivate: [PartdKey: [Record]] = [:]
        for p in 0..<8 {
            for t in 0..<8 {
                for step in mixedSteps(process: p, thread: t, steps: steps) {
                    expectedShared[step.sharedKey, default: []].insert(step.shared)
                    expectedPrivate[step.privateKey, default: []].append(step.privateRecord)
                    if step.deletesPrivate { expectedPrivate[step.privateKey] = [] }
                }
            }
        }
        let store = try DirectoryStore(path: path)
        for (key, records) in expectedShared {
            let found = try Record.parseAll(try store.get(key))
            #expect(found.count == records.count, "key \(key): \(found.count) records, expected \(records.count)")
            #expect(Set(found) == records, "key \(key)")
        }
        for (key, records) in expectedPrivate {
            #expect(try Record.parseAll(try store.get(key)) == records, "key \(key)")
        }
    }
}
