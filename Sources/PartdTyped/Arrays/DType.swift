// SPDX-License-Identifier: Apache-2.0

/// The element type of a stored array, spelled as NumPy spells it (`<f8`,
/// `<i4`, `|b1`, `<M8[us]`), always little-endian.
///
/// Strings have no fixed-width NumPy spelling that keeps arbitrary bytes, so a
/// string array's dtype is ``string`` and its frames have their own layout
/// (`docs/format.md` §6.2).
public struct DType: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case bool, signed, unsigned, float
        case datetime(TimeUnit)
        case string
    }

    public let kind: Kind
    /// Bytes per element; 0 for strings (variable length).
    public let byteWidth: Int

    private init(_ kind: Kind, _ byteWidth: Int) {
        self.kind = kind
        self.byteWidth = byteWidth
    }

    public static let bool = DType(.bool, 1)
    public static let int8 = DType(.signed, 1)
    public static let int16 = DType(.signed, 2)
    public static let int32 = DType(.signed, 4)
    public static let int64 = DType(.signed, 8)
    public static let uint8 = DType(.unsigned, 1)
    public static let uint16 = DType(.unsigned, 2)
    public static let uint32 = DType(.unsigned, 4)
    public static let uint64 = DType(.unsigned, 8)
    public static let float16 = DType(.float, 2)
    public static let float32 = DType(.float, 4)
    public static let float64 = DType(.float, 8)
    public static let string = DType(.string, 0)
    public static func datetime(_ unit: TimeUnit) -> DType { DType(.datetime(unit), 8) }

    /// NumPy's spelling: `|b1`, `|i1`, `<i8`, `<f4`, `<M8[ns]`; `str` for strings.
    public var numpy: String {
        let order = byteWidth == 1 ? "|" : "<"
        switch kind {
        case .bool: return "|b1"
        case .signed: return "\(order)i\(byteWidth)"
        case .unsigned: return "\(order)u\(byteWidth)"
        case .float: return "<f\(byteWidth)"
        case .datetime(let unit): return "<M8[\(unit.rawValue)]"
        case .string: return "str"
        }
    }

    public var description: String { numpy }

    /// Parses a NumPy dtype string from the closed set this library writes.
    /// Little-endian (`<`), native (`=`) and not-applicable (`|`) byte orders
    /// are accepted; big-endian and anything else returns `nil`. Nothing is
    /// ever evaluated.
    public init?(numpy text: some StringProtocol) {
        var rest = Substring(text)
        guard let order = rest.first, "<|=".contains(order) else { return nil }
        rest = rest.dropFirst()
        if rest.hasPrefix("M8[") && rest.hasSuffix("]") {
            guard order != "|", let unit = TimeUnit(rawValue: String(rest.dropFirst(3).dropLast())) else { return nil }
            self = .datetime(unit)
            return
        }
        guard let letter = rest.first, let width = Int(rest.dropFirst()), rest.count == 2 else { return nil }
        let parsed: DType
        switch (letter, width) {
        case ("b", 1): parsed = .bool
        case ("i", 1), ("i", 2), ("i", 4), ("i", 8): parsed = DType(.signed, width)
        case ("u", 1), ("u", 2), ("u", 4), ("u", 8): parsed = DType(.unsigned, width)
        case ("f", 2), ("f", 4), ("f", 8): parsed = DType(.float, width)
        default: return nil
        }
        // `|` only for one-byte types, as NumPy writes them.
        guard (order == "|") == (width == 1) || order == "=" else { return nil }
        self = parsed
    }
}

/// The unit of a timestamp: seconds, milliseconds, microseconds or nanoseconds
/// since the Unix epoch (NumPy's `M8[s]` … `M8[ns]`).
public enum TimeUnit: String, Hashable, Sendable, CaseIterable {
    case seconds = "s"
    case milliseconds = "ms"
    case microseconds = "us"
    case nanoseconds = "ns"
}

/// A type whose values are stored as contiguous little-endian elements of a
/// fixed ``DType``. The library's conformances are the only ones it supports.
public protocol ArrayElement: BitwiseCopyable, Sendable, Equatable {
    static var dtype: DType { get }
}

extension Bool: ArrayElement { public static var dtype: DType { .bool } }
extension Int8: ArrayElement { public static var dtype: DType { .int8 } }
extension Int16: ArrayElement { public static var dtype: DType { .int16 } }
extension Int32: ArrayElement { public static var dtype: DType { .int32 } }
extension Int64: ArrayElement { public static var dtype: DType { .int64 } }
extension Int: ArrayElement { public static var dtype: DType { .int64 } }
extension UInt8: ArrayElement { public static var dtype: DType { .uint8 } }
extension UInt16: ArrayElement { public static var dtype: DType { .uint16 } }
extension UInt32: ArrayElement { public static var dtype: DType { .uint32 } }
extension UInt64: ArrayElement { public static var dtype: DType { .uint64 } }
extension UInt: ArrayElement { public static var dtype: DType { .uint64 } }
extension Float: ArrayElement { public static var dtype: DType { .float32 } }
extension Double: ArrayElement { public static var dtype: DType { .float64 } }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: ArrayElement { public static var dtype: DType { .float16 } }
#endif

/// A marker type naming a timestamp unit for ``Timestamp``.
public protocol TimestampUnit: Sendable {
    static var unit: TimeUnit { get }
}

public enum Seconds: TimestampUnit { public static var unit: TimeUnit { .seconds } }
public enum Milliseconds: TimestampUnit { public static var unit: TimeUnit { .milliseconds } }
public enum Microseconds: TimestampUnit { public static var unit: TimeUnit { .microseconds } }
public enum Nanoseconds: TimestampUnit { public static var unit: TimeUnit { .nanoseconds } }

/// A point in time as a count of `Unit`s since the Unix epoch, stored as
/// NumPy's `datetime64` (`<M8[us]` for `Timestamp<Microseconds>`).
public struct Timestamp<Unit: TimestampUnit>: ArrayElement, Hashable, Comparable, BitwiseCopyable {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static var dtype: DType { .datetime(Unit.unit) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A timestamp's `Codable` form is its count of units, an integer, as NumPy's `datetime64.view("int64")`
/// has it: `Timestamp<Microseconds>(5)` is `5` in JSON and a MessagePack int, and Python reads an `int`.
/// The unit is the type's, not written, so read a timestamp back with the unit it was written with.
extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(Int64.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension Timestamp: CustomStringConvertible {
    /// The time in UTC as NumPy prints a `datetime64` of this unit, `2024-12-06T08:50:00.123456` for
    /// microseconds (the fraction has the unit's digits); `NaT` for NumPy's not-a-time (`Int64.min`).
    public var description: String {
        guard rawValue != .min else { return "NaT" }
        let (perSecond, digits): (Int64, Int) = switch Unit.unit {
        case .seconds: (1, 0)
        case .milliseconds: (1_000, 3)
        case .microseconds: (1_000_000, 6)
        case .nanoseconds: (1_000_000_000, 9)
        }
        // Floor division, so times before 1970 count back from the second before.
        var seconds = rawValue / perSecond
        var fraction = rawValue % perSecond
        if fraction < 0 {
            seconds -= 1
            fraction += perSecond
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            days -= 1
            secondOfDay += 86_400
        }
        // The civil date of a count of days since 1970-01-01 (proleptic Gregorian; Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func padded(_ value: Int64, _ width: Int) -> String {
            let text = String(value.magnitude)
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text = padded(year, 4) + "-" + padded(month, 2) + "-" + padded(day, 2) + "T"
            + padded(secondOfDay / 3_600, 2) + ":" + padded(secondOfDay / 60 % 60, 2) + ":" + padded(secondOfDay % 60, 2)
        if digits > 0 { text += "." + padded(fraction, digits) }
        return text
    }
}
