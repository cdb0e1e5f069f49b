// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdTestSupport
@testable import PartdTyped
import Testing

/// The address of an array's storage (to tell whether a read wrote into memory an earlier result had).
private func address<E>(_ array: [E]) -> UInt {
    array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
}

/// Every large array of a table, by address.
private func addresses(_ table: Table) -> Set<UInt> {
    var result = Set<UInt>()
    for column in table.columns {
        switch column.storage {
        case .fixed(let values): result.insert(values.values(as: Int64.self).map(address) ?? values.values(as: Double.self).map(address) ?? 0)
        case .string(let strings): result.formUnion([address(strings.offsets), address(strings.data)])
        default: break
        }
    }
    result.remove(0)
    return result
}

/// A table of `rows` rows whose values depend on `seed`: ids, doubles and strings of varying length (the
/// strings of two tables with the same row count take the same number of bytes).
private func reuseTable(rows: Int, seed: Int) throws -> Table {
    try Table([
        Column("id", (0..<rows).map { Int64($0 * 7 + seed) }),
        Column("x", (0..<rows).map { Double($0 + seed) * 0.5 }),
        Column("name", strings: StringArray((0..<rows).map { "s\(seed % 10)-" + String(repeating: "x", count: $0 % 9) })),
    ])
}

@Suite("TableStore result reuse")
struct ResultReuseTests {
    @Test("a get after the caller dropped the previous results writes into their storage, and reads right")
    func reusesDroppedResults() throws {
        let store = TableStore(over: MemoryStore())
        try store.append(["a": try reuseTable(rows: 5_000, seed: 1), "b": try reuseTable(rows: 5_000, seed: 2)])
        var first: Table? = try store.get("a")
        let before = addresses(first!)
        #expect(before.count == 4)
        #expect(store.recycler.reusedCount == 0)
        first = nil
        let second = try store.get("b")
        #expect(second == (try reuseTable(rows: 5_000, seed: 2)))
        #expect(store.recycler.reusedCount == 4)   // ids, doubles, string offsets, string bytes
        #expect(addresses(second) == before)
        // While the caller holds them, nothing is written into them.
        _ = try store.get("a")
        #expect(store.recycler.reusedCount == 4)
        // Smaller results fit in the same storage too; larger ones get new memory.
        try store.append(["c": try reuseTable(rows: 1_000, seed: 3), "d": try reuseTable(rows: 9_000, seed: 4)])
        #expect(try store.get("c") == (try reuseTable(rows: 1_000, seed: 3)))
        #expect(try store.get("d") == (try reuseTable(rows: 9_000, seed: 4)))
        #expect(try store.get("a") == (try reuseTable(rows: 5_000, seed: 1)))
    }

    @Test("results the caller still holds are never written by later gets")
    func heldResultsStay() throws {
        let store = TableStore(over: MemoryStore())
        var expected: [Table] = []
        for seed in 0..<6 {
            let table = try reuseTable(rows: 3_000, seed: seed)
            try store.append([PartdKey("k\(seed)"): table])
            expected.append(table)
        }
        var held: [Table] = []
        for round in 0..<4 {
            for seed in 0..<6 {
                let table = try store.get(PartdKey("k\(seed)"))
                #expect(table == expected[seed])
                if (seed + round) % 2 == 0 { held.append(table) }
                // values(as:) hands out the array itself: a copy the caller keeps must not change either.
                if seed == 3 { held.append(try Table([Column("id", table["id"]!.values(as: Int64.self)!)])) }
            }
            let all = try store.get((0..<6).map { PartdKey("k\($0)") })
            #expect(all == expected)
        }
        for table in held {
            if table.columns.count == 1 {
                #expect(table["id"]!.values(as: Int64.self)! == expected[3]["id"]!.values(as: Int64.self)!)
            } else {
                #expect(expected.contains(table))
            }
        }
        store.releaseReusableMemory()
        #expect(try store.get("k0") == expected[0])
    }

    @Test("lists: a get after the caller dropped the previous lists writes into their storage; held lists stay")
    func lists() throws {
        try checkListReuse(PackedRec.self) { PackedRec(id: $0, x: $1, name: $2) }   // MessagePackRecord: appended
        try checkListReuse(Rec.self) { Rec(id: $0, x: $1, name: $2) }               // plain Codable: filled in place
    }

    private func checkListReuse<R: Codable & Sendable & Equatable>(_: R.Type, _ make: (Int, Double, String) -> R) throws {
        let store = ListStore<MemoryStore, R>(over: MemoryStore())
        let a = (0..<4_000).map { make($0, Double($0) / 4, "a\($0 % 13)") }
        let b = (0..<4_000).map { make(-$0, Double($0) * 2, "b\($0 % 17)") }
        try store.append(["a": a, "b": b])
        var first: [R]? = try store.get("a")
        #expect(first == a)
        first = nil
        let second = try store.get("b")
        #expect(second == b)
        #expect(store.recycler.reusedCount == 1)
        let third = try store.get("a")   // `second` is held: a new list
        #expect(third == a && second == b)
        #expect(store.recycler.reusedCount == 1)
        store.releaseReusableMemory()
        #expect(try store.get("b") == b)
    }

    @Test("arrays: a get after the caller dropped the previous arrays writes into their storage; held arrays stay")
    func arrays() throws {
        let store = ArrayStore(over: MemoryStore())
        let a = NDArray((0..<6_000).map { Double($0) / 3 }), b = NDArray((0..<6_000).map { -Double($0) })
        let s = StringArray((0..<500).map { "s\($0 % 10)" }), t = StringArray((0..<500).map { "t\($0 % 10)" })
        try store.append(["a": a, "b": b])
        try store.append(["s": s, "t": t])
        var first: NDArray<Double>? = try store.get("a")
        #expect(first == a)
        first = nil
        let second = try store.get("b", as: NDArray<Double>.self)
        #expect(second == b)
        #expect(store.recycler.reusedCount == 1)
        let third = try store.get("a", as: NDArray<Double>.self)   // `second` is held: new memory
        #expect(third == a && second == b)
        #expect(store.recycler.reusedCount == 1)
        var strings: StringArray? = try store.get("s")
        #expect(strings == s)
        strings = nil
        #expect(try store.get("t", as: StringArray.self) == t)
        #expect(store.recycler.reusedCount == 3)   // offsets and bytes
        store.releaseReusableMemory()
        #expect(try store.get("a", as: NDArray<Double>.self) == a)
    }

    @Test("gets on several threads at once, keeping some results and dropping others, all read right")
    func concurrentGets() throws {
        let store = TableStore(over: MemoryStore())
        let tables = try (0..<8).map { try reuseTable(rows: 2_000 + $0 * 250, seed: $0) }
        try store.append(tables.indices.map { (key: PartdKey("k\($0)"), value: tables[$0]) })
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var kept: [Table] = []
            for round in 0..<30 {
                let index = (worker * 3 + round) % tables.count
                guard let table = try? store.get(PartdKey("k\(index)")), table == tables[index] else {
                    failures.withLock { $0 += 1 }
                    continue
                }
                if round % 3 == worker % 3 { kept.append(table) }
            }
            for table in kept where !tables.contains(table) { failures.withLock { $0 += 1 } }
        }
        #expect(failures.withLock { $0 } == 0)
    }
}
