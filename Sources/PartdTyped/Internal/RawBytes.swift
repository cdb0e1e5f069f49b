// SPDX-License-Identifier: Apache-2.0
// The only file of the typed encoders (besides MessagePackBytes.swift) that touches raw memory:
// copying contiguous elements to and from bytes, each in one pass.

import Partd
import PartdCompression

enum RawBytes {
    /// Appends the in-memory (little-endian) bytes of `elements` to `out`.
    static func append<E: BitwiseCopyable>(_ elements: [E], to out: inout [UInt8]) {
        elements.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// `elements`' bytes compressed as one Arrow buffer (see `Compression.arrowCompressedBuffer`), without
    /// copying them first.
    static func arrowCompressedBuffer<E: BitwiseCopyable>(_ elements: [E], _ codec: Compression.ArrowCodec) throws -> [UInt8] {
        try elements.withUnsafeBytes { try Compression.arrowCompressedBuffer($0, codec) }
    }

    /// Appends the bytes of `elements[range]` to `out`.
    static func append<E: BitwiseCopyable>(_ elements: ArraySlice<E>, to out: inout [UInt8]) {
        elements.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// An array of `count` elements whose bytes are the concatenation of `pieces`
    /// (which must hold exactly `count * MemoryLayout<E>.stride` bytes): one copy.
    /// The caller has checked that the bytes are valid values of `E`.
    static func elements<E: BitwiseCopyable>(
        _: E.Type, count: Int, from pieces: some Sequence<ArraySlice<UInt8>>, recycler: ResultBuffers? = nil
    ) -> [E] {
        uninitializedArray(E.self, count: count, reusing: recycler) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var offset = 0
            for piece in pieces {
                piece.withUnsafeBytes { source in
                    guard source.count > 0 else { return }
                    precondition(offset + source.count <= raw.count, "RawBytes.elements: pieces exceed the count")
                    raw.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
                offset += piece.count
            }
            precondition(offset == raw.count || count == 0, "RawBytes.elements: pieces do not fill the count")
            initialized = count
        }
    }

    /// `Array(unsafeUninitializedCapacity:initializingWith:)`, except that for `count` 0 `body` gets an empty
    /// buffer and the result is `[]`: the standard library's initializer stores the count into the shared
    /// empty-array storage then, a write ThreadSanitizer reports as a race when two threads do it at once.
    static func uninitializedArray<E>(
        _: E.Type, count: Int, _ body: (inout UnsafeMutableBufferPointer<E>, inout Int) throws -> Void
    ) rethrows -> [E] {
        guard count > 0 else {
            var empty = UnsafeMutableBufferPointer<E>(start: nil, count: 0)
            var initialized = 0
            try body(&empty, &initialized)
            return []
        }
        return try [E](unsafeUninitializedCapacity: count, initializingWith: body)
    }

    /// `uninitializedArray`, writing into the storage of an array `recycler` kept when one has room for
    /// `count` elements. New memory is otherwise advised to use huge pages and faulted in at once, unless
    /// `prefault` is false. `body` sets `initialized` to how many elements it initialised from the start of
    /// the buffer (fewer than `count` only for a result that is then dropped).
    static func uninitializedArray<E>(
        _: E.Type, count: Int, reusing recycler: ResultBuffers?, prefault: Bool = true,
        _ body: (inout UnsafeMutableBufferPointer<E>, inout Int) -> Void
    ) -> [E] {
        // (Moved out of an optional first: the storage must have no other reference when it is written.)
        var recycled = recycler?.take(E.self, count: count)
        if var array = recycled.take(), array.capacity >= count {
            withoutActuallyEscaping(body) { body in array.append(contentsOf: Initializing(count: count, body: body)) }
            return array
        }
        return uninitializedArray(E.self, count: count) { buffer, initialized in
            if prefault {
                let raw = UnsafeMutableRawBufferPointer(buffer)
                Posix.adviseHugePages(raw)
                Posix.prefault(raw)
            }
            body(&buffer, &initialized)
        }
    }

    /// An array of up to `capacity` elements that `body` appends to `filler`: written in place into the new
    /// array's storage, so no type metadata is looked up per element (as `Array.append` does in code not
    /// specialised for `T`). If `body` throws, the elements appended so far are released.
    /// With a `recycler` that kept an array of room enough, the elements go into its storage.
    static func filling<T>(
        _: T.Type, capacity: Int, recycler: ResultBuffers? = nil, _ body: (inout ArrayFiller<T>) throws -> Void
    ) throws -> [T] {
        var failure: (any Error)?
        let array = uninitializedArray(T.self, count: capacity, reusing: recycler, prefault: false) { buffer, initialized in
            var filler = ArrayFiller(buffer: buffer)
            defer { initialized = filler.count }
            do { try body(&filler) } catch { failure = error }
        }
        // (The values decoded before an error are released with `array`.)
        if let failure { throw failure }
        return array
    }

    /// Where `array`'s elements are stored, as a number (to tell whether an operation kept the storage).
    static func storageAddress<E>(_ array: [E]) -> Int {
        array.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
    }

    /// `values` as `[U]` when `U` is `T` (an O(1) reinterpretation, unlike `as?`,
    /// which checks every element); `nil` otherwise.
    static func sameType<T, U>(_ values: [T], as: U.Type) -> [U]? {
        T.self == U.self ? unsafeBitCast(values, to: [U].self) : nil
    }

    /// `values[i]` for each of `indices`, copied by the element's size (no per-element
    /// generic dispatch, unlike `indices.map { values[$0] }` in unspecialised code).
    static func gather<E: BitwiseCopyable>(_ values: [E], at indices: [Int]) -> [E] {
        values.withUnsafeBytes { source in
            uninitializedArray(E.self, count: indices.count) { buffer, initialized in
                gather(source, stride: MemoryLayout<E>.stride, count: values.count, at: indices, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = indices.count
            }
        }
    }

    /// Non-generic, so each width's loop is compiled as plain loads and stores.
    private static func gather(
        _ source: UnsafeRawBufferPointer, stride: Int, count: Int, at indices: [Int], into target: UnsafeMutableRawBufferPointer
    ) {
        for i in indices { precondition(i >= 0 && i < count, "index \(i) out of range 0..<\(count)") }
        switch stride {
        case 8:
            for (j, i) in indices.enumerated() {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self), toByteOffset: j &* 8, as: UInt64.self)
            }
        case 4:
            for (j, i) in indices.enumerated() {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self), toByteOffset: j &* 4, as: UInt32.self)
            }
        case 2:
            for (j, i) in indices.enumerated() {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self), toByteOffset: j &* 2, as: UInt16.self)
            }
        case 1:
            for (j, i) in indices.enumerated() { target[j] = source[i] }
        default:
            for (j, i) in indices.enumerated() {
                target.baseAddress!.advanced(by: j * stride).copyMemory(from: source.baseAddress!.advanced(by: i * stride), byteCount: stride)
            }
        }
    }

    /// The concatenation of `parts`, by memory copies.
    static func concatenate<E: BitwiseCopyable>(_ parts: [ArraySlice<E>], recycler: ResultBuffers? = nil) -> [E] {
        let total = parts.reduce(0) { $0 + $1.count }
        return uninitializedArray(E.self, count: total, reusing: recycler) { buffer, initialized in
            let target = UnsafeMutableRawBufferPointer(buffer)
            var offset = 0
            for part in parts {
                part.withUnsafeBytes { source in
                    guard source.count > 0 else { return }
                    target.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    offset += source.count
                }
            }
            initialized = total
        }
    }

    /// The strings at `indices` of a string array (`offsets`, `data`), as new
    /// offsets and data: one pass to size the data, one copy of each string.
    static func gatherStrings(offsets: [Int64], data: [UInt8], at indices: [Int]) -> (offsets: [Int64], data: [UInt8]) {
        let count = offsets.count - 1
        var total = 0
        for i in indices {
            precondition(i >= 0 && i < count, "index \(i) out of range 0..<\(count)")
            total &+= Int(offsets[i + 1] &- offsets[i])
        }
        var outOffsets = [Int64](repeating: 0, count: indices.count + 1)
        let outData = offsets.withUnsafeBufferPointer { offsets in
            data.withUnsafeBytes { source in
                outOffsets.withUnsafeMutableBufferPointer { outOffsets in
                    uninitializedArray(UInt8.self, count: total) { target, initialized in
                        var position = 0
                        for (j, i) in indices.enumerated() {
                            let start = Int(offsets[i]), length = Int(offsets[i + 1] &- offsets[i])
                            copyString(source, start, length, to: target, at: position)
                            position &+= length
                            outOffsets[j + 1] = Int64(position)
                        }
                        initialized = total
                    }
                }
            }
        }
        return (outOffsets, outData)
    }

    /// The rows `plan.rows` of `values` split by partition (`plan.range`): each
    /// partition's rows kept in order, read in increasing row order (no branch
    /// per row on the partition), written once to a partition-ordered buffer
    /// and then copied out per partition.
    static func scatter<E: BitwiseCopyable>(_ values: [E], _ plan: SplitPlan) -> [[E]] {
        precondition(plan.partitions.count == values.count, "one partition per row is needed")
        let stride = MemoryLayout<E>.stride
        let base = plan.bounds[plan.range.lowerBound]
        let total = plan.bounds[plan.range.upperBound] - base
        let ordered = uninitializedArray(E.self, count: total) { buffer, initialized in
            values.withUnsafeBytes { source in
                scatter(source, stride: stride, plan, into: UnsafeMutableRawBufferPointer(buffer))
            }
            initialized = total
        }
        return plan.range.map { Array(ordered[(plan.bounds[$0] - base)..<(plan.bounds[$0 + 1] - base)]) }
    }

    /// Non-generic, so each width's loop is compiled as plain loads and stores.
    private static func scatter(_ source: UnsafeRawBufferPointer, stride: Int, _ plan: SplitPlan, into target: UnsafeMutableRawBufferPointer) {
        let base = plan.bounds[plan.range.lowerBound]
        var next = plan.bounds.map { $0 - base }
        next.withUnsafeMutableBufferPointer { next in
            plan.partitions.withUnsafeBufferPointer { partitions in
                plan.rows.withUnsafeBufferPointer { rows in
                    switch stride {
                    case 8:
                        for row in rows {
                            let p = partitions[row]
                            target.storeBytes(of: source.loadUnaligned(fromByteOffset: row &* 8, as: UInt64.self), toByteOffset: next[p] &* 8, as: UInt64.self)
                            next[p] &+= 1
                        }
                    case 4:
                        for row in rows {
                            let p = partitions[row]
                            target.storeBytes(of: source.loadUnaligned(fromByteOffset: row &* 4, as: UInt32.self), toByteOffset: next[p] &* 4, as: UInt32.self)
                            next[p] &+= 1
                        }
                    case 2:
                        for row in rows {
                            let p = partitions[row]
                            target.storeBytes(of: source.loadUnaligned(fromByteOffset: row &* 2, as: UInt16.self), toByteOffset: next[p] &* 2, as: UInt16.self)
                            next[p] &+= 1
                        }
                    default:
                        for row in rows {
                            let p = partitions[row]
                            target.baseAddress!.advanced(by: next[p] &* stride)
                                .copyMemory(from: source.baseAddress!.advanced(by: row &* stride), byteCount: stride)
                            next[p] &+= 1
                        }
                    }
                }
            }
        }
    }

    /// The rows `plan.rows` of a string array (`offsets`, `data`) split by
    /// partition, as ``scatter(_:_:)``: each string copied once into a
    /// partition-ordered buffer, then each partition's share copied out.
    static func scatterStrings(offsets: [Int64], data: [UInt8], _ plan: SplitPlan) -> [(offsets: [Int64], data: [UInt8])] {
        let range = plan.range
        let partitions = plan.partitions, bounds = plan.bounds
        precondition(offsets.count == partitions.count + 1, "one partition per row is needed")
        var byteBounds = [Int](repeating: 0, count: range.count + 1)
        for row in plan.rows { byteBounds[partitions[row] - range.lowerBound + 1] += Int(offsets[row + 1] &- offsets[row]) }
        for i in 0..<range.count { byteBounds[i + 1] += byteBounds[i] }
        let totalBytes = byteBounds[range.count]
        let rowBase = bounds[range.lowerBound]
        var ends = [Int64](repeating: 0, count: bounds[range.upperBound] - rowBase)
        var nextRow = range.map { bounds[$0] - rowBase }
        var nextByte = byteBounds
        let ordered = offsets.withUnsafeBufferPointer { offsets in
            data.withUnsafeBytes { source in
                uninitializedArray(UInt8.self, count: totalBytes) { target, initialized in
                    for row in plan.rows {
                        let i = partitions[row] - range.lowerBound
                        let start = Int(offsets[row]), length = Int(offsets[row + 1] &- offsets[row])
                        let position = nextByte[i]
                        copyString(source, start, length, to: target, at: position)
                        nextByte[i] = position + length
                        ends[nextRow[i]] = Int64(position + length - byteBounds[i])
                        nextRow[i] += 1
                    }
                    initialized = totalBytes
                }
            }
        }
        return range.map { p in
            let i = p - range.lowerBound
            var partOffsets = [Int64](repeating: 0, count: bounds[p + 1] - bounds[p] + 1)
            partOffsets.replaceSubrange(1..., with: ends[(bounds[p] - rowBase)..<(bounds[p + 1] - rowBase)])
            return (partOffsets, Array(ordered[byteBounds[i]..<byteBounds[i + 1]]))
        }
    }

    /// Whether two of the strings of a string array (`offsets`, `data`) are equal: each string hashed
    /// once into an open-addressing table of (hash, index) pairs, bytes compared only on equal hashes.
    static func hasRepeats(offsets: [Int64], data: [UInt8]) -> Bool {
        let count = offsets.count - 1
        guard count > 1 else { return false }
        var capacity = 4
        while capacity < 2 * count { capacity <<= 1 }
        var slots = [(hash: Int, index: Int)](repeating: (0, -1), count: capacity)
        return offsets.withUnsafeBufferPointer { offsets in
            data.withUnsafeBytes { data in
                slots.withUnsafeMutableBufferPointer { slots in
                    func bytes(_ i: Int) -> UnsafeRawBufferPointer {
                        UnsafeRawBufferPointer(rebasing: data[Int(offsets[i])..<Int(offsets[i + 1])])
                    }
                    for i in 0..<count {
                        let string = bytes(i)
                        var hasher = Hasher()
                        hasher.combine(bytes: string)
                        let hash = hasher.finalize()
                        var slot = hash & (capacity - 1)
                        while slots[slot].index >= 0 {
                            if slots[slot].hash == hash, string.elementsEqual(bytes(slots[slot].index)) { return true }
                            slot = (slot + 1) & (capacity - 1)
                        }
                        slots[slot] = (hash, i)
                    }
                    return false
                }
            }
        }
    }

    /// Copies `length` bytes of `source` from `start` to `target` at `position`;
    /// strings of 8 to 16 bytes (the common case) as two overlapping words
    /// rather than a `memmove` call.
    @inline(__always)
    private static func copyString(
        _ source: UnsafeRawBufferPointer, _ start: Int, _ length: Int, to target: UnsafeMutableBufferPointer<UInt8>, at position: Int
    ) {
        guard length > 0 else { return }
        let to = UnsafeMutableRawPointer(target.baseAddress!)
        if length >= 8 && length <= 16 {
            let from = source.baseAddress!
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: start, as: UInt64.self), toByteOffset: position, as: UInt64.self)
            to.storeBytes(
                of: from.loadUnaligned(fromByteOffset: start + length - 8, as: UInt64.self),
                toByteOffset: position + length - 8, as: UInt64.self)
        } else if length > 16 {
            to.advanced(by: position).copyMemory(from: source.baseAddress!.advanced(by: start), byteCount: length)
        } else {
            for k in 0..<length { to.storeBytes(of: source[start + k], toByteOffset: position + k, as: UInt8.self) }
        }
    }

    /// The offsets of string-array parts joined into one array: each part's offsets are held little-endian
    /// in `bytes` (Int64 values for `width` 8, Int32 for 4) and shifted by the data of the parts before it.
    /// `nil` unless every part's offsets start at 0, never decrease and end at its `end`. One allocation,
    /// filled in place.
    static func joinOffsets(
        _ parts: [(bytes: ArraySlice<UInt8>, width: Int, end: Int64)], recycler: ResultBuffers? = nil
    ) -> [Int64]? {
        var total = 1
        for part in parts {
            guard part.bytes.count >= part.width, part.bytes.count % part.width == 0 else { return nil }
            total += part.bytes.count / part.width - 1
        }
        var valid = true
        let joined = uninitializedArray(Int64.self, count: total, reusing: recycler) { buffer, initialized in
            let out = buffer.baseAddress!
            out[0] = 0
            var next = 1
            var base: Int64 = 0
            for part in parts where valid {
                let written = part.bytes.withUnsafeBytes { raw in
                    part.width == 4
                        ? widen(raw, as: Int32.self, base: base, end: part.end, into: out + next)
                        : widen(raw, as: Int64.self, base: base, end: part.end, into: out + next)
                }
                guard let written else { valid = false; break }
                next += written
                base &+= part.end
            }
            initialized = valid ? total : 0
        }
        return valid ? joined : nil
    }

    /// Writes the offsets after the first held in `raw`, each plus `base`, to `out`; returns how many, or
    /// `nil` unless they start at 0, never decrease and end at `end`.
    private static func widen<W: FixedWidthInteger & BitwiseCopyable>(
        _ raw: UnsafeRawBufferPointer, as _: W.Type, base: Int64, end: Int64, into out: UnsafeMutablePointer<Int64>
    ) -> Int? {
        let size = MemoryLayout<W>.size
        let count = raw.count / size
        guard raw.loadUnaligned(as: W.self) == 0 else { return nil }
        var previous: W = 0
        for i in 1..<count {
            let offset = W(littleEndian: raw.loadUnaligned(fromByteOffset: i &* size, as: W.self))
            if offset < previous { return nil }
            previous = offset
            out[i &- 1] = base &+ Int64(offset)
        }
        return Int64(previous) == end ? count - 1 : nil
    }

    /// Appends `offsets` (which must all fit in Int32) to `out` as little-endian Int32 values.
    static func appendNarrowed(_ offsets: [Int64], to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: offsets.count * 4))
        out.withUnsafeMutableBytes { raw in
            offsets.withUnsafeBufferPointer { wide in
                for i in wide.indices {
                    raw.storeBytes(of: Int32(wide[i]).littleEndian, toByteOffset: start &+ i &* 4, as: Int32.self)
                }
            }
        }
    }

    /// Whether every Int32 held little-endian in `bytes` is in `0..<limit`.
    static func allCodes(_ bytes: ArraySlice<UInt8>, below limit: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var ok = true
            for i in 0..<(raw.count / 4) {
                let code = raw.loadUnaligned(fromByteOffset: i &* 4, as: Int32.self)
                ok = ok && code >= 0 && code < limit
            }
            return ok
        }
    }
}

/// Appends elements in place into the storage of an array being made (see ``RawBytes/filling(_:capacity:_:)``).
struct ArrayFiller<T>: ~Copyable {
    private let buffer: UnsafeMutableBufferPointer<T>
    private(set) var count = 0

    fileprivate init(buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }

    /// How many more elements fit.
    var room: Int { buffer.count - count }

    @inline(__always)
    mutating func append(_ value: consuming T) {
        precondition(count < buffer.count, "ArrayFiller: no room left")
        (buffer.baseAddress! + count).initialize(to: value)
        count += 1
    }
}

/// `count` elements that `body` initialises in place, as a sequence whose `_copyContents` runs `body` on the
/// storage it is copied into: `Array.append(contentsOf:)` then fills spare capacity with no zeroing and no
/// per-element calls. Its underestimated count is 0, so a `body` that stops early (setting `initialized` to
/// less than `count`) is no error; the caller drops such a result.
struct Initializing<E>: Sequence {
    let count: Int
    let body: (inout UnsafeMutableBufferPointer<E>, inout Int) -> Void

    struct Iterator: IteratorProtocol {
        mutating func next() -> E? { nil }
    }

    func makeIterator() -> Iterator { Iterator() }
    var underestimatedCount: Int { 0 }

    func _copyContents(initializing target: UnsafeMutableBufferPointer<E>) -> (Iterator, UnsafeMutableBufferPointer<E>.Index) {
        precondition(target.count >= count, "Initializing: no room for \(count) elements")
        var buffer = UnsafeMutableBufferPointer(rebasing: target[..<count])
        var initialized = 0
        body(&buffer, &initialized)
        return (Iterator(), initialized)
    }
}

extension StringArray {
    /// Whether the strings at `a` and `b` hold the same bytes, compared in place (a slice of `data` per
    /// string would retain and release the array on every comparison).
    package func bytesEqual(_ a: Int, _ b: Int) -> Bool {
        let (startA, startB) = (Int(offsets[a]), Int(offsets[b]))
        let count = Int(offsets[a + 1]) - startA
        guard count == Int(offsets[b + 1]) - startB else { return false }
        if count == 0 || startA == startB { return true }
        return data.withUnsafeBytes { raw in
            raw[startA ..< startA + count].elementsEqual(raw[startB ..< startB + count])
        }
    }
}
