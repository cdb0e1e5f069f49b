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

    init() {
        capacity = 1024
        base = .allocate(byteCount: capacity, alignment: 1)
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
