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
            hashes = PartitionHash.hashes(offsets: strings.offsets, data: strings.data, rows: rows)
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
        struct Hashes: FixedKeyVisitor {
            let rows: Range<Int>
            func visit<T: KeyElement>(_ values: [T]) -> [UInt64] { rows.map { values[$0].partitionHash } }
        }
        return visitFixed(column, dtype, Hashes(rows: rows))
    }

    /// Calls `visitor` with the values of a fixed-width column as their own element type.
    static func visitFixed<V: FixedKeyVisitor>(_ column: Column, _ dtype: DType, _ visitor: V) -> V.Result {
        func visit<T: KeyElement>(_: T.Type) -> V.Result { visitor.visit(column.values(as: T.self)!) }
        switch dtype {
        case .bool: return visit(Bool.self)
        case .int8: return visit(Int8.self)
        case .int16: return visit(Int16.self)
        case .int32: return visit(Int32.self)
        case .int64: return visit(Int64.self)
        case .uint8: return visit(UInt8.self)
        case .uint16: return visit(UInt16.self)
        case .uint32: return visit(UInt32.self)
        case .uint64: return visit(UInt64.self)
        case .float32: return visit(Float.self)
        case .float64: return visit(Double.self)
        case .datetime(.seconds): return visit(Timestamp<Seconds>.self)
        case .datetime(.milliseconds): return visit(Timestamp<Milliseconds>.self)
        case .datetime(.microseconds): return visit(Timestamp<Microseconds>.self)
        case .datetime(.nanoseconds): return visit(Timestamp<Nanoseconds>.self)
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if dtype == .float16 { return visit(Float16.self) }
            #endif
            preconditionFailure("no key support for \(dtype)")
        }
    }
}

/// Element types of fixed-width key columns.
typealias KeyElement = ArrayElement & PartitionKey & Equatable

/// Work done on a fixed-width key column's values, generically over their type.
protocol FixedKeyVisitor {
    associatedtype Result
    func visit<T: KeyElement>(_ values: [T]) -> Result
}
