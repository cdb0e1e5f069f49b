// SPDX-License-Identifier: Apache-2.0

import Foundation
import PartdTyped
import Testing
@testable import PartdCSV

/// The `partd` command's CSV reader, with the file read in blocks of every small size, so that a block ends
/// at every position of every record: inside a field, right after a comma, between CR and LF, inside a
/// quoted field, between two quotes of an escaped quote, after a closing quote.
@Suite("CSV reader")
struct CSVReaderTests {
    static let text = "id,x,name\r\n"
        + "1,0.5,plain\n"
        + "\n"
        + "2,,\"quoted, with comma\"\n"
        + "3,1.5,\"two\nlines\"\r\n"
        + "4,2.5,\"an \"\"escaped\"\" quote\"\n"
        + "5,,\n"
        + "6,3.5,\"\"\n"
        + "7,4.5,last without a line break"

    func read(_ path: String, readSize: Int, chunkRows: Int, types: [String: ColumnKind] = ["name": .string]) throws -> [[String?]] {
        let reader = try CSVReader(path: path, chunkRows: chunkRows, types: types, readSize: readSize)
        var rows: [[String?]] = []
        while let chunk = try reader.nextChunk() {
            for row in 0..<chunk.rowCount { rows.append(chunk.columns.map { $0.text(at: row) }) }
        }
        return rows
    }

    @Test("every block size and chunk size reads the same rows")
    func blockBoundaries() throws {
        let path = scratchPath("reader.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.text.write(toFile: path, atomically: false, encoding: .utf8)
        let expected: [[String?]] = [
            ["1", "0.5", "plain"], ["2", nil, "quoted, with comma"], ["3", "1.5", "two\nlines"],
            ["4", "2.5", "an \"escaped\" quote"], ["5", nil, nil], ["6", "3.5", nil], ["7", "4.5", "last without a line break"],
        ]
        for readSize in 1...(Self.text.utf8.count + 1) {
            for chunkRows in [1, 2, 3, 100] {
                #expect(try read(path, readSize: readSize, chunkRows: chunkRows) == expected, "read \(readSize), chunk \(chunkRows)")
            }
        }
    }

    @Test("a quoted field still open at the end of the file is an error naming its line, at every block size")
    func unclosedQuote() throws {
        let path = scratchPath("unclosed.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "a,b\n1,2\n3,\"open\nstill open".write(toFile: path, atomically: false, encoding: .utf8)
        for readSize in [1, 2, 5, 1 << 20] {
            #expect {
                _ = try read(path, readSize: readSize, chunkRows: 10, types: [:])
            } throws: { "\($0)".contains("line 3: a quoted field is not closed before the end of the file") }
        }
    }

    @Test("selected columns: only they come out, in the header's order; the other fields are split but not read")
    func selectedColumns() throws {
        let path = scratchPath("selected.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.text.write(toFile: path, atomically: false, encoding: .utf8)
        let reader = try CSVReader(path: path, chunkRows: 3, types: ["name": .string], readSize: 7)
        reader.selectedColumns = ["name", "id"]
        var rows: [[String?]] = []
        while let chunk = try reader.nextChunk() {
            #expect(chunk.columns.map(\.name) == ["id", "name"])
            for row in 0..<chunk.rowCount { rows.append(chunk.columns.map { $0.text(at: row) }) }
        }
        #expect(rows.map { $0[0] } == ["1", "2", "3", "4", "5", "6", "7"] && rows[2][1] == "two\nlines")
    }
}
