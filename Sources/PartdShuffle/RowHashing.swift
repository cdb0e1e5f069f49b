// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdTyped

/// Row hashes of tables and arrays, by ``PartitionHash``'s rules, one typed
/// loop per column type (no per-row allocation or dynamic dispatch).
enum RowHashing {
    /// The hash of each row of `rows` over the key `columns`, folded left to right.
    static func hashes(_ columns: [Column], rows: Range<Int>) -> [UInt64] {
        var hashes = columnHashes(columns[0], rows: rows)
        for column in columns.dropFirst() {
            let next = columnHashes(column, rows: rows)
            for i in hashes.indices { hashes[i] = PartitionHash.combine(hashes[i], next[i]) }
        }
        return hashes
    }

    /// The hash of `column`'s value at each of `rows` (``PartitionHash/null`` for nulls).
    static func columnHashes(_ column: Column, rows: Range<Int>) -> [UInt64] {
        var hashes: [UInt64]
        switch column.type {
        case .fixed(let dtype): hashes = fixedHashes(column, dtype, rows: rows)
        case .string:
            let strings = column.strings!
            let offsets = strings.offsets, data = strings.data
            hashes = rows.map { PartitionHash.hash(bytes: data[Int(offsets[$0])..<Int(offsets[$0 + 1])]) }
        case .categorical:
            // Each category is hashed once; rows look their code's hash up.
            let categorical = column.categorical!
            let categoryHashes = categorical.categories.indices.map {
                PartitionHash.hash(bytes: categorical.categories.bytes(at: $0))
            }
            let codes = categorical.codes
            hashes = rows.map { categoryHashes[Int(codes[$0])] }
        }
        if let validity = column.validity {
            for (i, row) in rows.enumerated() where !validity[row] { hashes[i] = PartitionHash.null }
        }
        return hashes
    }

    private static func fixedHashes(_ column: Column, _ dtype: DType, rows: Range<Int>) -> [UInt64] {
        func hashes<T: ArrayElement & PartitionKey>(_: T.Type) -> [UInt64] {
            let values = column.values(as: T.self)!
            return rows.map { values[$0].partitionHash }
        }
        switch dtype {
        case .bool: return hashes(Bool.self)
        case .int8: return hashes(Int8.self)
        case .int16: return hashes(Int16.self)
        case .int32: return hashes(Int32.self)
        case .int64: return hashes(Int64.self)
        case .uint8: return hashes(UInt8.self)
        case .uint16: return hashes(UInt16.self)
        case .uint32: return hashes(UInt32.self)
        case .uint64: return hashes(UInt64.self)
        case .float32: return hashes(Float.self)
        case .float64: return hashes(Double.self)
        case .datetime(.seconds): return hashes(Timestamp<Seconds>.self)
        case .datetime(.milliseconds): return hashes(Timestamp<Milliseconds>.self)
        case .datetime(.microseconds): return hashes(Timestamp<Microseconds>.self)
        case .datetime(.nanoseconds): return hashes(Timestamp<Nanoseconds>.self)
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if dtype == .float16 { return hashes(Float16.self) }
            #endif
            preconditionFailure("no hashing for \(dtype)")
        }
    }
}
