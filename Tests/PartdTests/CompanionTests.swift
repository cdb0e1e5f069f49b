// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompanions
import PartdTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Spill dictionary (chest)", .serialized)
struct SpillDictionaryTests {
    @Test("set and get with string and integer keys; count, keys, contains, remove")
    func basics() throws {
        let d = try SpillDictionary<PartdKey, String>()
        try d.set("one", for: 1)
        try d.set("x", for: "x")
        #expect(try d[1] == "one" && d["x"] == "x")
        #expect(try d["missing"] == nil)
        #expect(try d.count == 2)
        #expect(try Set(d.keys()) == [1, "x"])
        #expect(try d.contains(1))
        #expect(try d.removeValue(for: 1))
        #expect(try !d.removeValue(for: 1))
        #expect(try !d.contains(1))
        #expect(try d.items().map(\.value) == ["x"])
    }

    @Test("eviction under a budget: least recently used spills, reads refresh recency and load back")
    func eviction() throws {
        let overflowed = Locked<[String]>([])
        let missed = Locked<[String]>([])
        let d = try SpillDictionary<String, [UInt8]>(
            memoryBudget: .bytes(5000),
            onMiss: { key in missed.withLock { $0.append(key) } },
            onOverflow: { key in overflowed.withLock { $0.append(key) } })
        try d.set([UInt8](repeating: 1, count: 2000), for: "a")
        try d.set([UInt8](repeating: 2, count: 2000), for: "b")
        _ = try d["a"]  // a is now more recent than b
        try d.set([UInt8](repeating: 3, count: 2000), for: "c")
        #expect(overflowed.withLock { $0 } == ["b"])
        #expect(d.isInMemory("a") && !d.isInMemory("b") && d.isInMemory("c"))
        #expect(d.memoryUsage <= 5000)
        #expect(try d["b"] == [UInt8](repeating: 2, count: 2000))  // loaded back
        #expect(missed.withLock { $0 } == ["b"])
        #expect(d.memoryUsage <= 5000)

        let zero = try SpillDictionary<String, [Int]>(memoryBudget: .zero)
        try zero.set([1, 2, 3], for: "k")
        #expect(!zero.isInMemory("k"))
        #expect(try zero["k"] == [1, 2, 3])
        #expect(!zero.isInMemory("k"))  // budget 0 keeps nothing, even right after a read
    }

    @Test("over thousands of reads and writes (past the recency records' rebuilds), memory holds exactly the most recently used values")
    func recencyModel() throws {
        let probe = try SpillDictionary<Int, [UInt8]>()
        try probe.set([UInt8](repeating: 0, count: 200), for: 0)
        let size = probe.memoryUsage  // every value below costs the same
        let d = try SpillDictionary<Int, [UInt8]>(memoryBudget: .bytes(8 * size))
        var rng = SplitMix64(seed: 11)
        var recent: [Int] = []  // most recent last
        for step in 0..<3000 {
            let key = Int.random(in: 0..<20, using: &rng)
            if recent.contains(key) && Int.random(in: 0..<4, using: &rng) != 0 {
                #expect(try d.value(for: key) == [UInt8](repeating: UInt8(key), count: 200))
            } else {
                try d.set([UInt8](repeating: UInt8(key), count: 200), for: key)
            }
            recent.removeAll { $0 == key }
            recent.append(key)
            let expected = Set(recent.suffix(8))
            let held = Set((0..<20).filter { d.isInMemory($0) })
            #expect(held == expected, "step \(step)")
            if held != expected { break }
        }
    }

    @Test("flush and reopen; a moved directory; tuple keys; JSON; updates after a flush replace the file")
    func persistence() throws {
        let path = scratchPath("chest")
        defer { removeTree(path) }
        do {
            let d = try SpillDictionary<PartdKey, [String: Int]>(path: path, memoryBudget: .bytes(40), encoding: .json)
            try d.set(["a": 1], for: .tuple("run", 7))
            try d.set(["b": 2], for: .tuple("run", .tuple("deep", 3)))
            try d.set(["c": 3], for: "plain")
            try d.flush()
            try d.set(["c": 4], for: "plain")  // after the flush: the file must be replaced
        }  // deinit flushes an explicit path
        let moved = path + "-moved"
        defer { removeTree(moved) }
        #expect(rename(path, moved) == 0)
        let again = try SpillDictionary<PartdKey, [String: Int]>(path: moved, encoding: .json)
        #expect(try again[.tuple("run", 7)] == ["a": 1])
        #expect(try again[.tuple("run", .tuple("deep", 3))] == ["b": 2])
        #expect(try again["plain"] == ["c": 4])
        #expect(try Set(again.keys()).count == 3)
        try again.drop()
        #expect(!FileManager.default.fileExists(atPath: moved))
        expectPartdError(.closed) { try again.set([:], for: "x") }
    }

    @Test("a spilled value whose file is damaged or gone throws naming the key, quoted, and the file")
    func damagedValue() throws {
        let path = scratchPath("chest-damaged")
        defer { removeTree(path) }
        do {
            let d = try SpillDictionary<String, [Int]>(path: path, encoding: .json)
            try d.set([1, 2, 3], for: "a b")
            try d.set([4], for: "gone")
            try d.flush()
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
        #expect(files.count == 2)
        let damaged = try #require(files.first { (try? String(contentsOfFile: path + "/" + $0, encoding: .utf8)) == "[1,2,3]" })
        try Data("[1,2,".utf8).write(to: URL(fileURLWithPath: path + "/" + damaged))
        let removed = try #require(files.first { $0 != damaged })
        #expect(unlink(path + "/" + removed) == 0)
        let again = try SpillDictionary<String, [Int]>(path: path, encoding: .json)
        let error = expectPartdError(.corruptData) { try again["a b"] }
        #expect(error?.message.contains("the value of \"a b\" cannot be decoded") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.path == path + "/" + damaged)
        let missing = expectPartdError(.notFound) { try again["gone"] }
        #expect(missing?.message.contains("\"gone\"") == true, "\(missing.map { "\($0)" } ?? "")")
        #expect(missing?.path == path + "/" + removed)
    }

    @Test("durability: fsyncs over a given directory by default, not for a temporary one; durable: false still flushes and reopens")
    func durability() throws {
        #expect(try SpillDictionary<String, Int>().isDurable == false)
        let path = scratchPath("chest-durability")
        defer { removeTree(path) }
        #expect(try SpillDictionary<String, Int>(path: path).isDurable)
        #expect(try SpillDictionary<String, Int>(durable: true).isDurable)
        do {
            let d = try SpillDictionary<String, [Int]>(path: path, memoryBudget: .bytes(64), durable: false)
            #expect(!d.isDurable)
            for i in 0..<20 { try d.set(Array(0..<i), for: "k\(i)") }  // most of them spill
            try d.flush()
        }
        let again = try SpillDictionary<String, [Int]>(path: path)
        for i in 0..<20 { #expect(try again["k\(i)"] == Array(0..<i)) }
    }

    @Test("a temporary dictionary is removed at deinit and by the scoped form, errors propagating; a given directory survives")
    func lifetime() throws {
        var temporaryPath = ""
        do {
            let d = try SpillDictionary<String, Int>(memoryBudget: .zero)
            try d.set(1, for: "k")
            temporaryPath = d.path
            #expect(FileManager.default.fileExists(atPath: temporaryPath))
        }
        #expect(!FileManager.default.fileExists(atPath: temporaryPath))

        // The scoped form (chest's context manager) removes the directory and propagates errors.
        struct Boom: Error {}
        var scopedPath = ""
        #expect(throws: Boom.self) {
            try SpillDictionary<String, Int>.withTemporary(memoryBudget: .zero) { d in
                try d.set(1, for: "k")
                scopedPath = d.path
                throw Boom()
            }
        }
        #expect(!scopedPath.isEmpty && !FileManager.default.fileExists(atPath: scopedPath))
        let answer = try SpillDictionary<String, Int>.withTemporary { d in
            try d.set(42, for: "k")
            return try d["k"]
        }
        #expect(answer == 42)
    }

    @Test("a value that cannot be encoded throws at set time and changes nothing")
    func unencodable() throws {
        struct Bad: Codable, Sendable {
            func encode(to encoder: any Encoder) throws { throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "no")) }
            init() {}
            init(from decoder: any Decoder) throws {}
        }
        let d = try SpillDictionary<String, Bad>(memoryBudget: .zero)
        #expect(throws: EncodingError.self) { try d.set(Bad(), for: "k") }
        #expect(try !d.contains("k"))
    }

    @Test("a set whose spill of another value fails throws with the new value set and nothing lost")
    func failedSpill() throws {
        /// Encodes as a plain struct, except a fragile value while `failing` is on.
        struct Flaky: Codable, Sendable, Equatable {
            static let failing = Locked(false)
            var bytes: [UInt8]
            var fragile = false
            func encode(to encoder: any Encoder) throws {
                if fragile, Flaky.failing.withLock({ $0 }) {
                    throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "disk full"))
                }
                var container = encoder.unkeyedContainer()
                try container.encode(bytes)
                try container.encode(fragile)
            }
            init(bytes: [UInt8], fragile: Bool = false) {
                self.bytes = bytes
                self.fragile = fragile
            }
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                bytes = try container.decode([UInt8].self)
                fragile = try container.decode(Bool.self)
            }
        }
        let a = Flaky(bytes: .init(repeating: 1, count: 2000), fragile: true)
        let b = Flaky(bytes: .init(repeating: 2, count: 2000))
        let d = try SpillDictionary<String, Flaky>(memoryBudget: .bytes(3000))
        try d.set(a, for: "a")
        Flaky.failing.withLock { $0 = true }
        #expect(throws: EncodingError.self) { try d.set(b, for: "b") }
        // The new value is set and held; the one that could not be spilled stays in memory.
        #expect(d.isInMemory("a") && d.isInMemory("b") && d.memoryUsage > 3000)
        #expect(try d["a"] == a && d["b"] == b && d.count == 2)
        Flaky.failing.withLock { $0 = false }
        try d.set(Flaky(bytes: [3]), for: "c")
        #expect(d.memoryUsage <= 3000)
        #expect(try d["a"] == a && d["b"] == b && d["c"] == Flaky(bytes: [3]))
    }

    @Test("merge with and without overwrite; prefetch makes reads hits")
    func mergeAndPrefetch() throws {
        let a = try SpillDictionary<String, Int>()
        let b = try SpillDictionary<String, Int>()
        try a.set(1, for: "x")
        try b.set(2, for: "x")
        try b.set(3, for: "y")
        try a.merge(b, overwrite: false)
        #expect(try a["x"] == 1 && a["y"] == 3)
        try a.merge(b)
        #expect(try a["x"] == 2)
        #expect(try b["x"] == 2 && b.count == 2)  // the source is unchanged

        let missed = Locked(0)
        let d = try SpillDictionary<String, [Int]>(memoryBudget: .bytes(200), onMiss: { _ in missed.withLock { $0 += 1 } })
        for i in 0..<10 { try d.set(Array(repeating: i, count: 50), for: "k\(i)") }
        #expect(!d.isInMemory("k0"))
        try d.prefetch(["k0", "k1"])
        _ = try d["k0"]
        _ = try d["k1"]
        #expect(missed.withLock { $0 } == 0)
    }

    @Test("8 threads of random gets and sets under a tiny budget keep every value")
    func threads() throws {
        let d = try SpillDictionary<Int, [Int]>(memoryBudget: .bytes(48))
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var rng = SystemRandomNumberGenerator()
            for step in 0..<200 {
                let key = Int.random(in: 0..<20, using: &rng)
                if step % 2 == 0 {
                    try? d.set([key, key * 2], for: key)
                } else if let value = try? d[key] {
                    #expect(value == [key, key * 2])
                }
            }
        }
        for key in try d.keys() { #expect(try d[key] == [key, key * 2]) }
    }

    @Test("two processes sharing one directory lose no update")
    func twoProcesses() throws {
        let worker = productsDirectory + "/partd-test-worker"
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("shared-chest")
        defer { removeTree(path) }
        let processes = try (0..<2).map { writer -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: worker)
            process.arguments = ["spill", path, String(writer), "300"]
            try process.run()
            return process
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let d = try SpillDictionary<String, [Int]>(path: path)
        #expect(try d.count == 600)
        for writer in 0..<2 {
            for i in 0..<300 { #expect(try d["w\(writer)-\(i)"] == [writer, i, writer * i]) }
        }
    }

    @Test("a key another instance removed and flushed stays removed: a flush writes only this instance's changes")
    func removalByAnotherInstance() throws {
        let path = scratchPath("chest-removal")
        defer { removeTree(path) }
        do {
            let seed = try SpillDictionary<String, Int>(path: path)
            try seed.set(1, for: "x")
            try seed.set(2, for: "y")
        }  // flushed at deinit
        let remover = try SpillDictionary<String, Int>(path: path)
        let reader = try SpillDictionary<String, Int>(path: path)
        #expect(try reader["x"] == 1)  // now held in memory, clean
        do {
            let writer = try SpillDictionary<String, Int>(path: path)  // knows "x" from the index only
            #expect(try remover.removeValue(for: "x"))
            try remover.flush()
            #expect(try writer["x"] == nil)
            try writer.set(3, for: "z")
            try writer.flush()
            try writer.set(4, for: "w")
        }  // flushed again at deinit
        for d in [remover, reader, try SpillDictionary<String, Int>(path: path)] {
            #expect(try Set(d.keys()) == ["y", "z", "w"])
            #expect(try d["x"] == nil && !d.contains("x"))
            #expect(try Dictionary(uniqueKeysWithValues: d.items().map { ($0.key, $0.value) }) == ["y": 2, "z": 3, "w": 4])
        }
        #expect(!reader.isInMemory("x"))
        #expect(try reader.removeValue(for: "y"))
        try reader.flush()  // its removal reaches the index; the others' keys stay
        #expect(try Set(SpillDictionary<String, Int>(path: path).keys()) == ["z", "w"])
    }

    @Test("one instance spills a key anew while another removes it: each written value has a file of its own, the last flush wins")
    func removalWhileAnotherSpills() throws {
        let path = scratchPath("chest-respill")
        defer { removeTree(path) }
        /// The value files in the directory (not the index, the lock or temporary files).
        func valueFiles() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
        }
        let a = try SpillDictionary<String, [Int]>(path: path, memoryBudget: .bytes(1))
        try a.set([1], for: "k")
        try a.flush()
        let b = try SpillDictionary<String, [Int]>(path: path)
        try a.set([2], for: "k")  // spilled at once, under the budget of 1 byte
        #expect(!a.isInMemory("k"))
        #expect(try b["k"] == [1])  // a has not flushed: b still reads the flushed value
        #expect(try b.removeValue(for: "k"))
        try b.flush()
        #expect(try a["k"] == [2])  // a's unflushed value is a's own
        try a.flush()  // the last flush: k is [2] again
        #expect(try a["k"] == [2] && a.contains("k") && a.keys() == ["k"])
        #expect(try b["k"] == [2] && b.keys() == ["k"])
        #expect(try SpillDictionary<String, [Int]>(path: path)["k"] == [2])
        // The file of [1] went at the flush that dropped it from the index; only [2]'s is left.
        #expect(try valueFiles().count == 1)

        // Over one instance: a file replaced or removed before a flush goes at once if no flush published it,
        // else at the flush; none is left behind.
        let c = try SpillDictionary<String, [Int]>(path: path, memoryBudget: .bytes(1))
        for value in 3..<6 { try c.set([value], for: "k") }
        try c.set([9], for: "gone")
        #expect(try c.removeValue(for: "gone"))
        #expect(try valueFiles().count == 2)  // [2]'s, still in the index, and c's newest
        try c.flush()
        #expect(try valueFiles().count == 1 && c["k"] == [5])
        #expect(try c.removeValue(for: "k"))
        try c.flush()
        #expect(try valueFiles().isEmpty && SpillDictionary<String, [Int]>(path: path).keys().isEmpty)
    }

    @Test("a value another instance flushed replaces one held in memory once this instance reads the index (it kept the old value)")
    func cachedValueFollowsTheIndex() throws {
        let path = scratchPath("chest-follow")
        defer { removeTree(path) }
        let a = try SpillDictionary<String, Int>(path: path)
        try a.set(1, for: "k")
        try a.flush()
        let reader = try SpillDictionary<String, Int>(path: path)
        #expect(try reader["k"] == 1)  // held in memory now
        let b = try SpillDictionary<String, Int>(path: path)
        try b.set(2, for: "k")
        try b.flush()
        #expect(try a.keys() == ["k"] && reader.keys() == ["k"])  // both read the index: k has another file
        #expect(!reader.isInMemory("k") && reader.memoryUsage == 0)  // the old value let go
        try a.flush()
        try reader.flush()
        #expect(try a["k"] == 2)
        #expect(try reader["k"] == 2)
        #expect(try SpillDictionary<String, Int>(path: path)["k"] == 2)
        // A key this instance set keeps its own value until its flush: the last flush wins.
        try b.set(3, for: "k")
        try a.set(4, for: "k")
        try a.flush()
        #expect(try b.keys() == ["k"] && b["k"] == 3)
        try b.flush()
        #expect(try a.keys() == ["k"] && a["k"] == 3)
    }

    @Test("a removal whose file cannot be deleted throws and changes nothing (the key came back with an older value)")
    func failedRemoval() throws {
        let path = scratchPath("chest-failed-removal")
        defer { removeTree(path) }
        func valueFiles() throws -> Set<String> {
            Set(try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") })
        }
        let a = try SpillDictionary<String, Int>(path: path, memoryBudget: .bytes(1))
        try a.set(100_001, for: "k")
        try a.flush()
        let published = try valueFiles()
        try a.set(100_002, for: "k")  // spilled at once to a new file, which no flush has published
        let fresh = try valueFiles().subtracting(published)
        try #require(fresh.count == 1)
        let file = path + "/" + fresh.first!
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        // A non-empty directory in the file's place: deleting it fails (EISDIR).
        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.createDirectory(atPath: file + "/inside", withIntermediateDirectories: true)
        #expect(throws: PartdError.self) { try a.removeValue(for: "k") }
        #expect(try a.contains("k") && a.keys() == ["k"])
        try FileManager.default.removeItem(atPath: file)
        try bytes.write(to: URL(fileURLWithPath: file))
        #expect(try a["k"] == 100_002)  // the latest value, not the flushed one
        try a.flush()
        #expect(try a["k"] == 100_002 && SpillDictionary<String, Int>(path: path)["k"] == 100_002)
        #expect(try a.removeValue(for: "k"))
        try a.flush()
        #expect(try !a.contains("k") && SpillDictionary<String, Int>(path: path).keys().isEmpty && valueFiles().isEmpty)
    }

    @Test("a flush deletes the file another instance published for a key this one set or removed (they were left behind)")
    func filesOfOtherInstances() throws {
        let path = scratchPath("chest-others-files")
        defer { removeTree(path) }
        func valueFiles() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
        }
        let a = try SpillDictionary<String, Int>(path: path)
        let b = try SpillDictionary<String, Int>(path: path)
        let reader = try SpillDictionary<String, Int>(path: path, memoryBudget: .zero)  // holds no value: reads files
        try a.set(0, for: "k")
        try a.flush()
        #expect(try reader["k"] == 0)
        for round in 1...5 {
            try b.set(2 * round - 1, for: "k")
            try b.flush()
            try a.set(2 * round, for: "k")
            try a.flush()  // deletes b's file, which the index named
            #expect(try valueFiles().count == 1, "round \(round)")
            // The file the reader knows is gone: it finds the current one in the index.
            #expect(try reader["k"] == 2 * round)
        }
        #expect(try b.keys() == ["k"] && b["k"] == 10)
        try b.set(11, for: "k")
        try b.flush()
        #expect(try valueFiles().count == 1)
        #expect(try a.removeValue(for: "k"))  // a knows its own file only; the index names b's
        try a.flush()
        #expect(try valueFiles().isEmpty && SpillDictionary<String, Int>(path: path).keys().isEmpty)
        try b.flush()
        #expect(try b["k"] == nil && reader["k"] == nil && valueFiles().isEmpty)
    }

    @Test("onMiss and onOverflow may be replaced while other threads read and write (a data race: they were read outside the lock)")
    func callbacksReplacedConcurrently() throws {
        final class Token: Sendable {
            let number: Int
            init(_ number: Int) { self.number = number }
        }
        let calls = Locked(0)
        let d = try SpillDictionary<Int, [Int]>(memoryBudget: .bytes(24))
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            if worker == 0 {
                for i in 0..<20_000 {
                    let token = Token(i)  // each closure holds its own object, released when replaced
                    d.onOverflow = { _ in calls.withLock { $0 += token.number >= 0 ? 1 : 0 } }
                    d.onMiss = { _ in calls.withLock { $0 += token.number >= 0 ? 1 : 0 } }
                }
            } else {
                for step in 0..<3_000 {
                    try? d.set([step, worker], for: step % 6)
                    _ = try? d[(step + 3) % 6]
                }
            }
        }
        #expect(d.onMiss != nil && d.onOverflow != nil)
        d.onMiss = nil
        d.onOverflow = nil
        #expect(calls.withLock { $0 } > 0)
        for key in 0..<6 { #expect(try d[key]?.count == 2) }
    }

    @Test("onMiss and onOverflow may use the dictionary; they run in the order the events happened")
    func callbacksUseTheDictionary() throws {
        let events = Locked<[String]>([])
        let d = try SpillDictionary<String, [UInt8]>(memoryBudget: .bytes(5000))
        defer {
            d.onMiss = nil  // the callbacks capture the dictionary
            d.onOverflow = nil
        }
        d.onOverflow = { key in
            let usage = d.memoryUsage
            let present = (try? d.contains(key)) ?? false
            events.withLock { $0.append("overflow \(key) \(usage) \(present)") }
        }
        d.onMiss = { key in
            let count = (try? d.value(for: key))??.count ?? -1
            events.withLock { $0.append("miss \(key) \(count)") }
        }
        try d.set([UInt8](repeating: 1, count: 2000), for: "a")
        let two = 2 * d.memoryUsage  // two values' encoded bytes
        try d.set([UInt8](repeating: 2, count: 2000), for: "b")
        _ = try d["a"]
        try d.set([UInt8](repeating: 3, count: 2000), for: "c")  // spills b
        #expect(events.withLock { $0 } == ["overflow b \(two) true"])
        #expect(try d["b"] == [UInt8](repeating: 2, count: 2000))  // loads b back, spilling a
        #expect(events.withLock { $0 } == ["overflow b \(two) true", "miss b 2000", "overflow a \(two) true"])
        try d.prefetch(["a"])  // loads a, spilling c (the least recently used)
        #expect(events.withLock { $0 }.last == "overflow c \(two) true")
    }
}

@Suite("Dataset directory (dirdb)", .serialized)
struct DatasetDirectoryTests {
    @Test("dirdb's README example: data, metadata without the data, locks, sorted iteration, sub-databases")
    func readme() throws {
        let path = scratchPath("dirdb")
        defer { removeTree(path) }
        let db = try DatasetDirectory(path: path)
        let entry = try db.entry("foo")
        #expect(try !entry.hasData)
        try entry.write(["a": [1, 2, 3]], metadata: ["test": "yes", "n": 3])
        #expect(try entry.read([String: [Int]].self) == ["a": [1, 2, 3]])
        #expect(try entry.metadata() == ["test": "yes", "n": 3])
        try entry.withLock { try entry.updateMetadata { $0["done"] = true } }
        #expect(try entry.metadata()["done"] == true)
        try db.entry("bar").writeBytes([1, 2, 3])
        #expect(try db.entry("bar").readBytes() == [1, 2, 3])
        expectPartdError(.corruptData) { try db.entry("bar").read([Int].self) }
        #expect(try db.names() == ["bar", "foo"])
        #expect(try db.entries().map(\.name) == ["bar", "foo"])
        let sub = try db.subdirectory("nested")
        try sub.entry("x").write(1)
        #expect(try db.subdirectoryNames() == ["nested"])
        #expect(try DatasetDirectory(path: path + "/nested").entry("x").read(Int.self) == 1)
        let stat = try #require(try entry.stat())
        #expect(stat.bytes > 0 && abs(stat.modified.timeIntervalSinceNow) < 60)
        try entry.setMetadata(nil)
        #expect(try entry.metadata() == [:])
        try entry.delete()
        #expect(try db.names() == ["bar"])
        expectPartdError(.notFound) { try entry.read(Int.self) }
        for bad in ["", "../x", "a/b", ".hidden", "x.meta"] {
            expectPartdError(.invalidKey) { try db.entry(bad) }
        }
        let json = try DatasetDirectory(path: path, encoding: .json)
        try json.entry("j").write([1.5])
        #expect(String(decoding: try json.entry("j").readBytes(), as: UTF8.self) == "[1.5]")
        #expect(try db.entry("j").read([Double].self) == [1.5])  // reads accept either encoding
    }

    @Test("metadata numbers round-trip as written: integers another program wrote keep every digit through updateMetadata")
    func metadataNumbers() throws {
        let path = scratchPath("dirdb-numbers")
        defer { removeTree(path) }
        let entry = try DatasetDirectory(path: path).entry("e")
        try entry.writeBytes([1, 2, 3])
        // Written by another program (Python's json.dump, say).
        let file = path + "/e.meta.json"
        try Data(#"{"size": 9007199254740993, "ns": 1733475000123456789, "flag": 1, "ratio": 1.0, "tiny": 5e-324}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        try entry.updateMetadata { $0["done"] = true }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for digits in ["9007199254740993", "1733475000123456789", "\"flag\": 1,", "1.0", "5e-324"] {
            #expect(text.contains(digits), "\(digits) in \(text)")
        }
        let read = try entry.metadata()
        #expect(read["size"] == .integer(9_007_199_254_740_993))
        #expect(read["ns"] == .integer(1_733_475_000_123_456_789))
        #expect(read["flag"] == 1 && read["ratio"] == .number(1.0) && read["tiny"] == .number(.leastNonzeroMagnitude))
        #expect(read["done"] == true && read.count == 6)
        // Values set here read back as they were.
        let values: [String: JSONValue] = [
            "two": .number(2.0), "tenth": 0.1, "big": .number(1e300), "small": .number(-2.5e-300), "e16": .number(1e16),
            "max": .integer(.max), "min": .integer(.min), "negativeZero": .number(-0.0),
            "text": "é \u{1} \" \\ / \u{1F600}", "list": [1, 2.5, nil, false, "x", [], [:]], "nested": ["k": [["deep": 3]]],
        ]
        try entry.setMetadata(values)
        let back = try entry.metadata()
        #expect(back == values)
        #expect(back["negativeZero"].map { if case .number(let x) = $0 { x.sign == .minus } else { false } } == true)
        // An integer beyond Int64 reads as the nearest double; escapes and surrogate pairs decode.
        try Data(#"{"u": 18446744073709551615, "s": "\ud83d\ude00\n\u00e9", "e": 1E2, "neg": -0}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        #expect(try entry.metadata() == ["u": .number(18_446_744_073_709_551_615.0), "s": "\u{1F600}\né", "e": 100.0, "neg": 0])
        // Keys that differ in bytes but that Swift's String takes as one (NFC and NFD "café") would lose a value.
        let lookalikeKeys = #"{"caf\u00e9": 1, "cafe\u0301": 2}"#
        for bad in [#"[1]"#, #"{"a": 01}"#, #"{"a": 1e999}"#, #"{"a": NaN}"#, #"{"a": "\ud800"}"#, #"{"a": 1,}"#, #"{"a": 1} x"#, "", lookalikeKeys] {
            try Data(bad.utf8).write(to: URL(fileURLWithPath: file))
            expectPartdError(.corruptData, "\(bad)") { try entry.metadata() }
        }
    }

    @Test("metadata with NaN or an infinity is refused with invalidArgument naming where it is, before anything is written")
    func metadataNotANumber() throws {
        let path = scratchPath("dirdb-nan")
        defer { removeTree(path) }
        let entry = try DatasetDirectory(path: path).entry("e")
        try entry.write([1], metadata: ["kept": "yes"])
        let error = expectPartdError(.invalidArgument) { try entry.setMetadata(["x": .number(.nan)]) }
        #expect(error?.message.contains("\"x\"") == true, "\(error.map { "\($0)" } ?? "")")
        let nested = expectPartdError(.invalidArgument) {
            try entry.updateMetadata { $0["a"] = ["b": [1, .number(-.infinity)]] }
        }
        #expect(nested?.message.contains(#"["a"]["b"][1]"#) == true, "\(nested.map { "\($0)" } ?? "")")
        expectPartdError(.invalidArgument) { try entry.write([2], metadata: ["y": .number(.infinity)]) }
        #expect(try entry.metadata() == ["kept": "yes"])
        #expect(try entry.read([Int].self) == [1], "the data is not replaced when its metadata cannot be written")
    }

    @Test("the entry lock excludes other threads")
    func lockExcludes() throws {
        let db = try DatasetDirectory(path: scratchPath("dirdb-lock"))
        defer { removeTree(db.path) }
        let entry = try db.entry("counter")
        try entry.write(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<25 {
                try? entry.withLock { try entry.write(try entry.read(Int.self) + 1) }
            }
        }
        #expect(try entry.read(Int.self) == 100)
    }

    @Test("delete keeps the entry's lock file, so a lock held across a delete still excludes others")
    func deleteKeepsTheLock() throws {
        let db = try DatasetDirectory(path: scratchPath("dirdb-delete-lock"))
        defer { removeTree(db.path) }
        let entry = try db.entry("x")
        try entry.write(1)
        let lockPath = db.path + "/.x.lock"
        try entry.withLock {
            try entry.delete()
            // What another thread's or process's withLock does: open the lock file (creating it if missing) and flock it.
            let other = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            defer { close(other) }
            #expect(other >= 0)
            #expect(flock(other, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK, "the lock is still held")
        }
        #expect(try db.names() == [] && !entry.hasData)
        #expect(FileManager.default.fileExists(atPath: lockPath))

        // Threads that delete and rewrite the entry under its lock lose no update.
        let counter = try db.entry("counter")
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<25 {
                try? counter.withLock {
                    let value = try counter.hasData ? counter.read(Int.self) : 0
                    try counter.delete()
                    try counter.write(value + 1)
                }
            }
        }
        #expect(try counter.read(Int.self) == 100)
        #expect(try db.names() == ["counter"])
    }

    @Test("concurrent listings of one directory each see every entry")
    func concurrentListings() throws {
        let db = try DatasetDirectory(path: scratchPath("dirdb-list"))
        defer { removeTree(db.path) }
        let n = 1000
        for i in 0..<n {
            #expect(FileManager.default.createFile(atPath: db.path + "/dataset-number-\(i).bytes", contents: nil))
        }
        #expect(try db.names().count == n)
        let counts = Locked<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<25 {
                let count = (try? db.names().count) ?? -1
                counts.withLock { $0.append(count) }
            }
        }
        #expect(counts.withLock { $0.count } == 200)
        #expect(counts.withLock { $0.filter { $0 != n } } == [])
    }

    @Test("a process killed (SIGKILL) while rewriting entries leaves each one old or new, never torn")
    func crash() throws {
        let worker = productsDirectory + "/partd-test-worker"
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("dirdb-crash")
        defer { removeTree(path) }
        for round in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: worker)
            process.arguments = ["rewrite", path]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            _ = out.fileHandleForReading.availableData  // "started"
            usleep(UInt32(150_000 + round * 70_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let db = try DatasetDirectory(path: path)
            for entry in try db.entries() {
                let values = try entry.read([Int].self)
                #expect(values.count == 20_000)
                #expect(Set(values).count == 1, "entry \(entry.name) mixes generations")
            }
        }
    }
}
