// SPDX-License-Identifier: Apache-2.0

/// A number of bytes, used for memory budgets and sizes.
///
/// ```swift
/// let budget: ByteCount = .megabytes(64)      // 64,000,000 bytes
/// let page = ByteCount.kibibytes(4)           // 4,096 bytes
/// let parsed = ByteCount("2GB")               // 2,000,000,000 bytes
/// ```
///
/// Decimal units (`kB`, `MB`, `GB`, `TB`) are powers of 1000 and binary units
/// (`KiB`, `MiB`, `GiB`, `TiB`) powers of 1024, as in `ls -h --si` and `ls -h`.
public struct ByteCount: Hashable, Comparable, Sendable {
    /// The number of bytes; never negative.
    public let bytes: Int

    /// A count of `bytes` bytes. Negative values are clamped to zero.
    public init(bytes: Int) { self.bytes = max(0, bytes) }

    public static func bytes(_ n: Int) -> ByteCount { ByteCount(bytes: n) }
    public static func kilobytes(_ n: Int) -> ByteCount { ByteCount(bytes: n * 1_000) }
    public static func megabytes(_ n: Int) -> ByteCount { ByteCount(bytes: n * 1_000_000) }
    public static func gigabytes(_ n: Int) -> ByteCount { ByteCount(bytes: n * 1_000_000_000) }
    public static func kibibytes(_ n: Int) -> ByteCount { ByteCount(bytes: n << 10) }
    public static func mebibytes(_ n: Int) -> ByteCount { ByteCount(bytes: n << 20) }
    public static func gibibytes(_ n: Int) -> ByteCount { ByteCount(bytes: n << 30) }

    public static let zero = ByteCount(bytes: 0)

    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }
}

extension ByteCount: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self.init(bytes: value) }
}

// Not `LosslessStringConvertible`: the description rounds to three digits ("1.2 MB" for 1,234,567 bytes), so it
// does not read back as the same count.
extension ByteCount: CustomStringConvertible {
    /// Parses `"512"`, `"64MB"`, `"1.5 GiB"`, `"256mb"`, `"10k"` (units are case-insensitive;
    /// a bare `k`, `m`, `g`, `t` means the decimal unit). Returns `nil` for anything else.
    public init?(_ text: String) {
        let trimmed = text.trimmingWhitespace()
        var numberEnd = trimmed.startIndex
        while numberEnd < trimmed.endIndex, trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
            numberEnd = trimmed.index(after: numberEnd)
        }
        guard numberEnd > trimmed.startIndex, let value = Double(trimmed[..<numberEnd]), value.isFinite else {
            return nil
        }
        let unit = String(trimmed[numberEnd...]).trimmingWhitespace().lowercased()
        let multiplier: Double
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kb": multiplier = 1e3
        case "m", "mb": multiplier = 1e6
        case "g", "gb": multiplier = 1e9
        case "t", "tb": multiplier = 1e12
        case "kib": multiplier = 1024
        case "mib": multiplier = 1_048_576
        case "gib": multiplier = 1_073_741_824
        case "tib": multiplier = 1_099_511_627_776
        default: return nil
        }
        let total = value * multiplier
        guard total < Double(Int.max) else { return nil }
        self.init(bytes: Int(total.rounded()))
    }

    /// A short human-readable form in decimal units: `"64.0 MB"`, `"512 B"`.
    public var description: String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1000, index < units.count - 1 {
            value /= 1000
            index += 1
        }
        if index == 0 { return "\(bytes) B" }
        let tenths = (value * 10).rounded() / 10
        return "\(tenths) \(units[index])"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
