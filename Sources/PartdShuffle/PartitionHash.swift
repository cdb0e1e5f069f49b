// SPDX-License-Identifier: Apache-2.0

import PartdCompression
import PartdTyped

/// The stable 64-bit hash that assigns rows to partitions (`docs/format.md` §7).
///
/// The same value hashes to the same number on every machine, in every run and
/// in every version of format 1, so two shuffles of related data (both sides of
/// a join) put equal keys in the same partition:
///
/// - integers (and booleans as 0/1, timestamps by their count of units) are
///   widened to 64 bits (signed ones sign-extended) and mixed with ``mix(_:)``;
/// - floating-point numbers with an integral value in the `Int64` range hash as
///   that integer (so `5` and `5.0` agree); other values hash their `Float64`
///   bits (`-0.0` as `0`, every NaN as the one quiet NaN);
/// - strings hash their UTF-8 bytes with XXH3-64, seed 0 (byte strings, their bytes);
/// - a null hashes as ``null``;
/// - a row of several key columns folds the columns' hashes left to right with
///   ``combine(_:_:)``;
/// - the partition is the high 64 bits of `hash × partitionCount` (``partition(of:count:)``).
public enum PartitionHash {
    /// The hash of a null key value.
    public static let null: UInt64 = 0x6E75_6C6C_6E75_6C6C

    /// A 64-bit finaliser (SplitMix64's): every input bit affects every output bit.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Folds the hash of the next key column into a row's hash.
    @inlinable
    public static func combine(_ row: UInt64, _ next: UInt64) -> UInt64 {
        mix(((row << 1) | (row >> 63)) ^ next)
    }

    /// The partition, in `0..<count`, of a row with this hash.
    @inlinable
    public static func partition(of hash: UInt64, count: Int) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(count)).high)
    }

    @inlinable
    public static func hash(_ value: Int64) -> UInt64 { mix(UInt64(bitPattern: value)) }

    @inlinable
    public static func hash(_ value: UInt64) -> UInt64 { mix(value) }

    @inlinable
    public static func hash(_ value: Double) -> UInt64 {
        if value == value.rounded(.towardZero), value >= -9.223372036854775808e18, value < 9.223372036854775808e18 {
            return hash(Int64(value))  // also maps -0.0 to 0
        }
        return mix(value.isNaN ? 0x7FF8_0000_0000_0000 : value.bitPattern)
    }

    public static func hash(_ value: String) -> UInt64 {
        XXHash.hash64(utf8: value, seed: 0)
    }

    public static func hash(bytes: ArraySlice<UInt8>) -> UInt64 {
        XXHash.hash64(bytes, seed: 0)
    }

    /// ``hash(bytes:)`` of each of `rows`' strings (string `i` is `data[offsets[i] ..< offsets[i + 1]]`).
    static func hashes(offsets: [Int64], data: [UInt8], rows: Range<Int>) -> [UInt64] {
        XXHash.hash64(offsets: offsets, data: data, rows: rows, seed: 0)
    }
}

/// A value that can key a shuffle: records are partitioned by
/// ``PartitionHash`` of the value their key function returns.
public protocol PartitionKey {
    var partitionHash: UInt64 { get }
}

extension Int: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Int64(self)) } }
extension Int8: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Int64(self)) } }
extension Int16: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Int64(self)) } }
extension Int32: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Int64(self)) } }
extension Int64: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(self) } }
extension UInt: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(UInt64(self)) } }
extension UInt8: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(UInt64(self)) } }
extension UInt16: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(UInt64(self)) } }
extension UInt32: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(UInt64(self)) } }
extension UInt64: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(self) } }
extension Bool: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Int64(self ? 1 : 0)) } }
extension Double: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(self) } }
extension Float: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Double(self)) } }
extension String: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(self) } }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(Double(self)) } }
#endif
extension Timestamp: PartitionKey { public var partitionHash: UInt64 { PartitionHash.hash(rawValue) } }

extension Optional: PartitionKey where Wrapped: PartitionKey {
    public var partitionHash: UInt64 { self?.partitionHash ?? PartitionHash.null }
}

/// Several key values hashed as one row, in order (a composite key).
public struct CompositeKey: PartitionKey {
    public var parts: [any PartitionKey]
    public init(_ parts: any PartitionKey...) { self.parts = parts }
    public var partitionHash: UInt64 {
        guard let first = parts.first else { return PartitionHash.null }
        return parts.dropFirst().reduce(first.partitionHash) { PartitionHash.combine($0, $1.partitionHash) }
    }
}
