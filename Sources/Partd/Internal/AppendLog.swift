// SPDX-License-Identifier: Apache-2.0

/// The in-memory representation behind ``MemoryStore`` and ``SpillingStore``:
/// every appended value is kept by reference, never copied.
///
/// Values live in one flat array of slots, carved into blocks of
/// ``blockSize`` slots; each key owns a linked list of blocks, and its state
/// (first and last block, fill, byte count) sits in an open-addressing table
/// keyed by the key's precomputed hash. An append is a table probe and one
/// slot write, with no per-key heap object to touch and no appended byte
/// copied. Reading a key walks its blocks (`blockSize` values per hop) and
/// joins the values with one copy (none for a single value). Removing a key
/// returns its blocks to a free list, so memory is reused without compaction.
struct AppendLog {
    static let blockSize = 32

    struct KeyState {
        var firstBlock: Int32 = -1
        var lastBlock: Int32 = -1
        var fill: Int32 = 0
        var entries: Int32 = 0
        var bytes: Int = 0
    }

    /// `nil` marks an unused slot: a cheaper filler than an empty array (no reference to count).
    private var slots: [[UInt8]?] = []
    private var nextBlock: [Int32] = []
    private var freeBlocks: [Int32] = []
    private var table = KeyTable()
    /// Payload bytes held under all keys.
    private(set) var totalBytes = 0

    init() {}

    var isEmpty: Bool { table.count == 0 }

    /// Appends every entry of `batch`, in order.
    mutating func append(contentsOf batch: [(key: PartdKey, value: [UInt8])]) {
        // Most keys are the very key values already in the table: those are found by hash
        // and identity, two words read out of the key, so the key is never retained; the
        // value is moved into its slot. The one reference count taken per entry is the one
        // that keeps the value alive.
        for index in batch.indices {
            let slot = table.slot(hash: batch[index].key.cachedHash, identity: batch[index].key.identity)
                ?? table.findOrInsert(batch[index].key)
            store(batch[index].value, at: slot)
        }
    }

    /// Appends `value` to `key`. An empty value still creates the key.
    @inline(__always)
    mutating func append(_ key: borrowing PartdKey, _ value: consuming [UInt8]) {
        store(value, at: table.findOrInsert(key))
    }

    /// Appends `value` to the key in table slot `slot`.
    @inline(__always)
    private mutating func store(_ value: consuming [UInt8], at slot: Int) {
        let count = value.count
        totalBytes += count
        if count == 0 { return }
        var state = table.states[slot]
        if state.lastBlock < 0 || state.fill == Int32(Self.blockSize) {
            let block = allocateBlock()
            if state.lastBlock < 0 {
                state.firstBlock = block
            } else {
                nextBlock[Int(state.lastBlock)] = block
            }
            state.lastBlock = block
            state.fill = 0
        }
        slots[Int(state.lastBlock) &* Self.blockSize &+ Int(state.fill)] = consume value
        state.fill += 1
        state.entries += 1
        state.bytes += count
        table.states[slot] = state
    }

    private mutating func allocateBlock() -> Int32 {
        if let block = freeBlocks.popLast() {
            nextBlock[Int(block)] = -1
            return block
        }
        let block = Int32(truncatingIfNeeded: nextBlock.count)
        nextBlock.append(-1)
        slots.append(contentsOf: repeatElement(nil, count: Self.blockSize))
        return block
    }

    /// Replaces everything `key` holds with `value`.
    mutating func set(_ key: PartdKey, _ value: [UInt8]) {
        _ = remove(key)
        append(key, value)
    }

    func contains(_ key: PartdKey) -> Bool { table.find(key) != nil }

    func byteCount(of key: PartdKey) -> Int {
        guard let slot = table.find(key) else { return 0 }
        return table.states[slot].bytes
    }

    private func forEachChunk(of state: KeyState, _ body: ([UInt8]) -> Void) {
        var block = state.firstBlock
        while block >= 0 {
            let count = block == state.lastBlock ? Int(state.fill) : Self.blockSize
            let base = Int(block) &* Self.blockSize
            for i in base..<(base + count) { body(slots[i] ?? []) }
            block = nextBlock[Int(block)]
        }
    }

    /// Everything appended to `key`, joined.
    func bytes(of key: PartdKey) -> [UInt8] {
        guard let slot = table.find(key) else { return [] }
        let state = table.states[slot]
        if state.entries == 0 { return [] }
        if state.entries == 1 { return slots[Int(state.firstBlock) &* Self.blockSize] ?? [] }
        var out: [UInt8] = []
        out.reserveCapacity(state.bytes)
        forEachChunk(of: state) { out.append(contentsOf: $0) }
        return out
    }

    /// Appends everything appended to `key` to `out`.
    func appendBytes(of key: PartdKey, to out: inout [UInt8]) {
        guard let slot = table.find(key) else { return }
        let state = table.states[slot]
        out.reserveCapacity(out.count + state.bytes)
        forEachChunk(of: state) { out.append(contentsOf: $0) }
    }

    /// Removes `key` and returns its values, oldest first (`nil` if it was missing).
    /// The values are moved out of the log, not copied or retained again.
    @discardableResult
    mutating func remove(_ key: PartdKey) -> (chunks: [[UInt8]], bytes: Int)? {
        guard let slot = table.find(key) else { return nil }
        let state = table.states[slot]
        var values: [[UInt8]] = []
        values.reserveCapacity(Int(state.entries))
        var block = state.firstBlock
        while block >= 0 {
            let base = Int(block) &* Self.blockSize
            let count = block == state.lastBlock ? Int(state.fill) : Self.blockSize
            for i in base..<(base + count) {
                values.append(slots[i].take() ?? [])
            }
            freeBlocks.append(block)
            block = nextBlock[Int(block)]
        }
        totalBytes -= state.bytes
        table.remove(at: slot)
        return (values, state.bytes)
    }

    mutating func removeAll() {
        self = AppendLog()
    }

    /// Every key's table slot with its byte count, in table order.
    var slotSizes: [(slot: Int, size: Int)] {
        table.occupied.map { (slot: $0, size: table.states[$0].bytes) }
    }

    /// The key in table slot `slot` (one of ``slotSizes``).
    func key(atSlot slot: Int) -> PartdKey { table.keys[slot] }

    var keys: [PartdKey] { table.occupied.map { table.keys[$0] } }
}

/// An open-addressing hash table from keys to ``AppendLog/KeyState``, probed
/// with the key's precomputed hash (no rehashing per lookup), linear probing
/// and backward-shift deletion.
struct KeyTable {
    private(set) var hashes: [Int]
    private(set) var keys: [PartdKey]
    /// The identity of each slot's key storage (meaningless where `hashes` is 0).
    private var identities: [ObjectIdentifier]
    var states: [AppendLog.KeyState]
    private(set) var count = 0
    private var mask: Int

    private static let emptyKey = PartdKey(.int(0))

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        hashes = [Int](repeating: 0, count: size)
        keys = [PartdKey](repeating: Self.emptyKey, count: size)
        identities = [ObjectIdentifier](repeating: ObjectIdentifier(Self.emptyKey.storage), count: size)
        states = [AppendLog.KeyState](repeating: AppendLog.KeyState(), count: size)
        mask = size - 1
    }

    /// 0 marks an empty slot, so a real hash of 0 is stored as 1.
    @inline(__always)
    private static func stored(_ key: borrowing PartdKey) -> Int { stored(hash: key.cachedHash) }

    @inline(__always)
    private static func stored(hash: Int) -> Int { hash == 0 ? 1 : hash }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func probe(_ key: borrowing PartdKey, hash h: Int) -> (slot: Int, found: Bool) {
        // Keys are usually the very key values stored here, so identity answers
        // without touching the stored key's reference count.
        let identity = key.identity
        var i = h & mask
        while true {
            let existing = hashes[i]
            if existing == 0 { return (i, false) }
            if existing == h && (identities[i] == identity || keys[i] == key) { return (i, true) }
            i = (i + 1) & mask
        }
    }

    /// The slot of the key whose storage has this identity, if it is that very key value.
    @inline(__always)
    func slot(hash: Int, identity: ObjectIdentifier) -> Int? {
        let h = Self.stored(hash: hash)
        var i = h & mask
        while true {
            let existing = hashes[i]
            if existing == 0 { return nil }
            if existing == h && identities[i] == identity { return i }
            i = (i + 1) & mask
        }
    }

    func find(_ key: PartdKey) -> Int? {
        let (slot, found) = probe(key, hash: Self.stored(key))
        return found ? slot : nil
    }

    @inline(__always)
    mutating func findOrInsert(_ key: borrowing PartdKey) -> Int {
        let h = Self.stored(key)
        let (slot, found) = probe(key, hash: h)
        return found ? slot : insert(copy key, hash: h, at: slot)
    }

    @inline(never)
    private mutating func insert(_ key: PartdKey, hash h: Int, at emptySlot: Int) -> Int {
        var i = emptySlot
        if (count + 1) * 4 > hashes.count * 3 {
            grow()
            i = h & mask
            while hashes[i] != 0 { i = (i + 1) & mask }
        }
        hashes[i] = h
        identities[i] = key.identity
        keys[i] = key
        states[i] = AppendLog.KeyState()
        count += 1
        return i
    }

    mutating func remove(at slot: Int) {
        var hole = slot
        var i = (slot + 1) & mask
        while hashes[i] != 0 {
            let home = hashes[i] & mask
            // Move entry i into the hole if its home position is not in (hole, i].
            let distanceToHome = (i - home) & mask
            let distanceToHole = (i - hole) & mask
            if distanceToHome >= distanceToHole {
                hashes[hole] = hashes[i]
                identities[hole] = identities[i]
                keys[hole] = keys[i]
                states[hole] = states[i]
                hole = i
            }
            i = (i + 1) & mask
        }
        hashes[hole] = 0
        keys[hole] = Self.emptyKey
        states[hole] = AppendLog.KeyState()
        count -= 1
    }

    var occupied: [Int] {
        hashes.indices.filter { hashes[$0] != 0 }
    }

    private mutating func grow() {
        let old = self
        self = KeyTable(capacity: hashes.count)
        for slot in old.occupied {
            let h = old.hashes[slot]
            var i = h & mask
            while hashes[i] != 0 { i = (i + 1) & mask }
            hashes[i] = h
            identities[i] = old.identities[slot]
            keys[i] = old.keys[slot]
            states[i] = old.states[slot]
            count += 1
        }
    }
}
