// SPDX-License-Identifier: Apache-2.0

import PartdCompression

/// Booleans packed eight to a byte, least significant bit first (Apache
/// Arrow's bitmap layout). Used for Bool columns and for validity bitmaps.
/// Bits past `count` in the last byte are always zero.
public struct BitArray: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// The packed bits, `(count + 7) / 8` bytes.
    public private(set) var bytes: [UInt8]
    public private(set) var count: Int

    public init() {
        bytes = []
        count = 0
    }

    public init(_ values: some Sequence<Bool>) {
        self.init()
        for value in values { append(value) }
    }

    public init(arrayLiteral elements: Bool...) { self.init(elements) }

    /// `count` copies of `value`.
    public init(repeating value: Bool, count: Int) {
        bytes = [UInt8](repeating: value ? 0xFF : 0, count: (count + 7) / 8)
        self.count = count
        clearTail()
    }

    /// Packed bits as stored (tail bits are cleared).
    init(packed: [UInt8], count: Int) {
        bytes = packed
        self.count = count
        clearTail()
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Bool {
        get {
            precondition(position >= 0 && position < count, "bit \(position) is outside 0..<\(count)")
            return bytes[position >> 3] & (1 << UInt8(position & 7)) != 0
        }
        set {
            precondition(position >= 0 && position < count, "bit \(position) is outside 0..<\(count)")
            let mask: UInt8 = 1 << UInt8(position & 7)
            if newValue { bytes[position >> 3] |= mask } else { bytes[position >> 3] &= ~mask }
        }
    }

    public mutating func append(_ value: Bool) {
        if count & 7 == 0 { bytes.append(0) }
        count += 1
        if value { bytes[(count - 1) >> 3] |= 1 << UInt8((count - 1) & 7) }
    }

    public mutating func append(contentsOf other: BitArray) {
        if count & 7 == 0 {
            bytes.append(contentsOf: other.bytes)
            count += other.count
            return
        }
        bytes.reserveCapacity((count + other.count + 7) / 8)
        for bit in other { append(bit) }
    }

    /// The number of set bits.
    public var trueCount: Int { bytes.reduce(0) { $0 + $1.nonzeroBitCount } }

    func slice(_ range: Range<Int>) -> BitArray {
        if range.lowerBound & 7 == 0 {
            return BitArray(packed: Array(bytes[(range.lowerBound >> 3)..<((range.upperBound + 7) >> 3)]), count: range.count)
        }
        var result = BitArray()
        result.bytes.reserveCapacity((range.count + 7) / 8)
        for i in range { result.append(self[i]) }
        return result
    }

    func take(_ indices: some Collection<Int>) -> BitArray {
        var result = BitArray()
        result.bytes.reserveCapacity((indices.count + 7) / 8)
        for i in indices { result.append(self[i]) }
        return result
    }

    func split(_ plan: SplitPlan) -> [BitArray] {
        var parts = plan.range.map { p -> BitArray in
            var part = BitArray()
            part.bytes.reserveCapacity((plan.bounds[p + 1] - plan.bounds[p] + 7) / 8)
            return part
        }
        for row in plan.rows { parts[plan.partitions[row] - plan.range.lowerBound].append(self[row]) }
        return parts
    }

    private mutating func clearTail() {
        if count & 7 != 0 { bytes[bytes.count - 1] &= UInt8((1 << (count & 7)) - 1) }
    }
}

/// Strings stored as indices into a dictionary of distinct values (pandas'
/// `Categorical`, Arrow's dictionary encoding).
public struct CategoricalArray: Sendable, Equatable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// The distinct values.
    public private(set) var categories: StringArray
    /// For each element, its index in ``categories``.
    public private(set) var codes: [Int32]

    public init() {
        categories = StringArray()
        codes = []
    }

    /// Dictionary-encodes `strings`, categories in order of first appearance. Strings are told apart by their
    /// UTF-8 bytes, as everywhere in a table: canonically equivalent strings that differ in bytes
    /// (`"caf\u{E9}"` and `"cafe\u{301}"`), which Swift's `==` takes as equal, are two categories.
    public init(_ strings: some Sequence<String>) {
        self.init()
        // Looked up as `String`s (the fast hash), each hit checked against the category's bytes: a string that
        // `String` takes as equal but whose bytes differ is looked up by its bytes, in a table of its own.
        var index: [String: Int32] = [:]
        var byBytes: [UTF8Key: Int32] = [:]
        for string in strings {
            if let code = index[string] {
                if categories.hasUTF8(of: string, at: Int(code)) {
                    codes.append(code)
                    continue
                }
                let key = UTF8Key(string)
                if let other = byBytes[key] {
                    codes.append(other)
                    continue
                }
                let other = Int32(categories.count)
                byBytes[key] = other
                categories.append(string)
                codes.append(other)
            } else {
                let code = Int32(categories.count)
                index[string] = code
                categories.append(string)
                codes.append(code)
            }
        }
    }

    public init(arrayLiteral elements: String...) { self.init(elements) }

    /// Codes into given categories.
    ///
    /// - Returns: `nil` if a code is outside `categories` or a category repeats.
    public init?(codes: [Int32], categories: StringArray) {
        guard codes.allSatisfy({ $0 >= 0 && Int($0) < categories.count }),
            Set(categories.indices.map { categories.bytes(at: $0) }).count == categories.count
        else { return nil }
        self.codes = codes
        self.categories = categories
    }

    init(unchecked codes: [Int32], categories: StringArray) {
        self.codes = codes
        self.categories = categories
    }

    /// Codes given as little-endian Int32 bytes, already checked against `categories`.
    init(rawCodes: ArraySlice<UInt8>, count: Int, categories: StringArray) {
        self.codes = RawBytes.elements(Int32.self, count: count, from: [rawCodes])
        self.categories = categories
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { codes.count }
    /// The value at `position` (empty for a null row whose code points nowhere).
    public subscript(position: Int) -> String {
        let code = Int(codes[position])
        return code < categories.count ? categories[code] : ""
    }

    func slice(_ range: Range<Int>) -> CategoricalArray {
        CategoricalArray(unchecked: Array(codes[range]), categories: categories)
    }

    func take(_ indices: [Int]) -> CategoricalArray {
        CategoricalArray(unchecked: RawBytes.gather(codes, at: indices), categories: categories)
    }

    /// Split by each row's partition; every part shares the dictionary.
    func split(_ plan: SplitPlan) -> [CategoricalArray] {
        RawBytes.scatter(codes, plan).map {
            CategoricalArray(unchecked: $0, categories: categories)
        }
    }

    /// Joins arrays whose dictionaries may differ: the result's categories are
    /// the first array's, then each new value in order of appearance, and every
    /// code is remapped (partd PR #81 keeps such columns categorical too).
    ///
    /// Later arrays' repeated categories are merged by the remapping. With
    /// `mergingRepeatsOfFirst` (arrays decoded from bytes, whose categories may repeat),
    /// so are the first array's.
    static func concatenate(_ parts: [CategoricalArray], mergingRepeatsOfFirst: Bool = false) -> CategoricalArray {
        guard var result = parts.first else { return CategoricalArray() }
        // A repeat: every array is remapped, the first too, as if an empty one came before it.
        if mergingRepeatsOfFirst && result.categories.hasRepeats { return concatenate([CategoricalArray()] + parts) }
        var index: [ArraySlice<UInt8>: Int32]?
        result.codes.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts.dropFirst() {
            if part.categories == result.categories {
                result.codes.append(contentsOf: part.codes)
                continue
            }
            if index == nil {
                var built: [ArraySlice<UInt8>: Int32] = [:]
                for i in result.categories.indices { built[result.categories.bytes(at: i)] = Int32(i) }
                index = built
            }
            var remap = [Int32](repeating: 0, count: part.categories.count)
            for i in part.categories.indices {
                let value = part.categories.bytes(at: i)
                if let code = index![value] {
                    remap[i] = code
                } else {
                    let code = Int32(result.categories.count)
                    result.categories.append(bytes: value)
                    index![value] = code
                    remap[i] = code
                }
            }
            for code in part.codes { result.codes.append(remap[Int(code)]) }
        }
        return result
    }
}

/// Fixed-width column values of one element type, behind an existential so
/// every operation is written once, generically.
protocol FixedStorage: Sendable {
    var dtype: DType { get }
    var count: Int { get }
    func slice(_ range: Range<Int>) -> any FixedStorage
    func take(_ indices: [Int]) -> any FixedStorage
    /// The values of the plan's rows, split by partition (see ``RawBytes/scatter(_:_:)``).
    func split(_ plan: SplitPlan) -> [any FixedStorage]
    func appendBytes(to bytes: inout [UInt8])
    /// Appends the bytes of the values in `range`.
    func appendBytes(_ range: Range<Int>, to bytes: inout [UInt8])
    /// The values' bytes compressed as one Arrow IPC buffer.
    func arrowCompressedBuffer(_ codec: Compression.ArrowCodec) throws -> [UInt8]
    func isEqual(to other: any FixedStorage) -> Bool
    func values<U: ArrayElement>(as type: U.Type) -> [U]?
    /// The value at `row`, as the type that holds it.
    func element(at row: Int) -> any ArrayElement
    /// `self` followed by every part (all of the same dtype).
    func concatenated(with parts: ArraySlice<any FixedStorage>) -> any FixedStorage
    /// The values' array, for a ``ResultBuffers`` to keep.
    var held: ResultBuffers.Held { get }
}

struct FixedValues<T: ArrayElement>: FixedStorage {
    var values: [T]

    var dtype: DType { T.dtype }
    var count: Int { values.count }
    var held: ResultBuffers.Held { ResultBuffers.held(values) }
    func slice(_ range: Range<Int>) -> any FixedStorage { FixedValues(values: RawBytes.concatenate([values[range]])) }
    func take(_ indices: [Int]) -> any FixedStorage { FixedValues(values: RawBytes.gather(values, at: indices)) }
    func split(_ plan: SplitPlan) -> [any FixedStorage] {
        RawBytes.scatter(values, plan).map { FixedValues(values: $0) }
    }
    func appendBytes(to bytes: inout [UInt8]) { RawBytes.append(values, to: &bytes) }
    func appendBytes(_ range: Range<Int>, to bytes: inout [UInt8]) { RawBytes.append(values[range], to: &bytes) }
    func arrowCompressedBuffer(_ codec: Compression.ArrowCodec) throws -> [UInt8] { try RawBytes.arrowCompressedBuffer(values, codec) }

    func isEqual(to other: any FixedStorage) -> Bool {
        other.values(as: T.self).map { $0 == values } ?? false
    }

    func element(at row: Int) -> any ArrayElement { values[row] }

    func values<U: ArrayElement>(as type: U.Type) -> [U]? {
        if let same = RawBytes.sameType(values, as: U.self) { return same }
        // Same layout under another Swift type (Int and Int64 are both <i8).
        guard U.dtype == T.dtype else { return nil }
        var bytes: [UInt8] = []
        RawBytes.append(values, to: &bytes)
        return RawBytes.elements(U.self, count: values.count, from: [bytes[...]])
    }

    func concatenated(with parts: ArraySlice<any FixedStorage>) -> any FixedStorage {
        var pieces = [values[...]]
        for part in parts {
            if let same = part as? FixedValues<T> {
                pieces.append(same.values[...])
            } else if let converted = part.values(as: T.self) {
                pieces.append(converted[...])
            }
        }
        return FixedValues(values: RawBytes.concatenate(pieces))
    }
}

/// Makes fixed-width storage of `dtype` from little-endian bytes that hold
/// exactly `count` elements between them (in the storage of an array `recycler` kept, if one fits).
func makeFixedStorage(_ dtype: DType, count: Int, pieces: [ArraySlice<UInt8>], recycler: ResultBuffers? = nil) -> (any FixedStorage)? {
    func make<T: ArrayElement>(_: T.Type) -> any FixedStorage {
        FixedValues(values: RawBytes.elements(T.self, count: count, from: pieces, recycler: recycler))
    }
    switch dtype {
    case .int8: return make(Int8.self)
    case .int16: return make(Int16.self)
    case .int32: return make(Int32.self)
    case .int64: return make(Int64.self)
    case .uint8: return make(UInt8.self)
    case .uint16: return make(UInt16.self)
    case .uint32: return make(UInt32.self)
    case .uint64: return make(UInt64.self)
    case .float32: return make(Float.self)
    case .float64: return make(Double.self)
    case .datetime(.seconds): return make(Timestamp<Seconds>.self)
    case .datetime(.milliseconds): return make(Timestamp<Milliseconds>.self)
    case .datetime(.microseconds): return make(Timestamp<Microseconds>.self)
    case .datetime(.nanoseconds): return make(Timestamp<Nanoseconds>.self)
    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    case .float16: return make(Float16.self)
    #endif
    default: return nil
    }
}
