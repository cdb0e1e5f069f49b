// SPDX-License-Identifier: Apache-2.0

import Partd

/// An N-dimensional array of fixed-width elements in row-major (C) order.
///
/// The first axis is the one appends concatenate along; the others (the
/// *row shape*) must agree between every array appended to a key.
///
/// ```swift
/// let a = try NDArray<Double>([1, 2, 3, 4, 5, 6], shape: [3, 2])
/// a.shape        // [3, 2]
/// a.rowShape     // [2]
/// ```
public struct NDArray<Element: ArrayElement>: Sendable, Equatable {
    /// The elements, row-major.
    public private(set) var elements: [Element]
    /// The extent of each axis; `shape.reduce(1, *) == elements.count`.
    public private(set) var shape: [Int]

    /// A one-dimensional array.
    public init(_ elements: [Element]) {
        self.elements = elements
        self.shape = [elements.count]
    }

    /// An array of the given shape (at least one axis).
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if the shape has no axis,
    ///   a negative extent, or does not hold exactly `elements.count` elements.
    public init(_ elements: [Element], shape: [Int]) throws {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }), NDArray.elementCount(shape) == elements.count else {
            throw PartdError(
                code: .invalidArgument,
                message: "shape \(shape) does not hold \(elements.count) elements (it needs at least one axis)")
        }
        self.elements = elements
        self.shape = shape
    }

    /// An empty array with the given row shape (`[0] + rowShape`).
    public init(emptyWithRowShape rowShape: [Int] = []) {
        self.elements = []
        self.shape = [0] + rowShape
    }

    init(unchecked elements: [Element], shape: [Int]) {
        self.elements = elements
        self.shape = shape
    }

    /// The number of rows (the extent of the first axis).
    public var count: Int { shape[0] }

    public var dtype: DType { Element.dtype }

    /// The product of `shape`, or `nil` if it overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var total = 1
        for extent in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            total = product
        }
        return total
    }
}

extension NDArray: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) { self.init(elements) }
}

/// A sequence of strings (or arbitrary byte strings) stored as one byte
/// buffer plus `count + 1` offsets, as Apache Arrow's `large_binary` lays
/// them out: no allocation per element.
///
/// Elements need not be valid UTF-8: ``bytes(at:)`` returns the exact bytes;
/// the `String` subscript repairs invalid sequences.
public struct StringArray: Sendable, Equatable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// `count + 1` byte offsets into ``data``, starting at 0, never decreasing.
    public private(set) var offsets: [Int64]
    /// Every element's bytes, back to back.
    public private(set) var data: [UInt8]

    public init() {
        offsets = [0]
        data = []
    }

    public init(_ strings: some Sequence<String>) {
        self.init()
        for string in strings { append(string) }
    }

    public init(arrayLiteral elements: String...) { self.init(elements) }

    /// Byte strings, kept exactly (they need not be UTF-8).
    public init(byteStrings: some Sequence<some Collection<UInt8>>) {
        self.init()
        for bytes in byteStrings { append(bytes: bytes) }
    }

    public mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { data.append(contentsOf: $0) }
        offsets.append(Int64(data.count))
    }

    public mutating func append(bytes: some Collection<UInt8>) {
        data.append(contentsOf: bytes)
        offsets.append(Int64(data.count))
    }

    /// `append(bytes:)` for a slice: not generic, so a caller in another module pays no generic dispatch
    /// per element appended (a CSV reader appends one per field).
    public mutating func append(bytes: ArraySlice<UInt8>) {
        data.append(contentsOf: bytes)
        offsets.append(Int64(data.count))
    }

    /// Appends every element of `other`.
    public mutating func append(contentsOf other: StringArray) {
        let base = Int64(data.count)
        data.append(contentsOf: other.data)
        offsets.reserveCapacity(offsets.count + other.count)
        for offset in other.offsets.dropFirst() { offsets.append(base + offset) }
    }

    /// Joins parts given as little-endian Int64 offsets and data bytes (the
    /// string-array and table layouts), copying each byte once; `nil` if a part's
    /// offsets do not run from 0 to its data length without decreasing.
    init?(parts: [(offsets: ArraySlice<UInt8>, data: ArraySlice<UInt8>)]) {
        self.init(parts: parts.map { (offsets: $0.offsets, offsetWidth: 8, data: $0.data) })
    }

    /// Joins parts whose offsets are little-endian Int64 (`offsetWidth` 8) or Int32 (4) values, into the
    /// storage of arrays `recycler` kept if it has some that fit.
    init?(parts: [(offsets: ArraySlice<UInt8>, offsetWidth: Int, data: ArraySlice<UInt8>)], recycler: ResultBuffers? = nil) {
        let ends = parts.map { ($0.offsets, $0.offsetWidth, Int64($0.data.count)) }
        guard let offsets = RawBytes.joinOffsets(ends, recycler: recycler) else { return nil }
        self.offsets = offsets
        self.data = RawBytes.concatenate(parts.map(\.data), recycler: recycler)
    }

    /// Strings given as Arrow's `large_binary` lays them out: `count + 1` offsets into `data`.
    ///
    /// - Returns: `nil` unless the offsets start at 0, never decrease and end at `data.count`.
    public init?(offsets: [Int64], data: [UInt8]) {
        guard offsets.first == 0, offsets.last == Int64(data.count) else { return nil }
        var ordered = true
        var previous: Int64 = 0
        for offset in offsets {
            ordered = ordered && offset >= previous
            previous = offset
        }
        guard ordered else { return nil }
        self.init(checkedOffsets: offsets, data: data)
    }

    /// Offsets and data the caller has checked: `offsets` starts at 0, never decreases and ends at `data.count`.
    init(checkedOffsets offsets: [Int64], data: [UInt8]) {
        self.offsets = offsets
        self.data = data
    }

    public mutating func reserveCapacity(count: Int, bytes: Int) {
        offsets.reserveCapacity(count + 1)
        data.reserveCapacity(bytes)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { offsets.count - 1 }

    public subscript(position: Int) -> String {
        String(decoding: bytes(at: position), as: UTF8.self)
    }

    /// Whether two of the strings are equal.
    var hasRepeats: Bool { RawBytes.hasRepeats(offsets: offsets, data: data) }

    /// The exact bytes of element `position`.
    public func bytes(at position: Int) -> ArraySlice<UInt8> {
        data[Int(offsets[position])..<Int(offsets[position + 1])]
    }

    /// The elements at `indices`, in that order.
    public func take(_ indices: some Collection<Int>) -> StringArray {
        var result = StringArray()
        (result.offsets, result.data) = RawBytes.gatherStrings(offsets: offsets, data: data, at: indices as? [Int] ?? Array(indices))
        return result
    }

    /// The plan's rows split by partition (see ``RawBytes/scatterStrings(offsets:data:_:)``).
    func split(_ plan: SplitPlan) -> [StringArray] {
        RawBytes.scatterStrings(offsets: offsets, data: data, plan).map {
            var part = StringArray()
            (part.offsets, part.data) = $0
            return part
        }
    }

    /// The elements in `range` as a new array.
    public func slice(_ range: Range<Int>) -> StringArray {
        guard !range.isEmpty else { return StringArray() }
        let base = offsets[range.lowerBound]
        var result = StringArray()
        result.data = Array(data[Int(base)..<Int(offsets[range.upperBound])])
        result.offsets = offsets[range.lowerBound...range.upperBound].map { $0 - base }
        return result
    }
}

extension NDArray: CustomStringConvertible {
    /// The elements as an array of them prints, with the shape when it has more than one axis:
    /// `[1.0, 2.0, 3.0, 4.0] (shape [2, 2])`.
    public var description: String {
        shape.count == 1 ? elements.description : "\(elements) (shape \(shape))"
    }
}
