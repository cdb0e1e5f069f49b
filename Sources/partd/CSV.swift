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

    /// With `typesOfOtherFiles` set, `types` may also name columns this file does not have (a join's
    /// `--types` covers both files); otherwise such a name is an error.
    init(path: String, chunkRows: Int, types: [String: ColumnKind], typesOfOtherFiles: Bool = false) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open \(path)") }
        self.path = path
        self.handle = handle
        self.chunkRows = chunkRows
        self.givenKinds = types
        fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let header = try nextRecord() ?? []
        guard !header.isEmpty, !header.allSatisfy(\.isEmpty) else { throw CommandError("\(path): no header row") }
        guard Set(header).count == header.count else { throw CommandError("\(path): line 1: repeated column names") }
        for name in types.keys where !header.contains(name) && !typesOfOtherFiles {
            throw CommandError("\(path): --types names \(name), which is not a column (columns: \(header.joined(separator: ", ")))")
        }
        self.header = header
    }

    /// The next chunk of up to `chunkRows` rows, or `nil` at the end. Column
    /// types are inferred from the first chunk unless given: int if every
    /// non-empty value is an integer, else float if every one is a number,
    /// else string. Empty fields are nulls.
    func nextChunk() throws -> Table? {
        var rows: [[String]] = []
        var lines: [Int] = []
        rows.reserveCapacity(chunkRows)
        while rows.count < chunkRows {
            let startLine = line
            guard let fields = try nextRecord() else { break }
            if fields.count == 1 && fields[0].isEmpty { continue }  // blank line
            guard fields.count == header.count else {
                throw CommandError("\(path): line \(startLine): \(fields.count) fields, the header has \(header.count)")
            }
            rows.append(fields)
            lines.append(startLine)
        }
        guard !rows.isEmpty else { return nil }
        let kinds = self.kinds ?? header.indices.map { column in
            givenKinds[header[column]] ?? Self.infer(rows.lazy.map { $0[column] })
        }
        self.kinds = kinds
        return try Table(header.indices.map { column in
            try makeColumn(header[column], kinds[column], rows, column, lines)
        })
    }

    private static func infer(_ values: some Sequence<String>) -> ColumnKind {
        var kind = ColumnKind.int
        for value in values where !value.isEmpty {
            if kind == .int, Int64(value) != nil { continue }
            if Double(value) != nil { kind = .float; continue }
            return .string
        }
        return kind
    }

    private func makeColumn(_ name: String, _ kind: ColumnKind, _ rows: [[String]], _ column: Int, _ lines: [Int]) throws -> Column {
        let hasNulls = rows.contains { $0[column].isEmpty }
        let validity = hasNulls ? BitArray(rows.lazy.map { !$0[column].isEmpty }) : nil
        func bad(_ row: Int, _ what: String) -> CommandError {
            CommandError("\(path): line \(lines[row]): column \(name): \"\(rows[row][column])\" is not \(what); give --types \(name):string")
        }
        switch kind {
        case .int:
            var values = [Int64](repeating: 0, count: rows.count)
            for (i, row) in rows.enumerated() where !row[column].isEmpty {
                guard let value = Int64(row[column]) else { throw bad(i, "an integer") }
                values[i] = value
            }
            return Column(name, values, validity: validity)
        case .float:
            var values = [Double](repeating: 0, count: rows.count)
            for (i, row) in rows.enumerated() where !row[column].isEmpty {
                guard let value = Double(row[column]) else { throw bad(i, "a number") }
                values[i] = value
            }
            return Column(name, values, validity: validity)
        case .string:
            return Column(name, strings: StringArray(rows.lazy.map { $0[column] }), validity: validity)
        case .category:
            return Column(name, categorical: CategoricalArray(rows.lazy.map { $0[column] }), validity: validity)
        }
    }

    // MARK: Records

    /// The fields of the next record, or `nil` at the end of the file.
    private func nextRecord() throws -> [String]? {
        while true {
            if let record = try parseRecord() { return record }
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

    /// Parses one record ending in a line break from `pending`, or returns nil if it is not all there.
    private func parseRecord() throws -> [String]? {
        var fields: [String] = []
        var i = position
        var newlines = 0
        let end = pending.count
        while true {
            guard i < end else { return nil }
            if pending[i] == UInt8(ascii: "\"") {
                // A quoted field: up to the closing quote; "" is one quote.
                var bytes: [UInt8] = []
                var j = i + 1
                while true {
                    guard j < end else { return nil }
                    if pending[j] == UInt8(ascii: "\"") {
                        guard j + 1 < end else {
                            if atEOF { break }
                            return nil
                        }
                        if pending[j + 1] == UInt8(ascii: "\"") {
                            bytes.append(UInt8(ascii: "\""))
                            j += 2
                            continue
                        }
                        break
                    }
                    if pending[j] == 0x0A { newlines += 1 }
                    bytes.append(pending[j])
                    j += 1
                }
                fields.append(String(decoding: bytes, as: UTF8.self))
                i = j + 1
                guard i < end else { return nil }
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
                return fields
            }
            var j = i
            while j < end, pending[j] != UInt8(ascii: ","), pending[j] != 0x0A { j += 1 }
            guard j < end else { return nil }
            var fieldEnd = j
            if pending[j] == 0x0A, fieldEnd > i, pending[fieldEnd - 1] == 0x0D { fieldEnd -= 1 }
            fields.append(String(decoding: pending[i..<fieldEnd], as: UTF8.self))
            if pending[j] == 0x0A {
                position = j + 1
                line += newlines + 1
                return fields
            }
            i = j + 1
        }
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
