// SPDX-License-Identifier: Apache-2.0

// Contract audit: each test checks one promise a public declaration's DocC comment makes, quoting
// it (file:line at the time of the audit). A failing test here is a finding: the code does not keep
// the promise (or the promise is worded more strongly than the code means).

import Dispatch
import Foundation
import Partd
import PartdCompanions
import PartdCompression
import PartdTyped
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A value whose encoding fails when `explode` is set (for "cannot be encoded" paths).
struct AuditBomb: Codable, Sendable, Equatable {
    var value: Int
    var explode: Bool

    init(_ value: Int, explode: Bool = false) {
        self.value = value
        self.explode = explode
    }

    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(Int.self)
        explode = false
    }

    func encode(to encoder: any Encoder) throws {
        if explode {
            throw EncodingError.invalidValue(self, .init(codingPath: encoder.codingPath, debugDescription: "bomb"))
        }
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Byte stores the generic promises of `ByteStore` are checked against.
enum AuditStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, directory, spillingSyncZeroBudgetOverDirectory, spillingBackgroundTinyOverDirectory
    case zlibOverDirectory, encodedIdentityOverMemory

    var testDescription: String { rawValue }

    func make() throws -> any ByteStore {
        switch self {
        case .memory: return MemoryStore()
        case .directory: return try DirectoryStore.temporary()
        case .spillingSyncZeroBudgetOverDirectory:
            return SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .zero, backgroundSpill: false)
        case .spillingBackgroundTinyOverDirectory:
            return SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(16))
        case .zlibOverDirectory: return CompressedStore(.zlib(), over: try DirectoryStore.temporary())
        case .encodedIdentityOverMemory:
            return EncodedStore<MemoryStore, [UInt8]>(
                over: MemoryStore(), encode: { $0 }, decode: { $0 }, join: { $0.flatMap { $0 } })
        }
    }
}

@Suite("Contract audit")
struct ContractAuditTests {
    // MARK: - ByteStore protocol (Sources/Partd/ByteStore.swift)

    // ByteStore.swift:23 "A missing key reads as empty bytes; deleting a missing key is not an error."
    // ByteStore.swift:46 "missing keys give `[]`"; :54 withBytes "(empty for a missing key)"
    @Test("missing keys read as empty through every read API; deleting one is not an error", arguments: AuditStoreKind.allCases)
    func missingKeys(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        #expect(try store.get(["nope", 7, .tuple("a", 1)]) == [[], [], []])
        #expect(try store.get("nope", reservingCapacity: 100) == [])
        #expect(try store.withBytes(of: "nope") { Array($0) } == [])
        #expect(try store.byteCount(of: "nope") == 0)
        #expect(try store.contains("nope") == false)
        try store.delete(["nope", "nope", 3])
        #expect(try store.get([]) == [])
        #expect(try store.keys() == [])
    }

    // ByteStore.swift:33-36 "the same key may appear more than once, and its entries are appended in batch order."
    // ByteStore.swift:76 keys(): "Every key that holds data (or was created by an empty append), sorted."
    @Test("duplicate keys in one batch keep batch order; an empty append creates the key", arguments: AuditStoreKind.allCases)
    func duplicatesAndEmptyValues(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        try store.append([(key: "k", value: [1]), (key: "e", value: []), (key: "k", value: [2, 3]), (key: "k", value: []), (key: "k", value: [4])])
        try store.waitForWrites()
        #expect(try store.get("k") == [1, 2, 3, 4])
        #expect(try store.get("e") == [])
        #expect(try store.contains("e"))
        #expect(try store.keys() == ["e", "k"])
        #expect(try store.byteCount(of: "k") == 4)
        #expect(try store.totalByteCount() == 4)
        // Chunked: an entry with no chunks creates the key as well.
        try store.append(chunked: [(key: "c", chunks: []), (key: "d", chunks: [[5], [], [6]])])
        #expect(try store.contains("c"))
        #expect(try store.get(["c", "d"]) == [[], [5, 6]])
    }

    // ByteStore.swift:61-67 setOnce: "Returns whether it wrote. The first setOnce of a key replaces anything
    // appended before. Later calls are no-ops, even with a different value, until the key is deleted or the store dropped."
    @Test("setOnce: replaces earlier appends, then no-op until delete or drop", arguments: AuditStoreKind.allCases)
    func setOnceLifecycle(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        try store.append("k", Array(repeating: 9, count: 100))
        #expect(try store.setOnce("k", [1, 2]) == true)
        #expect(try store.get("k") == [1, 2])
        #expect(try store.setOnce("k", [3]) == false)
        #expect(try store.get("k") == [1, 2])
        try store.append("k", [7])
        #expect(try store.get("k") == [1, 2, 7])
        try store.delete("k")
        #expect(try store.get("k") == [])
        #expect(try store.setOnce("k", [4]) == true)
        #expect(try store.get("k") == [4])
        try store.drop()
        #expect(try store.keys() == [])
        #expect(try store.setOnce("k", [5]) == true)
        #expect(try store.get("k") == [5])
        // "After drop() the store is empty and stays usable."
        try store.append("z", [1])
        #expect(try store.get("z") == [1])
    }

    // ByteStore.swift:61-62 setOnce "Returns whether it wrote"; stores "lock internally" (ByteStore.swift:25):
    // of many threads racing to set one key, exactly one writes.
    @Test("setOnce raced from many threads: exactly one returns true", arguments: AuditStoreKind.allCases)
    func setOnceRace(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        let wrote = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            if (try? store.setOnce("k", [UInt8(t)])) == true { wrote.add(1, ordering: .relaxed) }
        }
        #expect(wrote.load(ordering: .relaxed) == 1)
        #expect(try store.get("k").count == 1)
    }

    // ByteStore.swift:48-52 get(_:reservingCapacity:): "Everything appended to `key`, in an array with room for
    // `extraCapacity` more bytes" (a missing key reads as [], ByteStore.swift:23).
    @Test("get(_:reservingCapacity:) leaves the room asked for, also for empty and missing keys", arguments: AuditStoreKind.allCases)
    func reservingCapacity(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        try store.append(["full": [1, 2, 3], "empty": []])
        for key: PartdKey in ["full", "empty", "missing"] {
            let value = try store.get(key, reservingCapacity: 1000)
            #expect(value.capacity >= value.count + 1000, "\(key): count \(value.count), capacity \(value.capacity)")
        }
    }

    // ByteStore.swift:137 / :147 get(nested:) returns values in the shape of the request.
    @Test("get(nested:) keeps the request's shape")
    func nestedGet() throws {
        let store = MemoryStore()
        try store.append(["x": [1], "y": [2]])
        #expect(try store.get(nested: ["x", ["y", "missing"], []]) == .list([.value([1]), .list([.value([2]), .value([])]), .list([])]))
    }

    // ByteStore.swift:19-21 "The bytes one batch entry adds to a key land contiguously: they are never
    // interleaved with another writer's bytes, whether that writer is another thread ..."
    @Test("entries appended from several threads to one key land contiguously", arguments: AuditStoreKind.allCases)
    func contiguousAcrossThreads(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        let threads = 4, perThread = 100, size = 64
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for _ in 0..<perThread { try? store.append("k", [UInt8](repeating: UInt8(t + 1), count: size)) }
        }
        try store.waitForWrites()
        let bytes = try store.get("k")
        #expect(bytes.count == threads * perThread * size)
        var torn = 0
        for start in stride(from: 0, to: bytes.count, by: size) where Set(bytes[start..<min(start + size, bytes.count)]).count != 1 {
            torn += 1
        }
        #expect(torn == 0)
    }

    // ByteStore.swift:22 "Appends to one key are kept in the order they completed"; SpillingStore.swift:29-30
    // "reads always see bytes in append order": every read while appends run is a prefix of the final value.
    @Test("reads during concurrent appends see a prefix of the final value", arguments: AuditStoreKind.allCases)
    func readsArePrefixes(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        final class Reads: @unchecked Sendable { var seen: [[UInt8]] = []; let lock = NSLock() }
        let reads = Reads()
        DispatchQueue.concurrentPerform(iterations: 3) { t in
            if t < 2 {
                for i in 0..<150 { try? store.append("k", [UInt8(t), UInt8(i), UInt8(t), UInt8(i)]) }
            } else {
                for _ in 0..<100 {
                    if let v = try? store.get("k") { reads.lock.lock(); reads.seen.append(v); reads.lock.unlock() }
                }
            }
        }
        try store.waitForWrites()
        let final = try store.get("k")
        #expect(final.count == 2 * 150 * 4)
        #expect(reads.seen.filter { !final.starts(with: $0) }.count == 0)
    }

    // MemoryStore.swift:9-11 "One mutex guards the store: every batch, read and delete is atomic."
    // docs/format.md §3.5 says the same of DirectoryStore within a process.
    @Test("a multi-key get never sees half of a batch (memory, directory)", arguments: [AuditStoreKind.memory, .directory])
    func batchAtomicity(_ kind: AuditStoreKind) throws {
        let store = try kind.make()
        let torn = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            if i == 0 {
                for _ in 0..<500 { try? store.append([(key: "x", value: [1]), (key: "y", value: [1])]) }
            } else {
                for _ in 0..<500 {
                    if let v = try? store.get(["x", "y"]), v[0].count != v[1].count { torn.add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(torn.load(ordering: .relaxed) == 0)
    }

    // PartdKey.swift:164-166 "Orders integers before strings before tuples ... `keys()` results are sorted in this order."
    // KeyFileName.swift:3-15: reversible, collision-free names; keys() lists them back after reopening.
    @Test("awkward keys round-trip through a directory, reopened, sorted as PartdKey orders them")
    func awkwardKeysRoundTrip() throws {
        let path = scratchPath("audit-keys")
        defer { try? PartdPath.destroy(path) }
        let keys: [PartdKey] = [
            "", ".lock", ".x", "..", "a/b", "%", "%s", "a,b)", "é", "e\u{301}", "a\u{0}b", 0, -1, PartdKey(Int.min), PartdKey(Int.max),
            .tuple([]), .tuple("a", 1), .tuple(.tuple(), "", .tuple("x")), .tuple(".lock"), "x",
        ]
        do {
            let store = try DirectoryStore(path: path)
            for (i, key) in keys.enumerated() { try store.append(key, [UInt8(i)]) }
            try store.close()
        }
        let reopened = try DirectoryStore(path: path)
        defer { try? reopened.close() }
        #expect(try reopened.keys() == keys.sorted())
        for (i, key) in keys.enumerated() { #expect(try reopened.get(key) == [UInt8(i)], "\(key)") }
    }

    // KeyFileName.swift:22 encode "Throws keyTooLong if the name would exceed 255 bytes";
    // ByteStore.swift:85 validate "Throws the error an append of `key` would throw because of the key itself".
    @Test("key names at the 255-byte limit: append and validate agree")
    func keyLengthLimit() throws {
        let store = try DirectoryStore.temporary()
        defer { try? store.close() }
        let fits: [PartdKey] = [
            PartdKey(String(repeating: "a", count: 255)),
            PartdKey("!" + String(repeating: "a", count: 250)),  // "%s%21" + 250 = 255
            .tuple(PartdKey(String(repeating: "a", count: 251))),  // "%t(" + 251 + ")" = 255
        ]
        let tooLong: [PartdKey] = [
            PartdKey(String(repeating: "a", count: 256)),
            PartdKey("!" + String(repeating: "a", count: 251)),
            .tuple(PartdKey(String(repeating: "a", count: 252))),
            PartdKey(String(repeating: "é", count: 43)),  // "%s" + 43 * 6 = 260
        ]
        for key in fits {
            try store.validate(key)
            try store.append(key, [1])
            #expect(try store.get(key) == [1])
        }
        for key in tooLong {
            _ = expectPartdError(.keyTooLong) { try store.validate(key) }
            _ = expectPartdError(.keyTooLong) { try store.append(key, [1]) }
            _ = expectPartdError(.keyTooLong) { try store.setOnce(key, [1]) }
        }
        #expect(try store.keys().count == fits.count)
    }

    // PartdKey.swift:181-183 "Keys encode as what they hold: a string, an integer, or an array of keys (so a tuple
    // key reads back as a tuple)"; :135 description "Python-like spelling: `"x"`, `7`, `("df", 7)`".
    @Test("PartdKey: Codable round trip (JSON, MessagePack, a SpillDictionary index) and description")
    func keyCodable() throws {
        let keys: [PartdKey] = ["7", 7, "", "-1", .tuple([]), .tuple("7", 7, .tuple("x")), PartdKey(Int.min), "e\u{301}", "\u{E9}"]
        #expect(try JSONDecoder().decode([PartdKey].self, from: JSONEncoder().encode(keys)) == keys)
        #expect(try MessagePackDecoder().decode([PartdKey].self, from: MessagePackEncoder().encode(keys)[...]) == keys)
        let path = scratchPath("audit-keyindex")
        defer { try? PartdPath.destroy(path) }
        do {
            let d = try SpillDictionary<PartdKey, Int>(path: path, durable: false)
            for (i, key) in keys.enumerated() { try d.set(i, for: key) }
            try d.flush()
        }
        let reopened = try SpillDictionary<PartdKey, Int>(path: path, durable: false)
        #expect(try Set(reopened.keys()) == Set(keys))
        for (i, key) in keys.enumerated() { #expect(try reopened.value(for: key) == i, "\(key)") }
        #expect(PartdKey("x").description == "\"x\"")
        #expect(PartdKey(7).description == "7")
        #expect(PartdKey.tuple("df", 7).description == "(\"df\", 7)")
        #expect(PartdKey.tuple("a").description == "(\"a\",)")
    }

    // ByteCount.swift:14 "The number of bytes; never negative."
    // (`bytes` is a `let`: nothing can set it below zero after the clamping initialiser.)
    @Test("ByteCount.bytes is never negative")
    func byteCountNeverNegative() {
        #expect(ByteCount(bytes: -5).bytes == 0)
        #expect(ByteCount.bytes(-1) == .zero)
        #expect(ByteCount(integerLiteral: -3).bytes == 0)
    }

    // ByteCount is not LosslessStringConvertible (its description rounds to three digits), so it does not promise
    // that the description reads back; it reads back to within the rounding.
    @Test("ByteCount: the description reads back to within its rounding; text parses as documented")
    func byteCountLossless() throws {
        #expect(!((ByteCount.zero as Any) is any LosslessStringConvertible))
        for bytes in [0, 999, 1_000, 64_000_000, 1_234_567, 1_099_511_627_776] {
            let count = ByteCount(bytes: bytes)
            let back = try #require(ByteCount(count.description), "\(bytes) -> \(count.description)")
            #expect(abs(back.bytes - bytes) <= bytes / 20, "\(bytes) -> \(count.description) -> \(back.bytes)")
        }
        #expect(ByteCount("1.5 GiB")?.bytes == 1_610_612_736)
        #expect(ByteCount("10k")?.bytes == 10_000)
        #expect(ByteCount("-5") == nil)
    }

    // MARK: - PartdPath (Sources/Partd/PathFunctions.swift)

    // PathFunctions.swift:16-19 create "Throws alreadyExists if `path` already holds keys, .notADirectory if it is a file."
    // :37 get "missing keys read as []"; :44 destroy "A missing path is fine."
    @Test("PartdPath create / put / get / destroy")
    func partdPath() throws {
        let path = scratchPath("audit-path")
        defer { try? PartdPath.destroy(path) }
        try PartdPath.create(path)
        try PartdPath.create(path)  // empty: fine
        try PartdPath.put(path, ["x": [1, 2]])
        _ = expectPartdError(.alreadyExists) { try PartdPath.create(path) }
        #expect(try PartdPath.get(path, ["x", "missing"]) == [[1, 2], []])
        try PartdPath.destroy(path)
        try PartdPath.destroy(path)
        let file = scratchPath("audit-path-file")
        #expect(FileManager.default.createFile(atPath: file, contents: Data([1])))
        defer { unlink(file) }
        _ = expectPartdError(.notADirectory) { try PartdPath.create(file) }
        _ = expectPartdError(.notADirectory) { try DirectoryStore(path: file) }
    }

    // PathFunctions.swift:37 get: "Reads keys from the store at `path`; missing keys read as `[]`." Unlike put
    // (":30 created if missing"), get does not say it creates anything (a read made a directory; now it does not).
    @Test("PartdPath.get of a path with no store reads [] without creating a directory")
    func partdPathGetCreates() throws {
        let path = scratchPath("audit-path-get")
        defer { try? PartdPath.destroy(path) }
        #expect(try PartdPath.get(path, ["x"]) == [[]])
        #expect(!exists(path), "a read created \(path)")
    }

    // MARK: - DirectoryStore (Sources/Partd/Stores/DirectoryStore.swift)

    // DirectoryStore.swift:150-151 close(): "Later operations throw ``PartdError/Code/closed``."
    @Test("DirectoryStore: operations after close throw closed")
    func directoryClosedOperations() throws {
        let path = scratchPath("audit-closed")
        defer { try? PartdPath.destroy(path) }
        let store = try DirectoryStore(path: path)
        try store.append("k", [1])
        try store.close()
        try store.close()  // a second close is fine
        _ = expectPartdError(.closed) { try store.append("k", [2]) }
        _ = expectPartdError(.closed) { try store.append(chunked: [(key: "k", chunks: [[2]])]) }
        _ = expectPartdError(.closed) { try store.get("k") }
        _ = expectPartdError(.closed) { try store.get(["k", "j"]) }
        _ = expectPartdError(.closed) { try store.withBytes(of: "k") { $0.count } }
        _ = expectPartdError(.closed) { try store.keys() }
        _ = expectPartdError(.closed) { try store.contains("k") }
        _ = expectPartdError(.closed) { try store.byteCount(of: "k") }
        _ = expectPartdError(.closed) { try store.delete("k") }
        _ = expectPartdError(.closed) { try store.drop() }
        _ = expectPartdError(.closed) { try store.setOnce("fresh", [1]) }
        _ = expectPartdError(.closed) { try store.truncate("k", to: 0) }
        #expect(try DirectoryStore(path: path).get("k") == [1])
    }

    // Same promise, for the calls that take the early-return paths (empty batches, a key set once before).
    @Test("DirectoryStore: empty batches and a repeated setOnce after close throw closed too")
    func directoryClosedEdgeOperations() throws {
        let path = scratchPath("audit-closed-edge")
        defer { try? PartdPath.destroy(path) }
        let store = try DirectoryStore(path: path)
        #expect(try store.setOnce("once", [1]))
        try store.close()
        _ = expectPartdError(.closed, "setOnce of a key this instance set before") { try store.setOnce("once", [2]) }
        _ = expectPartdError(.closed, "append of an empty batch") { try store.append([]) }
        _ = expectPartdError(.closed, "get of no keys") { try store.get([]) }
        _ = expectPartdError(.closed, "delete of no keys") { try store.delete([]) }
    }

    // DirectoryStore.swift:88-90 temporary(): "The directory is removed by close() or when the store is deinitialised."
    @Test("DirectoryStore.temporary: close and deinit remove the directory")
    func temporaryRemoved() throws {
        let store = try DirectoryStore.temporary()
        try store.append("k", [1])
        try store.close()
        #expect(!exists(store.path))
        var path = ""
        do {
            let other = try DirectoryStore.temporary()
            try other.append("k", [1])
            path = other.path
        }
        #expect(!exists(path))
    }

    // ByteStore.swift:64-67 setOnce: later calls are no-ops "until the key is deleted". A delete that fails on a
    // later key (its file is a directory: EISDIR) has already removed the earlier keys' files.
    @Test("DirectoryStore: a key deleted by a delete that failed on a later key can be set once again")
    func deleteFailingPartWayForgetsSetOnce() throws {
        let store = try DirectoryStore.temporary()
        defer { try? store.close() }
        #expect(try store.setOnce("a", [1]))
        let bPath = try store.filePath(for: "b")
        #expect(mkdir(bPath, 0o755) == 0)
        _ = expectPartdError(.isADirectory) { try store.delete(["a", "b"]) }
        #expect(try store.get("a") == [], "a was deleted before the failure")
        #expect(try store.contains("a") == false)
        #expect(try store.setOnce("a", [2]) == true, "a was deleted, so setOnce must write again")
        #expect(try store.get("a") == [2])
    }

    // ByteStore.swift setOnce: no-op "until the key is deleted or the store dropped through this instance (as
    // partd's `iset`, the record is the instance's: a delete through another instance or process does not reset it)".
    @Test("DirectoryStore: setOnce's record is the instance's: another instance's delete or drop does not reset it")
    func setOnceAfterOtherInstanceDeletes() throws {
        let path = scratchPath("audit-once-two")
        defer { try? PartdPath.destroy(path) }
        let a = try DirectoryStore(path: path)
        let b = try DirectoryStore(path: path)
        defer { try? a.close(); try? b.close() }
        #expect(try a.setOnce("k", [1]))
        try b.delete("k")
        #expect(try a.get("k") == [])
        #expect(try a.setOnce("k", [2]) == false, "another instance deleted the key")
        try b.drop()
        #expect(try a.setOnce("k", [3]) == false, "another instance dropped the store")
        #expect(try b.setOnce("k", [4]) == true)
        try a.delete("k")
        #expect(try a.setOnce("k", [5]) == true, "this instance deleted the key")
        #expect(try a.get("k") == [5])
    }

    // ByteStore.swift:23 / :76: another instance's delete is seen at once (docs/format.md §3.3 generation).
    @Test("DirectoryStore: a delete by another instance is seen by contains / byteCount / get / keys")
    func deleteSeenByOtherInstance() throws {
        let path = scratchPath("audit-two")
        defer { try? PartdPath.destroy(path) }
        let a = try DirectoryStore(path: path)
        let b = try DirectoryStore(path: path)
        defer { try? a.close(); try? b.close() }
        try a.append("k", [1, 2])
        #expect(try a.contains("k"))
        try b.delete("k")
        #expect(try a.contains("k") == false)
        #expect(try a.byteCount(of: "k") == 0)
        #expect(try a.get("k") == [])
        #expect(try a.keys() == [])
        try a.append("k", [3])
        #expect(try b.get("k") == [3])
    }

    // ByteStore.swift:24 "After drop() the store is empty and stays usable"; another instance's drop is seen
    // (its cached descriptors point at removed files).
    @Test("DirectoryStore: appends after another instance's drop are not lost")
    func dropSeenByOtherInstance() throws {
        let path = scratchPath("audit-drop-two")
        defer { try? PartdPath.destroy(path) }
        let a = try DirectoryStore(path: path)
        let b = try DirectoryStore(path: path)
        defer { try? a.close(); try? b.close() }
        try a.append("k", [1])
        try b.drop()
        try a.append("k", [2])
        #expect(try b.get("k") == [2])
        #expect(try a.get("k") == [2])
        #expect(try b.keys() == ["k"])
    }

    // DirectoryStore.swift:80 init "The directory is never removed implicitly"; drop keeps it usable (ByteStore.swift:24).
    @Test("DirectoryStore: drop removes files and subdirectories, keeps the directory usable")
    func directoryDrop() throws {
        let path = scratchPath("audit-drop")
        defer { try? PartdPath.destroy(path) }
        let store = try DirectoryStore(path: path)
        try store.append(["a": [1], "b": [2]])
        #expect(mkdir(path + "/sub", 0o755) == 0)
        #expect(FileManager.default.createFile(atPath: path + "/sub/f", contents: Data([1])))
        try store.drop()
        #expect(try store.keys() == [])
        #expect(!exists(path + "/sub"))
        try store.append("a", [3])
        #expect(try store.get("a") == [3])
        try store.close()
        #expect(exists(path))
    }

    // DirectoryStore.swift:34-36 "Open descriptors are cached (at most maxOpenFiles) and reused"; a multi-key get
    // returns values in the order of `keys` (ByteStore.swift:46), also past its 128-file read groups.
    @Test("DirectoryStore: one cached descriptor, many keys, a 300-key get in order")
    func directoryFewDescriptors() throws {
        let store = try DirectoryStore.temporary(configuration: .init(maxOpenFiles: 1))
        defer { try? store.close() }
        let keys = (0..<300).map { PartdKey($0) }
        for round in 0..<3 {
            for key in keys { try store.append(key, [UInt8(round)]) }
        }
        let values = try store.get(keys.reversed() + ["missing"])
        #expect(values.count == 301)
        #expect(values.dropLast().allSatisfy { $0 == [0, 1, 2] })
        #expect(values.last == [])
        #expect(try store.keys() == keys)
    }

    // DirectoryStore.swift:362-373 rewrite: "Returns whether the value changed."; :333-336 truncate "(a no-op if it is shorter)".
    @Test("DirectoryStore: rewrite reports whether the value changed; truncate of a shorter or missing key is a no-op")
    func directoryRewriteAndTruncate() throws {
        let store = try DirectoryStore.temporary()
        defer { try? store.close() }
        try store.append("k", [1, 2, 3])
        #expect(try store.rewrite("k") { _ in nil } == false)
        #expect(try store.rewrite("k") { $0 } == false)
        #expect(try store.rewrite("k") { Array($0.prefix(2)) } == true)
        #expect(try store.get("k") == [1, 2])
        #expect(try store.rewrite("k") { $0 + [9] } == true)
        #expect(try store.get("k") == [1, 2, 9])
        try store.append("k", [4])
        #expect(try store.get("k") == [1, 2, 9, 4])
        try store.truncate("k", to: 10)
        try store.truncate("missing", to: 0)
        #expect(try store.contains("missing") == false)
        try store.truncate("k", to: 1)
        #expect(try store.get("k") == [1])
        try store.append("k", [5])
        #expect(try store.get("k") == [1, 5])
    }

    // MARK: - SpillingStore (Sources/Partd/Stores/SpillingStore.swift)

    // docs/design.md:171-174 and SpillingStore.append: keys the slow store cannot hold are refused before anything is buffered.
    @Test("SpillingStore: a batch with a key the slow store cannot hold is refused whole")
    func spillingRefusesLongKey() throws {
        let slow = try DirectoryStore.temporary()
        defer { try? slow.close() }
        let store = SpillingStore(spillingTo: slow, availableMemory: .megabytes(1))
        let long = PartdKey(String(repeating: "x", count: 300))
        _ = expectPartdError(.keyTooLong) { try store.append([(key: "ok", value: [1]), (key: long, value: [2])]) }
        _ = expectPartdError(.keyTooLong) { try store.append(chunked: [(key: "ok", chunks: [[1]]), (key: long, chunks: [[2]])]) }
        _ = expectPartdError(.keyTooLong) { try store.setOnce(long, [1]) }
        #expect(try store.keys() == [])
        #expect(store.statistics.bufferedBytes == 0)
    }

    // SpillingStore.swift:38-39 "A failed spill loses nothing: the bytes return to the buffer and the failure is
    // reported by the next append or flush as spillFailed." :166-168 "The batch *was* appended".
    @Test("SpillingStore (synchronous): a failed spill keeps the bytes, in order, and a later flush writes them once")
    func spillFailureSynchronous() throws {
        let slow = try DirectoryStore.temporary()
        defer { try? slow.close() }
        let store = SpillingStore(spillingTo: slow, availableMemory: .zero, backgroundSpill: false)
        let blocker = try slow.filePath(for: "k")
        #expect(mkdir(blocker, 0o755) == 0)
        _ = expectPartdError(.spillFailed) { try store.append("k", [1, 2]) }
        #expect(store.bufferedBytes(of: "k") == [1, 2])
        _ = expectPartdError(.spillFailed) { try store.append("k", [3]) }
        #expect(store.bufferedBytes(of: "k") == [1, 2, 3])
        _ = expectPartdError(.spillFailed) { try store.flush() }
        #expect(store.bufferedBytes(of: "k") == [1, 2, 3], "flush: the bytes stay buffered")
        #expect(rmdir(blocker) == 0)
        try store.flush()
        #expect(store.bufferedKeys == [])
        #expect(try store.get("k") == [1, 2, 3])
        #expect(try slow.get("k") == [1, 2, 3])
    }

    @Test("SpillingStore (background): a failed spill keeps the bytes and is reported by append or flush")
    func spillFailureBackground() throws {
        let slow = try DirectoryStore.temporary()
        defer { try? slow.close() }
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(4))
        let blocker = try slow.filePath(for: "k")
        #expect(mkdir(blocker, 0o755) == 0)
        let bytes: [UInt8] = Array(1...16)
        var reported: [PartdError.Code] = []
        do { try store.append("k", bytes) } catch let error as PartdError { reported.append(error.code) }
        do { try store.flush() } catch let error as PartdError { reported.append(error.code) }
        #expect(reported.first == .spillFailed, "\(reported)")
        #expect(store.bufferedBytes(of: "k") == bytes)
        #expect(rmdir(blocker) == 0)
        try store.flush()
        #expect(try store.get("k") == bytes)
        #expect(try slow.get("k") == bytes)
    }

    // ByteStore.swift:64 setOnce replaces anything appended before, including bytes already spilled.
    @Test("SpillingStore: setOnce replaces spilled bytes; delete removes buffered and spilled bytes")
    func spillingSetOnceAndDelete() throws {
        let slow = MemoryStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(8), backgroundSpill: false)
        try store.append("k", Array(repeating: 1, count: 32))
        try store.append("k", [2])
        #expect(try slow.byteCount(of: "k") > 0)
        #expect(try store.setOnce("k", [9]))
        #expect(try store.get("k") == [9])
        try store.append("k", Array(repeating: 3, count: 32))
        try store.append("k", [4])
        try store.delete("k")
        #expect(try store.get("k") == [])
        #expect(try store.contains("k") == false)
        #expect(try store.keys() == [])
        #expect(store.statistics.bufferedBytes == 0)
    }

    // SpillingStore.swift:280-283 flush(keys): "Moves the buffered bytes of `keys` (all buffered keys if `nil`)";
    // :24-29 "memory stays within availableMemory (plus the batch being appended)".
    @Test("SpillingStore: flush of some keys leaves the others buffered; peak memory stays within budget + batch")
    func spillingFlushSomeAndPeak() throws {
        let slow = MemoryStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .megabytes(1))
        try store.append(["a": [1], "b": [2]])
        try store.flush(["a", "missing", "a"])
        #expect(store.bufferedKeys == ["b"])
        #expect(try slow.get(["a", "b"]) == [[1], []])
        #expect(try store.get(["a", "b"]) == [[1], [2]])
        let budget = 10_000, value = 700
        let bounded = SpillingStore(spillingTo: MemoryStore(), availableMemory: .bytes(budget))
        for i in 0..<500 { try bounded.append(PartdKey(i % 37), [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: value)) }
        #expect(bounded.statistics.peakMemoryBytes <= budget + value, "\(bounded.statistics)")
        try bounded.flush()
        #expect(try bounded.totalByteCount() == 500 * value)
    }

    // SpillingStore.swift:343-350 keysToSpill: the doc's own example, and "at least one key and at most maxCount".
    @Test("SpillingStore.keysToSpill: the documented example and its bounds")
    func keysToSpillExample() {
        let sizes: [(key: PartdKey, size: Int)] = [("a", 20), ("b", 10), ("c", 15), ("d", 15), ("e", 10), ("f", 25), ("g", 5)]
        #expect(SpillingStore<MemoryStore>.keysToSpill(sizes: sizes, fraction: 0.5, maxCount: 20) == ["f", "a"])
        #expect(SpillingStore<MemoryStore>.keysToSpill(sizes: sizes, fraction: 0, maxCount: 0) == ["f"])
        #expect(SpillingStore<MemoryStore>.keysToSpill(sizes: sizes, fraction: 1, maxCount: 2).count == 2)
        #expect(SpillingStore<MemoryStore>.keysToSpill(sizes: [], fraction: 1, maxCount: 2) == [])
    }

    // SpillingStore.swift:35 "Values written with setOnce count against the budget and can spill."
    @Test("SpillingStore: a setOnce value counts against the budget and spills")
    func spillingSetOnceSpills() throws {
        let slow = MemoryStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(8), backgroundSpill: false)
        #expect(try store.setOnce("k", [UInt8](repeating: 1, count: 32)))
        #expect(store.statistics.bufferedBytes == 0)
        #expect(try slow.get("k").count == 32)
        #expect(try store.setOnce("k", [2]) == false)
        #expect(try store.get("k").count == 32)
    }

    // First an observation, now the behaviour (SpillingStore.delete): a delete that fails on a later key (its
    // slow-store file is a directory) deleted the earlier key's spilled bytes but kept its buffered ones, so the key
    // read torn; now a key the slow store no longer holds goes from the buffer too.
    @Test("SpillingStore: a delete that fails part-way leaves each key whole or gone")
    func spillingFailedDeleteTearsKey() throws {
        let slow = try DirectoryStore.temporary()
        defer { try? slow.close() }
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(16), backgroundSpill: false)
        try store.append("a", [UInt8](repeating: 1, count: 32))  // spilled
        try store.append("a", [2])  // buffered
        let bPath = try slow.filePath(for: "b")
        #expect(mkdir(bPath, 0o755) == 0)
        #expect(throws: PartdError.self) { try store.delete(["a", "b"]) }
        let a = try store.get("a")
        #expect(a.isEmpty || a == [UInt8](repeating: 1, count: 32) + [2], "a reads \(a)")
        // A delete the slow store refuses before deleting anything leaves a key held in memory alone as it was.
        try store.append("m", [7])
        #expect(store.statistics.bufferedBytes > 0)
        #expect(throws: PartdError.self) { try store.delete(["m", PartdKey(String(repeating: "k", count: 300))]) }
        #expect(try store.get("m") == [7])
    }

    // MARK: - CompressedStore (Sources/PartdCompression/CompressedStore.swift)

    // CompressedStore.swift:17-18 "Every frame carries an XXH3 checksum, checked on every read."
    @Test("CompressedStore: a damaged frame fails get with corruptData; byteCount matches get for multi-frame values")
    func compressedChecksums() throws {
        let inner = MemoryStore()
        let store = CompressedStore(.zlib(), over: inner, chunkSize: 1000)
        let value = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try store.append("k", value)
        try store.append("k", [])
        #expect(try store.byteCount(of: "k") == 5000)
        #expect(try store.get("k") == value)
        var raw = try inner.get("k")
        raw[raw.count / 2] ^= 0xFF
        try inner.delete("k")
        try inner.append("k", raw)
        _ = expectPartdError(.corruptData) { try store.get("k") }
    }

    // ByteStore.swift:85-89 validate forwards through wrappers.
    @Test("wrappers forward validate to the store below")
    func wrappersValidate() throws {
        let dir = try DirectoryStore.temporary()
        defer { try? dir.close() }
        let long = PartdKey(String(repeating: "y", count: 300))
        _ = expectPartdError(.keyTooLong) { try CompressedStore(.lz4, over: dir).validate(long) }
        _ = expectPartdError(.keyTooLong) { try SpillingStore(spillingTo: dir, availableMemory: .megabytes(1)).validate(long) }
        let encoded = EncodedStore<DirectoryStore, [UInt8]>(over: dir, encode: { $0 }, decode: { $0 }, join: { $0.flatMap { $0 } })
        _ = expectPartdError(.keyTooLong) { try encoded.validate(long) }
    }

    // MARK: - EncodedStore (Sources/PartdCompression/EncodedStore.swift)

    static func intStore(_ inner: MemoryStore = MemoryStore()) -> EncodedStore<MemoryStore, [Int]> {
        EncodedStore<MemoryStore, [Int]>(
            over: inner,
            encode: { ints in
                guard !ints.contains(where: { $0 < 0 }) else { throw CancellationError() }
                return ints.map { UInt8($0) }
            },
            decode: { bytes in
                guard !bytes.contains(0xEE) else { throw CancellationError() }
                return bytes.map { Int($0) }
            },
            join: { $0.flatMap { $0 } })
    }

    // EncodedStore.swift:10-11 "A missing key reads as join([])"; encoding fails before anything is written.
    @Test("EncodedStore: a value that cannot be encoded fails the batch before anything is written")
    func encodedStoreEncodeFailure() throws {
        let inner = MemoryStore()
        let store = Self.intStore(inner)
        try store.append("a", [1])
        _ = expectPartdError(.invalidArgument) { try store.append([(key: "a", value: [2]), (key: "b", value: [-1]), (key: "c", value: [3])]) }
        #expect(try store.get(["a", "b", "c"]) == [[1], [], []])
        #expect(try inner.keys() == ["a"])
        _ = expectPartdError(.invalidArgument) { try store.setOnce("a", [-5]) }
        #expect(try store.get("a") == [1])
        #expect(try store.setOnce("a", []) == true)
        #expect(try store.get("a") == [])
        #expect(try store.contains("a"))
        #expect(try store.setOnce("a", [8]) == false)
    }

    // EncodedStore.swift:68-71 get "Throws corruptData naming the key and the frame's byte offset if ... the decoder rejects it."
    @Test("EncodedStore: a value the decoder rejects is corruptData naming key and offset")
    func encodedStoreDecodeFailure() throws {
        let store = Self.intStore()
        try store.append("k", [1, 2])
        try store.append("k", [0xEE])
        let error = expectPartdError(.corruptData) { try store.get("k") }
        #expect(error?.key == "k")
        #expect(error?.message.contains("offset 26") == true, "\(error.map { "\($0)" } ?? "")")
    }

    // MARK: - ArrayStore (Sources/PartdTyped/Arrays/ArrayStore.swift)

    // ArrayStore.swift:44-45 "Throws typeMismatch (and appends nothing) if an array's element type or row shape
    // differs from what its key holds."
    @Test("ArrayStore: a mismatch anywhere in a batch appends nothing, and teaches nothing")
    func arrayStoreMismatch() throws {
        let inner = MemoryStore()
        let store = ArrayStore(over: inner)
        try store.append("a", NDArray<Double>([1]))
        _ = expectPartdError(.typeMismatch) {
            try store.append([(key: PartdKey("b"), value: NDArray<Int32>([1])), (key: PartdKey("a"), value: NDArray<Int32>([2]))])
        }
        let wide = try NDArray<Int32>([2, 3], shape: [1, 2])
        _ = expectPartdError(.typeMismatch) {
            try store.append([(key: PartdKey("c"), value: NDArray<Int32>([1])), (key: PartdKey("c"), value: wide)])
        }
        #expect(try inner.keys() == ["a"])
        // "b" was not learned as Int32 by the refused batch: Double is accepted now.
        try store.append("b", NDArray<Double>([5]))
        #expect(try store.get("b", as: NDArray<Double>.self) == [5])
        // Row shape.
        let square = try NDArray<Double>([1, 2, 3, 4], shape: [2, 2])
        let row3 = try NDArray<Double>([1, 2, 3], shape: [1, 3])
        try store.append("m", square)
        _ = expectPartdError(.typeMismatch) {
            try store.append([(key: PartdKey("n"), value: NDArray<Double>([0])), (key: PartdKey("m"), value: row3)])
        }
        #expect(try inner.contains("n") == false)
        // get as another type.
        _ = expectPartdError(.typeMismatch) { try store.get("a", as: NDArray<Int32>.self) }
    }

    // ArrayStore.swift:20-22, 29-30: missing key reads empty; delete removes the data (and its type); another
    // instance's frames are checked when read.
    @Test("ArrayStore: missing keys, delete, drop, frames of another instance checked on read")
    func arrayStoreLifecycle() throws {
        let inner = MemoryStore()
        let store = ArrayStore(over: inner)
        #expect(try store.get("missing", as: NDArray<Double>.self) == [])
        #expect(try store.layout(of: "missing") == nil)
        try store.append("a", NDArray<Double>([1]))
        try store.delete("a")
        #expect(try store.get("a", as: NDArray<Double>.self) == [])
        try store.append("a", NDArray<Int32>([1]))
        try store.drop()
        try store.append("a", NDArray<Int16>([1]))
        let other = ArrayStore(over: inner)
        try other.append("a", NDArray<Double>([2]))
        _ = expectPartdError(.typeMismatch) { try store.get("a", as: NDArray<Int16>.self) }
    }

    // ArrayStore.swift:19-20 "the shape is kept (appends must agree on every axis but the first)"; get concatenates
    // along the first axis.
    @Test("ArrayStore: get concatenates along the first axis and keeps the row shape")
    func arrayStoreShape() throws {
        let store = ArrayStore(over: MemoryStore())
        try store.append("m", try NDArray<Int32>([1, 2, 3, 4], shape: [2, 2]))
        try store.append("m", try NDArray<Int32>([5, 6], shape: [1, 2]))
        try store.append("m", try NDArray<Int32>([], shape: [0, 2]))
        let m = try store.get("m", as: NDArray<Int32>.self)
        #expect(m.shape == [3, 2])
        #expect(m.elements == [1, 2, 3, 4, 5, 6])
        #expect(try store.layout(of: "m")?.rowShape == [2])
    }

    // MARK: - TableStore (Sources/PartdTyped/Tables/TableStore.swift)

    // TableStore.swift:43-46 "Throws typeMismatch (and appends nothing) if a table's schema differs from what its key
    // holds; invalidArgument (and appends nothing) for a column name longer than 65,535 bytes".
    @Test("TableStore: schema mismatch or an overlong column name anywhere in a batch appends nothing")
    func tableStoreRefusals() throws {
        let inner = MemoryStore()
        let store = TableStore(over: inner)
        let ints = try Table([Column("id", [1, 2] as [Int64])])
        let strings = try Table([Column("id", strings: ["a"])])
        let long = try Table([Column(String(repeating: "c", count: 70_000), [1] as [Int64])])
        _ = expectPartdError(.typeMismatch) { try store.append([(key: "p", value: ints), (key: "p", value: strings)]) }
        _ = expectPartdError(.invalidArgument) { try store.append([(key: "q", value: ints), (key: "r", value: long)]) }
        #expect(try inner.keys() == [])
        // The refused batch taught nothing: "p" takes strings now.
        try store.append("p", strings)
        #expect(try store.get("p").rowCount == 1)
        // get(columns:) refuses a name twice "whatever the keys hold".
        _ = expectPartdError(.invalidArgument) { try store.get(["missing"], columns: ["id", "id"]) }
    }

    // TableStore.swift:21-22 "Categorical columns whose dictionaries differ are unified on read."
    @Test("TableStore: categorical columns with different dictionaries are unified on read")
    func tableStoreCategoricals() throws {
        let store = TableStore(over: MemoryStore())
        try store.append("p", try Table([Column("c", categorical: ["a", "b", "a"])]))
        try store.append("p", try Table([Column("c", categorical: ["b", "c"])]))
        let t = try store.get("p")
        #expect(t.rowCount == 5)
        #expect((0..<5).map { t.columns[0].text(at: $0) } == ["a", "b", "a", "b", "c"])
        #expect(t.columns[0].categorical != nil)
    }

    // TableStore.swift: "An append checks against the schema this instance knows (from an append or a read);
    // tables another instance or process appended are checked when the key is read, as ArrayStore does."
    @Test("TableStore: another instance's tables are checked when read; once read, an append of another schema is refused")
    func tableStoreMismatchAcrossInstances() throws {
        let inner = MemoryStore()
        try TableStore(over: inner).append("p", try Table([Column("id", [1] as [Int64])]))
        let fresh = TableStore(over: inner)
        try fresh.append("p", try Table([Column("id", strings: ["a"])]))
        _ = expectPartdError(.typeMismatch) { try fresh.get("p") }
        let reader = TableStore(over: inner)
        try inner.delete("p")
        try TableStore(over: inner).append("p", try Table([Column("id", [1] as [Int64])]))
        #expect(try reader.get("p").rowCount == 1)
        _ = expectPartdError(.typeMismatch, "the key holds Int64 tables") {
            try reader.append("p", try Table([Column("id", strings: ["a"])]))
        }
        #expect(try reader.get("p").rowCount == 1)
    }

    // TableStore.swift:23-24 "A missing key reads as an empty table with the key's schema when this instance knows it".
    @Test("TableStore: a missing key reads as an empty table with the known schema")
    func tableStoreMissingKey() throws {
        let inner = MemoryStore()
        let store = TableStore(over: inner)
        let table = try Table([Column("id", [1] as [Int64]), Column("s", strings: ["x"])])
        try store.append("p", table)
        try TableStore(over: inner).delete("p")  // another instance deletes it
        let empty = try store.get("p")
        #expect(empty.rowCount == 0)
        #expect(empty.schema == table.schema)
        #expect(try store.get("p", columns: ["s"]).schema == TableSchema([.init("s", .string)]))
        #expect(try store.get("never").columns.isEmpty)
    }

    // Table.swift:301-302 init "Throws invalidArgument if columns differ in length, names repeat (the same UTF-8
    // bytes), or a validity bitmap's length differs"; :382-383 selecting; :409 concatenate "typeMismatch if the
    // schemas differ"; :240 "Names compare by their UTF-8 bytes"; NDArray.swift:29-30 init.
    @Test("Table / Column / NDArray public API refusals")
    func tableAPI() throws {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        _ = expectPartdError(.invalidArgument) { try Table([Column("a", [1] as [Int64]), Column("a", [2] as [Int64])]) }
        _ = expectPartdError(.invalidArgument) { try Table([Column("a", [1] as [Int64]), Column("b", [2, 3] as [Int64])]) }
        _ = expectPartdError(.invalidArgument) { try Table([Column("a", [1, 2] as [Int64], validity: [true])]) }
        let both = try Table([Column(nfc, [1] as [Int64]), Column(nfd, [2] as [Int64])])
        #expect(both[nfd]?.values(as: Int64.self) == [2])
        #expect(both[nfc]?.values(as: Int64.self) == [1])
        #expect(both[nfc]?.values(as: Int32.self) == nil)
        #expect(try both.selecting([nfd]).columns.map(\.name) == [nfd])
        _ = expectPartdError(.invalidArgument) { try both.selecting([nfd, nfd]) }
        _ = expectPartdError(.invalidArgument) { try both.selecting(["nope"]) }
        let onlyNFC = try Table([Column(nfc, [1] as [Int64])])
        _ = expectPartdError(.invalidArgument) { try onlyNFC.selecting([nfd]) }
        _ = expectPartdError(.typeMismatch) { try Table.concatenate([onlyNFC, try Table([Column(nfd, [1] as [Int64])])]) }
        _ = expectPartdError(.typeMismatch) { try Table.concatenate([onlyNFC, try Table([Column(nfc, [1] as [Int32])])]) }
        #expect(try Table.concatenate([]).columns.isEmpty)
        let joined = try Table.concatenate([onlyNFC, try Table([Column(nfc, [5] as [Int64], validity: [false])])])
        #expect(joined.rowCount == 2)
        #expect(joined.columns[0].isValid(0) && !joined.columns[0].isValid(1))
        _ = expectPartdError(.invalidArgument) { try NDArray<Double>([1], shape: []) }
        _ = expectPartdError(.invalidArgument) { try NDArray<Double>([], shape: [0, -1]) }
        _ = expectPartdError(.invalidArgument) { try NDArray<Double>([1, 2, 3], shape: [2, 2]) }
        _ = expectPartdError(.invalidArgument) { try NDArray<Double>([], shape: [Int.max, 2]) }
        #expect(try NDArray<Double>([], shape: [0, 3]).shape == [0, 3])
    }

    // MARK: - ListStore (Sources/PartdTyped/Lists/ListStore.swift)

    // ListStore.swift:63-64 "Throws invalidArgument naming the key if a value cannot be encoded; nothing of the batch is written then."
    @Test("ListStore: a value that cannot be encoded writes nothing of the batch", arguments: [ListEncoding.messagePack(), .messagePack(.array), .json])
    func listStoreEncodeFailure(_ encoding: ListEncoding) throws {
        let inner = MemoryStore()
        let store = ListStore<MemoryStore, AuditBomb>(over: inner, encoding: encoding)
        try store.append("a", [AuditBomb(1)])
        let error = expectPartdError(.invalidArgument) {
            try store.append([(key: "a", value: [AuditBomb(2)]), (key: "b", value: [AuditBomb(3), AuditBomb(4, explode: true)]), (key: "c", value: [])])
        }
        #expect(error?.key == "b")
        #expect(try inner.keys() == ["a"])
        #expect(try store.get(["a", "b", "c"]) == [[AuditBomb(1)], [], []])
        _ = expectPartdError(.invalidArgument) { try store.setOnce("a", [AuditBomb(5, explode: true)]) }
        #expect(try store.get("a") == [AuditBomb(1)])
        #expect(try store.setOnce("a", [AuditBomb(6)]))
        #expect(try store.setOnce("a", [AuditBomb(7)]) == false)
        #expect(try store.get("a") == [AuditBomb(6)])
    }

    // ListStore.swift:37-38 "Reading accepts both framings and both encodings in any mix"; :80 "a missing key reads as []".
    @Test("ListStore: frames of both framings and both encodings on one key read back in order")
    func listStoreMixedFrames() throws {
        let inner = MemoryStore()
        let combos: [(ListEncoding, ListFraming)] = [(.messagePack(), .checked), (.json, .partd), (.json, .checked), (.messagePack(.array), .partd)]
        for (i, combo) in combos.enumerated() {
            try ListStore<MemoryStore, Int>(over: inner, encoding: combo.0, framing: combo.1).append("k", [i, i + 10])
        }
        try ListStore<MemoryStore, Int>(over: inner, framing: .partd).append("k", [])
        let reader = ListStore<MemoryStore, Int>(over: inner)
        #expect(try reader.get("k") == [0, 10, 1, 11, 2, 12, 3, 13])
        #expect(try reader.get(["missing", "k"]).map(\.count) == [0, 8])
    }

    // ListStore.get: "typeMismatch naming what the key holds if its frames hold arrays or tables"; docs/format.md §6:
    // a value of the wrong type is typeMismatch, in every direction.
    @Test("ListStore.get of a key holding arrays or tables throws the documented typeMismatch, and the reverse too")
    func listStoreReadsOtherFrames() throws {
        let inner = MemoryStore()
        try ArrayStore(over: inner).append("arr", NDArray<Double>([1, 2]))
        try TableStore(over: inner).append("tab", try Table([Column("id", [1] as [Int64])]))
        let lists = ListStore<MemoryStore, Int>(over: inner)
        _ = expectPartdError(.typeMismatch) { try lists.get("arr") }
        _ = expectPartdError(.typeMismatch) { try lists.get("tab") }
        try lists.append("list", [1, 2])
        _ = expectPartdError(.typeMismatch) { try ArrayStore(over: inner).get("list", as: NDArray<Double>.self) }
        _ = expectPartdError(.typeMismatch) { try TableStore(over: inner).get("list") }
    }

    // MARK: - SpillDictionary (Sources/PartdCompanions/SpillDictionary.swift)

    // SpillDictionary.swift:17-18 "a value that cannot be encoded throws at `set`, never later";
    // :273 "Throws: the encoder's error if `value` cannot be encoded (nothing changes then)".
    @Test("SpillDictionary: set of an unencodable value changes nothing")
    func spillDictionarySetFailure() throws {
        let d = try SpillDictionary<String, AuditBomb>(memoryBudget: .bytes(4))
        try d.set(AuditBomb(1), for: "a")
        try d.set(AuditBomb(2), for: "b")
        #expect(throws: (any Error).self) { try d.set(AuditBomb(9, explode: true), for: "a") }
        #expect(throws: (any Error).self) { try d.set(AuditBomb(9, explode: true), for: "new") }
        #expect(try d.value(for: "a") == AuditBomb(1))
        #expect(try d.contains("new") == false)
        #expect(try Set(d.keys()) == ["a", "b"])
        try d.flush()
        #expect(try d.value(for: "b") == AuditBomb(2))
    }

    // SpillDictionary.swift:19-20 "Eviction is by last use: reads refresh recency. Reading a spilled value loads it
    // back (then calls onMiss)"; :226-227 prefetch "(without calling onMiss)".
    @Test("SpillDictionary: least recently used is spilled; reads refresh recency; onMiss on loads, not prefetch")
    func spillDictionaryLRU() throws {
        final class Events: @unchecked Sendable { var misses: [String] = []; var overflows: [String] = []; let lock = NSLock() }
        let events = Events()
        let value = [UInt8](repeating: 1, count: 10)
        let size = try MessagePackEncoder().encode(value).count
        let d = try SpillDictionary<String, [UInt8]>(
            memoryBudget: .bytes(2 * size),
            onMiss: { key in events.lock.lock(); events.misses.append(key); events.lock.unlock() },
            onOverflow: { key in events.lock.lock(); events.overflows.append(key); events.lock.unlock() })
        try d.set(value, for: "a")
        try d.set(value, for: "b")
        _ = try d.value(for: "a")
        try d.set(value, for: "c")
        #expect(d.isInMemory("a") && !d.isInMemory("b") && d.isInMemory("c"))
        #expect(events.overflows == ["b"])
        #expect(try d.value(for: "b") == value)
        #expect(events.misses == ["b"])
        #expect(events.overflows == ["b", "a"])
        try d.prefetch(["a"])
        #expect(events.misses == ["b"])
        #expect(d.memoryUsage <= 2 * size)
        #expect(try d.count == 3)
    }

    // SpillDictionary.swift:273-275 set: "or the error writing another value to disk to stay within the budget:
    // `value` is set then, the value that could not be written stays in memory".
    @Test("SpillDictionary: set whose spill of another value fails keeps both values")
    func spillDictionarySpillFailure() throws {
        let path = scratchPath("audit-chest-fail")
        defer { try? PartdPath.destroy(path) }
        let value = [UInt8](repeating: 1, count: 10)
        let size = try MessagePackEncoder().encode(value).count
        let d = try SpillDictionary<String, [UInt8]>(path: path, memoryBudget: .bytes(size), durable: false)
        try d.set(value, for: "a")
        try d.set(value, for: "b")  // spills a to its file
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("v") }
        try #require(files.count == 1)
        let fileA = path + "/" + files[0]
        _ = try d.value(for: "a")  // a back in memory (b spilled)
        let newA = [UInt8](repeating: 2, count: 10)
        try d.set(newA, for: "a")  // dirty, same file (no flush published it)
        #expect(unlink(fileA) == 0 && mkdir(fileA, 0o755) == 0)
        #expect(FileManager.default.createFile(atPath: fileA + "/x", contents: Data()))
        let c = [UInt8](repeating: 3, count: 10)
        #expect(throws: PartdError.self) { try d.set(c, for: "c") }  // spilling a fails
        #expect(d.isInMemory("a"))
        #expect(d.isInMemory("c"))
        #expect(unlink(fileA + "/x") == 0 && rmdir(fileA) == 0)
        #expect(try d.value(for: "c") == c)
        #expect(try d.value(for: "a") == newA)
        #expect(try d.value(for: "b") == value)
        try d.flush()
        let reopened = try SpillDictionary<String, [UInt8]>(path: path, durable: false)
        #expect(try reopened.value(for: "a") == newA)
        #expect(try reopened.value(for: "c") == c)
    }

    // SpillDictionary.swift:251-253 merge: "with `overwrite` false, keys this one already has keep their values".
    @Test("SpillDictionary.merge with and without overwrite")
    func spillDictionaryMerge() throws {
        let a = try SpillDictionary<String, Int>(memoryBudget: .zero)
        let b = try SpillDictionary<String, Int>()
        try a.set(1, for: "x")
        try b.set(2, for: "x")
        try b.set(3, for: "y")
        try a.merge(b, overwrite: false)
        #expect(try a.value(for: "x") == 1)
        #expect(try a.value(for: "y") == 3)
        try a.merge(b)
        #expect(try a.value(for: "x") == 2)
        #expect(try Set(a.items().map(\.key)) == ["x", "y"])
        #expect(try a.values().sorted() == [2, 3])
    }

    // SpillDictionary.swift:293-297 removeValue: "returns whether it had a value"; on failure "Nothing changes then".
    @Test("SpillDictionary: removeValue returns whether it had a value; a failed remove changes nothing")
    func spillDictionaryRemove() throws {
        let path = scratchPath("audit-chest")
        defer { try? PartdPath.destroy(path) }
        let d = try SpillDictionary<String, [Int]>(path: path, memoryBudget: .zero, durable: false)
        #expect(try d.removeValue(for: "missing") == false)
        try d.set([1, 2, 3], for: "k")  // spilled at once (zero budget) to a file no flush published
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("v") }
        try #require(files.count == 1)
        let file = path + "/" + files[0]
        // Make the file undeletable by unlink: a non-empty directory in its place.
        #expect(rename(file, file + ".aside") == 0)
        #expect(mkdir(file, 0o755) == 0)
        #expect(FileManager.default.createFile(atPath: file + "/x", contents: Data()))
        #expect(throws: PartdError.self) { try d.removeValue(for: "k") }
        #expect(unlink(file + "/x") == 0 && rmdir(file) == 0 && rename(file + ".aside", file) == 0)
        #expect(try d.contains("k"), "nothing changes when the remove fails")
        #expect(try d.value(for: "k") == [1, 2, 3])
        #expect(try d.removeValue(for: "k") == true)
        #expect(try d.removeValue(for: "k") == false)
        #expect(try d.value(for: "k") == nil)
        #expect(!exists(file), "an unpublished file is removed at once")
    }

    // SpillDictionary.swift:299-330 (drop): "later calls throw closed"; :46-47 "a given directory ... is flushed at deinit".
    @Test("SpillDictionary: drop removes the directory and later calls throw closed; deinit flushes a given directory")
    func spillDictionaryLifetime() throws {
        let path = scratchPath("audit-chest-life")
        defer { try? PartdPath.destroy(path) }
        do {
            let d = try SpillDictionary<String, Int>(path: path, durable: false)
            try d.set(7, for: "x")
        }
        let d = try SpillDictionary<String, Int>(path: path, durable: false)
        #expect(try d.value(for: "x") == 7)
        try d.drop()
        #expect(!exists(path))
        _ = expectPartdError(.closed) { try d.value(for: "x") }
        _ = expectPartdError(.closed) { try d.set(1, for: "x") }
        _ = expectPartdError(.closed) { try d.keys() }
        _ = expectPartdError(.closed) { try d.contains("x") }
        _ = expectPartdError(.closed) { try d.removeValue(for: "x") }
        _ = expectPartdError(.closed) { try d.flush() }
        _ = expectPartdError(.closed) { try d.prefetch(["x"]) }
        #expect(!exists(path))
    }

    // SpillDictionary.swift:164-167 withTemporary: "removes the directory when `body` returns or throws".
    @Test("SpillDictionary.withTemporary removes its directory on return and on throw")
    func spillDictionaryWithTemporary() throws {
        let kept = try SpillDictionary<Int, Int>.withTemporary { d in
            try d.set(1, for: 1)
            return d.path
        }
        #expect(!exists(kept))
        final class Box: @unchecked Sendable { var path = "" }
        let leaked = Box()
        #expect(throws: CancellationError.self) {
            try SpillDictionary<Int, Int>.withTemporary { d in
                try d.set(1, for: 1)
                leaked.path = d.path
                throw CancellationError()
            }
        }
        #expect(!leaked.path.isEmpty && !exists(leaked.path))
    }

    // SpillDictionary.swift:34-45 Processes: "a key another process removed and flushed is gone here too";
    // "a value reaches other instances only when flushed".
    @Test("SpillDictionary: two instances over one directory follow each other's flushes")
    func spillDictionaryTwoInstances() throws {
        let path = scratchPath("audit-chest-two")
        defer { try? PartdPath.destroy(path) }
        let a = try SpillDictionary<String, Int>(path: path, durable: false)
        let b = try SpillDictionary<String, Int>(path: path, durable: false)
        try a.set(1, for: "k")
        #expect(try b.value(for: "k") == nil)
        try a.flush()
        #expect(try b.value(for: "k") == 1)
        #expect(try b.removeValue(for: "k") == true)
        try b.flush()
        #expect(try a.keys() == [])
        #expect(try a.contains("k") == false)
        #expect(try a.value(for: "k") == nil)
        try a.set(2, for: "j")
        try a.flush()
        try b.set(3, for: "j")
        try b.flush()
        _ = try a.keys()  // a follows the index: b's value replaces the one a holds
        #expect(try a.value(for: "j") == 3, "the last flush wins")
    }

    // SpillDictionary.swift:34-44 "flush() merges this instance's changes ... under an inter-process lock, keeping
    // what other processes flushed ... Two processes writing different keys lose nothing".
    @Test("SpillDictionary: instances flushing different keys at once lose nothing")
    func spillDictionaryConcurrentFlushes() throws {
        let path = scratchPath("audit-chest-conc")
        defer { try? PartdPath.destroy(path) }
        let dictionaries = try (0..<3).map { _ in try SpillDictionary<String, Int>(path: path, durable: false) }
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            for j in 0..<20 {
                try? dictionaries[i].set(j, for: "d\(i)-\(j)")
                try? dictionaries[i].flush()
            }
        }
        let reader = try SpillDictionary<String, Int>(path: path, durable: false)
        #expect(try reader.keys().count == 60)
        #expect(try reader.value(for: "d2-19") == 19)
    }

    // MARK: - DatasetDirectory (Sources/PartdCompanions/DatasetDirectory.swift)

    // DatasetDirectory.swift:31-36 init throws notFound / notADirectory; :41-45 entry name rules.
    @Test("DatasetDirectory: open errors and entry name rules")
    func datasetDirectoryNames() throws {
        let path = scratchPath("audit-db")
        defer { try? PartdPath.destroy(path) }
        _ = expectPartdError(.notFound) { try DatasetDirectory(path: path, create: false) }
        let file = scratchPath("audit-db-file")
        #expect(FileManager.default.createFile(atPath: file, contents: Data([1])))
        defer { unlink(file) }
        _ = expectPartdError(.notADirectory) { try DatasetDirectory(path: file) }
        _ = expectPartdError(.notADirectory) { try DatasetDirectory(path: file, create: false) }
        let db = try DatasetDirectory(path: path)
        for bad in ["", ".x", "a/b", "x.meta", "a\u{0}b", String(repeating: "n", count: 201)] {
            _ = expectPartdError(.invalidKey, "\(bad.debugDescription)") { try db.entry(bad) }
        }
        let longest = try db.entry(String(repeating: "n", count: 200))
        try longest.write(1)
        #expect(try longest.read(Int.self) == 1)
        _ = expectPartdError(.notFound) { try db.subdirectory("nope", create: false) }
    }

    // DatasetDirectory.swift:52 names(): "The names of the entries that have data or metadata, sorted." Two entries
    // whose names differ in bytes (NFC / NFD) are two entries with two data files.
    @Test("DatasetDirectory.names lists canonically equivalent names that are different entries")
    func datasetDirectoryEquivalentNames() throws {
        let path = scratchPath("audit-db-nfc")
        defer { try? PartdPath.destroy(path) }
        let db = try DatasetDirectory(path: path)
        try db.entry("caf\u{E9}").write(1)
        try db.entry("cafe\u{301}").write(2)
        #expect(try db.entry("caf\u{E9}").read(Int.self) == 1)
        #expect(try db.entry("cafe\u{301}").read(Int.self) == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.count == 2)
        let names = try db.names()
        #expect(names.count == 2, "\(names.map { Array($0.unicodeScalars) })")
        #expect(try db.entries().count == 2)
    }

    // DatasetDirectory.swift:52 names(); suffixes are matched as Characters, so a name ending in a prepend mark
    // (U+0600, which joins the "." after it into one grapheme) is not found by names().
    @Test("DatasetDirectory.names lists an entry whose name ends in a prepend mark")
    func datasetDirectoryPrependName() throws {
        let path = scratchPath("audit-db-prepend")
        defer { try? PartdPath.destroy(path) }
        let db = try DatasetDirectory(path: path)
        let name = "x\u{0600}"
        try db.entry(name).write(1)
        #expect(try db.entry(name).hasData)
        #expect(try db.names() == [name])
    }

    // DatasetDirectory.swift:44-45 entry(): "Throws invalidKey for ... one starting with `.` or ending with `.meta`".
    // The `.meta` rule keeps an entry's JSON data file from being another entry's metadata file (`NAME.meta.json`).
    @Test("DatasetDirectory.entry refuses names that start with '.' or end with '.meta' in bytes")
    func datasetDirectoryNameRulesInBytes() throws {
        let path = scratchPath("audit-db-meta")
        defer { try? PartdPath.destroy(path) }
        let json = try DatasetDirectory(path: path, encoding: .json)
        let base = "x\u{0600}"
        _ = expectPartdError(.invalidKey, "ends with .meta") { try json.entry(base + ".meta") }
        _ = expectPartdError(.invalidKey, "starts with .") { try json.entry(".\u{301}x") }
        // What the refused name would let happen: its JSON data overwrites the metadata of `base`.
        try json.entry(base).write(1, metadata: ["m": 1])
        if let clash = try? json.entry(base + ".meta") {
            try clash.write(["not": "metadata"] as [String: String])
            #expect(try json.entry(base).metadata() == ["m": 1], "another entry's write replaced this entry's metadata")
        }
    }

    // DatasetDirectory.swift:251-252 withLock: "other threads and processes calling withLock on the same entry wait".
    @Test("DatasetEntry.withLock excludes other threads: no lost metadata updates")
    func datasetEntryLock() throws {
        let path = scratchPath("audit-db-lock")
        defer { try? PartdPath.destroy(path) }
        let db = try DatasetDirectory(path: path)
        try db.entry("counter").setMetadata(["n": 0])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<15 {
                try? db.entry("counter").withLock {
                    try db.entry("counter").updateMetadata { m in
                        if case .integer(let n) = m["n"] { m["n"] = .integer(n + 1) }
                    }
                }
            }
        }
        #expect(try db.entry("counter").metadata()["n"] == .integer(60))
        #expect(try db.names() == ["counter"])
    }

    // DatasetDirectory.swift:128-131 write: "Throws invalidArgument if `value` cannot be encoded, or `metadata` holds a
    // NaN or infinite number; then nothing is written." :145-148 writeBytes likewise; :213-216 setMetadata "left as it was".
    @Test("DatasetDirectory: refused writes leave data and metadata as they were")
    func datasetDirectoryRefusedWrites() throws {
        let path = scratchPath("audit-db-w")
        defer { try? PartdPath.destroy(path) }
        let db = try DatasetDirectory(path: path)
        let entry = try db.entry("run")
        try entry.write(AuditBomb(1), metadata: ["a": 1])
        _ = expectPartdError(.invalidArgument) { try entry.write(AuditBomb(2, explode: true), metadata: ["a": 2]) }
        _ = expectPartdError(.invalidArgument) { try entry.write(AuditBomb(3), metadata: ["a": .number(.nan)]) }
        _ = expectPartdError(.invalidArgument) { try entry.writeBytes([1], metadata: ["nested": ["x": .number(.infinity)]]) }
        _ = expectPartdError(.invalidArgument) { try entry.setMetadata(["a": .number(-.infinity)]) }
        #expect(try entry.read(AuditBomb.self) == AuditBomb(1))
        #expect(try entry.metadata() == ["a": 1])
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).sorted() == ["run.meta.json", "run.msgpack"])
    }

    // DatasetDirectory.swift:19-21 "exactly one of them"; :158-163 read throws notFound / corruptData; names() lists
    // entries "that have data or metadata, sorted"; delete removes data and metadata.
    @Test("DatasetDirectory: one data file per entry, read errors, names, delete")
    func datasetDirectoryEntries() throws {
        let path = scratchPath("audit-db-e")
        defer { try? PartdPath.destroy(path) }
        let db = try DatasetDirectory(path: path)
        let json = try DatasetDirectory(path: path, encoding: .json)
        let e = try db.entry("e")
        _ = expectPartdError(.notFound) { try e.read(Int.self) }
        _ = expectPartdError(.notFound) { try e.readBytes() }
        #expect(try e.metadata() == [:])
        try e.writeBytes([1, 2])
        _ = expectPartdError(.corruptData) { try e.read(Int.self) }
        try json.entry("e").write(5)
        #expect(try e.read(Int.self) == 5)
        try e.write(6)
        #expect(try e.read(Int.self) == 6)
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") } == ["e.msgpack"])
        try db.entry("m").setMetadata(["k": "v"])
        try db.entry("b.json").write(1)
        try db.entry("a").write(1)
        #expect(try db.names() == ["a", "b.json", "e", "m"])
        #expect(try db.contains("m") == false)
        try e.setMetadata(["x": 1])
        try e.delete()
        #expect(try e.hasData == false)
        #expect(try e.metadata() == [:])
        #expect(try db.names() == ["a", "b.json", "m"])
    }
}
