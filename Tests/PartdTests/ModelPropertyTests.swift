// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdTestSupport
import Testing

/// The reference semantics every store must match, as a plain dictionary.
struct ModelStore {
    var data: [PartdKey: [UInt8]] = [:]
    var setOnce: Set<PartdKey> = []

    mutating func append(_ batch: [(key: PartdKey, value: [UInt8])]) {
        for (key, value) in batch { data[key, default: []] += value }
    }

    mutating func setOnce(_ key: PartdKey, _ value: [UInt8]) -> Bool {
        guard setOnce.insert(key).inserted else { return false }
        data[key] = value
        return true
    }

    mutating func delete(_ keys: [PartdKey]) {
        for key in keys {
            data[key] = nil
            setOnce.remove(key)
        }
    }

    mutating func drop() { self = ModelStore() }
}

@Suite("Model-based property tests")
struct ModelPropertyTests {
    static let pool: [PartdKey] = ["a", "b", "a!", "", 0, 1, .tuple("t", 1), ".lock", "long-key-name"]

    @Test("random operation sequences match the model", arguments: StoreKind.allCases, [1, 2, 3, 4, 5] as [UInt64])
    func randomSequences(kind: StoreKind, seed: UInt64) throws {
        let store = try kind.make()
        var model = ModelStore()
        var rng = SplitMix64(seed: seed &* 7919 &+ UInt64(kind.rawValue.count))
        func randomKeys(_ max: Int) -> [PartdKey] {
            (0..<Int.random(in: 0...max, using: &rng)).map { _ in Self.pool.randomElement(using: &rng)! }
        }
        func randomBytes() -> [UInt8] {
            let n = Int.random(in: 0...40, using: &rng)
            return (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        for step in 0..<300 {
            let op = Int.random(in: 0..<100, using: &rng)
            switch op {
            case 0..<50:
                let batch = randomKeys(5).map { (key: $0, value: randomBytes()) }
                try store.append(batch)
                model.append(batch)
            case 50..<60:
                let key = Self.pool.randomElement(using: &rng)!
                let value = randomBytes()
                #expect(try store.setOnce(key, value) == model.setOnce(key, value), "step \(step)")
            case 60..<70:
                let keys = randomKeys(3)
                try store.delete(keys)
                model.delete(keys)
            case 70..<72:
                try store.drop()
                model.drop()
            case 72..<85:
                let keys = randomKeys(4)
                #expect(try store.get(keys) == keys.map { model.data[$0] ?? [] }, "step \(step)")
            case 85..<90:
                #expect(try store.keys() == model.data.keys.sorted(), "step \(step)")
            case 90..<95:
                let key = Self.pool.randomElement(using: &rng)!
                #expect(try store.contains(key) == (model.data[key] != nil), "step \(step)")
            default:
                let key = Self.pool.randomElement(using: &rng)!
                #expect(try store.byteCount(of: key) == (model.data[key]?.count ?? 0), "step \(step)")
            }
        }
        #expect(try store.get(Self.pool) == Self.pool.map { model.data[$0] ?? [] })
        #expect(try store.keys() == model.data.keys.sorted())
        if let spilling = store as? SpillingStore<MemoryStore> {
            spilling.waitForSpills()
            #expect(spilling.statistics.bufferedBytes == spilling.bufferedKeys.reduce(0) { $0 + spilling.bufferedBytes(of: $1).count })
            #expect(spilling.statistics.inFlightBytes == 0)
        }
        if let spilling = store as? SpillingStore<DirectoryStore> {
            spilling.waitForSpills()
            #expect(spilling.statistics.bufferedBytes == spilling.bufferedKeys.reduce(0) { $0 + spilling.bufferedBytes(of: $1).count })
            #expect(spilling.statistics.inFlightBytes == 0)
        }
    }
}
