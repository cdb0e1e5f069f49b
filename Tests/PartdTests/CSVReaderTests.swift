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

    func read(
        _ path: String, readSize: Int, chunkRows: Int, types: [UTF8Key: ColumnKind] = ["name": .string], missingValues: MissingValues? = nil
    ) throws -> [[String?]] {
        let reader = try CSVReader(path: path, chunkRows: chunkRows, types: types, missingValues: missingValues, readSize: readSize)
        var rows: [[String?]] = []
        while let chunk = try reader.nextChunk() {
            for row in 0..<chunk.rowCount { rows.append(chunk.columns.map { $0.text(at: row) }) }
        }
        return rows
    }

    @Test("a category column keeps values that differ as bytes but are canonically equivalent (NFC and NFD café) apart")
    func categoriesByBytes() throws {
        let path = scratchPath("nfd.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        try "c\n\(nfc)\n\(nfd)\n\(nfc)\n".write(toFile: path, atomically: false, encoding: .utf8)
        let reader = try CSVReader(path: path, chunkRows: 10, types: ["c": .category])
        let column = try #require(try reader.nextChunk()?["c"]?.categorical)
        #expect(column.categories.count == 2)
        #expect(column.map { Array($0.utf8) } == [nfc, nfd, nfc].map { Array($0.utf8) })
    }

    @Test("header names that differ as bytes but are canonically equivalent (NFC and NFD café) are two columns; types and selected columns find each by its bytes")
    func lookalikeHeaderNames() throws {
        let path = scratchPath("lookalike-header.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        try "\(nfc),\(nfd)\n1,2\n3,4\n".write(toFile: path, atomically: false, encoding: .utf8)
        // Both columns are kept (the header was refused as repeating a name); the type given for one is not the other's.
        let reader = try CSVReader(path: path, chunkRows: 10, types: ["cafe\u{301}": .string])
        #expect(reader.header.map { Array($0.utf8) } == [nfc, nfd].map { Array($0.utf8) })
        let chunk = try #require(try reader.nextChunk())
        #expect(chunk[nfc]?.values(as: Int64.self) == [1, 3])
        #expect(chunk[nfd]?.strings.map(Array.init) == ["2", "4"])
        let typedNFC = try #require(try CSVReader(path: path, chunkRows: 10, types: ["caf\u{E9}": .string]).nextChunk())
        #expect(typedNFC[nfc]?.strings.map(Array.init) == ["1", "3"])
        #expect(typedNFC[nfd]?.values(as: Int64.self) == [2, 4])
        // Selecting the NFD column reads it alone.
        let selecting = try CSVReader(path: path, chunkRows: 10, types: [:])
        selecting.selectedColumns = ["cafe\u{301}"]
        #expect(try selecting.nextChunk()?.columns.map { Array($0.name.utf8) } == [Array(nfd.utf8)])
        // --types keeps a type for each of two lookalike names.
        #expect(try parseTypes("\(nfc):int,\(nfd):string").count == 2)
        // A type for a name of which the header has only the lookalike is refused, not given to the lookalike.
        try "\(nfc)\n1\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect { try CSVReader(path: path, chunkRows: 10, types: ["cafe\u{301}": .string]) } throws: { "\($0)".contains("not a column") }
        // A name repeated byte for byte is still refused.
        try "\(nfd),\(nfd)\n1,2\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect { try CSVReader(path: path, chunkRows: 10, types: [:]) } throws: { "\($0)".contains("repeated column names") }
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

    @Test("a line of \"\" is a record of one empty field (a null); a blank line is skipped; at every block size")
    func quotedEmptyLine() throws {
        let path = scratchPath("quoted-empty.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cases: [(text: String, rows: [[String?]])] = [
            ("x\na\n\"\"\nb\n", [["a"], [nil], ["b"]]),
            ("x\r\n\"\"\r\n\r\n\"\"", [[nil], [nil]]),
            ("x\na\n\nb\n", [["a"], ["b"]]),
            ("x,y\n\"\",\n\n1,\n", [[nil, nil], ["1", nil]]),
        ]
        for (text, rows) in cases {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            for readSize in 1...(text.utf8.count + 1) {
                #expect(try read(path, readSize: readSize, chunkRows: 2, types: [:]) == rows, "\(text.debugDescription), read \(readSize)")
            }
        }
    }

    @Test("the writer writes a one-column row that is null or empty as \"\" (as pandas does), so every row reads back")
    func oneColumnRoundTrip() throws {
        let path = scratchPath("one-column.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Nulls and empty strings are both empty fields, which read back as nulls (the reader's convention).
        let strings = Column("x", strings: ["a", "", "", "b"], validity: [true, false, true, true])
        let numbers = Column("n", [1, 0, 2] as [Int64], validity: [true, false, true])
        for (column, text, rows) in [
            (strings, "x\na\n\"\"\n\"\"\nb\n", [["a"], [nil], [nil], ["b"]] as [[String?]]),
            (numbers, "n\n1\n\"\"\n2\n", [["1"], [nil], ["2"]]),
        ] {
            let bytes = CSVWriter.bytes(try Table([column]))
            #expect(String(decoding: bytes, as: UTF8.self) == text)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(try read(path, readSize: 3, chunkRows: 10, types: [:]) == rows)
        }
        // With more than one column a row of nulls is commas already; no columns, an empty line.
        let two = try Table([Column("a", [0] as [Int64], validity: [false]), Column("b", strings: [""])])
        #expect(String(decoding: CSVWriter.bytes(two), as: UTF8.self) == "a,b\n,\n")
        #expect(CSVWriter.header(Table()) == [0x0A])
    }

    @Test("a UTF-8 byte order mark before the header is skipped (a quoted first name loses its quotes), at every block size")
    func byteOrderMark() throws {
        let path = scratchPath("bom.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
        for (text, header) in [("\"a,b\",c\n1,2\n", ["a,b", "c"]), ("id,x\n1,2", ["id", "x"]), ("\u{FEFF}x\n1\n", ["\u{FEFF}x"])] {
            let bytes = mark + Array(text.utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            for readSize in 1...(bytes.count + 1) {
                let reader = try CSVReader(path: path, chunkRows: 10, types: [:], readSize: readSize)
                #expect(reader.header == header, "read \(readSize)")
                #expect(try reader.nextChunk()?.columns.map { $0.text(at: 0) } == ["1", "2"].prefix(header.count).map { $0 })
            }
        }
        // A mark alone is a file without a header; a mark's first bytes alone are a (strange) name.
        try Data(mark).write(to: URL(fileURLWithPath: path))
        #expect { try CSVReader(path: path, chunkRows: 10, types: [:], readSize: 1) } throws: { "\($0)".contains("no header row") }
        try Data(mark.prefix(2)).write(to: URL(fileURLWithPath: path))
        #expect(try CSVReader(path: path, chunkRows: 10, types: [:], readSize: 1).header == [String(decoding: mark.prefix(2), as: UTF8.self)])
    }

    @Test("a lone CR ends a line as LF and CR LF do (as pandas reads it), outside quotes; inside quotes it is kept; at every block size")
    func carriageReturnLines() throws {
        let path = scratchPath("cr.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cases: [(text: String, rows: [[String?]])] = [
            ("k,v\r1,2\r1,3\r", [["1", "2"], ["1", "3"]]),
            ("k,v\r1,2\r\r1,3", [["1", "2"], ["1", "3"]]),
            ("k,v\r\n1,\"a\"\r2,\"b\rc\"\r\n3,d\n4,\"e\"", [["1", "a"], ["2", "b\rc"], ["3", "d"], ["4", "e"]]),
        ]
        for (text, rows) in cases {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            for readSize in 1...(text.utf8.count + 1) {
                let reader = try CSVReader(path: path, chunkRows: 2, types: ["v": .string], readSize: readSize)
                #expect(reader.header == ["k", "v"], "\(text.debugDescription), read \(readSize)")
                #expect(try read(path, readSize: readSize, chunkRows: 2, types: ["v": .string]) == rows, "\(text.debugDescription), read \(readSize)")
            }
        }
        // Lines are counted at lone CRs too.
        try "a,b\r1,2\r3\r".write(toFile: path, atomically: false, encoding: .utf8)
        #expect { _ = try read(path, readSize: 4, chunkRows: 10, types: [:]) } throws: { "\($0)".contains("line 3: 1 fields") }
    }

    /// Whether two reads gave the same tables (NaN as NaN: a table's `==` takes NaN for unequal to itself).
    static func same(_ a: [Table], _ b: [Table]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.schema == y.schema && x.rowCount == y.rowCount && zip(x.columns, y.columns).allSatisfy { c, d in
                c == d || (c.type == .float64 && c.validity == d.validity && (0..<x.rowCount).allSatisfy { c.text(at: $0) == d.text(at: $0) })
            }
        }
    }

    @Test("every read block size gives the same tables or the same error (as the csv fuzz target checks)")
    func blockSizesAgree() throws {
        let path = scratchPath("blocks.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        func tables(_ readSize: Int, _ missingValues: MissingValues?) -> Result<[Table], CommandError> {
            Result {
                let reader = try CSVReader(path: path, chunkRows: 3, types: [:], missingValues: missingValues, readSize: readSize)
                var tables: [Table] = []
                while let table = try reader.nextChunk() { tables.append(table) }
                return tables
            }.mapError { $0 as? CommandError ?? CommandError("\($0)") }
        }
        // Without and with missing-value spellings (quoted or not, split across blocks anywhere; a line of NA
        // alone a record, not a blank line; a short record after them the same error).
        let texts = [
            "k,v,s\r\n1,2.5,\"a\r\nb\"\n2,,x\r3,nan,\"q\"\"q\"\n",
            "k,v,s\r\nNA,2.5,\"NA\"\nNULL,NA,x\r3,nan,\"N\"\"A\"\n\"NA\",-nan,NA",
            "k\nNA\n\nNA\r\n\"NA\"\rx\nNA",
            "k,v\nNA,1\nNA\n",
        ]
        for text in texts {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            for missingValues in [nil, parseMissingValues("pandas,N\"A")] {
                let whole = tables(1 << 16, missingValues)
                for readSize in 1...(text.utf8.count + 1) {
                    let blocks = tables(readSize, missingValues)
                    switch (whole, blocks) {
                    case (.success(let a), .success(let b)):
                        #expect(Self.same(a, b), "\(text.debugDescription), read \(readSize)")
                    case (.failure(let a), .failure(let b)):
                        #expect(a.description == b.description, "\(text.debugDescription), read \(readSize)")
                    default:
                        Issue.record("\(text.debugDescription), read \(readSize): \(whole) / \(blocks)")
                    }
                }
            }
        }
    }

    /// The type each column of `text` is inferred as, and its values as text.
    func inferred(_ text: String) throws -> [(ColumnType, [String?])] {
        let path = scratchPath("infer.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let chunk = try #require(try CSVReader(path: path, chunkRows: 100, types: [:]).nextChunk())
        return chunk.columns.map { column in (column.type, (0..<chunk.rowCount).map { column.text(at: $0) }) }
    }

    @Test("inference changes no value: integers beyond Int64 are UInt64 (or strings), hex and other non-decimal forms are strings")
    func inferenceKeepsValues() throws {
        let big = ["18446744073709551001", "18446744073709551002", "9223372036854775808", "+18446744073709551615", "7"]
        let columns = try inferred("a,b,c,d,e,f\n" + big.indices.map { row in
            let b = ["-1", "18446744073709551001", "", "", ""][row]
            let c = ["18446744073709551616", "1", "", "", ""][row]
            let d = ["1.5", "18446744073709551001", "", "", ""][row]
            let e = ["0x1A", "26", "", "", ""][row]
            let f = ["inf", "-Infinity", "nan", "NaN", "1e5"][row]
            return "\(big[row]),\(b),\(c),\(d),\(e),\(f)\n"
        }.joined())
        #expect(columns[0].0 == .fixed(.uint64))
        #expect(columns[0].1 == ["18446744073709551001", "18446744073709551002", "9223372036854775808", "18446744073709551615", "7"])
        // A negative integer, one beyond UInt64, or a float with them: strings, each value as written.
        #expect(columns[1].0 == .string && columns[1].1 == ["-1", "18446744073709551001", nil, nil, nil])
        #expect(columns[2].0 == .string && columns[2].1 == ["18446744073709551616", "1", nil, nil, nil])
        #expect(columns[3].0 == .string && columns[3].1 == ["1.5", "18446744073709551001", nil, nil, nil])
        #expect(columns[4].0 == .string && columns[4].1 == ["0x1A", "26", nil, nil, nil])
        // What pandas reads as floats: inf, Infinity (any case, signed), nan, NaN.
        #expect(columns[5].0 == .float64)
        // White space around a number is skipped, as pandas skips it, but not around inf or nan (pandas reads
        // " inf" as text), nor inside a number.
        for form in ["0x1p3", "NAN", "nan(1)", "1e", "1_000", " inf", "nan ", "1 5", "- 1", "infinit", "0X10", "1.5.2"] {
            #expect(try inferred("x\n1.5\n\(form)\n")[0].0 == .string, "\(form)")
        }
        for form in ["INF", "+inf", "-INFINITY", "-nan", "-NaN", ".5", "5.", "1E-300", "1e400", " 1", "1.5 ", "\t-2e3\t"] {
            #expect(try inferred("x\n1.5\n\(form)\n")[0].0 == .float64, "\(form)")
        }
    }

    @Test("string and category values keep their bytes when they are not UTF-8 (Latin-1 café and cafè stay two values)")
    func bytesNotUTF8() throws {
        let path = scratchPath("latin1.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text: [UInt8] = Array("s,c\ncaf".utf8) + [0xE9] + Array(",caf".utf8) + [0xE9] + Array("\ncaf".utf8) + [0xE8]
            + Array(",caf".utf8) + [0xE8] + Array("\n".utf8)
        try Data(text).write(to: URL(fileURLWithPath: path))
        let chunk = try #require(try CSVReader(path: path, chunkRows: 10, types: ["c": .category]).nextChunk())
        let strings = try #require(chunk["s"]?.strings)
        #expect(strings.bytes(at: 0).elementsEqual(Array("caf".utf8) + [0xE9]))
        #expect(strings.bytes(at: 1).elementsEqual(Array("caf".utf8) + [0xE8]))
        let categories = try #require(chunk["c"]?.categorical)
        try #require(categories.categories.count == 2 && categories.codes == [0, 1])
        #expect(categories.categories.bytes(at: 1).elementsEqual(Array("caf".utf8) + [0xE8]))
        // Written back as they were read.
        #expect(CSVWriter.bytes(chunk) == text)
    }

    @Test("--types splits NAME:TYPE at the last colon, so a name with a colon can be typed")
    func typesWithColons() throws {
        #expect(try parseTypes("time:utc:int,a:float,b:uint") == ["time:utc": .int, "a": .float, "b": .uint])
        #expect(throws: (any Error).self) { try parseTypes("time:utc") }
    }

    @Test("a value that does not fit the column's inferred type suggests the type that would take it")
    func typeAdvice() throws {
        let path = scratchPath("advice.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "n,s\n1,a\n2.5,b\n".write(toFile: path, atomically: false, encoding: .utf8)
        let reader = try CSVReader(path: path, chunkRows: 1, types: [:])
        _ = try reader.nextChunk()
        #expect { _ = try reader.nextChunk() } throws: { "\($0)".contains("line 3: column n: \"2.5\" is not an integer; give --types n:float") }
        try "n,s\n1,a\nx,b\n".write(toFile: path, atomically: false, encoding: .utf8)
        let other = try CSVReader(path: path, chunkRows: 1, types: [:])
        _ = try other.nextChunk()
        #expect { _ = try other.nextChunk() } throws: { "\($0)".contains("give --types n:string") }
        // An integer beyond Int64 in a later chunk: uint keeps it.
        try "n,s\n1,a\n18446744073709551615,b\n".write(toFile: path, atomically: false, encoding: .utf8)
        let big = try CSVReader(path: path, chunkRows: 1, types: [:])
        _ = try big.nextChunk()
        #expect { _ = try big.nextChunk() } throws: { "\($0)".contains("give --types n:uint") }
    }

    @Test("a value that does not fit is a CSVTypeConflict naming the column, its line and the type that takes the value")
    func typeConflicts() throws {
        let path = scratchPath("conflict.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        /// The conflict the second chunk of a file whose column n holds `first` then `later` throws.
        func conflict(_ first: String, _ later: String, types: [UTF8Key: ColumnKind] = [:]) throws -> CSVTypeConflict? {
            try "n,s\n\(first),a\n\(later),b\n".write(toFile: path, atomically: false, encoding: .utf8)
            let reader = try CSVReader(path: path, chunkRows: 1, types: types)
            _ = try reader.nextChunk()
            do {
                _ = try reader.nextChunk()
                return nil
            } catch let conflict as CSVTypeConflict {
                return conflict
            }
        }
        let float = try #require(try conflict("1", "2.5"))
        #expect(float.column == "n" && float.line == 3 && float.value == "2.5" && float.kind == .int && float.widened == .float)
        #expect(float.description == "\(path): line 3: column n: \"2.5\" is not an integer; give --types n:float")
        #expect(float.note == "\(path) line 3: column n holds \"2.5\", which is not an integer; reading again with n:float")
        #expect(try conflict("1", "18446744073709551615")?.widened == .uint)
        #expect(try conflict("1", "99999999999999999999")?.widened == .string)
        #expect(try conflict("1", "1e400")?.widened == .float)
        #expect(try conflict("1", "abc")?.widened == .string)
        #expect(try conflict("1", "0x1A")?.widened == .string)
        let negative = try #require(try conflict("18446744073709551615", "-3"))
        #expect(negative.kind == .uint && negative.widened == .string && negative.expected == "a non-negative integer")
        #expect(try conflict("1.5", "abc")?.widened == .string)
        #expect(try conflict("1", "1.5", types: ["n": .uint])?.widened == .string)
    }

    @Test("a file of a header alone gives an empty table of its columns, typed by --types, else strings")
    func headerOnly() throws {
        let path = scratchPath("header-only.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "k,a,b\n".write(toFile: path, atomically: false, encoding: .utf8)
        let reader = try CSVReader(path: path, chunkRows: 10, types: ["a": .int])
        #expect(try reader.nextChunk() == nil)
        #expect(reader.emptyTable().schema == TableSchema([.init("k", .string), .init("a", .int64), .init("b", .string)]))
        #expect(reader.emptyTable(defaultKind: .float).schema == TableSchema([.init("k", .float64), .init("a", .int64), .init("b", .float64)]))
    }

    // MARK: Missing-value spellings (--na)

    /// The columns of `text` read with `missingValues` (types inferred unless given), each as its type and its
    /// values as text, at every read size (every block boundary) and at `chunkRows`.
    func readColumns(
        _ text: String, _ missingValues: MissingValues?, types: [UTF8Key: ColumnKind] = [:], chunkRows: Int = 100,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [(type: ColumnType, values: [String?])] {
        let path = scratchPath("missing-values.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        func columns(_ readSize: Int) throws -> [(type: ColumnType, values: [String?])] {
            let reader = try CSVReader(path: path, chunkRows: chunkRows, types: types, missingValues: missingValues, readSize: readSize)
            var columns: [(type: ColumnType, values: [String?])] = []
            while let chunk = try reader.nextChunk() {
                if columns.isEmpty { columns = chunk.columns.map { ($0.type, []) } }
                for (index, column) in chunk.columns.enumerated() {
                    columns[index].values += (0..<chunk.rowCount).map { column.text(at: $0) }
                }
            }
            return columns
        }
        let whole = try columns(1 << 20)
        for readSize in 1...(text.utf8.count + 1) {
            let blocks = try columns(readSize)
            #expect(
                blocks.map(\.type) == whole.map(\.type) && blocks.map(\.values) == whole.map(\.values),
                "\(text.debugDescription), read \(readSize)", sourceLocation: sourceLocation)
        }
        return whole
    }

    @Test("--na pandas: pandas' default spellings are nulls, quoted or not; a numeric column with them infers as a number column with nulls")
    func missingValuesPandas() throws {
        // pandas 3.1: pd.read_csv(io.StringIO(text)) gives n [1.0, nan, 3.0, nan, 5.0] (float64), s [nan, 'x', nan,
        // nan, nan], f [0.5, nan, nan, nan, 1.5] (float64): "NA" quoted is missing too (the C, python and pyarrow
        // engines alike). We keep n as Int64 with nulls, as for empty fields, and a missing f is a null, not NaN.
        let text = "n,s,f\n1,NA,0.5\nNA,x,nan\n3,\"NA\",NULL\nnan,NULL,-nan\n5,None,1.5\n"
        let read = try readColumns(text, parseMissingValues("pandas"))
        #expect(read.map(\.type) == [.int64, .string, .float64])
        #expect(read[0].values == ["1", nil, "3", nil, "5"])
        #expect(read[1].values == [nil, "x", nil, nil, nil])
        #expect(read[2].values == ["0.5", nil, nil, nil, "1.5"])
        // Every one of pandas' default spellings (pandas._libs.parsers.STR_NA_VALUES, less the empty one, which is a
        // null anyway), and nothing that only resembles one: the match is exact and case-sensitive, as pandas' is
        // (pandas reads "na", "NAN", " NA", "NA " as strings).
        #expect(MissingValues.pandasDefaults.sorted() == [
            "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
            "NULL", "NaN", "None", "n/a", "nan", "null",
        ])
        let spellings = MissingValues.pandasDefaults.map { "\"\($0)\"" }.joined(separator: "\n")
        #expect(try readColumns("x\n7\n" + spellings + "\n8\n", parseMissingValues("pandas"))[0].values
            == ["7"] + MissingValues.pandasDefaults.map { _ in nil } + ["8"])
        let lookalikes = try readColumns("x\nna\nNAN\n\" NA\"\nNA \nnull\nNone\n", parseMissingValues("pandas"))
        #expect(lookalikes.map(\.type) == [.string] && lookalikes[0].values == ["na", "NAN", " NA", "NA ", nil, nil])
    }

    @Test("without --na every text but an empty field is a value, as before: NA makes a string column, nan a float NaN")
    func missingValuesDefault() throws {
        let text = "n,s,f\n1,NA,0.5\nNA,x,nan\n3,\"NA\",NULL\nnan,NULL,-nan\n5,None,1.5\n"
        for missingValues in [nil, parseMissingValues(""), parseMissingValues(",")] {
            #expect(missingValues == nil)
            let read = try readColumns(text, missingValues)
            #expect(read.map(\.type) == [.string, .string, .string])
            #expect(read[0].values == ["1", "NA", "3", "nan", "5"] && read[1].values == ["NA", "x", "NA", "NULL", "None"])
        }
        let floats = try readColumns("f,g\n1.5,1\nnan,2\n,3\n", nil)
        #expect(floats[0].type == .float64 && floats[0].values == ["1.5", "nan", nil])
    }

    @Test("--na with a list of one's own: those spellings alone (pandas' na_values with keep_default_na=False), in every column")
    func missingValuesCustom() throws {
        // pandas: read_csv(..., na_values=["-", "missing"], keep_default_na=False) gives x ['1', nan, nan, 'NA'] and
        // v [1.0, nan, 2.0].
        let missing = try #require(parseMissingValues("-,missing"))
        #expect(missing.spellings == ["-", "missing"])
        let read = try readColumns("x,v\n1,1\n-,-\nmissing,2\nNA,3\n", missing)
        #expect(read.map(\.type) == [.string, .int64])
        #expect(read[0].values == ["1", nil, nil, "NA"] && read[1].values == ["1", nil, "2", "3"])
        // `pandas` among others adds pandas' spellings; repeats and empty items are dropped.
        let both = try #require(parseMissingValues("missing,pandas,,NA,missing"))
        #expect(both.spellings == ["missing"] + MissingValues.pandasDefaults)
        // A spelling longer than 63 bytes, and a field as long that is not it.
        let long = String(repeating: "x", count: 70)
        let longer = try readColumns("s\n\(long)\n\(long.dropLast())y\n\"\(long)\"\n", parseMissingValues("\(long),y"))
        #expect(longer[0].values == [nil, String(long.dropLast()) + "y", nil])
        // A quoted field is compared once its quotes are undone, as pandas does ("N""A" is N"A).
        #expect(try readColumns("s\n\"N\"\"A\"\nN\"A\nNA\n", parseMissingValues("N\"A"))[0].values == [nil, nil, "NA"])
    }

    @Test("--na: --types reads a spelling as a null in an int, uint, float, string or category column; the header is never read as one")
    func missingValuesTyped() throws {
        let text = "NA,u,f,s,c\n1,2,0.5,a,x\nNA,NA,NA,NA,NA\n-3,NULL,n/a,\"NA\",x\n"
        let types: [UTF8Key: ColumnKind] = ["NA": .int, "u": .uint, "f": .float, "s": .string, "c": .category]
        for chunkRows in [1, 2, 100] {
            let read = try readColumns(text, parseMissingValues("pandas"), types: types, chunkRows: chunkRows)
            #expect(read.map(\.type) == [.int64, .fixed(.uint64), .float64, .string, .categorical])
            #expect(read.map(\.values) == [["1", nil, "-3"], ["2", nil, nil], ["0.5", nil, nil], ["a", nil, nil], ["x", nil, "x"]])
        }
        let path = scratchPath("missing-typed.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        // The header keeps a column named NA (as pandas does).
        #expect(try CSVReader(path: path, chunkRows: 10, types: [:], missingValues: parseMissingValues("NA")).header == ["NA", "u", "f", "s", "c"])
        // Without --na, NA in an int column is the error it was.
        #expect { _ = try read(path, readSize: 1 << 20, chunkRows: 10, types: ["NA": .int]) } throws: {
            "\($0)".contains("line 3: column NA: \"NA\" is not an integer")
        }
    }

    @Test("--na: a line holding a spelling alone is a record of one null, not a blank line (pandas reads a\\nNA\\n\\nNA as [nan, nan])")
    func missingValuesAlone() throws {
        let read = try readColumns("a\nNA\n\nNA\r\n\"NA\"\r\n7\nNA", parseMissingValues("NA"))
        #expect(read.map(\.type) == [.int64] && read[0].values == [nil, nil, nil, "7", nil])
    }

    @Test("a string column's missing values are written as empty fields (as pandas' to_csv writes NaN)")
    func missingValuesWritten() throws {
        let path = scratchPath("missing-written.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // pandas: read_csv then to_csv(index=False) gives "a,s\n1.0,\n,x\n3.0,\n" (floats, where we keep integers).
        try "a,s\n1,NA\nNA,x\n3,\n".write(toFile: path, atomically: false, encoding: .utf8)
        let chunk = try #require(try CSVReader(path: path, chunkRows: 10, types: [:], missingValues: parseMissingValues("pandas")).nextChunk())
        #expect(String(decoding: CSVWriter.bytes(chunk), as: UTF8.self) == "a,s\n1,\n,x\n3,\n")
    }
}
