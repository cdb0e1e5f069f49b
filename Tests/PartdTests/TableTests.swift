// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import PartdTestSupport
@testable import PartdTyped
import Testing

/// A table with one column of every type, some nullable.
func sampleTable(rows: Int, seed: UInt64 = 1, categories: [String] = ["red", "green", "blue"]) throws -> Table {
    var rng = SplitMix64(seed: seed)
    let ints = (0..<rows).map { _ in Int64.random(in: -1_000_000...1_000_000, using: &rng) }
    let valid = BitArray((0..<rows).map { $0 % 3 != 1 })
    return try Table([
        Column("id", (0..<rows).map { Int64($0) }),
        Column("i8", ints.map { Int8(truncatingIfNeeded: $0) }),
        Column("i16", ints.map { Int16(truncatingIfNeeded: $0) }, validity: valid),
        Column("i32", ints.map { Int32(truncatingIfNeeded: $0) }),
        Column("u8", ints.map { UInt8(truncatingIfNeeded: $0) }),
        Column("u16", ints.map { UInt16(truncatingIfNeeded: $0) }),
        Column("u32", ints.map { UInt32(truncatingIfNeeded: $0) }),
        Column("u64", ints.map { UInt64(bitPattern: $0) }),
        Column("f16", ints.map { Float16(Float($0 % 1000) / 8) }),
        Column("f32", ints.map { Float($0) / 3 }),
        Column("x", ints.map { Double($0) * 0.25 }, validity: valid),
        Column("flag", ints.map { $0 % 2 == 0 }),
        Column("when", ints.map { Timestamp<Nanoseconds>($0) }),
        Column("name", strings: StringArray(ints.map { "n\($0 % 97)" }), validity: valid),
        Column("blob", strings: StringArray(byteStrings: ints.map { [UInt8(truncatingIfNeeded: $0), 0xFF] })),
        Column("color", categorical: CategoricalArray(ints.map { categories[Int($0.magnitude) % categories.count] })),
    ])
}

@Suite("Tables")
struct TableTests {
    @Test("string columns with Int32 offsets (code 16) and Int64 offsets (code 14) read back alone and mixed under one key")
    func stringOffsetWidths() throws {
        let first = try sampleTable(rows: 50, seed: 3)
        let second = try sampleTable(rows: 70, seed: 4)
        let narrow = TableFrames.payload(first)
        let wide = TableFrames.payload(first, wideStringOffsets: true)
        // Two string columns: each narrow frame is 4 bytes per offset (rows + 1 of them) smaller, up to padding.
        #expect(wide.count - narrow.count >= 2 * 4 * 51 - 16)
        for payload in [narrow, wide] {
            #expect(try TableFrames.decode(frames: [(0, payload[...])], selection: nil, key: "k") == first)
        }
        let inner = MemoryStore()
        for payload in [narrow, TableFrames.payload(second, wideStringOffsets: true), TableFrames.payload(second)] {
            try inner.append([(key: "t", value: ValueFrames.header(for: payload) + payload)])
        }
        let store = TableStore(over: inner)
        #expect(try store.get("t") == (try Table.concatenate([first, second, second])))
        #expect(try store.get("t", columns: ["name"]) == (try Table.concatenate([first, second, second]).selecting(["name"])))
    }

    @Test("a descriptor's unknown type code, unit or flags is named as what it is")
    func descriptorErrors() throws {
        // One column named "a": its type code, flags and unit bytes follow the 24-byte header and the name.
        let ints = TableFrames.payload(try Table([Column("a", [1, 2] as [Int64])]))
        let times = TableFrames.payload(try Table([Column("a", [Timestamp<Microseconds>(1)])]))
        func message(_ payload: [UInt8], _ offset: Int, _ byte: UInt8) -> String {
            var bytes = payload
            bytes[offset] = byte
            return (#expect(throws: PartdError.self) { _ = try TableFrames.decode(frames: [(0, bytes[...])], selection: nil, key: "k") })?
                .message ?? ""
        }
        #expect(message(ints, 27, 99).hasSuffix("column \"a\" has an unknown type code 99"))
        #expect(message(ints, 28, 2).hasSuffix("column \"a\" has unknown flags 2 (type code 5)"))
        #expect(message(ints, 29, 1).hasSuffix("column \"a\" of type code 5 has unit 1, which only timestamps may have (others 0)"))
        #expect(message(times, 29, 7).hasSuffix("timestamp column \"a\" has an unknown unit 7 (0 s, 1 ms, 2 us, 3 ns)"))
    }

    @Test("every column type round-trips, nulls included", arguments: [0, 1, 7, 8, 9, 1000])
    func roundTrip(rows: Int) throws {
        let store = TableStore(over: MemoryStore())
        let table = try sampleTable(rows: rows)
        try store.append("t", table)
        let back = try store.get("t")
        #expect(back == table)
        #expect(back.schema == table.schema)
        if rows > 1 { #expect(back["x"]?.isValid(1) == false) }
        #expect(back["x"]?.validity?.trueCount == table["x"]?.validity?.trueCount)
    }

    @Test("get concatenates a key's tables in append order")
    func concatenates() throws {
        let store = TableStore(over: try DirectoryStore.temporary())
        let a = try sampleTable(rows: 10, seed: 1)
        let b = try sampleTable(rows: 5, seed: 2, categories: ["blue", "red", "violet"])
        try store.append(["p": a])
        try store.append(["p": b, "q": b])
        let back = try store.get("p")
        #expect(back.rowCount == 15)
        #expect(back == (try Table.concatenate([a, b])))
        let tail = back.slice(10..<15)
        #expect(try tail.selecting(["id", "name", "blob", "flag", "f16"]) == (try b.selecting(["id", "name", "blob", "flag", "f16"])))
        #expect(Array(tail["color"]!.categorical!) == Array(b["color"]!.categorical!))
        #expect(try store.get(["q", "p"]).map(\.rowCount) == [5, 15])
    }

    @Test("categorical columns whose dictionaries differ are unified (partd #81)")
    func categoricalUnification() throws {
        let store = TableStore(over: MemoryStore())
        let first = try Table([Column("c", categorical: ["a", "b", "a"])])
        let second = try Table([Column("c", categorical: ["c", "a", "c", "b"])])
        try store.append("k", first)
        try store.append("k", second)
        let column = try store.get("k")["c"]!
        let categorical = try #require(column.categorical)
        #expect(Array(categorical) == ["a", "b", "a", "c", "a", "c", "b"])
        #expect(Array(categorical.categories) == ["a", "b", "c"])
        #expect(categorical.codes == [0, 1, 0, 2, 0, 2, 1])
    }

    @Test("reading a subset of columns returns those, in the order asked")
    func columnSelection() throws {
        let store = TableStore(over: MemoryStore())
        let table = try sampleTable(rows: 20)
        try store.append("t", table)
        try store.append("t", table)
        let picked = try store.get("t", columns: ["name", "id"])
        #expect(picked.columns.map(\.name) == ["name", "id"])
        #expect(picked.rowCount == 40)
        #expect(picked["id"]?.values(as: Int64.self) == (0..<20).map(Int64.init) + (0..<20).map(Int64.init))
        #expect(picked == (try Table.concatenate([table, table]).selecting(["name", "id"])))
        expectPartdError(.invalidArgument) { try store.get("t", columns: ["nope"]) }
    }

    @Test("empty and missing partitions: empty tables, with the key's schema when known")
    func emptyPartitions() throws {
        let store = TableStore(over: MemoryStore())
        #expect(try store.get("never") == Table())
        let table = try sampleTable(rows: 3)
        try store.append("t", table.slice(0..<0))
        let empty = try store.get("t")
        #expect(empty.rowCount == 0)
        #expect(empty.schema == table.schema)
        try store.delete("t")
        #expect(try store.get("t") == Table())
        try store.append("t", table)
        #expect(try store.schema(of: "t") == table.schema)
        #expect(try TableStore(over: store.inner).schema(of: "t") == table.schema)
        #expect(try store.schema(of: "none") == nil)
    }

    @Test("a schema mismatch between appends is a typed error naming both")
    func schemaMismatch() throws {
        let store = TableStore(over: MemoryStore())
        try store.append("t", try Table([Column("a", [1] as [Int64])]))
        let error = expectPartdError(.typeMismatch) { try store.append("t", try Table([Column("a", [1.0])])) }
        #expect(error?.message.contains("<i8") == true && error?.message.contains("<f8") == true)
        expectPartdError(.typeMismatch) { try Table.concatenate([try Table([Column("a", [1] as [Int64])]), try Table([Column("b", [1] as [Int64])])]) }
        // A writer that did not know the key's schema is caught when the key is read.
        try TableStore(over: store.inner).append("t", try Table([Column("a", [true])]))
        expectPartdError(.typeMismatch) { try store.get("t") }
    }

    @Test("a column name of more than 65,535 bytes (what a table frame's UInt16 holds) is invalidArgument from a store, not a trap")
    func longColumnNames() throws {
        let store = TableStore(over: MemoryStore())
        let longest = String(repeating: "é", count: 65_535 / 2) + "x"
        #expect(longest.utf8.count == 65_535)
        let fits = try Table([Column(longest, [1] as [Int64])])
        try store.append("fits", fits)
        #expect(try store.get("fits") == fits)
        let tooLong = try Table([Column("id", [1] as [Int64]), Column(longest + "x", [2] as [Int64])])
        let error = expectPartdError(.invalidArgument) { try store.append([("a", fits), ("b", tooLong)]) }
        #expect(error?.key == "b" && error?.message.contains("65536 bytes") == true)
        #expect(try store.contains("a") == false, "nothing of the batch is appended")
        // Arrow allows such a name: it is read, and refused when stored.
        let fromArrow = try Table(arrow: tooLong.arrowFile())
        #expect(fromArrow == tooLong)
        expectPartdError(.invalidArgument) { try store.append("b", fromArrow) }
    }

    @Test("tables check their columns")
    func invalidTables() throws {
        expectPartdError(.invalidArgument) { try Table([Column("a", [1] as [Int64]), Column("b", [1, 2] as [Int64])]) }
        expectPartdError(.invalidArgument) { try Table([Column("a", [1] as [Int64]), Column("a", [1] as [Int64])]) }
        expectPartdError(.invalidArgument) { try Table([Column("a", [1] as [Int64], validity: [true, false])]) }
        #expect(CategoricalArray(codes: [0, 3], categories: ["a", "b"]) == nil)
        #expect(CategoricalArray(codes: [0], categories: ["a", "a"]) == nil)
    }

    @Test("slice, take, concatenate and split by partition")
    func operations() throws {
        let table = try sampleTable(rows: 100)
        #expect(table.slice(10..<20)["id"]?.values(as: Int64.self) == (10..<20).map(Int64.init))
        #expect(table.slice(3..<11) == table.take(Array(3..<11)))
        #expect(table.slice(0..<0).rowCount == 0)
        let reversed = table.take(Array((0..<100).reversed()))
        #expect(reversed["name"]?.strings?[0] == table["name"]?.strings?[99])
        #expect(reversed["flag"]?.values(as: Bool.self) == table["flag"]?.values(as: Bool.self)?.reversed())
        #expect(try Table.concatenate([table.slice(0..<37), table.slice(37..<100)]) == table)
        let partitions = (0..<100).map { ($0 * 7) % 5 }
        let (rows, bounds) = Table.groupRowIndices(partitions: partitions, count: 6)
        #expect(bounds == [0, 20, 40, 60, 80, 100, 100])
        #expect(rows[bounds[2]..<bounds[3]].allSatisfy { partitions[$0] == 2 })
        let pieces = table.split(byPartition: partitions, count: 6)
        #expect(pieces.map(\.rowCount) == [20, 20, 20, 20, 20, 0])
        #expect(pieces[1]["id"]?.values(as: Int64.self) == (0..<100).filter { ($0 * 7) % 5 == 1 }.map(Int64.init))
        #expect(pieces[5].schema == table.schema)
    }

    @Test("a split by partition, whole or a few partitions at a time, equals taking each partition's rows",
          arguments: [1, 2, 3, 7])
    func splitMatchesTake(atOnce: Int) throws {
        var rng = SplitMix64(seed: 5)
        let rows = 500
        // Strings of every length class the scatter treats differently: under 8, 8 to 16, over 16 bytes.
        let words = (0..<rows).map { _ in String(repeating: "x", count: Int.random(in: 0...40, using: &rng)) }
        let table = try Table(try sampleTable(rows: rows).columns + [Column("word", strings: StringArray(words))])
        let partitions = (0..<rows).map { _ in Int.random(in: 0..<7, using: &rng) }
        var pieces: [Table] = []
        var ranges: [Range<Int>] = []
        table.split(byPartition: partitions, count: 7, partitionsAtOnce: atOnce) { range, parts in
            ranges.append(range)
            pieces += parts
        }
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 7)
        #expect(pieces.count == 7)
        for p in 0..<7 {
            #expect(pieces[p] == table.take((0..<rows).filter { partitions[$0] == p }), "partition \(p)")
        }
    }

    @Test("Int columns read back as Int64 and Int")
    func intAliases() throws {
        let store = TableStore(over: MemoryStore())
        try store.append("t", try Table([Column("n", [1, 2, 3] as [Int])]))
        let column = try store.get("t")["n"]!
        #expect(column.type == .int64)
        #expect(column.values(as: Int.self) == [1, 2, 3])
        #expect(column.values(as: Int64.self) == [1, 2, 3])
        #expect(column.values(as: Double.self) == nil)
    }

    @Test("strings that differ as bytes but are canonically equivalent (NFC café, NFD café) stay two categories and two column names")
    func canonicallyEquivalentStrings() throws {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        #expect(nfc == nfd && Array(nfc.utf8) != Array(nfd.utf8))
        // Categories are told apart by their bytes, as concatenation and PartdKey tell them apart.
        let categorical = CategoricalArray([nfc, nfd, nfc, "x", nfd])
        #expect(categorical.categories.count == 3)
        #expect(categorical.codes == [0, 1, 0, 2, 1])
        #expect(categorical.categories.indices.map { Array(categorical.categories.bytes(at: $0)) } == [Array(nfc.utf8), Array(nfd.utf8), Array("x".utf8)])
        #expect(Array(categorical[1].utf8) == Array(nfd.utf8))
        // The Kelvin sign is canonically equivalent to an ASCII K.
        #expect("\u{212A}" == "K")
        #expect(CategoricalArray(["K", "\u{212A}", "K", "\u{212A}", "k"]).codes == [0, 1, 0, 1, 2])
        #expect(CategoricalArray(["\u{212A}", "K", "K"]).categories.count == 2)
        #expect(CategoricalArray.concatenate([CategoricalArray([nfc]), CategoricalArray([nfd, nfc])]) == CategoricalArray([nfc, nfd, nfc]))
        // Column names, likewise: both in one table, each found by its own bytes.
        let table = try Table([Column(nfc, [1, 2] as [Int64]), Column(nfd, [3, 4] as [Int64]), Column("c", categorical: categorical.slice(0..<2))])
        #expect(table[nfc]?.values(as: Int64.self) == [1, 2])
        #expect(table[nfd]?.values(as: Int64.self) == [3, 4])
        #expect(try table.selecting([nfd, nfc]).columns.map { Array($0.name.utf8) } == [Array(nfd.utf8), Array(nfc.utf8)])
        #expect(try table.selecting([nfd])[nfd]?.values(as: Int64.self) == [3, 4])
        expectPartdError(.invalidArgument) { try Table([Column(nfc, [1] as [Int64]), Column(nfc, [2] as [Int64])]) }
        // Names that differ as bytes are different schemas, and columns that differ so are not equal.
        #expect(Column(nfc, [1] as [Int64]) != Column(nfd, [1] as [Int64]))
        #expect(TableSchema([.init(nfc, .int64)]) != TableSchema([.init(nfd, .int64)]))
        expectPartdError(.typeMismatch) {
            try Table.concatenate([try Table([Column(nfc, [1] as [Int64])]), try Table([Column(nfd, [2] as [Int64])])])
        }
        // Through a table frame and an Arrow file and stream, and a store that reads a subset of columns.
        let store = TableStore(over: MemoryStore())
        try store.append("t", table)
        try store.append("t", table)
        let both = try Table.concatenate([table, table])
        #expect(try store.get("t") == both)
        #expect(try store.get("t", columns: [nfd])[nfd]?.values(as: Int64.self) == [3, 4, 3, 4])
        #expect(try store.get("t")["c"]?.categorical?.map { Array($0.utf8) } == [nfc, nfd, nfc, nfd].map { Array($0.utf8) })
        #expect(try Table(arrow: table.arrowFile()) == table)
        #expect(try Table(arrow: table.arrowStream()) == table)
        // A key whose frames name a column one way and the other is two schemas.
        try store.append("u", try Table([Column(nfc, [1] as [Int64])]))
        try TableStore(over: store.inner).append("u", try Table([Column(nfd, [1] as [Int64])]))
        expectPartdError(.typeMismatch) { try store.get("u") }
    }

    @Test("selecting a column twice is refused, from a table and from a store, so no table repeats a name")
    func repeatedSelection() throws {
        let table = try Table([Column("a", [1, 2] as [Int64]), Column("b", strings: ["x", "y"])])
        let error = expectPartdError(.invalidArgument) { try table.selecting(["a", "b", "a"]) }
        #expect(error?.message.contains("\"a\"") == true)
        let store = TableStore(over: MemoryStore())
        try store.append("k", table)
        expectPartdError(.invalidArgument) { try store.get("k", columns: ["b", "b"]) }
        expectPartdError(.invalidArgument) { try store.get("missing", columns: ["a", "a"]) }
        #expect(try store.get("k", columns: ["b", "a"]) == (try table.selecting(["b", "a"])))
        // A table frame is never written with a repeated name (what its reader refuses).
        let repeated = Table(unchecked: [table.columns[0], table.columns[0]], rowCount: 2)
        expectPartdError(.invalidArgument) { try TableFrames.checkFits(repeated) }
        expectPartdError(.invalidArgument) { try store.append("r", repeated) }
        #expect(try store.contains("r") == false)
    }

    @Test("a table with rows but no columns keeps its row count through a table frame and an Arrow file and stream")
    func rowsWithoutColumns() throws {
        let table = try Table([Column("a", [1, 2, 3] as [Int64])]).selecting([])
        #expect(table.rowCount == 3 && table.columns.isEmpty)
        let frame = try TableFrames.decode(frames: [(0, TableFrames.payload(table)[...])], selection: nil, key: "k")
        #expect(frame?.rowCount == 3)
        #expect(try Table(arrow: table.arrowFile()).rowCount == 3)
        #expect(try Table(arrow: table.arrowStream()).rowCount == 3)
        var batches = ArrowBatchWriter(.stream, schema: table.schema)
        var bytes: [UInt8] = []
        try batches.write(table) { bytes += $0 }
        try batches.write(table.slice(0..<2)) { bytes += $0 }
        try batches.finish { bytes += $0 }
        #expect(try Table(arrow: bytes).rowCount == 5)
        #expect(try Table(arrow: Table().arrowFile()).rowCount == 0)
        // The length is all such a batch holds: one beyond what a table frame without columns may claim is damage.
        let stream = table.arrowStream()
        let three: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0]
        var refused: [String] = []
        for at in 0...(stream.count - 8) where stream[at..<(at + 8)].elementsEqual(three) {
            for claimed in [Int64(UInt32.max) + 1, -1] {
                var patched = stream
                withUnsafeBytes(of: claimed.littleEndian) { patched.replaceSubrange(at..<(at + 8), with: $0) }
                if let error = (#expect(throws: PartdError.self) { try Table(arrow: patched) }), "\(error)".contains("without columns claims") {
                    refused.append("\(claimed)")
                }
            }
        }
        #expect(refused == ["4294967296", "-1"])
    }

    @Test("take with optional indices of a column without rows: nil gives a null row")
    func takeOptionalFromEmpty() throws {
        let empty = Column("a", [] as [Int64])
        let nulls = empty.take([nil, nil] as [Int?])
        #expect(nulls.count == 2 && nulls.validity == BitArray([false, false]))
        #expect(empty.take([] as [Int?]).count == 0)
    }

    @Test("take with optional indices traps on an index outside the column, as take with indices does, also of a column without rows")
    func takeOptionalOutOfRange() async {
        await #expect(processExitsWith: .failure) { _ = Column("a", [] as [Int64]).take([nil, 5] as [Int?]) }
        await #expect(processExitsWith: .failure) { _ = Column("a", [] as [Int64]).take([0] as [Int?]) }
        await #expect(processExitsWith: .failure) { _ = Column("a", strings: []).take([nil, 0] as [Int?]) }
        await #expect(processExitsWith: .failure) { _ = Column("a", [1, 2, 3] as [Int64]).take([nil, 5] as [Int?]) }
        await #expect(processExitsWith: .failure) { _ = Column("a", [] as [Int64]).take([0] as [Int]) }
    }

    @Test("take and slice of a table without columns trap on a row it does not have, naming it, as a column's do; so does a bool column's slice")
    func zeroColumnRowsOutOfRange() async throws {
        // Without columns nothing checked the indices: any index gave a row.
        let trapped = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { _ = Table().take([7]) }
        #expect(trapped.map { String(decoding: $0.standardErrorContent, as: UTF8.self).contains("index 7") } == true)
        await #expect(processExitsWith: .failure) { _ = Table().take([nil, 0] as [Int?]) }
        await #expect(processExitsWith: .failure) { _ = Table().slice(0..<1) }
        await #expect(processExitsWith: .failure) { _ = try! Table([Column("a", [1, 2, 3] as [Int64])]).selecting([]).take([3]) }
        await #expect(processExitsWith: .failure) { _ = try! Table([Column("a", [1, 2, 3] as [Int64])]).selecting([]).slice(2..<4) }
        // A bool column's slice ending inside its last byte gave bits past its end.
        await #expect(processExitsWith: .failure) { _ = Column("b", [true, false, true]).slice(1..<5) }
        // Rows a table without columns has are taken and sliced.
        let rows = try Table([Column("a", [1, 2, 3] as [Int64])]).selecting([])
        #expect(rows.take([2, 0, 2, 1]).rowCount == 4)
        #expect(rows.take([nil, 1] as [Int?]).rowCount == 2)
        #expect(rows.slice(1..<3).rowCount == 2)
        #expect(Table().take([]).rowCount == 0 && Table().take([nil] as [Int?]).rowCount == 1 && Table().slice(0..<0).rowCount == 0)
    }
}
