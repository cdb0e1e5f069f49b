// SPDX-License-Identifier: Apache-2.0

import Partd
import Testing

@Suite("SpillingStore")
struct SpillingStoreTests {
    @Test("partd test_buffer: the largest key spills when the budget is exceeded")
    func partdBufferBehaviour() throws {
        let slow = MemoryStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(10), backgroundSpill: false)
        try store.append(["x": bytes("Hello"), "y": bytes("abc")])
        #expect(store.bufferedBytes(of: "x") == bytes("Hello"))
        #expect(store.bufferedBytes(of: "y") == bytes("abc"))
        #expect(try slow.keys() == [])

        try store.append(["x": bytes("World!"), "y": bytes("def")])
        #expect(store.bufferedBytes(of: "x") == [])
        #expect(store.bufferedBytes(of: "y") == bytes("abcdef"))
        #expect(try slow.get(["x", "y"]) == [bytes("HelloWorld!"), []])
        #expect(try store.get(["x", "y"]) == [bytes("HelloWorld!"), bytes("abcdef")])
        #expect(try store.get("z") == [])
        #expect(store.statistics.bufferedBytes == 6)
        #expect(store.statistics.spilledBytes == 11)
    }

    @Test("keysToSpill picks the largest keys within the fraction, as partd's keys_to_flush")
    func keysToSpill() {
        let sizes: [(key: PartdKey, size: Int)] = [
            ("a", 20), ("b", 10), ("c", 15), ("d", 15), ("e", 10), ("f", 25), ("g", 5),
        ]
        typealias S = SpillingStore<MemoryStore>
        #expect(S.keysToSpill(sizes: sizes, fraction: 0.5, maxCount: 20) == ["f", "a"])
        #expect(S.keysToSpill(sizes: sizes, fraction: 0.1, maxCount: 20) == ["f"])
        #expect(S.keysToSpill(sizes: sizes, fraction: 1.0, maxCount: 20) == ["f", "a", "c"])
        #expect(S.keysToSpill(sizes: sizes, fraction: 1.0, maxCount: 2) == ["f", "a"])
        #expect(S.keysToSpill(sizes: [("only", 3)], fraction: 0.1, maxCount: 20) == ["only"])
        #expect(S.keysToSpill(sizes: [], fraction: 0.1, maxCount: 20) == [])
    }

    @Test("get returns bytes in append order when part of a key was spilled (partd returns newest first)",
        arguments: [false, true])
    func appendOrderAcrossSpill(background: Bool) throws {
        let store = SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(50), backgroundSpill: background)
        let old = [UInt8](repeating: 65, count: 100)
        try store.append(["x": old])
        store.waitForSpills()
        #expect(store.bufferedBytes(of: "x") == [])
        try store.append(["x": bytes("BB")])
        #expect(store.bufferedBytes(of: "x") == bytes("BB"))
        #expect(try store.get("x") == old + bytes("BB"))
    }

    @Test("setOnce values count against the budget and can spill", arguments: [false, true])
    func setOnceIsCounted(background: Bool) throws {
        let slow = MemoryStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(50), backgroundSpill: background)
        try store.setOnce("s", [UInt8](repeating: 1, count: 40))
        store.waitForSpills()
        #expect(store.statistics.bufferedBytes + store.statistics.spilledBytes == 40)
        try store.append(["t": [UInt8](repeating: 2, count: 20)])
        store.waitForSpills()
        #expect(store.statistics.bufferedBytes <= 50)
        #expect(try slow.get("s") == [UInt8](repeating: 1, count: 40))
        #expect(try store.setOnce("s", [9]) == false)
        #expect(try store.get("s") == [UInt8](repeating: 1, count: 40))
    }

    @Test("setOnce replaces bytes already spilled")
    func setOnceReplacesSpilled() throws {
        let store = SpillingStore(spillingTo: MemoryStore(), availableMemory: .bytes(4))
        try store.append(["x": bytes("spilled!")])
        store.waitForSpills()
        try store.setOnce("x", bytes("new"))
        #expect(try store.get("x") == bytes("new"))
    }

    @Test("delete and drop keep the accounting exact")
    func exactAccounting() throws {
        let store = SpillingStore(spillingTo: MemoryStore(), availableMemory: .bytes(1000), backgroundSpill: false)
        try store.append(["a": [UInt8](repeating: 0, count: 100), "b": [UInt8](repeating: 0, count: 200)])
        #expect(store.statistics.bufferedBytes == 300)
        try store.delete("a")
        #expect(store.statistics.bufferedBytes == 200)
        try store.setOnce("c", [UInt8](repeating: 0, count: 50))
        #expect(store.statistics.bufferedBytes == 250)
        try store.drop()
        #expect(store.statistics.bufferedBytes == 0)
        try store.append(["a": [UInt8](repeating: 0, count: 999)])
        #expect(store.statistics.spilledBytes == 0)
    }

    @Test("flush moves everything (or the named keys) to the slow store")
    func flush() throws {
        let slow = MemoryStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .megabytes(1))
        try store.append(["a": bytes("1"), "b": bytes("2")])
        try store.flush(["a"])
        #expect(try slow.keys() == ["a"])
        try store.flush()
        #expect(try slow.get(["a", "b"]) == [bytes("1"), bytes("2")])
        #expect(store.bufferedKeys == [])
        #expect(store.statistics.bufferedBytes == 0)
        #expect(try store.get(["a", "b"]) == [bytes("1"), bytes("2")])
    }

    @Test("a failing spill throws spillFailed and loses nothing; a later spill succeeds", arguments: [false, true])
    func spillFailureKeepsData(background: Bool) throws {
        let slow = FailingStore()
        let store = SpillingStore(spillingTo: slow, availableMemory: .bytes(10), backgroundSpill: background)
        try store.append(["a": bytes("12345")])
        slow.setFailing(true)
        var reported = false
        do {
            try store.append(["a": bytes("67890X")])
            try store.append(["c": bytes("z")])  // a background failure is reported by a later append at the latest
            store.waitForSpills()
            try store.flush()
        } catch let error as PartdError {
            reported = true
            #expect(error.code == .spillFailed)
            #expect(error.message.contains("disk full"))
        }
        #expect(reported)
        store.waitForSpills()
        #expect(store.bufferedBytes(of: "a") == bytes("1234567890X"))
        slow.setFailing(false)
        try store.append(["b": bytes("y")])
        try store.flush()
        #expect(try store.get(["a", "b"]) == [bytes("1234567890X"), bytes("y")])
        #expect(try slow.inner.get("a") == bytes("1234567890X"))
    }

    @Test("a spill that fails part-way writes no key twice", arguments: [false, true])
    func partialSpillFailure(background: Bool) throws {
        let slow = FailingStore()
        let store = SpillingStore(
            spillingTo: slow,
            configuration: .init(availableMemory: .bytes(10), spillFraction: 1, maxKeysPerSpill: 20, backgroundSpill: background))
        slow.setFailing(keys: ["b"])
        var reported = false
        do {
            try store.append(["a": bytes("aaaaaaa"), "b": bytes("bbbbbbbb"), "c": bytes("ccccccccc")])
            store.waitForSpills()
            try store.flush()
        } catch PartdError.spillFailed {
            reported = true
        }
        #expect(reported)
        slow.setFailing(keys: [])
        try store.flush()
        #expect(try slow.inner.get(["a", "b", "c"]) == [bytes("aaaaaaa"), bytes("bbbbbbbb"), bytes("ccccccccc")])
        #expect(try store.get(["a", "b", "c"]) == [bytes("aaaaaaa"), bytes("bbbbbbbb"), bytes("ccccccccc")])
    }

    @Test("a key the slow store cannot hold is refused before it is buffered")
    func invalidKeyRefusedAtAppend() throws {
        let store = SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .megabytes(1))
        let long = PartdKey(String(repeating: "x", count: 300))
        do {
            try store.append([long: bytes("1"), "ok": bytes("2")])
            Issue.record("expected keyTooLong")
        } catch PartdError.keyTooLong {
        }
        #expect(try store.keys() == [])
        #expect(throws: PartdError.self) { try store.setOnce(long, bytes("1")) }
        try store.append(["ok": bytes("2")])
        try store.flush()
        #expect(try store.get("ok") == bytes("2"))
    }

    @Test("memory stays within budget plus one batch", arguments: [false, true])
    func boundedMemory(background: Bool) throws {
        let store = SpillingStore(spillingTo: MemoryStore(), availableMemory: .kilobytes(64), backgroundSpill: background)
        for i in 0..<2000 {
            try store.append([PartdKey(i % 97): [UInt8](repeating: UInt8(i & 0xFF), count: 100)])
        }
        #expect(store.statistics.peakMemoryBytes <= 64_000 + 100)
        #expect(store.statistics.bufferedBytes <= 64_000)
        #expect(try store.totalByteCount() == 200_000)
    }

    @Test("an unlimited budget with background threshold 1 (never spill) appends and reads back")
    func unlimitedBudget() throws {
        let slow = MemoryStore()
        let store = SpillingStore(
            spillingTo: slow, configuration: .init(availableMemory: .bytes(.max), backgroundThreshold: 1))
        try store.append(["x": bytes("Hello"), "y": bytes("abc")])
        try store.append(["x": bytes("World!")])
        #expect(try store.get(["x", "y"]) == [bytes("HelloWorld!"), bytes("abc")])
        #expect(try slow.keys() == [])
        #expect(store.statistics.bufferedBytes == 14)
    }
}

@Suite("ByteCount and errors")
struct ByteCountTests {
    @Test("parsing sizes", arguments: [
        ("512", 512), ("64MB", 64_000_000), ("64mb", 64_000_000), ("1.5 GiB", 1_610_612_736), ("10k", 10_000),
        ("2GB", 2_000_000_000), (" 4 KiB ", 4096),
    ])
    func parsing(text: String, value: Int) {
        #expect(ByteCount(text)?.bytes == value)
    }

    @Test("rejects nonsense", arguments: ["", "MB", "12 parsecs", "-5", "1e400"])
    func rejects(text: String) {
        #expect(ByteCount(text) == nil)
    }

    @Test("descriptions")
    func descriptions() {
        #expect(ByteCount.megabytes(64).description == "64.0 MB")
        #expect(ByteCount.bytes(512).description == "512 B")
        #expect(ByteCount.mebibytes(1).bytes == 1_048_576)
    }

    @Test("error description names code, key, path and errno")
    func errorDescription() {
        let error = PartdError(code: .diskFull, message: "append to key \"x\" failed", key: "x", path: "/s/x", errno: 28)
        #expect(error.description == "disk full: append to key \"x\" failed (path /s/x, errno 28 ENOSPC)")
        #expect(PartdError.Code.forErrno(13) == .permissionDenied)
        #expect(PartdError.Code.forErrno(24) == .tooManyOpenFiles)
    }

    /// `catch PartdError.diskFull` (README, design.md "Errors") works for every code, the server's too.
    @Test("every code has its PartdError shorthand for catch")
    func catchShorthandForEveryCode() {
        func caught(_ code: PartdError.Code, _ matches: (any Error) -> Bool) -> Bool {
            matches(PartdError(code: code, message: "m"))
        }
        #expect(caught(.connectionFailed) { if case PartdError.connectionFailed = $0 { true } else { false } })
        #expect(caught(.protocolViolation) { if case PartdError.protocolViolation = $0 { true } else { false } })
        #expect(caught(.unauthorized) { if case PartdError.unauthorized = $0 { true } else { false } })
        #expect(caught(.diskFull) { if case PartdError.diskFull = $0 { true } else { false } })
        #expect(!caught(.io) { if case PartdError.unauthorized = $0 { true } else { false } })
    }
}
