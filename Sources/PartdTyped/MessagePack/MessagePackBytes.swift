// Byte-level helpers for the MessagePack coders. This is the only file of the coders that uses unsafe
// constructs; each helper checks its own bounds, so the callers stay in safe Swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The encoder's output buffer (raw memory, so that a write is a capacity check and a store).
struct ByteWriter: ~Copyable {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    /// An empty writer with room for `capacity` bytes before it first grows.
    init(capacity: Int = 1024) {
        self.capacity = Swift.max(16, capacity)
        base = .allocate(byteCount: self.capacity, alignment: 1)
    }

    deinit { base.deallocate() }

    /// The bytes written.
    var bytes: [UInt8] { [UInt8](UnsafeRawBufferPointer(start: base, count: count)) }

    func append(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Makes room for `size` more bytes: the check is inlined into every write, the growth is not.
    @inline(__always)
    private mutating func reserve(_ size: Int) {
        if capacity - count < size { grow(size) }
    }

    @inline(never)
    private mutating func grow(_ size: Int) {
        capacity = Swift.max(2 * capacity, count + size)
        let old = base
        base = .allocate(byteCount: capacity, alignment: 1)
        base.copyMemory(from: old, byteCount: count)
        old.deallocate()
    }

    /// A byte already written.
    subscript(offset: Int) -> UInt8 {
        get {
            precondition(offset >= 0 && offset < count)
            return base.load(fromByteOffset: offset, as: UInt8.self)
        }
        nonmutating set {
            precondition(offset >= 0 && offset < count)
            base.storeBytes(of: newValue, toByteOffset: offset, as: UInt8.self)
        }
    }

    @inline(__always)
    mutating func write(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Writes `tag` followed by the big-endian bytes of `value`.
    @inline(__always)
    mutating func write<I: FixedWidthInteger>(_ tag: UInt8, bigEndian value: I) {
        reserve(1 + MemoryLayout<I>.size)
        base.storeBytes(of: tag, toByteOffset: count, as: UInt8.self)
        base.storeBytes(of: value.bigEndian, toByteOffset: count + 1, as: I.self)
        count += 1 + MemoryLayout<I>.size
    }

    mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(raw: $0) }
    }

    /// Writes the bytes of a collection (at once if it has contiguous storage, as `Data` does).
    mutating func write<C: Collection<UInt8>>(contentsOf bytes: C) {
        let written: Void? = bytes.withContiguousStorageIfAvailable { write(raw: UnsafeRawBufferPointer($0)) }
        if written == nil {
            for byte in bytes { write(byte) }
        }
    }

    /// Writes the bytes `start ..< end` of what `other` holds.
    mutating func write(from other: borrowing ByteWriter, _ start: Int, _ end: Int) {
        precondition(start >= 0 && start <= end && end <= other.count, "bytes outside the writer")
        write(raw: UnsafeRawBufferPointer(start: other.base + start, count: end - start))
    }

    /// Whether the bytes `start ..< end` of what this writer holds are the `end - start` bytes of `input`
    /// at `index` (which must lie inside it).
    func bytes(_ start: Int, _ end: Int, equal input: ArraySlice<UInt8>, at index: Int) -> Bool {
        precondition(start >= 0 && start <= end && end <= count, "bytes outside the writer")
        precondition(index >= input.startIndex && index <= input.endIndex - (end - start), "read outside the bytes")
        return input.withUnsafeBytes { all in
            end == start || memcmp(all.baseAddress! + (index - input.startIndex), base + start, end - start) == 0
        }
    }

    /// Writes the UTF-8 bytes of `string`.
    mutating func write(utf8 string: String) {
        var string = string
        string.withUTF8 { write(raw: UnsafeRawBufferPointer($0)) }
    }

    private mutating func write(raw bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        UnsafeMutableRawBufferPointer(start: base + count, count: bytes.count).copyMemory(from: bytes)
        count += bytes.count
    }

    /// Puts the values written from `starts[lo]` on in order: value `i` runs from `starts[i]` to the next start
    /// (the last to the end). A value is compared by its first element: the whole value (a set's element), or
    /// with `keyed` the key it starts with (a map entry's). See ``MessagePackOrder``. `order` is scratch space
    /// (kept by the caller, so that sorting small maps allocates nothing); the sorted bytes are assembled past
    /// the end of what is written and moved back.
    mutating func sortValues(_ starts: borrowing [Int], from lo: Int, keyed: Bool, order: inout [Int]) {
        let n = starts.count - lo
        guard n > 1 else { return }
        precondition(starts[lo] >= 0 && starts[starts.count - 1] <= count, "values outside the writer")
        let view = UnsafeRawBufferPointer(start: base, count: count)
        let total = count
        func begin(_ i: Int) -> Int { starts[lo + i] }
        func end(_ i: Int) -> Int { i + 1 < n ? starts[lo + i + 1] : total }
        func compared(_ i: Int) -> Int { keyed ? MessagePackOrder.endOfFirst(view, from: begin(i), limit: end(i)) : end(i) }
        func precedes(_ a: Int, _ b: Int) -> Bool { MessagePackOrder.precedes(view, begin(a), compared(a), begin(b), compared(b)) }
        // Most maps and sets are small, and some are in order already.
        var inOrder = true
        for i in 1..<n where precedes(i, i - 1) {
            inOrder = false
            break
        }
        guard !inOrder else { return }
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: 0..<n)
        if n <= 16 {
            for i in 1..<n {
                let item = order[i]
                var j = i
                while j > 0 && precedes(item, order[j - 1]) {
                    order[j] = order[j - 1]
                    j -= 1
                }
                order[j] = item
            }
        } else {
            order.sort(by: precedes)
        }
        let first = begin(0)
        let length = total - first
        reserve(length)
        var at = total
        for i in order {
            let size = end(i) - begin(i)
            (base + at).copyMemory(from: base + begin(i), byteCount: size)
            at += size
        }
        (base + first).copyMemory(from: base + total, byteCount: length)
    }

    /// Replaces the byte at `offset` with `bytes` (to widen a header written before its length was known).
    mutating func replace(at offset: Int, with bytes: [UInt8]) {
        precondition(offset >= 0 && offset < count && !bytes.isEmpty)
        let extra = bytes.count - 1
        reserve(extra)
        (base + offset + bytes.count).copyMemory(from: base + offset + 1, byteCount: count - offset - 1)
        count += extra
        for (index, byte) in bytes.enumerated() { self[offset + index] = byte }
    }
}

/// Whether `type` is an enum (an `Optional` is not), from the kind its type metadata records (the first word:
/// 0x201 for an enum, as the Swift ABI lays metadata out). Asked once per type the encoder meets (it caches
/// the answer), to keep enums' keyed containers maps.
func isEnumType(_ type: Any.Type) -> Bool {
    unsafeBitCast(type, to: UnsafeRawPointer.self).load(as: UInt.self) == 0x201
}

/// `array` as an array of `B`, which must be the same type as `A` at run time (checked): a generic list
/// handed to the code of the ``MessagePackRecord`` it holds, without converting element by element.
func sameTypeArray<A, B>(_ array: [A], as _: B.Type) -> [B] {
    precondition(A.self == B.self, "\(A.self) is not \(B.self)")
    return unsafeBitCast(array, to: [B].self)
}

extension ArraySlice where Element == UInt8 {
    /// The big-endian integer stored at `index` (an index of this slice; the bytes must lie inside it).
    func loadBigEndian<I: FixedWidthInteger>(_: I.Type, at index: Int) -> I {
        precondition(index >= startIndex && index <= endIndex - MemoryLayout<I>.size, "read outside the bytes")
        return withUnsafeBytes { I(bigEndian: $0.loadUnaligned(fromByteOffset: index - startIndex, as: I.self)) }
    }

    /// The `count` bytes at `index` as a string, or `nil` if they are not valid UTF-8.
    func utf8String(at index: Int, count: Int) -> String? {
        precondition(index >= startIndex && count >= 0 && index <= endIndex - count, "read outside the bytes")
        return withUnsafeBufferPointer { all in
            let utf8 = UnsafeBufferPointer(rebasing: all[(index - startIndex) ..< (index - startIndex + count)])
            var ascii = true
            for byte in utf8 where byte >= 0x80 {
                ascii = false
                break
            }
            // ASCII is valid UTF-8 as it is: decoding it cannot repair anything.
            return ascii ? String(decoding: utf8, as: UTF8.self) : String(validating: utf8, as: UTF8.self)
        }
    }

    /// Whether the `count` bytes at `index` are the UTF-8 bytes of `string`.
    func bytes(at index: Int, count: Int, equalUTF8Of string: String) -> Bool {
        precondition(index >= startIndex && count >= 0 && index <= endIndex - count, "read outside the bytes")
        guard string.utf8.count == count else { return false }
        let offset = index - startIndex
        let equal = string.utf8.withContiguousStorageIfAvailable { key in
            withUnsafeBufferPointer { all in
                for i in 0 ..< count where key[i] != all[offset + i] { return false }
                return true
            }
        }
        return equal ?? self[index ..< index + count].elementsEqual(string.utf8)
    }
}

/// The mutable state of one encode or decode call, shared by all the containers of that call.
///
/// Its storage opts out of Swift's dynamic exclusivity checks (`@exclusivity(unchecked)`, an unsafe construct,
/// hence in this file): those cost more than the coding work itself. `core` makes a cheaper check of the same
/// rule instead: an access to it must not start while another is in progress (that traps). The coders never do
/// that: no user code (`encode(to:)`, `init(from:)`, `CodingKey` members) runs inside an access.
final class Shared<Core: ~Copyable> {
    @exclusivity(unchecked) private var storage: Core
    @exclusivity(unchecked) private var busy = false

    init(_ core: consuming Core) {
        storage = core
    }

    var core: Core {
        _read {
            begin()
            defer { busy = false }
            yield storage
        }
        _modify {
            begin()
            defer { busy = false }
            yield &storage
        }
    }

    private func begin() {
        precondition(!busy, "overlapping accesses to the state of a MessagePack coder")
        busy = true
    }
}

/// The order in which the coders write the entries of a dictionary's map and the elements of a set, so that the
/// same dictionary or set gives the same bytes in every process (Swift iterates both in an order it seeds per
/// process): integers by value (negative ones first), then strings by their UTF-8 bytes, then any other value
/// by its encoded bytes. A map entry is ordered by its key.
enum MessagePackOrder {
    private enum Leading {
        case negative(Int64)
        case nonNegative(UInt64)
        case string(Int, Int)
        case other
    }

    /// The first value of the bytes from `start`: an integer, a string (its bytes' range) or another value.
    private static func leading(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Leading {
        guard start < end else { return .other }
        func big(_ size: Int) -> UInt64? {
            guard start + 1 + size <= end else { return nil }
            var value: UInt64 = 0
            for i in 0..<size { value = value << 8 | UInt64(bytes[start + 1 + i]) }
            return value
        }
        func signed(_ size: Int) -> Leading {
            guard let raw = big(size) else { return .other }
            let shift = UInt64(64 - 8 * size)
            let value = Int64(bitPattern: raw << shift) >> Int64(shift)
            return value < 0 ? .negative(value) : .nonNegative(UInt64(value))
        }
        func string(_ size: Int) -> Leading {
            guard let length = big(size), start + 1 + size + Int(length) <= end else { return .other }
            return .string(start + 1 + size, start + 1 + size + Int(length))
        }
        let tag = bytes[start]
        switch tag {
        case 0x00...0x7f: return .nonNegative(UInt64(tag))
        case 0xe0...0xff: return .negative(Int64(Int8(bitPattern: tag)))
        case 0xcc: return big(1).map(Leading.nonNegative) ?? .other
        case 0xcd: return big(2).map(Leading.nonNegative) ?? .other
        case 0xce: return big(4).map(Leading.nonNegative) ?? .other
        case 0xcf: return big(8).map(Leading.nonNegative) ?? .other
        case 0xd0: return signed(1)
        case 0xd1: return signed(2)
        case 0xd2: return signed(4)
        case 0xd3: return signed(8)
        case 0xa0...0xbf:
            let length = Int(tag & 0x1f)
            return start + 1 + length <= end ? .string(start + 1, start + 1 + length) : .other
        case 0xd9: return string(1)
        case 0xda: return string(2)
        case 0xdb: return string(4)
        default: return .other
        }
    }

    /// Where the key a map entry at `start` starts with ends (an integer or a string; else `limit`: the whole
    /// entry is compared).
    static func endOfFirst(_ bytes: UnsafeRawBufferPointer, from start: Int, limit: Int) -> Int {
        switch leading(bytes, start, limit) {
        case .string(_, let end): return end
        case .negative, .nonNegative:
            let tag = bytes[start]
            switch tag {
            case 0xcc, 0xd0: return start + 2
            case 0xcd, 0xd1: return start + 3
            case 0xce, 0xd2: return start + 5
            case 0xcf, 0xd3: return start + 9
            default: return start + 1
            }
        case .other: return limit
        }
    }

    /// Whether the value in `a ..< aEnd` comes before the one in `b ..< bEnd`.
    static func precedes(_ bytes: UnsafeRawBufferPointer, _ a: Int, _ aEnd: Int, _ b: Int, _ bEnd: Int) -> Bool {
        func rank(_ value: Leading) -> Int {
            switch value {
            case .negative, .nonNegative: return 0
            case .string: return 1
            case .other: return 2
            }
        }
        func lexicographic(_ x: Range<Int>, _ y: Range<Int>) -> Bool {
            let common = min(x.count, y.count)
            let order = common == 0 ? 0 : memcmp(bytes.baseAddress! + x.lowerBound, bytes.baseAddress! + y.lowerBound, common)
            return order != 0 ? order < 0 : x.count < y.count
        }
        let x = leading(bytes, a, aEnd)
        let y = leading(bytes, b, bEnd)
        switch (x, y) {
        case (.negative(let u), .negative(let v)): return u < v
        case (.negative, .nonNegative): return true
        case (.nonNegative, .negative): return false
        case (.nonNegative(let u), .nonNegative(let v)): return u < v
        case (.string(let u0, let u1), .string(let v0, let v1)): return lexicographic(u0..<u1, v0..<v1)
        case (.other, .other): return lexicographic(a..<aEnd, b..<bEnd)
        default: return rank(x) < rank(y)
        }
    }
}
