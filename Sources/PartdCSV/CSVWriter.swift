// SPDX-License-Identifier: Apache-2.0
//
// Tables as CSV text, written column type by column type into one byte buffer (no String per field).

import PartdTyped

package enum CSVWriter {
    /// `table` as CSV: a header row (unless `header` is false), then one line per row, each ending in "\n".
    /// Nulls are empty fields; fields holding a comma, quote or line break are quoted, quotes doubled. A line
    /// that would be empty (one column, a null or empty string) is `""`, as Python's `csv` module writes it,
    /// so that a reader does not skip it as a blank line.
    /// Values read as `Column.text(at:)` gives them: numbers as Swift prints them, booleans as true/false,
    /// timestamps as their count of units, strings as their bytes (UTF-8 or not: what was read is written back).
    package static func bytes(_ table: Table, header: Bool = true) -> [UInt8] {
        var out = header ? Self.header(table) : []
        out.reserveCapacity(out.count + table.rowCount * max(1, table.columns.count) * 8 + 64)
        let writers = table.columns.map(writer)
        // Each column's validity taken out once (reading it through the column copies the column per field).
        let validities = table.columns.map(\.validity)
        for row in 0..<table.rowCount {
            let start = out.count
            for index in writers.indices {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                if validities[index]?[row] ?? true { writers[index](row, &out) }
            }
            endLine(from: start, columns: writers.count, &out)
        }
        return out
    }

    /// Ends the line of `columns` fields begun at `start`: `""` first if it is one empty field, then "\n".
    private static func endLine(from start: Int, columns: Int, _ out: inout [UInt8]) {
        if columns == 1 && out.count == start { out += [UInt8(ascii: "\""), UInt8(ascii: "\"")] }
        out.append(UInt8(ascii: "\n"))
    }

    /// The header row of `table`: its column names, quoted where needed, and "\n".
    package static func header(_ table: Table) -> [UInt8] {
        var out: [UInt8] = []
        for (index, column) in table.columns.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendField(Array(column.name.utf8)[...], to: &out)
        }
        endLine(from: 0, columns: table.columns.count, &out)
        return out
    }

    /// Appends the field, quoted if it needs to be.
    static func appendField(_ bytes: ArraySlice<UInt8>, to out: inout [UInt8]) {
        guard bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D })
        else { return out.append(contentsOf: bytes) }
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Bytes as a string field, as they are (bytes that are not UTF-8 too, so that values that differ stay apart).
    static func appendString(_ bytes: ArraySlice<UInt8>, to out: inout [UInt8]) {
        appendField(bytes, to: &out)
    }

    /// A function appending the value of `column` at a (valid) row.
    private static func writer(_ column: Column) -> (Int, inout [UInt8]) -> Void {
        func numbers<T: ArrayElement & BinaryFloatingPoint & LosslessStringConvertible>(_: T.Type) -> (Int, inout [UInt8]) -> Void {
            let values = column.values(as: T.self)!
            // `description` directly: interpolation would look up the value's conformances each time.
            return { row, out in out.append(contentsOf: values[row].description.utf8) }
        }
        func integers<T: ArrayElement & BinaryInteger>(_: T.Type) -> (Int, inout [UInt8]) -> Void {
            let values = column.values(as: T.self)!
            return { row, out in appendInteger(values[row], to: &out) }
        }
        func timestamps<U: TimestampUnit>(_: U.Type) -> (Int, inout [UInt8]) -> Void {
            let values = column.values(as: Timestamp<U>.self)!
            return { row, out in appendInteger(values[row].rawValue, to: &out) }
        }
        switch column.type {
        case .string:
            let strings = column.strings!
            return { row, out in appendString(strings.bytes(at: row), to: &out) }
        case .categorical:
            // Each category's field bytes once; a row copies its category's.
            let categorical = column.categorical!
            let fields = categorical.categories.indices.map { index -> [UInt8] in
                var field: [UInt8] = []
                appendString(categorical.categories.bytes(at: index), to: &field)
                return field
            }
            let codes = categorical.codes
            return { row, out in
                let code = Int(codes[row])
                if code < fields.count { out.append(contentsOf: fields[code]) }
            }
        case .fixed(.bool):
            let values = column.values(as: Bool.self)!
            return { row, out in out.append(contentsOf: values[row] ? "true".utf8 : "false".utf8) }
        case .fixed(.int8): return integers(Int8.self)
        case .fixed(.int16): return integers(Int16.self)
        case .fixed(.int32): return integers(Int32.self)
        case .fixed(.int64): return integers(Int64.self)
        case .fixed(.uint8): return integers(UInt8.self)
        case .fixed(.uint16): return integers(UInt16.self)
        case .fixed(.uint32): return integers(UInt32.self)
        case .fixed(.uint64): return integers(UInt64.self)
        case .fixed(.float32): return numbers(Float.self)
        case .fixed(.float64): return numbers(Double.self)
        case .fixed(.datetime(.seconds)): return timestamps(Seconds.self)
        case .fixed(.datetime(.milliseconds)): return timestamps(Milliseconds.self)
        case .fixed(.datetime(.microseconds)): return timestamps(Microseconds.self)
        case .fixed(.datetime(.nanoseconds)): return timestamps(Nanoseconds.self)
        default:
            // Anything else (Float16): as `text(at:)` gives it.
            return { row, out in appendField(Array((column.text(at: row) ?? "").utf8)[...], to: &out) }
        }
    }

    /// Decimal digits of `value`, with a minus sign if negative.
    static func appendInteger<T: BinaryInteger>(_ value: T, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        // Room for the digits first, then filled from the last one back.
        var magnitude = value.magnitude
        repeat {
            out.append(UInt8(ascii: "0"))
            magnitude /= 10
        } while magnitude > 0
        var index = out.count - 1
        magnitude = value.magnitude
        repeat {
            out[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            index -= 1
        } while magnitude > 0
    }
}
