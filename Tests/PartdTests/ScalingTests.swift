// SPDX-License-Identifier: Apache-2.0
//
// Work that must grow linearly with a parameter users push far (keys, appends, rounds), pinned by counting the
// work through package-internal counters, never by timing (Benchmarks/Scaling times it).

#if canImport(Glibc)
import Glibc
#endif
@testable import Partd
@testable import PartdCompanions
import PartdTyped
import Testing

@Suite("Scaling")
struct ScalingTests {
    /// Many keys in a small budget: one batch append over every key spills hundreds of rounds of at most 20 keys.
    /// Choosing each round used to look at every buffered key (keys × rounds); the rounds of one call now come
    /// from one pass over the keys and a heap.
    @Test("a spill of many rounds looks at each buffered key a bounded number of times, choosing as keysToSpill")
    func spillRoundsAreLinearInKeys() throws {
        let keyCount = 2_000
        let budget = 48 * 1024
        let store = SpillingStore(
            spillingTo: MemoryStore(), configuration: .init(availableMemory: .bytes(budget), backgroundSpill: false))
        let keys = (0..<keyCount).map { PartdKey($0) }
        // The model: partd's rule applied round after round, as the store documents.
        var model: [PartdKey: Int] = [:]
        var state: UInt64 = 12345
        func nextSize() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return 16 + Int(state >> 58)  // 16..<80: many ties
        }
        for _ in 0..<8 {
            let batch = keys.map { (key: $0, value: [UInt8](repeating: 1, count: nextSize())) }
            try store.append(batch)
            for entry in batch { model[entry.key, default: 0] += entry.value.count }
            while model.values.reduce(0, +) > budget {
                let chosen = SpillingStore<MemoryStore>.keysToSpill(
                    sizes: model.map { (key: $0.key, size: $0.value) }, fraction: 0.1, maxCount: 20)
                for key in chosen { model[key] = nil }
            }
        }
        for key in keys {
            #expect(store.bufferedBytes(of: key).count == model[key] ?? 0, "key \(key)")
        }
        let examined = store.spillCandidatesExaminedForTesting
        #expect(examined <= 40 * keyCount, "looked at \(examined) key sizes to spill \(keyCount) keys 8 times")
    }

    /// Before any flush there is no index on disk: looking up a key this instance does not have used to follow
    /// the (absent) index over every entry, so `if !contains(k) { set(k) }` over n keys did n²/2 entry visits.
    @Test("looking up missing keys before any flush does not walk every entry each time")
    func missingKeyLookupsAreConstantBeforeAFlush() throws {
        let n = 3_000
        try SpillDictionary<Int, Int>.withTemporary { d in
            for k in 0..<n where try !d.contains(k) { try d.set(k, for: k) }
            #expect(try d.value(for: n) == nil)
            #expect(try d.keys().count == n)
            let walked = d.indexEntriesFollowedForTesting
            #expect(walked <= 4 * n, "followed \(walked) index entries for \(n) lookups")
        }
    }

    /// After a flush, each lookup of a key the instance does not know read the whole index and followed it over
    /// every entry (another process may have flushed the key), so `if !contains(k) { set(k) }` over n new keys in a
    /// dictionary of n flushed keys did about 2n² entry visits (100,000 keys: minutes). The index is now read
    /// again only when its file changed.
    @Test("after a flush, looking up missing keys reads the index again only when it changed")
    func missingKeyLookupsAfterAFlush() throws {
        let n = 3_000
        try SpillDictionary<Int, Int>.withTemporary { d in
            for k in 0..<n { try d.set(k, for: k) }
            try d.flush()
            // Past the moment a file written now could share the index's timestamps (see Folder.identity).
            usleep(200_000)
            let before = d.indexEntriesFollowedForTesting
            for k in n..<(2 * n) where try !d.contains(k) { try d.set(k, for: k) }
            let walked = d.indexEntriesFollowedForTesting - before
            #expect(walked <= 4 * n, "followed \(walked) index entries for \(n) lookups")
            #expect(try d.keys().count == 2 * n)
            // Another instance's flush is still seen.
            let other = try SpillDictionary<Int, Int>(path: d.path, durable: false)
            try other.set(-1, for: -1)
            try other.flush()
            #expect(try d.value(for: -1) == -1)
            try other.removeValue(for: 0)
            try other.flush()
            #expect(try !d.keys().contains(0))  // known keys follow the index when it is read (keys(), …)
        }
    }

    /// After a flush the index on disk is followed again at a lookup of an unknown key (another process may have
    /// flushed it): still correct.
    @Test("missing keys are still looked up in the index another instance flushed")
    func missingKeyFollowsAnotherInstancesFlush() throws {
        try SpillDictionary<Int, Int>.withTemporary { a in
            try a.set(1, for: 1)
            #expect(try a.value(for: 2) == nil)
            let b = try SpillDictionary<Int, Int>(path: a.path, durable: false)
            try b.set(2, for: 2)
            try b.flush()
            #expect(try a.value(for: 2) == 2)
            #expect(try a.contains(1))
            try b.removeValue(for: 2)
            try b.flush()
            #expect(try a.keys() == [1])
        }
    }

    /// Review: after its own flush, an instance's keys are shared; once the index is gone (another instance
    /// dropped the dictionary) a lookup must follow that, not skip it as if no index had ever been written.
    @Test("after a flush, an index another instance removed is followed: its keys are gone")
    func missingKeyFollowsARemovedIndex() throws {
        let path = scratchPath("chest-removed-index")
        defer { removeTree(path) }
        let a = try SpillDictionary<Int, Int>(path: path, memoryBudget: .bytes(1), durable: false)
        try a.set(1, for: 1)
        try a.flush()  // and no read after it, which would see the index
        let b = try SpillDictionary<Int, Int>(path: path, durable: false)
        try b.drop()
        #expect(try a.value(for: 2) == nil)
        #expect(try a.keys() == [])
        #expect(try a.value(for: 1) == nil)
    }

    /// Columns were found by a scan of the names per column, so reading or selecting every one of c columns
    /// took c²/2 name comparisons (half a second per read of 4,000 columns in release; seconds in debug).
    /// There is no counter to pin this on: the test is the read at that scale, which CI runs in well under a
    /// second now.
    @Test("a table of 4,000 columns reads back whole and with every column selected in reverse order")
    func manyColumnsReadAndSelect() throws {
        let n = 4_000
        let table = try Table((0..<n).map { Column("column-\($0)", [Int64($0)]) })
        let reversed = (0..<n).reversed().map { "column-\($0)" }
        let selected = try table.selecting(reversed)
        #expect(selected.columns.map(\.name) == reversed)
        #expect(selected.columns.first?.values(as: Int64.self) == [Int64(n - 1)])

        let store = TableStore(over: MemoryStore())
        try store.append("k", table)
        try store.append("k", table)
        let whole = try store.get("k")
        #expect(whole.columns.count == n && whole.rowCount == 2)
        #expect(whole.columns.last?.values(as: Int64.self) == [Int64(n - 1), Int64(n - 1)])
        let picked = try store.get("k", columns: reversed)
        #expect(picked.columns.map(\.name) == reversed)
        #expect(picked.columns.first?.values(as: Int64.self) == [Int64(n - 1), Int64(n - 1)])
        #expect(throws: PartdError.self) { try store.get("k", columns: reversed + ["missing"]) }
    }
}
