// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdTestSupport
@testable import PartdTyped
import Testing

/// Arrow IPC files and streams: our own round trip, pyarrow reading ours and we reading pyarrow's, and
/// damaged or unsupported input.
@Suite("Arrow IPC")
struct ArrowTests {
    @Test("a table of every column type reads back equal from an Arrow file and an Arrow stream")
    func roundTrip() throws {
        for rows in [0, 1, 9, 1000] {
            let table = try sampleTable(rows: rows)
            #expect(try Table(arrow: table.arrowFile()) == table, "file, \(rows) rows")
            #expect(try Table(arrow: table.arrowStream()) == table, "stream, \(rows) rows")
        }
        let noColumns = Table()
        #expect(try Table(arrow: noColumns.arrowFile()).columns.isEmpty)
    }

    @Test("compressed buffers (LZ4 frames, Zstandard) read back equal; a buffer that would not shrink is stored as it is")
    func compressedRoundTrip() throws {
        for compression in [Table.ArrowCompression.lz4, .zstd] {
            for rows in [0, 1, 9, 5000] {
                let table = try sampleTable(rows: rows)
                for format in [Table.ArrowFormat.file, .stream] {
                    var bytes: [UInt8] = []
                    try table.writeArrow(format, compression: compression) { bytes.append(contentsOf: $0) }
                    #expect(try Table(arrow: bytes) == table, "\(compression) \(format) \(rows) rows")
                    if rows == 5000 { #expect(bytes.count < table.arrowFile().count, "\(compression) shrinks the table") }
                }
            }
        }
        // Random bytes do not compress: stored behind a length of -1, and read back.
        var rng = SplitMix64(seed: 3)
        let noise = try Table([Column("r", (0..<4096).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) })])
        var bytes: [UInt8] = []
        try noise.writeArrow(.file, compression: .zstd) { bytes.append(contentsOf: $0) }
        #expect(try Table(arrow: bytes) == noise)
    }

    @Test("ArrowBatchWriter: tables in batches, categoricals with differing dictionaries unified through deltas")
    func batchWriter() throws {
        let parts = try (0..<3).map { i in
            try sampleTable(rows: 50 + i, seed: UInt64(i), categories: [["red", "green"], ["blue", "red"], ["teal", "green", "red"]][i])
        }
        let whole = try Table.concatenate(parts)
        func rows(_ table: Table) -> [[String?]] { table.columns.map { c in (0..<table.rowCount).map { c.text(at: $0) } } }
        for format in [Table.ArrowFormat.file, .stream] {
            for compression in [nil, Table.ArrowCompression.zstd] {
                var writer = ArrowBatchWriter(format, schema: whole.schema, compression: compression)
                var bytes: [UInt8] = []
                for part in parts { try writer.write(part) { bytes.append(contentsOf: $0) } }
                try writer.finish { bytes.append(contentsOf: $0) }
                let back = try Table(arrow: bytes)
                #expect(back.schema == whole.schema && rows(back) == rows(whole), "\(format) \(String(describing: compression))")
                #expect(back["color"]!.categorical!.categories == ["red", "green", "blue", "teal"])
                #expect(back.columns.allSatisfy { $0.validity != nil }, "every column is declared nullable")
            }
        }
        // No tables: a valid empty table of the schema.
        var empty = ArrowBatchWriter(.file, schema: whole.schema)
        var bytes: [UInt8] = []
        try empty.finish { bytes.append(contentsOf: $0) }
        let none = try Table(arrow: bytes)
        #expect(none.schema == whole.schema && none.rowCount == 0)
        // Another schema, and bytes that are not UTF-8 after UTF-8 strings, are refused.
        var writer = ArrowBatchWriter(.stream, schema: whole.schema)
        try writer.write(parts[0]) { _ in }
        #expect { try writer.write(Table([Column("x", [1.0])])) { _ in } } throws: { ($0 as? PartdError)?.code == .typeMismatch }
        let text = try Table([Column("s", strings: ["a"])])
        var strings = ArrowBatchWriter(.stream, schema: text.schema)
        try strings.write(text) { _ in }
        #expect {
            try strings.write(Table([Column("s", strings: StringArray(byteStrings: [[0xFF]]))])) { _ in }
        } throws: { ($0 as? PartdError)?.code == .invalidArgument && "\($0)".contains("not UTF-8") }
    }

    @Test("the file's layout: magic at both ends, messages and body buffers at multiples of 8 bytes")
    func layout() throws {
        let bytes = try sampleTable(rows: 7).arrowFile()
        #expect(Array(bytes.prefix(8)) == Array("ARROW1".utf8) + [0, 0])
        #expect(Array(bytes.suffix(6)) == Array("ARROW1".utf8))
        // First message: continuation marker, then a metadata length that keeps the body 8-aligned.
        #expect(Array(bytes[8..<12]) == [0xFF, 0xFF, 0xFF, 0xFF])
        let length = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        #expect(length % 8 == 0)
    }

    @Test("strings that are not all UTF-8 are written as large_binary, and still read back exactly")
    func binaryStrings() throws {
        let table = try Table([Column("b", strings: StringArray(byteStrings: [[0xC3], [0xA9], [0x41]]))])
        #expect(!ArrowWriter.isUTF8(table.columns[0].strings!))
        #expect(ArrowWriter.isUTF8(StringArray(["é", "", "日本"])))
        #expect(try Table(arrow: table.arrowFile()) == table)
    }

    @Test("a dictionary that repeats a value is merged; indices of 8 and 16 bits widen to 32")
    func dictionaries() throws {
        let merged = ArrowMessages.categorical(codes: [0, 1, 2, 1], categories: ["a", "b", "a"])
        #expect(Array(merged) == ["a", "b", "a", "b"])
        #expect(merged.categories == ["a", "b"])
    }

    @Test("every truncation and random byte flips of a file and a stream read or throw a PartdError")
    func damage() throws {
        let table = try sampleTable(rows: 5)
        var rng = SplitMix64(seed: 7)
        var compressed: [UInt8] = []
        try table.writeArrow(.file, compression: .lz4) { compressed.append(contentsOf: $0) }
        for bytes in [table.arrowFile(), table.arrowStream(), compressed] {
            for length in 0..<bytes.count {
                do { _ = try Table(arrow: Array(bytes[0..<length])) } catch is PartdError {}
            }
            for _ in 0..<3000 {
                var damaged = bytes
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do { _ = try Table(arrow: damaged) } catch is PartdError {}
            }
        }
        #expect(throws: PartdError.self) { try Table(arrow: Array("ARROW1".utf8)) }
        #expect(throws: PartdError.self) { try Table(arrow: []) }
    }

    @Test("a compressed batch whose row counts are patched far past its buffers is refused before anything that size is allocated")
    func compressedLengthBomb() throws {
        // 4099 rows of zeros and of empty strings compress to a few hundred bytes; the batch's length and each
        // field node's length (the only places 4099 appears as an Int64) are patched to 2^40 and 2^62 rows,
        // which once made the reader allocate a validity bitmap of 128 GiB (or more) before looking at a buffer.
        let rows = 4099
        let table = try Table([Column("n", [Int64](repeating: 0, count: rows)), Column("s", strings: StringArray(Array(repeating: "", count: rows)))])
        let pattern = withUnsafeBytes(of: Int64(rows).littleEndian, Array.init)
        for format in [Table.ArrowFormat.stream, .file] {
            var writer = ArrowBatchWriter(format, schema: table.schema, compression: .zstd)
            var bytes: [UInt8] = []
            try writer.write(table) { bytes.append(contentsOf: $0) }
            try writer.finish { bytes.append(contentsOf: $0) }
            #expect(bytes.count < 1024, "\(format): \(bytes.count) bytes")
            let back = try Table(arrow: bytes)
            #expect(back.rowCount == rows && back["n"]!.values(as: Int64.self)! == table["n"]!.values(as: Int64.self)!)
            #expect(back["s"]!.strings! == table["s"]!.strings!)
            let places = (0...(bytes.count - 8)).filter { bytes[$0..<($0 + 8)].elementsEqual(pattern) }
            try #require(places.count == 3, "\(format): the batch length and two field nodes")
            for claimed in [Int64(1) << 40, Int64(1) << 62] {
                var patched = bytes
                for at in places { patched.replaceSubrange(at..<(at + 8), with: withUnsafeBytes(of: claimed.littleEndian, Array.init)) }
                #expect {
                    try Table(arrow: patched)
                } throws: { ($0 as? PartdError)?.code == .corruptData && "\($0)".contains("field node claims \(claimed) rows") }
            }
        }
    }

    /// An Arrow stream of one `Utf8View` column "s" of `rows` rows, every view pointing at the whole of one data
    /// buffer of `size` bytes of "a" (views may share data; pyarrow writes no such stream, so it is made here).
    static func sharedViews(rows: Int, size: Int) -> [UInt8] {
        func message(_ type: UInt8, _ header: FlatBuffers.Value, body: [UInt8]) -> [UInt8] {
            let metadata = FlatBuffers.encode(.table([.int16(4), .uint8(type), .offset(header), .int64(Int64(body.count))]))
            var bytes: [UInt8] = []
            FlatBuffers.append(UInt32(0xFFFF_FFFF), to: &bytes)
            FlatBuffers.append(Int32(metadata.count), to: &bytes)
            return bytes + metadata + body
        }
        func int64s(_ values: [Int]) -> [UInt8] {
            var bytes: [UInt8] = []
            for value in values { FlatBuffers.append(Int64(value), to: &bytes) }
            return bytes
        }
        let field = FlatBuffers.Value.table([.offset(.string("s")), .bool(false), .uint8(24), .offset(.table([])), nil, .offset(.tables([]))])
        var views: [UInt8] = []
        for _ in 0..<rows {
            FlatBuffers.append(Int32(size), to: &views)
            views += Array("aaaa".utf8)
            FlatBuffers.append(Int32(0), to: &views)  // data buffer 0
            FlatBuffers.append(Int32(0), to: &views)  // at offset 0
        }
        let data = [UInt8](repeating: UInt8(ascii: "a"), count: size)
        let batch = FlatBuffers.Value.table([
            .int64(Int64(rows)),
            .offset(.structs(bytes: int64s([rows, 0]), count: 1, alignment: 8)),
            .offset(.structs(bytes: int64s([0, 0, 0, views.count, views.count, size]), count: 3, alignment: 8)),
            nil,
            .offset(.structs(bytes: int64s([1]), count: 1, alignment: 8)),
        ])
        return message(1, .table([nil, .offset(.tables([field]))]), body: [])
            + message(3, batch, body: views + data) + [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]
    }

    @Test("string views may share their data, but not so often that a small input copies out far more than 256 times itself")
    func sharedStringViews() throws {
        // 16 views of one 64 KiB string: 1 MiB of strings from 65 KiB, read.
        let shared = try Table(arrow: Self.sharedViews(rows: 16, size: 65_536))
        #expect(shared.rowCount == 16 && shared["s"]!.strings!.data.count == 16 * 65_536)
        #expect(shared["s"]!.text(at: 15) == String(repeating: "a", count: 65_536))
        // 1024 views of it: 64 MiB of strings from 80 KiB (the budget is 1 MiB + 256 x 80 KiB, about 21 MiB).
        let error = expectPartdError(.invalidArgument) { try Table(arrow: Self.sharedViews(rows: 1024, size: 65_536)) }
        #expect(error?.message.contains("Arrow column \"s\" has string views that share their data") == true)
        #expect(ArrowMessages.BatchCursor.viewBudget(body: 1000, bufferBytes: 1000) == (1 << 20) + 256_000)
        #expect(ArrowMessages.BatchCursor.viewBudget(body: 10, bufferBytes: 1 << 30) == (1 << 20) + 327_680)
        #expect(ArrowMessages.BatchCursor.viewBudget(body: Int.max, bufferBytes: Int.max) > 0)
    }

    @Test("pyarrow reads our file and stream: same schema, values and nulls; we read what pyarrow writes back")
    func pyarrowReadsOurs() throws {
        try #require(pythonHas("pyarrow") && pythonHas("pandas"), "pyarrow or pandas is not importable; run scripts/test.sh, which installs them")
        let table = try sampleTable(rows: 200)
        let path = scratchPath("arrow")
        defer {
            for suffix in ["-ours.arrow", "-ours.stream", "-ours-lz4.arrow", "-ours-zstd.arrow", "-ours-batches.arrow", "-theirs.arrow",
                           "-theirs.stream"] {
                unlink(path + suffix)
            }
        }
        try Data(table.arrowFile()).write(to: URL(fileURLWithPath: path + "-ours.arrow"))
        try Data(table.arrowStream()).write(to: URL(fileURLWithPath: path + "-ours.stream"))
        for (compression, name) in [(Table.ArrowCompression.lz4, "lz4"), (.zstd, "zstd")] {
            var bytes: [UInt8] = []
            try table.writeArrow(.file, compression: compression) { bytes.append(contentsOf: $0) }
            try Data(bytes).write(to: URL(fileURLWithPath: path + "-ours-\(name).arrow"))
        }
        // The same rows in four batches whose categoricals have other dictionaries: written with deltas.
        let recoloured = try [0, 50, 100, 150].map { start -> Table in
            let slice = table.slice(start..<(start + 50))
            let colours = Array(slice["color"]!.categorical!).map { start == 100 ? $0 : $0.uppercased() }
            return try Table(slice.columns.map { $0.name == "color" ? Column("color", categorical: CategoricalArray(colours)) : $0 })
        }
        var batches = ArrowBatchWriter(.file, schema: table.schema)
        var batched: [UInt8] = []
        for part in recoloured { try batches.write(part) { batched.append(contentsOf: $0) } }
        try batches.finish { batched.append(contentsOf: $0) }
        try Data(batched).write(to: URL(fileURLWithPath: path + "-ours-batches.arrow"))
        let script = """
            import sys, pyarrow as pa, pyarrow.feather as feather, pyarrow.ipc as ipc
            p = sys.argv[1]
            t = feather.read_table(p + '-ours.arrow')
            s = ipc.open_stream(open(p + '-ours.stream', 'rb').read()).read_all()
            t.validate(full=True)
            assert t.equals(s)
            for name in ('lz4', 'zstd'):
                c = feather.read_table(p + '-ours-' + name + '.arrow')
                c.validate(full=True)
                assert c.equals(t), name
            b = feather.read_table(p + '-ours-batches.arrow')
            b.validate(full=True)
            assert len(b.to_batches()) == 4 and b.num_rows == 200
            colours = [x.upper() if not 100 <= i < 150 else x for i, x in enumerate(t.column('color').to_pylist())]
            assert b.column('color').to_pylist() == colours, b.column('color').to_pylist()[:10]
            assert b.column('x').to_pylist() == t.column('x').to_pylist()
            print(';'.join(f'{f.name}:{f.type}:{f.nullable}' for f in t.schema))
            print(t.num_rows, t.column('x').null_count, t.column('name').null_count)
            print(t.column('i8')[3].as_py(), t.column('u64')[4].as_py(), t.column('f16')[5].as_py(), t.column('flag')[6].as_py())
            print(t.column('when')[7].value, t.column('name')[9].as_py(), t.column('color')[10].as_py(), t.column('blob')[11].as_py().hex())
            df = t.to_pandas()
            print(df['color'].dtype, df['when'].dtype)
            feather.write_feather(t, p + '-theirs.arrow', compression='uncompressed')
            with ipc.new_stream(p + '-theirs.stream', t.schema) as w:
                w.write_table(t, max_chunksize=64)
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines[0] == "id:int64:False;i8:int8:False;i16:int16:True;i32:int32:False;u8:uint8:False;u16:uint16:False;"
            + "u32:uint32:False;u64:uint64:False;f16:halffloat:False;f32:float:False;x:double:True;flag:bool:False;"
            + "when:timestamp[ns]:False;name:large_string:True;blob:large_binary:False;"
            + "color:dictionary<values=large_string, indices=int32, ordered=0>:False")
        let nulls = (0..<200).filter { $0 % 3 == 1 }.count
        #expect(lines[1] == "200 \(nulls) \(nulls)")
        let c = table.columns
        func text(_ name: String, _ row: Int) -> String { table[name]!.text(at: row) ?? "None" }
        #expect(lines[2] == "\(text("i8", 3)) \(text("u64", 4)) \(Double(c[8].values(as: Float16.self)![5])) \(text("flag", 6) == "true" ? "True" : "False")")
        let blob = table["blob"]!.strings!.bytes(at: 11).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        #expect(lines[3] == "\(text("when", 7)) \(text("name", 9)) \(text("color", 10)) \(blob)")
        #expect(lines[4] == "category datetime64[ns]")
        // pyarrow's own writer: the file in one batch, the stream in batches of 64 rows.
        #expect(try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + "-theirs.arrow")))) == table)
        #expect(try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + "-theirs.stream")))) == table)
    }

    @Test("string and binary views (what polars writes by default) read as strings: inline, in data buffers, null")
    func views() throws {
        try #require(pythonHas("pyarrow"), "pyarrow is not importable; run scripts/test.sh, which installs it")
        let path = scratchPath("views")
        defer { for suffix in [".arrow", ".stream", "-zstd.arrow"] { unlink(path + suffix) } }
        let script = """
            import sys, pyarrow as pa, pyarrow.feather as feather, pyarrow.ipc as ipc
            p = sys.argv[1]
            long = 'a string longer than twelve bytes'
            t = pa.table({
                'sv': pa.array(['short', None, long, '', 'é' * 10, long + '!'], pa.string_view()),
                'bv': pa.array([b'\\xff', b'x' * 20, None, b'', b'abc', b'y' * 13], pa.binary_view()),
            })
            feather.write_feather(t, p + '.arrow', compression='uncompressed')
            feather.write_feather(t, p + '-zstd.arrow', compression='zstd')
            with ipc.new_stream(p + '.stream', t.schema) as w:
                w.write_table(t, max_chunksize=4)
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let long = "a string longer than twelve bytes"
        for suffix in [".arrow", "-zstd.arrow", ".stream"] {
            let table = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + suffix))))
            #expect(table.schema == TableSchema([.init("sv", .string), .init("bv", .string)]), "\(suffix)")
            #expect((0..<6).map { table["sv"]!.text(at: $0) } == ["short", nil, long, "", String(repeating: "é", count: 10), long + "!"])
            let blobs = table["bv"]!
            #expect((0..<6).map { blobs.isValid($0) ? Array(blobs.strings!.bytes(at: $0)) : nil }
                == [[0xFF], Array(repeating: UInt8(ascii: "x"), count: 20), nil, [], Array("abc".utf8), Array(repeating: UInt8(ascii: "y"), count: 13)])
        }
    }

    @Test("dates read as timestamps: date32 in seconds at midnight UTC, date64 in milliseconds; nulls kept")
    func dates() throws {
        try #require(pythonHas("pyarrow"), "pyarrow is not importable; run scripts/test.sh, which installs it")
        let path = scratchPath("dates") + ".arrow"
        defer { unlink(path) }
        let script = """
            import sys, datetime, pyarrow as pa, pyarrow.feather as feather
            days = [datetime.date(2024, 1, 2), None, datetime.date(1969, 12, 31)]
            feather.write_feather(pa.table({'d': pa.array(days, pa.date32()), 'm': pa.array(days, pa.date64())}), sys.argv[1],
                                  compression='uncompressed')
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let table = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(table.schema == TableSchema([.init("d", .timestamp(.seconds)), .init("m", .timestamp(.milliseconds))]))
        #expect(table["d"]!.values(as: Timestamp<Seconds>.self)!.map(\.rawValue)[0] == 1_704_153_600)
        #expect(table["d"]!.values(as: Timestamp<Seconds>.self)!.map(\.rawValue)[2] == -86_400)
        #expect(table["m"]!.values(as: Timestamp<Milliseconds>.self)!.map(\.rawValue)[0] == 1_704_153_600_000)
        #expect(!table["d"]!.isValid(1) && !table["m"]!.isValid(1))
    }

    @Test("we read what pandas writes: utf8 strings, int8 dictionary indices, nulls everywhere, LZ4 and Zstandard buffers; nested types are refused by name")
    func pandasWrites() throws {
        try #require(pythonHas("pyarrow") && pythonHas("pandas"), "pyarrow or pandas is not importable; run scripts/test.sh, which installs them")
        let path = scratchPath("pandas")
        defer { for suffix in [".arrow", "-lz4.arrow", "-zstd.arrow", "-list.arrow"] { unlink(path + suffix) } }
        let script = """
            import sys, numpy as np, pandas as pd, pyarrow as pa, pyarrow.feather as feather
            p = sys.argv[1]
            df = pd.DataFrame({
                'k': pd.array([1, None, 3, 4], dtype='Int32'),
                'u': np.array([1, 2, 3, 2**64 - 1], dtype=np.uint64),
                'x': [0.5, float('nan'), None, -1.0],
                'b': pd.array([True, None, False, True], dtype='boolean'),
                's': ['a', None, 'héllo', ''],
                'c': pd.Categorical(['lo', 'hi', None, 'lo']),
                't': pd.to_datetime(['2024-01-01 00:00:00', None, '1970-01-01 00:00:01', '2024-12-31 23:59:59.5'], format='ISO8601'),
                'z': pd.to_datetime(['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04']).tz_localize('UTC'),
            })
            t = pa.Table.from_pandas(df, preserve_index=False).cast(pa.schema([
                ('k', pa.int32()), ('u', pa.uint64()), ('x', pa.float64()), ('b', pa.bool_()), ('s', pa.string()),
                ('c', pa.dictionary(pa.int8(), pa.string())), ('t', pa.timestamp('us')), ('z', pa.timestamp('ms', tz='UTC'))]))
            feather.write_feather(t, p + '.arrow', compression='uncompressed', chunksize=3)
            feather.write_feather(t, p + '-lz4.arrow', compression='lz4')
            feather.write_feather(t, p + '-zstd.arrow', compression='zstd', chunksize=2)
            feather.write_feather(pa.table({'l': [[1], [2, 3]]}), p + '-list.arrow', compression='uncompressed')
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let table = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + ".arrow"))))
        #expect(table.schema.description == TableSchema([
            .init("k", .fixed(.int32)), .init("u", .fixed(.uint64)), .init("x", .float64), .init("b", .bool), .init("s", .string),
            .init("c", .categorical), .init("t", .timestamp(.microseconds)), .init("z", .timestamp(.milliseconds)),
        ]).description)
        #expect(table.rowCount == 4)
        func texts(_ name: String) -> [String?] { (0..<4).map { table[name]!.text(at: $0) } }
        #expect(texts("k") == ["1", nil, "3", "4"])
        #expect(texts("u") == ["1", "2", "3", "18446744073709551615"])
        #expect(texts("x") == ["0.5", nil, nil, "-1.0"])  // pandas writes NaN as null
        #expect(texts("b") == ["true", nil, "false", "true"])
        #expect(texts("s") == ["a", nil, "héllo", ""])
        #expect(texts("c") == ["lo", "hi", nil, "lo"])
        #expect(table["t"]!.isValid(0) && !table["t"]!.isValid(1))
        #expect(table["t"]!.values(as: Timestamp<Microseconds>.self)![2].rawValue == 1_000_000)
        #expect(table["z"]!.values(as: Timestamp<Milliseconds>.self)![0].rawValue == 1_704_067_200_000)
        // pandas' default compression (LZ4 frames), and Zstandard in batches of two rows.
        // (Compared as text: the null row of x holds NaN, which no `==` matches.)
        func rows(_ table: Table) -> [[String?]] { table.columns.map { c in (0..<table.rowCount).map { c.text(at: $0) } } }
        for suffix in ["-lz4.arrow", "-zstd.arrow"] {
            let compressed = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + suffix))))
            #expect(compressed.schema == table.schema && rows(compressed) == rows(table), "\(suffix)")
        }
        #expect {
            try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + "-list.arrow"))))
        } throws: { ($0 as? PartdError)?.code == .invalidArgument && "\($0)".contains("\"l\" is a list") }
    }

    @Test("pyarrow's empty string columns whose offsets buffer is empty read as no strings; its names that differ only as bytes are two columns")
    func emptyOffsetsAndNormalizedNames() throws {
        try #require(pythonHas("pyarrow"), "pyarrow is not importable; run scripts/test.sh, which installs it")
        let path = scratchPath("emptyoffsets")
        defer { for suffix in [".arrow", ".stream", "-names.arrow"] { unlink(path + suffix) } }
        let script = """
            import sys, pyarrow as pa, pyarrow.ipc as ipc
            p = sys.argv[1]
            types = [('s', pa.string()), ('b', pa.binary()), ('ls', pa.large_string()), ('lb', pa.large_binary())]
            # Arrays of no rows built without an offsets buffer: pyarrow writes it as 0 bytes.
            columns = [pa.Array.from_buffers(t, 0, [None, None, pa.py_buffer(b'')]) for _, t in types]
            columns.append(pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), columns[0]))
            batch = pa.record_batch(columns, names=[n for n, _ in types] + ['c'])
            batch.validate(full=True)
            with ipc.new_stream(p + '.stream', batch.schema) as w:
                w.write_batch(batch)
            with ipc.new_file(p + '.arrow', batch.schema) as w:
                w.write_batch(batch)
            back = ipc.open_file(p + '.arrow').get_batch(0)
            assert [c.buffers()[1].size for c in back.columns[:4]] == [0, 0, 0, 0], [c.buffers() for c in back.columns]
            with ipc.new_file(p + '-names.arrow', pa.schema([('caf\\u00e9', pa.int64()), ('cafe\\u0301', pa.int64())])) as w:
                w.write_table(pa.table({'caf\\u00e9': [1, 2], 'cafe\\u0301': [3, 4]}))
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let schema = TableSchema([.init("s", .string), .init("b", .string), .init("ls", .string), .init("lb", .string), .init("c", .categorical)])
        for suffix in [".arrow", ".stream"] {
            let table = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + suffix))))
            #expect(table.rowCount == 0 && table.schema == schema, "\(suffix)")
        }
        let names = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: path + "-names.arrow"))))
        #expect(names["caf\u{E9}"]?.values(as: Int64.self) == [1, 2])
        #expect(names["cafe\u{301}"]?.values(as: Int64.self) == [3, 4])
    }

    @Test("an offsets buffer of 0 bytes is accepted only for a column of no rows")
    func emptyOffsetsNeedNoRows() throws {
        // A one-row string column's 8-byte offsets buffer cut to nothing (its length in the batch's buffer list).
        let table = try Table([Column("s", strings: [""])])
        var bytes = table.arrowStream()
        // The body: validity (0 bytes), offsets (16 bytes: 0, 0), data (0 bytes); find the offsets' length, 16, in
        // the record batch's buffer list (offset 0, length 16 as Int64s) and make it 0.
        let pattern: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0]
        let at = try #require((0...(bytes.count - pattern.count)).first { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) })
        bytes[at + 8] = 0
        expectPartdError(.corruptData) { try Table(arrow: bytes) }
    }
}
