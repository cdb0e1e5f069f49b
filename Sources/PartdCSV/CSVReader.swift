// SPDX-License-Identifier: Apache-2.0
//
// A streaming CSV reader (RFC 4180: a header row, quoted fields with "" escapes
// and embedded newlines) that turns rows into Tables a chunk at a time. Module `PartdCSV` holds the `partd`
// command's CSV reading and writing, a module of its own so that the tests can reach them.

import Foundation
import Partd
import PartdTyped

/// What a CSV column becomes: Int64, UInt64 (`uint`), Float64, strings or categories.
package enum ColumnKind: String, CaseIterable {
    case int, uint, float, string, category

    /// The column type this kind makes.
    package var columnType: ColumnType {
        switch self {
        case .int: .int64
        case .uint: .fixed(.uint64)
        case .float: .float64
        case .string: .string
        case .category: .categorical
        }
    }
}

/// A value of a chunk after the first that its column's type cannot hold (`1.5` in an int column, `abc` in a float
/// column, `-3` in a uint column, an integer beyond Int64 in an int column): the column's type came from the first
/// chunk (or `--types`). `widened` is the type that takes the value too: float for a decimal number that is no
/// integer in an int column, uint for an integer beyond Int64 that UInt64 holds in an int column (a later negative
/// one conflicts again), else string. The description is the error for the command line, with the `--types` to
/// give; ``note`` tells of reading the input again with `widened`, which the `partd` commands do when they can.
package struct CSVTypeConflict: Error, CustomStringConvertible {
    package let path: String
    /// The line the record starts on (the header is line 1).
    package let line: Int
    package let column: String
    /// The field's text (bytes that are not UTF-8 replaced).
    package let value: String
    /// What the column's type takes: "an integer", "a non-negative integer", "a number".
    package let expected: String
    /// The column's type, which does not take the value.
    package let kind: ColumnKind
    /// The type that takes it.
    package let widened: ColumnKind

    package var description: String {
        // (uint only if no earlier value was negative, which the earlier chunks alone know)
        let unlessNegative = widened == .uint ? " (or \(column):string if it also holds negative numbers)" : ""
        return "\(path): line \(line): column \(column): \"\(value)\" is not \(expected); give --types \(column):\(widened.rawValue)\(unlessNegative)"
    }

    /// What reading the input again with the wider type says: `PATH line N: column C holds "V", which is not
    /// an integer; reading again with C:float`.
    package var note: String {
        "\(path) line \(line): column \(column) holds \"\(value)\", which is not \(expected); reading again with \(column):\(widened.rawValue)"
    }
}

/// Column names are told apart by their UTF-8 bytes, as a table tells them apart: a header may hold
/// `"caf\u{E9}"` and `"cafe\u{301}"` (NFC and NFD "café", one `String` to Swift's `==`) as two columns, and
/// `types` and ``selectedColumns`` (keyed by ``UTF8Key``) name each by its bytes alone.
package final class CSVReader {
    package let path: String
    package private(set) var header: [String] = []
    package let fileSize: Int
    package private(set) var bytesRead = 0
    package private(set) var kinds: [ColumnKind]?
    /// Whether a string or category value read so far is not UTF-8 (kept as read; Arrow output then declares
    /// string columns binary).
    package private(set) var holdsNonUTF8 = false
    /// Only these columns make it into the chunks, in the header's order (all when `nil`); the others are
    /// still split into fields, so records are checked as before, but their values are not read.
    package var selectedColumns: Set<UTF8Key>?
    private let chunkRows: Int
    private let givenKinds: [UTF8Key: ColumnKind]
    /// Spellings read as nulls besides the empty field (`--na`); `nil`: the empty field alone.
    private let missingValues: MissingValues?
    private let input: CSVInput
    private var pending: [UInt8] = []
    private var position = 0
    private var atEOF = false
    /// Whether the line break the file's last record lacked has been added to `pending`.
    private var addedFinalLineBreak = false
    /// Whether the file's first bytes have been looked at for a byte order mark.
    private var checkedByteOrderMark = false
    /// The line the next record starts on (the header is line 1).
    private var line = 1
    /// The fields parsed so far: their bytes (quotes undone) back to back, and where each ends.
    private var fieldBytes: [UInt8] = []
    private var fieldEnds: [Int] = []

    /// The bytes read from the file at a time (a test reads a byte at a time, to put a block boundary
    /// everywhere).
    private let readSize: Int

    /// With `typesOfOtherFiles` set, `types` may also name columns this file does not have (a join's
    /// `--types` covers both files); otherwise such a name is an error. Fields that `missingValues` spells (see
    /// ``MissingValues``) are nulls, as empty fields are.
    package convenience init(
        path: String, chunkRows: Int, types: [UTF8Key: ColumnKind], missingValues: MissingValues? = nil, typesOfOtherFiles: Bool = false,
        readSize: Int = 4 << 20
    ) throws {
        try self.init(
            input: CSVInput(path: path), chunkRows: chunkRows, types: types, missingValues: missingValues,
            typesOfOtherFiles: typesOfOtherFiles, readSize: readSize)
    }

    /// Reads `input` (opened already, and perhaps looked at: see ``CSVInput/init(path:handle:closes:peeked:)``).
    package init(
        input: CSVInput, chunkRows: Int, types: [UTF8Key: ColumnKind], missingValues: MissingValues? = nil, typesOfOtherFiles: Bool = false,
        readSize: Int = 4 << 20
    ) throws {
        let path = input.path
        self.readSize = readSize
        self.input = input
        self.path = path
        self.chunkRows = chunkRows
        self.givenKinds = types
        self.missingValues = missingValues
        fileSize = input.size
        let header = try parseRecords(limit: 1, columns: nil).isEmpty
            ? [] : (0..<fieldEnds.count).map { String(decoding: field($0), as: UTF8.self) }
        guard !header.isEmpty, !header.allSatisfy(\.isEmpty) else { throw CommandError("\(path): no header row") }
        guard Set(header.map { UTF8Key($0) }).count == header.count else { throw CommandError("\(path): line 1: repeated column names") }
        for name in types.keys where !header.containsSameUTF8(as: name.string) && !typesOfOtherFiles {
            throw CommandError("\(path): --types names \(name), which is not a column (columns: \(header.joined(separator: ", ")))")
        }
        self.header = header
    }

    /// The bytes of parsed field `index`.
    private func field(_ index: Int) -> ArraySlice<UInt8> {
        Fields(bytes: fieldBytes, ends: fieldEnds)[index]
    }

    /// Parsed fields, as a value (reading a class's arrays field by field would check access each time).
    struct Fields {
        let bytes: [UInt8]
        let ends: [Int]

        subscript(index: Int) -> ArraySlice<UInt8> {
            bytes[range(index)]
        }

        /// Where field `index`'s bytes lie in `bytes` (reading through a range makes no slice, which would
        /// retain the array once per field).
        func range(_ index: Int) -> Range<Int> {
            (index == 0 ? 0 : ends[index - 1])..<ends[index]
        }
    }

    /// A table of the (selected) columns with no rows, of the types the first chunk settled, else those
    /// given, else `defaultKind`: what a file of a header alone holds.
    package func emptyTable(defaultKind: ColumnKind = .string) -> Table {
        Table(empty: TableSchema(header.indices.filter { selectedColumns?.contains(UTF8Key(header[$0])) ?? true }.map { column in
            .init(header[column], (kinds?[column] ?? givenKinds[UTF8Key(header[column])] ?? defaultKind).columnType)
        }))
    }

    /// The next chunk of up to `chunkRows` rows, or `nil` at the end. Column
    /// types are inferred from the first chunk unless given: int (Int64) if every
    /// non-empty value is an integer within Int64, uint (UInt64) if every one is a non-negative integer within
    /// UInt64 and some are beyond Int64, float if every one is a decimal number (or inf, Infinity, nan, NaN)
    /// and none an integer beyond Int64, else string: no value changes in being read. Empty fields are nulls, and
    /// so are the fields ``MissingValues`` spells, which the parser empties (inference skips them as it skips
    /// empty fields, and a given type reads them as nulls).
    package func nextChunk() throws -> Table? {
        fieldBytes.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        let columns = header.count
        let lines = try parseRecords(limit: chunkRows, columns: columns)
        guard !lines.isEmpty else { return nil }
        let rows = lines.count
        let fields = Fields(bytes: fieldBytes, ends: fieldEnds)
        let kinds = self.kinds ?? header.indices.map { column in
            givenKinds[UTF8Key(header[column])] ?? Self.infer(fields, (0..<rows).lazy.map { $0 * columns + column })
        }
        self.kinds = kinds
        return try Table(header.indices.filter { selectedColumns?.contains(UTF8Key(header[$0])) ?? true }.map { column in
            try makeColumn(column, kinds[column], fields, rows: rows, lines)
        })
    }

    private static func infer(_ fields: Fields, _ indices: some Sequence<Int>) -> ColumnKind {
        // What the values seen so far hold: a negative integer, an integer beyond Int64, a number that is no
        // integer. An integer beyond Int64 as a float would merge with its neighbours, so it and a float (or a
        // negative integer, which UInt64 cannot hold) make a string column.
        var (negative, big, float) = (false, false, false)
        for index in indices {
            let range = fields.range(index)
            if range.isEmpty { continue }
            if let integer = CSVNumbers.int64(fields.bytes, range) {
                if integer < 0 { negative = true }
            } else if CSVNumbers.isInteger(fields.bytes, range) {
                guard CSVNumbers.uint64(fields.bytes, range) != nil else { return .string }
                big = true
            } else if CSVNumbers.double(fields.bytes, range) != nil {
                float = true
            } else {
                return .string
            }
            if big && (negative || float) { return .string }
        }
        return big ? .uint : float ? .float : .int
    }

    private func makeColumn(_ column: Int, _ kind: ColumnKind, _ fields: Fields, rows: Int, _ lines: [Int]) throws -> Column {
        let name = header[column]
        let columns = header.count
        func value(_ row: Int) -> ArraySlice<UInt8> { fields[row * columns + column] }
        // One pass per column: each field is sliced once; the validity bitmap is made at the first null.
        var valid: [Bool]? = nil
        func null(_ row: Int) {
            if valid == nil { valid = [Bool](repeating: true, count: rows) }
            valid![row] = false
        }
        var validity: BitArray? { valid.map { BitArray($0) } }
        func bad(_ row: Int, _ what: String) -> CSVTypeConflict {
            // In an integer column, a number that is no integer: float takes it; an integer beyond Int64 that
            // UInt64 holds: uint (nothing else keeps every value as it is).
            let range = fields.range(row * columns + column)
            let wider: ColumnKind =
                if kind == .int && CSVNumbers.uint64(fields.bytes, range) != nil { .uint }
                else if kind == .int && !CSVNumbers.isInteger(fields.bytes, range) && CSVNumbers.double(fields.bytes, range) != nil { .float }
                else { .string }
            return CSVTypeConflict(
                path: path, line: lines[row], column: name, value: String(decoding: value(row), as: UTF8.self), expected: what,
                kind: kind, widened: wider)
        }
        /// The column's fields as numbers, read by `parse`; an empty field is null.
        func numbers<T: ArrayElement>(_ zero: T, _ what: String, _ parse: ([UInt8], Range<Int>) -> T?) throws -> Column {
            var values = [T](repeating: zero, count: rows)
            let bytes = fields.bytes
            for row in 0..<rows {
                let range = fields.range(row * columns + column)
                if range.isEmpty { null(row); continue }
                guard let number = parse(bytes, range) else { throw bad(row, what) }
                values[row] = number
            }
            return Column(name, values, validity: validity)
        }
        switch kind {
        case .int:
            return try numbers(Int64(0), "an integer", CSVNumbers.int64)
        case .uint:
            return try numbers(UInt64(0), "a non-negative integer", CSVNumbers.uint64)
        case .float:
            return try numbers(0.0, "a number", CSVNumbers.double)
        case .string:
            // Offsets and bytes built here, copied a field at a time; bytes that are not UTF-8 are kept as they
            // are (a table's strings are bytes), so values that differ stay apart.
            let bytes = fields.bytes
            var offsets = [Int64](repeating: 0, count: rows + 1)
            var data: [UInt8] = []
            data.reserveCapacity(fields.ends[rows * columns - 1] / columns + 16)
            for row in 0..<rows {
                let range = fields.range(row * columns + column)
                if range.isEmpty { null(row) }
                CSVBytes.append(bytes, range, to: &data)
                offsets[row + 1] = Int64(data.count)
            }
            let strings = StringArray(offsets: offsets, data: data)!
            if !holdsNonUTF8 && !strings.isUTF8 { holdsNonUTF8 = true }
            return Column(name, strings: strings, validity: validity)
        case .category:
            // Categories in order of first appearance, told apart by their bytes (kept as they are, UTF-8 or not).
            var index: [ArraySlice<UInt8>: Int32] = [:]
            var categories = StringArray()
            var codes = [Int32](repeating: 0, count: rows)
            for row in 0..<rows {
                let field = value(row)
                if field.isEmpty { null(row) }
                if let code = index[field] {
                    codes[row] = code
                } else {
                    let code = Int32(categories.count)
                    index[field] = code
                    categories.append(bytes: field)
                    codes[row] = code
                }
            }
            if !holdsNonUTF8 && !categories.isUTF8 { holdsNonUTF8 = true }
            return Column(name, categorical: CategoricalArray(codes: codes, categories: categories)!, validity: validity)
        }
    }

    // MARK: Records

    /// Parses up to `limit` records into the fields, reading the file as needed, and returns the line each
    /// starts on (fewer only at the end of the file). Blank lines are skipped (a line of `""` is not blank: it is
    /// a record of one empty field, as pandas writes a one-column row that is empty or null; nor is a line of a
    /// missing-value spelling alone). With `columns`, a record with another number of fields is an error naming its
    /// line, and fields that ``missingValues`` spells are read as empty fields (nulls); without, the record is the
    /// header, whose names are never missing values.
    private func parseRecords(limit: Int, columns: Int?) throws -> [Int] {
        var lines: [Int] = []
        while lines.count < limit {
            // Two copies of the parser: one that tests fields against the spellings, and one without a test.
            if columns != nil, let missingValues {
                try parseAvailable(limit: limit, columns: columns, spellings: missingValues.filter, into: &lines)
            } else {
                try parseAvailable(limit: limit, columns: columns, spellings: NoSpellings(), into: &lines)
            }
            if lines.count < limit, !(try readMore()) { break }
        }
        return lines
    }

    /// Reads the next block of the file into `pending`; false when nothing is left to parse. The last record
    /// gets the line break it may lack.
    private func readMore() throws -> Bool {
        if atEOF {
            guard position < pending.count, !addedFinalLineBreak else {
                guard position == pending.count else {
                    throw CommandError("\(path): line \(line): a quoted field is not closed before the end of the file")
                }
                return false
            }
            pending.append(0x0A)
            addedFinalLineBreak = true
            return true
        }
        guard let (data, consumed) = try input.next(readSize) else {
            atEOF = true
            return try readMore()
        }
        bytesRead += consumed
        pending.removeFirst(position)
        position = 0
        pending.append(contentsOf: data)
        return true
    }

    /// Parses the complete records in `pending` (up to `limit` lines in all) into the fields, appending the
    /// line each starts on; a record not all there yet adds nothing. One call parses many records, so the
    /// arrays are taken out of the class once per block rather than once per record. A field that passes
    /// `spellings` (a plain value, no reference counting per field) is compared with ``missingValues``' spellings,
    /// and read as an empty field if it is one; ``NoSpellings`` passes none, and its copy of this function tests
    /// nothing.
    private func parseAvailable<Spellings: SpellingFilter>(
        limit: Int, columns: Int?, spellings filter: Spellings, into lines: inout [Int]
    ) throws {
        if !checkedByteOrderMark {
            // A UTF-8 byte order mark (which Excel writes, and pandas skips) is not part of the first column's
            // name. Its three bytes may come in more than one block.
            let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
            let available = pending[position...]
            if available.count < mark.count && !atEOF && available.elementsEqual(mark.prefix(available.count)) { return }
            if available.starts(with: mark) { position += mark.count }
            checkedByteOrderMark = true
        }
        // Local copies (the field arrays moved out and back): a class's stored arrays are checked for
        // exclusive access on every use.
        let pending = self.pending
        var fieldBytes = self.fieldBytes
        var fieldEnds = self.fieldEnds
        var position = self.position
        var line = self.line
        self.fieldBytes = []
        self.fieldEnds = []
        defer {
            self.fieldBytes = fieldBytes
            self.fieldEnds = fieldEnds
            self.position = position
            self.line = line
        }
        let end = pending.count
        // (nil only with NoSpellings, which passes no field)
        let missing = missingValues
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lineFeed: UInt8 = 0x0A, carriageReturn: UInt8 = 0x0D
        records: while lines.count < limit {
            let (bytesBefore, fieldsBefore) = (fieldBytes.count, fieldEnds.count)
            var i = position
            var newlines = 0
            // Whether the record is no blank line even if its one field is empty: a field was quoted (`""` alone on a
            // line is a record of one empty field) or a missing-value spelling (a line of NA alone is a null).
            var notBlank = false
            // One record; `break records` leaves it unfinished (its fields removed) until more of the file is read.
            fields: while true {
                guard i < end else {
                    fieldBytes.removeSubrange(bytesBefore...)
                    fieldEnds.removeSubrange(fieldsBefore...)
                    break records
                }
                if pending[i] == quote {
                    // A quoted field: up to the closing quote; "" is one quote.
                    notBlank = true
                    let fieldStart = fieldBytes.count
                    var j = i + 1
                    while true {
                        guard j < end else {
                            fieldBytes.removeSubrange(bytesBefore...)
                            fieldEnds.removeSubrange(fieldsBefore...)
                            break records
                        }
                        if pending[j] == quote {
                            guard j + 1 < end else {
                                if atEOF { break }
                                fieldBytes.removeSubrange(bytesBefore...)
                                fieldEnds.removeSubrange(fieldsBefore...)
                                break records
                            }
                            if pending[j + 1] == quote {
                                fieldBytes.append(quote)
                                j += 2
                                continue
                            }
                            break
                        }
                        // A line break inside the field: LF, or a CR not followed by LF (CR LF counts once).
                        if pending[j] == lineFeed || (pending[j] == carriageReturn && j + 1 < end && pending[j + 1] != lineFeed) {
                            newlines += 1
                        }
                        fieldBytes.append(pending[j])
                        j += 1
                    }
                    // A quoted missing-value spelling is missing too (pandas reads "NA" as NA), compared unquoted.
                    let field = fieldStart..<fieldBytes.count
                    if filter.mayMatch(fieldBytes, field), missing!.compare(fieldBytes, field) {
                        fieldBytes.removeSubrange(fieldStart...)
                    }
                    fieldEnds.append(fieldBytes.count)
                    i = j + 1
                    guard i < end else {
                        fieldBytes.removeSubrange(bytesBefore...)
                        fieldEnds.removeSubrange(fieldsBefore...)
                        break records
                    }
                    if pending[i] == comma {
                        i += 1
                        continue fields
                    }
                    if pending[i] == carriageReturn {
                        // CR LF after the closing quote, or a CR alone (a line end too, as pandas reads it); the
                        // LF may be in the next block.
                        guard i + 1 < end else {
                            fieldBytes.removeSubrange(bytesBefore...)
                            fieldEnds.removeSubrange(fieldsBefore...)
                            break records
                        }
                        i += pending[i + 1] == lineFeed ? 2 : 1
                        break fields
                    }
                    guard pending[i] == lineFeed else {
                        throw CommandError("\(path): line \(line + newlines): text after a closing quote")
                    }
                    i += 1
                    break fields
                }
                var j = i
                while j < end, pending[j] != comma, pending[j] != lineFeed, pending[j] != carriageReturn { j += 1 }
                // A line ends at LF, CR LF or a CR alone (as pandas reads it); after a CR the LF may be in the
                // next block.
                guard j < end, pending[j] != carriageReturn || j + 1 < end else {
                    fieldBytes.removeSubrange(bytesBefore...)
                    fieldEnds.removeSubrange(fieldsBefore...)
                    break records
                }
                if filter.mayMatch(pending, i..<j), missing!.compare(pending, i..<j) {
                    notBlank = true  // an empty field, a null
                } else {
                    CSVBytes.append(pending, i..<j, to: &fieldBytes)
                }
                fieldEnds.append(fieldBytes.count)
                i = j + 1
                if pending[j] == carriageReturn {
                    if pending[j + 1] == lineFeed { i += 1 }
                    break fields
                }
                if pending[j] == lineFeed { break fields }
            }
            // A whole record, from `line`.
            let count = fieldEnds.count - fieldsBefore
            let startLine = line
            position = i
            line += newlines + 1
            if count == 1 && fieldEnds[fieldsBefore] == bytesBefore && !notBlank {  // a blank line
                fieldEnds.removeLast()
                continue records
            }
            if let columns, count != columns {
                throw CommandError("\(path): line \(startLine): \(count) fields, the header has \(columns)")
            }
            lines.append(startLine)
        }
    }
}

/// Numbers read from a field's bytes: integers as `Int64(String)` and `UInt64(String)` accept them, and the
/// decimal numbers `Double(String)` accepts, with inf and infinity (any case, signed) and nan, NaN, -nan and -NaN,
/// the spellings pandas reads as floats. Hexadecimal (`0x1A`, `0x1p3`) and other spellings `Double(String)`
/// takes (`nan(1)`, `NAN`) are not numbers here: a value read as a number must be the number pandas reads.
/// Integers and decimal numbers may have ASCII white space (space, tab, vertical tab, form feed, CR, LF) before
/// and after them, as pandas' parser skips it (` 1` and `2 ` are the integers 1 and 2); the spellings of infinity
/// and NaN may not (pandas reads ` inf` as text).
enum CSVNumbers {
    /// `range` without the ASCII white space pandas skips around a number.
    static func trimmed(_ bytes: [UInt8], _ range: Range<Int>) -> Range<Int> {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }
        var (lower, upper) = (range.lowerBound, range.upperBound)
        while lower < upper && isSpace(bytes[lower]) { lower += 1 }
        while upper > lower && isSpace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    /// Whether the bytes are an optional sign and decimal digits (of any size).
    static func isInteger(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        let range = trimmed(bytes, range)
        var index = range.lowerBound
        if index < range.upperBound && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) { index += 1 }
        guard index < range.upperBound else { return false }
        return bytes[index..<range.upperBound].allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// An optional plus sign and decimal digits, within UInt64's range (or a minus sign and zeros: 0).
    static func uint64(_ bytes: [UInt8], _ range: Range<Int>) -> UInt64? {
        guard isInteger(bytes, range) else { return nil }
        let range = trimmed(bytes, range)
        var index = range.lowerBound
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative || bytes[index] == UInt8(ascii: "+") { index += 1 }
        var value: UInt64 = 0
        while index < range.upperBound {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, carry) = times.addingReportingOverflow(UInt64(bytes[index] - 48))
            guard !overflow && !carry else { return nil }
            value = next
            index += 1
        }
        return negative && value != 0 ? nil : value
    }

    /// The spellings of infinity and NaN taken as numbers (after an optional sign for infinity), as pandas
    /// reads them: infinity in any case, NaN as pandas' default missing values spell it.
    private static func special(_ bytes: [UInt8], _ range: Range<Int>) -> Double? {
        guard range.count <= 9, range.count >= 3 else { return nil }
        let text = String(decoding: bytes[range], as: UTF8.self)
        switch text {
        case "nan", "NaN": return .nan
        case "-nan", "-NaN": return -.nan
        default: break
        }
        var word = Substring(text)
        var negative = false
        if let sign = word.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            word = word.dropFirst()
        }
        guard ["inf", "infinity"].contains(word.lowercased()) else { return nil }
        return negative ? -.infinity : .infinity
    }

    /// An optional sign and decimal digits, within Int64's range.
    static func int64(_ bytes: [UInt8], _ range: Range<Int>) -> Int64? {
        let range = trimmed(bytes, range)
        var index = range.lowerBound
        let end = range.upperBound
        guard index < end else { return nil }
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative || bytes[index] == UInt8(ascii: "+") { index += 1 }
        guard index < end else { return nil }
        // Accumulated as a negative number, whose range reaches Int64.min.
        var value: Int64 = 0
        while index < end {
            let digit = Int64(bytes[index]) - 48
            guard digit >= 0 && digit <= 9 else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, underflow) = times.subtractingReportingOverflow(digit)
            guard !overflow && !underflow else { return nil }
            value = next
            index += 1
        }
        if negative { return value }
        return value == Int64.min ? nil : -value
    }

    /// Powers of ten a Double holds exactly.
    private static let exactPowers: [Double] = (0...22).map { (0..<$0).reduce(1.0) { r, _ in r * 10 } }

    /// A decimal number: the common form (sign, digits, a point, digits, an exponent) with at most 15
    /// significant digits and a small exponent is computed exactly here (one correctly rounded multiplication
    /// or division of exact values); anything else goes to `Double(String)`.
    static func double(_ bytes: [UInt8], _ range: Range<Int>) -> Double? {
        let spelled = range
        let range = trimmed(bytes, range)
        var index = range.lowerBound
        let end = range.upperBound
        var negative = false
        if index < end && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        while index < end, bytes[index] >= 48, bytes[index] <= 57 {
            if mantissa != 0 || bytes[index] != 48 { digits += 1 }
            mantissa = mantissa &* 10 &+ UInt64(bytes[index] - 48)
            sawDigit = true
            index += 1
        }
        if index < end && bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < end, bytes[index] >= 48, bytes[index] <= 57 {
                if mantissa != 0 || bytes[index] != 48 { digits += 1 }
                mantissa = mantissa &* 10 &+ UInt64(bytes[index] - 48)
                exponent -= 1
                sawDigit = true
                index += 1
            }
        }
        if sawDigit && index < end && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            var e = index + 1
            var negativeExponent = false
            if e < end && (bytes[e] == UInt8(ascii: "-") || bytes[e] == UInt8(ascii: "+")) {
                negativeExponent = bytes[e] == UInt8(ascii: "-")
                e += 1
            }
            var value = 0
            var exponentDigits = 0
            while e < end, bytes[e] >= 48, bytes[e] <= 57 {
                // Capped: an exponent this large goes to `Double(String)` below, which reads it whole.
                value = min(value * 10 + Int(bytes[e] - 48), 1_000_000)
                exponentDigits += 1
                e += 1
            }
            if exponentDigits > 0 {
                exponent += negativeExponent ? -value : value
                index = e
            }
        }
        guard sawDigit && index == end else {
            // Not a decimal number: infinity or NaN as pandas spells them, or nothing.
            return special(bytes, spelled)
        }
        if digits <= 15 && abs(exponent) <= 22 {
            var result = Double(mantissa)
            result = exponent < 0 ? result / exactPowers[-exponent] : result * exactPowers[exponent]
            return negative ? -result : result
        }
        // A decimal number (checked above) with more digits or a larger exponent: as Swift rounds it.
        return Double(String(decoding: bytes[range], as: UTF8.self))
    }
}

/// Parses `--types a:int,b:string`: a pair splits at its last colon, so a name may hold colons (`time:utc:int`);
/// names by their UTF-8 bytes, so that two canonically equivalent names (NFC and NFD "café") are two columns' types.
package func parseTypes(_ text: String?) throws -> [UTF8Key: ColumnKind] {
    guard let text, !text.isEmpty else { return [:] }
    var types: [UTF8Key: ColumnKind] = [:]
    for item in text.split(separator: ",") {
        guard let colon = item.lastIndex(of: ":"), colon != item.startIndex,
            let kind = ColumnKind(rawValue: String(item[item.index(after: colon)...]))
        else {
            throw CommandError("--types takes NAME:TYPE pairs with TYPE one of int, uint, float, string, category; got \(item)")
        }
        types[UTF8Key(String(item[..<colon]))] = kind
    }
    return types
}
