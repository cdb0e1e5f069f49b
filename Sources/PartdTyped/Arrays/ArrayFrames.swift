// SPDX-License-Identifier: Apache-2.0

import Partd

/// An array type an ``ArrayStore`` can hold: ``NDArray`` of any
/// ``ArrayElement``, or ``StringArray``. Each appended array is one frame
/// (`docs/format.md` §6).
public protocol StorableArray: Sendable {
    /// The element type of every frame of this array type.
    static var dtype: DType { get }
    /// The shape of one row: what every array appended to one key must share.
    var rowShape: [Int] { get }
    /// About how many bytes the frame payload takes (used to decide whether to share work across cores).
    var byteSize: Int { get }
    /// The frame payload: a `.npy` header and the element bytes, or a string-array frame.
    func framePayload() -> [UInt8]
    /// Joins the frames of one key (payloads already checked against their checksums).
    static func decode(frames: [(offset: Int, bytes: ArraySlice<UInt8>)], key: PartdKey) throws -> Self
    /// The array a missing key reads as.
    static var empty: Self { get }
}

/// The array types whose decoding can write into the memory an ``ArrayStore`` kept from its latest results
/// (``ResultBuffers``): both of ours. Internal, so that ``StorableArray`` stays as it is.
protocol ReusingStorableArray: StorableArray {
    static func decode(frames: [(offset: Int, bytes: ArraySlice<UInt8>)], key: PartdKey, recycler: ResultBuffers?) throws -> Self
    /// The large arrays of the value, for a ``ResultBuffers`` to keep.
    var heldArrays: [ResultBuffers.Held] { get }
}

/// What a key holds: the element type and the shape of one row.
struct ArrayLayout: Equatable, CustomStringConvertible {
    var dtype: DType
    var rowShape: [Int]
    var description: String { "\(dtype.numpy) arrays with rows of shape \(rowShape)" }
}

extension PartdError {
    static func corruptFrame(_ key: PartdKey, _ offset: Int, _ detail: some CustomStringConvertible) -> PartdError {
        PartdError(code: .corruptData, message: "key \(key), frame at byte offset \(offset): \(detail)", key: key)
    }

    static func layoutMismatch(_ key: PartdKey, holds: some CustomStringConvertible, given: some CustomStringConvertible)
        -> PartdError
    {
        PartdError(code: .typeMismatch, message: "key \(key) holds \(holds), not \(given)", key: key)
    }
}

extension NDArray: StorableArray, ReusingStorableArray {
    public static var dtype: DType { Element.dtype }
    /// The shape of one row: every axis but the first.
    public var rowShape: [Int] { Array(shape.dropFirst()) }
    public static var empty: NDArray { NDArray([]) }
    public var byteSize: Int { elements.count * MemoryLayout<Element>.stride }

    public func framePayload() -> [UInt8] {
        var payload = NPYHeader(dtype: Element.dtype, shape: shape).encoded(
            reservingCapacity: elements.count * MemoryLayout<Element>.stride)
        RawBytes.append(elements, to: &payload)
        return payload
    }

    public static func decode(frames: [(offset: Int, bytes: ArraySlice<UInt8>)], key: PartdKey) throws -> NDArray {
        try decode(frames: frames, key: key, recycler: nil)
    }

    var heldArrays: [ResultBuffers.Held] { [ResultBuffers.held(elements)] }

    static func decode(
        frames: [(offset: Int, bytes: ArraySlice<UInt8>)], key: PartdKey, recycler: ResultBuffers?
    ) throws -> NDArray {
        var pieces: [ArraySlice<UInt8>] = []
        pieces.reserveCapacity(frames.count)
        var rows = 0
        var rowShape: [Int]?
        var total = 0
        for frame in frames {
            try TypedPayloadKind.check(frame.bytes, startsWith: NPYHeader.magic, key: key, given: "\(Element.dtype.numpy) arrays")
            let header: NPYHeader
            let length: Int
            do {
                (header, length) = try NPYHeader.parse(frame.bytes)
            } catch {
                throw PartdError.corruptFrame(key, frame.offset, error)
            }
            let found = ArrayLayout(dtype: header.dtype, rowShape: Array(header.shape.dropFirst()))
            guard header.dtype == Element.dtype else {
                throw PartdError.layoutMismatch(key, holds: found, given: "\(Element.dtype.numpy) arrays")
            }
            guard let first = header.shape.first else {
                throw PartdError.corruptFrame(key, frame.offset, "a zero-dimensional array frame (every frame needs a first axis)")
            }
            if let rowShape, rowShape != found.rowShape {
                throw PartdError.corruptFrame(
                    key, frame.offset, "frames disagree: rows of shape \(rowShape) then \(found.rowShape)")
            }
            rowShape = found.rowShape
            let body = frame.bytes.dropFirst(length)
            guard let count = NDArray.elementCount(header.shape),
                count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride) == (body.count, false)
            else {
                throw PartdError.corruptFrame(
                    key, frame.offset, "shape \(header.shape) of \(header.dtype) does not match the \(body.count) bytes that follow")
            }
            if Element.self == Bool.self, let bad = body.firstIndex(where: { $0 > 1 }) {
                throw PartdError.corruptFrame(key, frame.offset, "byte \(bad - frame.bytes.startIndex) of a |b1 array is \(body[bad]), not 0 or 1")
            }
            let (sum, overflow) = rows.addingReportingOverflow(first)
            guard !overflow else {
                throw PartdError.corruptFrame(key, frame.offset, "the frames' first axes add up to more than \(Int.max) rows")
            }
            rows = sum
            total += count
            pieces.append(body)
        }
        let elements = RawBytes.elements(Element.self, count: total, from: pieces, recycler: recycler)
        return NDArray(unchecked: elements, shape: [rows] + (rowShape ?? []))
    }
}

/// String-array frames (`docs/format.md` §6.2): "PDSA", version 1, three zero
/// bytes, UInt64 count, UInt64 data length, `count + 1` Int64 offsets, data.
extension StringArray: StorableArray, ReusingStorableArray {
    static let magic: [UInt8] = Array("PDSA".utf8)
    static let headerSize = 24

    public static var dtype: DType { .string }
    public var rowShape: [Int] { [] }
    public static var empty: StringArray { StringArray() }
    public var byteSize: Int { data.count + offsets.count * 8 }

    public func framePayload() -> [UInt8] {
        var payload = StringArray.magic + [1, 0, 0, 0]
        payload.reserveCapacity(StringArray.headerSize + offsets.count * 8 + data.count)
        LittleEndian.append(UInt64(count), to: &payload)
        LittleEndian.append(UInt64(data.count), to: &payload)
        RawBytes.append(offsets, to: &payload)
        payload.append(contentsOf: data)
        return payload
    }

    public static func decode(frames: [(offset: Int, bytes: ArraySlice<UInt8>)], key: PartdKey) throws -> StringArray {
        try decode(frames: frames, key: key, recycler: nil)
    }

    var heldArrays: [ResultBuffers.Held] { [ResultBuffers.held(offsets), ResultBuffers.held(data)] }

    static func decode(
        frames: [(offset: Int, bytes: ArraySlice<UInt8>)], key: PartdKey, recycler: ResultBuffers?
    ) throws -> StringArray {
        var parts: [(offsets: ArraySlice<UInt8>, offsetWidth: Int, data: ArraySlice<UInt8>)] = []
        for frame in frames {
            let bytes = frame.bytes
            func corrupt(_ detail: String) -> PartdError { .corruptFrame(key, frame.offset, detail) }
            try TypedPayloadKind.check(bytes, startsWith: magic, key: key, given: "string arrays")
            guard bytes.count >= headerSize, bytes.starts(with: magic) else { throw corrupt("not a string-array frame (bad magic)") }
            guard bytes[bytes.startIndex + 4] == 1 else { throw corrupt("string-array frame version \(bytes[bytes.startIndex + 4]) is not supported") }
            guard bytes[(bytes.startIndex + 5)..<(bytes.startIndex + 8)].allSatisfy({ $0 == 0 }) else { throw corrupt("non-zero reserved bytes") }
            let count = LittleEndian.load(bytes, at: 8)
            let dataLength = LittleEndian.load(bytes, at: 16)
            let available = UInt64(bytes.count - headerSize)
            guard count < available / 8, dataLength == available - (count + 1) * 8 else {
                throw corrupt("a string-array frame claims \(count) strings of \(dataLength) bytes in \(available) bytes")
            }
            let offsetsStart = bytes.startIndex + headerSize
            let dataStart = offsetsStart + Int(count + 1) * 8
            parts.append((bytes[offsetsStart..<dataStart], 8, bytes[dataStart...]))
        }
        guard let result = StringArray(parts: parts, recycler: recycler) else {
            let bad = parts.firstIndex { StringArray(parts: [$0]) == nil } ?? 0
            throw PartdError.corruptFrame(key, frames[bad].offset, "string offsets are not increasing from 0 to the data length")
        }
        return result
    }
}

/// Little-endian integer helpers for headers (not hot paths).
enum LittleEndian {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    static func append(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    /// The UInt64 at `offset` bytes from the start of `bytes` (the caller checked the bounds).
    static func load(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
        let start = bytes.startIndex + offset
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
        return value
    }

    static func load32(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt32 {
        let start = bytes.startIndex + offset
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[start + i]) << (8 * UInt32(i)) }
        return value
    }

    static func load16(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt16 {
        let start = bytes.startIndex + offset
        return UInt16(bytes[start]) | UInt16(bytes[start + 1]) << 8
    }
}
