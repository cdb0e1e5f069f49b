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

    private let held = Locked<[Held]>([])
    private let reused = Locked(0)

    /// How many arrays reads have written into the storage of (for tests).
    var reusedCount: Int { reused.withLock { $0 } }

    /// An array of `E` with room for `count` elements, emptied (the smallest kept one that fits), or `nil`.
    func take<E>(_: E.Type, count: Int) -> [E]? {
        guard count > 0 else { return nil }
        let type = ObjectIdentifier(E.self)
        let bytes = count * MemoryLayout<E>.stride
        let entry: Held? = held.withLock { held in
            var best: Int?
            for index in held.indices where held[index].type == type && held[index].bytes >= bytes {
                if best.map({ held[index].bytes < held[$0].bytes }) ?? true { best = index }
            }
            return best.map { held.remove(at: $0) }
        }
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
        held.withLock { held in
            held.append(contentsOf: entries)
            var total = held.reduce(0) { $0 + $1.bytes }
            var drop = 0
            while total > budget, drop < held.count {
                total -= held[drop].bytes
                drop += 1
            }
            held.removeFirst(drop)
        }
    }

    /// Lets go of every kept array.
    func removeAll() {
        held.withLock { $0.removeAll() }
    }
}
