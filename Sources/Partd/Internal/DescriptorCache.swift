// SPDX-License-Identifier: Apache-2.0

/// An open file; the descriptor is closed when the last reference goes away,
/// so a descriptor evicted from the cache while another thread writes through
/// it stays valid until that write is done.
final class OpenFile: Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { Posix.close(fd) }
}

/// A bounded map from keys to open files with CLOCK (second-chance) eviction:
/// O(1) per lookup, no allocation on a hit.
struct DescriptorCache {
    private struct Slot {
        var key: PartdKey
        var file: OpenFile
        var referenced: Bool
    }

    let capacity: Int
    private var index: [PartdKey: Int] = [:]
    private var slots: [Slot] = []
    private var hand = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        index.reserveCapacity(self.capacity)
        slots.reserveCapacity(self.capacity)
    }

    var count: Int { slots.count }

    mutating func lookup(_ key: PartdKey) -> OpenFile? {
        guard let i = index[key] else { return nil }
        slots[i].referenced = true
        return slots[i].file
    }

    /// Adds `file` for `key`, or returns the file another thread added first.
    mutating func insert(_ key: PartdKey, _ file: OpenFile) -> OpenFile {
        if let existing = lookup(key) { return existing }
        if slots.count < capacity {
            index[key] = slots.count
            slots.append(Slot(key: key, file: file, referenced: true))
            return file
        }
        while slots[hand].referenced {
            slots[hand].referenced = false
            hand = (hand + 1) % slots.count
        }
        index.removeValue(forKey: slots[hand].key)
        slots[hand] = Slot(key: key, file: file, referenced: true)
        index[key] = hand
        hand = (hand + 1) % slots.count
        return file
    }

    mutating func remove(_ key: PartdKey) {
        guard let i = index.removeValue(forKey: key) else { return }
        let last = slots.count - 1
        if i != last {
            slots[i] = slots[last]
            index[slots[i].key] = i
        }
        slots.removeLast()
        if hand >= slots.count { hand = 0 }
    }

    /// Closes about half of the cached files (those not recently used first).
    mutating func shrink() {
        let target = slots.count / 2
        while slots.count > target, !slots.isEmpty {
            if hand >= slots.count { hand = 0 }
            if slots[hand].referenced {
                slots[hand].referenced = false
                hand += 1
            } else {
                remove(slots[hand].key)
            }
        }
    }

    mutating func removeAll() {
        index.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        hand = 0
    }
}
