// SPDX-License-Identifier: Apache-2.0

import Partd

/// The arrays of a ``TableStore``'s or a ``ListStore``'s latest results, kept so that the next `get` writes
/// into their storage instead of new memory once the caller has let go of them. Fresh memory costs the
/// kernel a page fault, a zeroed page and its accounting for every 4 KiB, which is most of the time a read
/// of a large table takes. An array the caller still holds is never written: taking it back leaves the
/// caller's copy alone and the read gets a new buffer (copy-on-write), as it would without this.
///
/// At most as many bytes are kept as the latest `get` returned: older arrays are let go first.
final class ResultBuffers: Sendable {
    /// One kept array, type-erased; `Box` lets `take` move the array out, so that once the caller has let
    /// go of it, the array's storage is referenced only by the read that reuses it. (Unchecked: a box is
    /// only touched under the lock, or by the one `take` that removed it.)
    struct Held: @unchecked Sendable {
        let type: ObjectIdentifier
        let bytes: Int
        let box: AnyObject
    }

    private final class Box<E> {
        var array: [E]?
        init(_ array: [E]) { self.array = array }
    }

    /// The kept arrays, oldest first, in buckets of one element type and byte size, so that a `take` finds the
    /// smallest that fits without looking at every kept array (a read of c columns took c scans of c arrays).
    private struct Pool {
        struct Bucket: Hashable {
            var type: ObjectIdentifier
            var bytes: Int
        }

        /// Every kept array by its age (a sequence number); the ones taken or let go are removed.
        var byAge: [Int: Held] = [:]
        /// The oldest age that may still be kept, and the next age to give.
        var oldest = 0
        var next = 0
        var total = 0
        /// The ages in each bucket, oldest first, from `heads[bucket]` on (ages no longer kept are skipped).
        var buckets: [Bucket: [Int]] = [:]
        var heads: [Bucket: Int] = [:]
        /// Each element type's bucket sizes, ascending.
        var sizes: [ObjectIdentifier: [Int]] = [:]

        mutating func add(_ entry: Held) {
            let bucket = Bucket(type: entry.type, bytes: entry.bytes)
            byAge[next] = entry
            total += entry.bytes
            if buckets[bucket] == nil {
                var list = sizes[entry.type] ?? []
                list.insert(entry.bytes, at: Self.firstIndex(in: list, atLeast: entry.bytes))
                sizes[entry.type] = list
            }
            buckets[bucket, default: []].append(next)
            next += 1
        }

        /// The oldest live age in `bucket`, or `nil` (and the bucket removed) if it has none.
        mutating func firstLive(_ bucket: Bucket) -> Int? {
            guard let ages = buckets[bucket] else { return nil }
            var head = heads[bucket] ?? 0
            while head < ages.count, byAge[ages[head]] == nil { head += 1 }
            if head == ages.count {
                buckets[bucket] = nil
                heads[bucket] = nil
                if var list = sizes[bucket.type] {
                    let at = Self.firstIndex(in: list, atLeast: bucket.bytes)
                    if at < list.count && list[at] == bucket.bytes { list.remove(at: at) }
                    sizes[bucket.type] = list
                }
                if sizes[bucket.type]?.isEmpty == true { sizes[bucket.type] = nil }
                return nil
            }
            heads[bucket] = head
            return ages[head]
        }

        /// The smallest kept array of `type` of at least `bytes`, the oldest of its size, removed.
        mutating func take(type: ObjectIdentifier, bytes: Int) -> Held? {
            while let list = sizes[type] {
                let at = Self.firstIndex(in: list, atLeast: bytes)
                guard at < list.count else { return nil }
                let size = list[at]
                let bucket = Bucket(type: type, bytes: size)
                guard let age = firstLive(bucket) else { continue }
                heads[bucket, default: 0] += 1
                let entry = byAge.removeValue(forKey: age)
                total -= size
                return entry
            }
            return nil
        }

        /// The index of the first of the ascending `list` that is at least `value` (`list.count` if none).
        static func firstIndex(in list: [Int], atLeast value: Int) -> Int {
            var low = 0
            var high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid] < value { low = mid + 1 } else { high = mid }
            }
            return low
        }

        /// Lets go of the oldest arrays until at most `budget` bytes are kept.
        mutating func trim(to budget: Int) {
            while total > budget, oldest < next {
                if let entry = byAge.removeValue(forKey: oldest) { total -= entry.bytes }
                oldest += 1
            }
        }
    }

    private let held = Locked(Pool())
    private let reused = Locked(0)

    /// How many arrays reads have written into the storage of (for tests).
    var reusedCount: Int { reused.withLock { $0 } }

    /// An array of `E` with room for `count` elements, emptied (the smallest kept one that fits, the oldest of
    /// its size), or `nil`.
    func take<E>(_: E.Type, count: Int) -> [E]? {
        guard count > 0 else { return nil }
        let type = ObjectIdentifier(E.self)
        let bytes = count * MemoryLayout<E>.stride
        let entry: Held? = held.withLock { $0.take(type: type, bytes: bytes) }
        guard let box = entry?.box as? Box<E>, var array = box.array.take() else { return nil }
        let storage = RawBytes.storageAddress(array)
        // (A new buffer if the caller still holds this one: copy-on-write.)
        array.removeAll(keepingCapacity: true)
        if RawBytes.storageAddress(array) == storage { reused.withLock { $0 += 1 } }
        return array
    }

    /// An entry for `array`, to ``keep(_:)``.
    static func held<E>(_ array: [E]) -> Held {
        Held(type: ObjectIdentifier(E.self), bytes: array.capacity * MemoryLayout<E>.stride, box: Box(array))
    }

    /// Keeps `entries` (the arrays of the latest results), letting go of older ones beyond their total size.
    func keep(_ entries: [Held]) {
        let budget = entries.reduce(0) { $0 + $1.bytes }
        held.withLock { pool in
            for entry in entries { pool.add(entry) }
            pool.trim(to: budget)
            // Buckets hold ages already taken or let go until a take walks past them: start afresh when
            // they are mostly those.
            if pool.buckets.values.reduce(0, { $0 + $1.count }) > 2 * pool.byAge.count + 64 {
                var fresh = Pool()
                for age in pool.byAge.keys.sorted() { fresh.add(pool.byAge[age]!) }
                pool = fresh
            }
        }
    }

    /// Lets go of every kept array.
    func removeAll() {
        held.withLock { $0 = Pool() }
    }
}
