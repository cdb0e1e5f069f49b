// SPDX-License-Identifier: Apache-2.0
//
// A streaming CSV reader (RFC 4180: a header row, quoted fields with "" escapes
// and embedded newlines) that turns rows into Tables a chunk at a time.

import Foundation
import Partd
import PartdTyped

/// What a CSV column becomes.
enum ColumnKind: String, CaseIterable {
    case int, float, string, category
}

final class CSVReader {
    let path: String
    private(set) var header: [String] = []
    let fileSize: Int
    private(set) var bytesRead = 0
    private(set) var kinds: [ColumnKind]?
    private let chunkRows: Int
    private let givenKinds: [String: ColumnKind]
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private var position = 0
    private var atEOF = false
    /// The line the next record starts on (the header is line 1).
    private var line = 1
    /// The fields parsed so far: their bytes (quotes undone) back to back, and where each ends.
    private var fieldBytes: [UInt8] = []
    private var fieldEnds: [Int] = []

    /// With `typesOfOtherFiles` set, `types` may also name columns this file does not have (a join's
    /// `--types` covers both files); otherwise such a name is an error.
    init(path: String, chunkRows: Int, types: [String: ColumnKind], typesOfOtherFiles: Bool = false) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open \(path)") }
        self.path = path
        self.handle = handle
        self.chunkRows = chunkRows
        self.givenKinds = types
        fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let header = try nextRecord().map { fields in
            (0..<fields).map { String(decoding: field($0), as: UTF8.self) }
        } ?? []
        guard !header.isEmpty, !header.allSatisfy(\.isEmpty) else { throw CommandError("\(path): no header row") }
        guard Set(header).count == header.count else { throw CommandError("\(path): line 1: repeated column names") }
        for name in types.keys where !header.contains(name) && !typesOfOtherFiles {
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
            bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
        }
    }

    /// The next chunk of up to `chunkRows` rows, or `nil` at the end. Column
    /// types are inferred from the first chunk unless given: int if every
    /// non-empty value is an integer, else float if every one is a number,
    /// else string. Empty fields are nulls.
    func nextChunk() throws -> Table? {
        fieldBytes.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        var lines: [Int] = []
        let columns = header.count
        while lines.count < chunkRows {
            let startLine = line
            let first = fieldEnds.count
            guard let count = try nextRecord() else { break }
            if count == 1 && field(first).isEmpty {  // a blank line
                fieldEnds.removeLast()
                continue
            }
            guard count == columns else {
                throw CommandError("\(path): line \(startLine): \(count) fields, the header has \(columns)")
            }
            lines.append(startLine)
        }
        guard !lines.isEmpty else { return nil }
        let rows = lines.count
        let fields = Fields(bytes: fieldBytes, ends: fieldEnds)
        let kinds = self.kinds ?? header.indices.map { column in
            givenKinds[header[column]] ?? Self.infer((0..<rows).lazy.map { fields[$0 * columns + column] })
        }
        self.kinds = kinds
        return try Table(header.indices.map { column in
            try makeColumn(column, kinds[column], fields, rows: rows, lines)
        })
    }

    private static func infer(_ values: some Sequence<ArraySlice<UInt8>>) -> ColumnKind {
        var kind = ColumnKind.int
        for value in values where !value.isEmpty {
            if kind == .int, CSVNumbers.int64(value) != nil { continue }
            if CSVNumbers.double(value) != nil { kind = .float; continue }
            return .string
        }
        return kind
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
        func bad(_ row: Int, _ what: String) -> CommandError {
            let text = String(decoding: value(row), as: UTF8.self)
            return CommandError("\(path): line \(lines[row]): column \(name): \"\(text)\" is not \(what); give --types \(name):string")
        }
        switch kind {
        case .int:
            var values = [Int64](repeating: 0, count: rows)
            for row in 0..<rows {
                let field = value(row)
                if field.isEmpty { null(row); continue }
                guard let number = CSVNumbers.int64(field) else { throw bad(row, "an integer") }
                values[row] = number
            }
            return Column(name, values, validity: validity)
        case .float:
            var values = [Double](repeating: 0, count: rows)
            for row in 0..<rows {
                let field = value(row)
                if field.isEmpty { null(row); continue }
                guard let number = CSVNumbers.double(field) else { throw bad(row, "a number") }
                values[row] = number
            }
            return Column(name, values, validity: validity)
        case .string:
            // Bytes that are not UTF-8 are replaced, as a String would.
            var strings = StringArray()
            strings.reserveCapacity(count: rows, bytes: fields.ends[rows * columns - 1] / columns)
            for row in 0..<rows {
                let field = value(row)
                if field.isEmpty { null(row) }
                if field.allSatisfy({ $0 < 0x80 }) {
                    strings.append(bytes: field)
                } else {
                    strings.append(String(decoding: field, as: UTF8.self))
                }
            }
            return Column(name, strings: strings, validity: validity)
        case .category:
            let texts = (0..<rows).map { row -> String in
                let field = value(row)
                if field.isEmpty { null(row) }
                return String(decoding: field, as: UTF8.self)
            }
            return Column(name, categorical: CategoricalArray(texts), validity: validity)
        }
    }

    // MARK: Records

    /// Parses the next record into the fields, returning how many it has, or `nil` at the end of the file.
    private func nextRecord() throws -> Int? {
        while true {
            if let count = try parseRecord() { return count }
            if atEOF {
                guard position < pending.count else { return nil }
                // The last record has no line break.
                pending.append(0x0A)
                continue
            }
            let data = handle.readData(ofLength: 4 << 20)
            if data.isEmpty {
                atEOF = true
                continue
            }
            bytesRead += data.count
            pending.removeFirst(position)
            position = 0
            pending.append(contentsOf: data)
        }
    }

    /// Parses one record ending in a line break from `pending` into the fields and returns how many it has, or
    /// returns nil (adding no field) if it is not all there.
    private func parseRecord() throws -> Int? {
        // Local copies (the field arrays moved out and back): a class's stored arrays are checked for
        // exclusive access on every use.
        let pending = self.pending
        var fieldBytes = self.fieldBytes
        var fieldEnds = self.fieldEnds
        self.fieldBytes = []
        self.fieldEnds = []
        defer {
            self.fieldBytes = fieldBytes
            self.fieldEnds = fieldEnds
        }
        let (bytesBefore, fieldsBefore) = (fieldBytes.count, fieldEnds.count)
        func incomplete() -> Int? {
            fieldBytes.removeSubrange(bytesBefore...)
            fieldEnds.removeSubrange(fieldsBefore...)
            return nil
        }
        var i = position
        var newlines = 0
        let end = pending.count
        while true {
            guard i < end else { return incomplete() }
            if pending[i] == UInt8(ascii: "\"") {
                // A quoted field: up to the closing quote; "" is one quote.
                var j = i + 1
                while true {
                    guard j < end else { return incomplete() }
                    if pending[j] == UInt8(ascii: "\"") {
                        guard j + 1 < end else {
                            if atEOF { break }
                            return incomplete()
                        }
                        if pending[j + 1] == UInt8(ascii: "\"") {
                            fieldBytes.append(UInt8(ascii: "\""))
                            j += 2
                            continue
                        }
                        break
                    }
                    if pending[j] == 0x0A { newlines += 1 }
                    fieldBytes.append(pending[j])
                    j += 1
                }
                fieldEnds.append(fieldBytes.count)
                i = j + 1
                guard i < end else { return incomplete() }
                if pending[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if pending[i] == 0x0D, i + 1 < end, pending[i + 1] == 0x0A { i += 1 }
                guard pending[i] == 0x0A else {
                    throw CommandError("\(path): line \(line + newlines): text after a closing quote")
                }
                position = i + 1
                line += newlines + 1
                return fieldEnds.count - fieldsBefore
            }
            var j = i
            while j < end, pending[j] != UInt8(ascii: ","), pending[j] != 0x0A { j += 1 }
            guard j < end else { return incomplete() }
            var fieldEnd = j
            if pending[j] == 0x0A, fieldEnd > i, pending[fieldEnd - 1] == 0x0D { fieldEnd -= 1 }
            for k in i..<fieldEnd { fieldBytes.append(pending[k]) }
            fieldEnds.append(fieldBytes.count)
            if pending[j] == 0x0A {
                position = j + 1
                line += newlines + 1
                return fieldEnds.count - fieldsBefore
            }
            i = j + 1
        }
    }
}

/// Numbers read from a field's bytes, accepting exactly what `Int64(String)` and `Double(String)` accept.
enum CSVNumbers {
    /// An optional sign and decimal digits, within Int64's range.
    static func int64(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var index = bytes.startIndex
        guard index < bytes.endIndex else { return nil }
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative || bytes[index] == UInt8(ascii: "+") { index += 1 }
        guard index < bytes.endIndex else { return nil }
        // Accumulated as a negative number, whose range reaches Int64.min.
        var value: Int64 = 0
        while index < bytes.endIndex {
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
    static func double(_ bytes: ArraySlice<UInt8>) -> Double? {
        var index = bytes.startIndex
        let end = bytes.endIndex
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
            while e < end, bytes[e] >= 48, bytes[e] <= 57, exponentDigits < 6 {
                value = value * 10 + Int(bytes[e] - 48)
                exponentDigits += 1
                e += 1
            }
            if exponentDigits > 0 {
                exponent += negativeExponent ? -value : value
                index = e
            }
        }
        if sawDigit && index == end && digits <= 15 && abs(exponent) <= 22 {
            var result = Double(mantissa)
            result = exponent < 0 ? result / exactPowers[-exponent] : result * exactPowers[exponent]
            return negative ? -result : result
        }
        return Double(String(decoding: bytes, as: UTF8.self))
    }
}

/// Parses `--types a:int,b:string`.
func parseTypes(_ text: String?) throws -> [String: ColumnKind] {
    guard let text, !text.isEmpty else { return [:] }
    var types: [String: ColumnKind] = [:]
    for item in text.split(separator: ",") {
        let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let kind = ColumnKind(rawValue: parts[1]) else {
            throw CommandError("--types takes NAME:TYPE pairs with TYPE one of int, float, string, category; got \(item)")
        }
        types[parts[0]] = kind
    }
    return types
}
