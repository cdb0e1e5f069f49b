// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression

/// Apache Arrow's IPC formats for ``Table``: the file format (Feather version 2, what
/// `pyarrow.feather.read_table`, `pandas.read_feather` and polars' `read_ipc` open) and the stream format.
///
/// Columns already use Arrow's buffer layouts (`docs/format.md` §7), so writing re-frames them:
/// numbers and timestamps as `Int`, `FloatingPoint` and `Timestamp` (no time zone), booleans and
/// validity as Arrow bitmaps, strings as `large_utf8` (`large_binary` when not every string is UTF-8),
/// categoricals as dictionary-encoded strings with `int32` indices. `docs/format.md` §10 lists the mapping.
extension Table {
    /// The table as an Arrow IPC file: one record batch, plus one dictionary batch per categorical column.
    public func arrowFile() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ArrowWriter.estimatedSize(of: self))
        // Without compression and with this sink, nothing can throw.
        try! writeArrow(.file) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The table as an Arrow IPC stream (what `pyarrow.ipc.open_stream` reads).
    public func arrowStream() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ArrowWriter.estimatedSize(of: self))
        try! writeArrow(.stream) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Which of Arrow's IPC formats to write.
    public enum ArrowFormat: Sendable {
        /// The file format (Feather version 2): magic bytes and a footer around a stream.
        case file
        /// The stream format.
        case stream
    }

    /// Arrow's buffer compression (`BodyCompression`): every buffer of a batch compressed on its own.
    public enum ArrowCompression: Sendable {
        /// One LZ4 frame per buffer (`LZ4_FRAME`, what pandas' `to_feather` writes by default).
        case lz4
        /// One Zstandard frame per buffer (`ZSTD`), at level 1.
        case zstd
    }

    /// Writes the table in an Arrow IPC format piece by piece to `sink`, which gets the bytes in order
    /// (writing each to a file, say): the whole file never has to be in memory at once. String data and
    /// bitmaps come as they are; fixed-width values and offsets are copied through a buffer of 1 MiB.
    ///
    /// With `compression`, each buffer is compressed (a buffer that would not shrink is stored as it is, as
    /// the format allows), and a batch's compressed buffers are in memory together before they are written.
    ///
    /// - Throws: what `sink` throws, and ``PartdError/Code/compressionFailed`` if a codec fails.
    public func writeArrow(
        _ format: ArrowFormat, compression: ArrowCompression? = nil, to sink: (ArraySlice<UInt8>) throws -> Void
    ) throws {
        var writer = ArrowBatchWriter(format, table: self, compression: compression, nullable: nil)
        try writer.write(self, to: sink)
        try writer.finish(to: sink)
    }
}

/// Writes tables of one schema as the record batches of one Arrow IPC file or stream, in order, each handed to
/// a sink piece by piece as it is written, so the output never has to be in memory at once (`partd join
/// --format arrow` writes its partitions this way as they finish).
///
/// ```swift
/// var writer = ArrowBatchWriter(.file, schema: first.schema)
/// for table in partitions { try writer.write(table) { try file.write(contentsOf: $0) } }
/// try writer.finish { try file.write(contentsOf: $0) }
/// ```
///
/// Every column is declared nullable. A string column is `large_utf8` if the first table's strings are UTF-8
/// (`large_binary` otherwise), and a later table whose strings of a `large_utf8` column are not is refused;
/// with `binaryStrings`, every string column is `large_binary` (for tables some of whose strings are not
/// UTF-8, when the first table's may be).
/// A categorical column keeps one dictionary for the whole output: the first table's categories, then each
/// new category in order of appearance, sent as a dictionary delta before the batch that first uses it (codes
/// are remapped), so readers see one categorical column with every category.
public struct ArrowBatchWriter {
    private var writer = ArrowWriter()
    private let format: Table.ArrowFormat
    private let schema: TableSchema
    /// The Arrow schema, once it is known (from the first table, or from `schema` alone at `finish`).
    private var arrowSchema: FlatBuffers.Value?
    /// For each string and categorical column, whether it is declared `large_utf8` (else `large_binary`).
    private var utf8: [Int: Bool] = [:]
    /// For each categorical column, the output's one dictionary and each value's code in it.
    private var dictionaries: [Int: (values: StringArray, codes: [ArraySlice<UInt8>: Int32])] = [:]
    private let nullable: Bool?
    private var finished = false
    /// Whether the next table is the one the schema's string types came from (already checked for UTF-8).
    private var schemaFromNextTable = false
    /// Every string column is declared `large_binary`.
    private var binaryStrings = false

    /// A writer for tables with `schema`, compressing every buffer with `compression` if given.
    public init(
        _ format: Table.ArrowFormat, schema: TableSchema, compression: Table.ArrowCompression? = nil, binaryStrings: Bool = false
    ) {
        self.init(format, schema: schema, compression: compression, nullable: true)
        self.binaryStrings = binaryStrings
    }

    /// `nullable` `nil`: a field is nullable when `table`'s column has a validity bitmap (for one table).
    init(_ format: Table.ArrowFormat, table: Table, compression: Table.ArrowCompression?, nullable: Bool?) {
        self.init(format, schema: table.schema, compression: compression, nullable: nullable)
        for (i, column) in table.columns.enumerated() {
            if let strings = column.strings ?? column.categorical?.categories { utf8[i] = ArrowWriter.isUTF8(strings) }
        }
        arrowSchema = writer.schema(of: table.schema, nullable: table.columns.map { $0.validity != nil }, utf8: utf8)
        schemaFromNextTable = true
    }

    private init(_ format: Table.ArrowFormat, schema: TableSchema, compression: Table.ArrowCompression?, nullable: Bool?) {
        self.format = format
        self.schema = schema
        self.nullable = nullable
        writer.compression = compression.map { $0 == .lz4 ? .lz4Frame : .zstd }
    }

    /// Writes `table` as the next record batch (and, before the first, the file's magic and the schema).
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` if the table's schema is not the writer's,
    ///   ``PartdError/Code/invalidArgument`` for strings that are not UTF-8 in a column declared `large_utf8`,
    ///   what `sink` throws, and ``PartdError/Code/compressionFailed``.
    public mutating func write(_ table: Table, to sink: (ArraySlice<UInt8>) throws -> Void) throws {
        precondition(!finished, "ArrowBatchWriter.write after finish")
        guard table.schema == schema else {
            throw PartdError(code: .typeMismatch, message: "cannot write a table with schema \(table.schema) to Arrow output of schema \(schema)")
        }
        try start(with: table, sink)
        let checked = schemaFromNextTable
        schemaFromNextTable = false
        var columns = table.columns
        for (i, column) in table.columns.enumerated() {
            if !checked, let strings = column.strings ?? column.categorical?.categories, utf8[i] == true,
                !ArrowWriter.isUTF8(strings)
            {
                throw PartdError(
                    code: .invalidArgument,
                    message: "column \"\(column.name)\" holds strings that are not UTF-8, after batches whose strings were (the Arrow schema says utf8)")
            }
            guard let categorical = column.categorical else { continue }
            columns[i] = try unified(categorical, column: i, name: column.name, validity: column.validity, sink)
        }
        try writer.writeRecordBatch(Table(unchecked: columns, rowCount: table.rowCount), sink)
    }

    /// Ends the output (the end-of-stream marker, and a file's footer). A writer that was given no table
    /// writes the schema first, so the output is a valid empty table.
    public mutating func finish(to sink: (ArraySlice<UInt8>) throws -> Void) throws {
        guard !finished else { return }
        try start(with: Table(empty: schema), sink)
        finished = true
        try writer.writeEnd(format: format, schema: arrowSchema!, sink)
    }

    /// Before the first batch: the magic bytes of a file and the schema message.
    private mutating func start(with table: Table, _ sink: (ArraySlice<UInt8>) throws -> Void) throws {
        guard writer.written == 0 else { return }
        if arrowSchema == nil {
            for (i, column) in table.columns.enumerated() {
                if let strings = column.strings ?? column.categorical?.categories {
                    utf8[i] = !binaryStrings && ArrowWriter.isUTF8(strings)
                }
            }
            arrowSchema = writer.schema(
                of: schema, nullable: table.columns.map { nullable ?? ($0.validity != nil) }, utf8: utf8)
            schemaFromNextTable = true
        }
        if format == .file { try writer.emit(Array("ARROW1".utf8) + [0, 0], sink) }
        try writer.writeSchema(arrowSchema!, sink)
    }

    /// `categorical`'s codes in the output's dictionary for column `index`, sending the dictionary (the first
    /// time) or its new values (a delta) first.
    private mutating func unified(
        _ categorical: CategoricalArray, column index: Int, name: String, validity: BitArray?,
        _ sink: (ArraySlice<UInt8>) throws -> Void
    ) throws -> Column {
        let id = Int64(schema.fields[..<index].filter { $0.type == .categorical }.count)
        guard var dictionary = dictionaries[index] else {
            var codes: [ArraySlice<UInt8>: Int32] = [:]
            for i in categorical.categories.indices { codes[categorical.categories.bytes(at: i)] = Int32(i) }
            dictionaries[index] = (categorical.categories, codes)
            try writer.writeDictionary(id: id, categorical.categories, isDelta: false, sink)
            return Column(name, categorical: categorical, validity: validity)
        }
        if categorical.categories == dictionary.values { return Column(name, categorical: categorical, validity: validity) }
        var added = StringArray()
        let remap = categorical.categories.indices.map { i -> Int32 in
            let value = categorical.categories.bytes(at: i)
            if let code = dictionary.codes[value] { return code }
            let code = Int32(dictionary.values.count)
            dictionary.codes[value] = code
            dictionary.values.append(bytes: value)
            added.append(bytes: value)
            return code
        }
        dictionaries[index] = dictionary
        if !added.isEmpty { try writer.writeDictionary(id: id, added, isDelta: true, sink) }
        let codes = categorical.codes.map { remap[Int($0)] }
        return Column(name, categorical: CategoricalArray(unchecked: codes, categories: dictionary.values), validity: validity)
    }
}

/// Lays out the messages of one table, handing the bytes to a sink in order.
struct ArrowWriter {
    static let version: Int16 = 4  // MetadataVersion V5
    static let continuation: UInt32 = 0xFFFF_FFFF
    static let chunkSize = 1 << 20

    /// The bytes handed to the sink so far.
    var written = 0
    /// How each buffer is compressed, if at all.
    var compression: Compression.ArrowCodec?
    var dictionaryBlocks: [(offset: Int, metadata: Int, body: Int)] = []
    var recordBatchBlocks: [(offset: Int, metadata: Int, body: Int)] = []
    /// Where fixed-width values are copied on their way to the sink.
    private var scratch: [UInt8] = []

    /// About what the table takes as Arrow: its buffers and a little for metadata.
    static func estimatedSize(of table: Table) -> Int {
        var size = 4096
        for column in table.columns {
            size += (column.count + 7) / 8 + 8
            switch column.storage {
            case .fixed(let values): size += values.count * values.dtype.byteWidth + 8
            case .bool(let bits): size += bits.bytes.count + 8
            case .string(let strings): size += 8 * strings.offsets.count + strings.data.count + 16
            case .categorical(let categorical):
                size += 4 * categorical.count + 8 * categorical.categories.offsets.count + categorical.categories.data.count + 512
            }
        }
        return size
    }

    mutating func emit(_ bytes: [UInt8], _ sink: (ArraySlice<UInt8>) throws -> Void) rethrows {
        try emit(bytes[...], sink)
    }

    mutating func emit(_ bytes: ArraySlice<UInt8>, _ sink: (ArraySlice<UInt8>) throws -> Void) rethrows {
        guard !bytes.isEmpty else { return }
        try sink(bytes)
        written += bytes.count
    }

    mutating func writeSchema(_ schema: FlatBuffers.Value, _ sink: (ArraySlice<UInt8>) throws -> Void) throws {
        try message(header: 1, schema, body: Body(), sink)
    }

    /// A dictionary batch: `values` as dictionary `id`, or as values to append to it (`isDelta`).
    mutating func writeDictionary(
        id: Int64, _ values: StringArray, isDelta: Bool, _ sink: (ArraySlice<UInt8>) throws -> Void
    ) throws {
        var body = Body()
        body.strings(values, validity: nil)
        if let compression { body = try body.compressed(compression) }
        let batch = body.recordBatch(length: values.count)
        let at = written
        let header = FlatBuffers.Value.table([.int64(id), .offset(batch), isDelta ? .bool(true) : nil])
        let metadata = try message(header: 2, header, body: body, sink)
        dictionaryBlocks.append((at, metadata, body.length))
    }

    /// A record batch of the table's columns (a categorical column's codes as they are).
    mutating func writeRecordBatch(_ table: Table, _ sink: (ArraySlice<UInt8>) throws -> Void) throws {
        var body = Body()
        for column in table.columns {
            switch column.storage {
            case .fixed(let values):
                body.node(column)
                body.buffer(column.validity?.bytes ?? [])
                body.buffer(.fixed(values), length: values.count * values.dtype.byteWidth)
            case .bool(let bits):
                body.node(column)
                body.buffer(column.validity?.bytes ?? [])
                body.buffer(bits.bytes)
            case .string(let strings):
                body.strings(strings, validity: column.validity)
            case .categorical(let categorical):
                body.node(column)
                body.buffer(column.validity?.bytes ?? [])
                body.buffer(.codes(categorical.codes), length: 4 * categorical.codes.count)
            }
        }
        if let compression { body = try body.compressed(compression) }
        let at = written
        let metadata = try message(header: 3, body.recordBatch(length: table.rowCount), body: body, sink)
        recordBatchBlocks.append((at, metadata, body.length))
    }

    /// The end-of-stream marker, and for a file the footer, its length and the closing magic.
    mutating func writeEnd(format: Table.ArrowFormat, schema: FlatBuffers.Value, _ sink: (ArraySlice<UInt8>) throws -> Void) throws {
        var end: [UInt8] = []
        FlatBuffers.append(Self.continuation, to: &end)
        FlatBuffers.append(Int32(0), to: &end)
        try emit(end, sink)
        guard format == .file else { return }
        let footer = FlatBuffers.encode(.table([
            .int16(Self.version), .offset(schema), .offset(Self.blocks(dictionaryBlocks)), .offset(Self.blocks(recordBatchBlocks)),
        ]))
        var tail = footer
        FlatBuffers.append(Int32(footer.count), to: &tail)
        tail.append(contentsOf: "ARROW1".utf8)
        try emit(tail, sink)
    }

    /// Writes an encapsulated message and returns its metadata length (prefix and padding included).
    @discardableResult
    private mutating func message(
        header type: UInt8, _ header: FlatBuffers.Value, body: Body, _ sink: (ArraySlice<UInt8>) throws -> Void
    ) rethrows -> Int {
        let metadata = FlatBuffers.encode(.table([
            .int16(Self.version), .uint8(type), .offset(header), .int64(Int64(body.length)),
        ]))
        var prefix: [UInt8] = []
        FlatBuffers.append(Self.continuation, to: &prefix)
        FlatBuffers.append(Int32(metadata.count), to: &prefix)
        try emit(prefix + metadata, sink)
        for piece in body.pieces {
            let length: Int
            switch piece {
            case .bytes(let bytes):
                try emit(bytes, sink)
                length = bytes.count
            case .fixed(let values):
                length = values.count * values.dtype.byteWidth
                try copied(count: values.count, width: values.dtype.byteWidth, sink) { values.appendBytes($0, to: &$1) }
            case .codes(let codes):
                length = 4 * codes.count
                try copied(count: codes.count, width: 4, sink) { RawBytes.append(codes[$0], to: &$1) }
            case .offsets(let offsets):
                length = 8 * offsets.count
                try copied(count: offsets.count, width: 8, sink) { RawBytes.append(offsets[$0], to: &$1) }
            }
            let padding = (8 - length % 8) % 8
            if padding > 0 { try emit([UInt8](repeating: 0, count: padding), sink) }
        }
        return 8 + metadata.count
    }

    /// Hands `count` elements of `width` bytes to the sink a chunk at a time, `append` copying the elements of
    /// a range into the scratch buffer.
    private mutating func copied(
        count: Int, width: Int, _ sink: (ArraySlice<UInt8>) throws -> Void,
        _ append: (Range<Int>, inout [UInt8]) -> Void
    ) rethrows {
        let perChunk = max(1, Self.chunkSize / max(1, width))
        var buffer = scratch
        defer { scratch = buffer }
        var start = 0
        while start < count {
            let end = min(count, start + perChunk)
            buffer.removeAll(keepingCapacity: true)
            append(start..<end, &buffer)
            try emit(buffer, sink)
            start = end
        }
    }

    /// The Arrow schema of `schema`: field `i` nullable if `nullable[i]`; a string or categorical field is
    /// `large_utf8` if `utf8[i]`, else `large_binary`; dictionary ids count the categorical fields from 0.
    func schema(of schema: TableSchema, nullable: [Bool], utf8: [Int: Bool]) -> FlatBuffers.Value {
        var dictionaryID: Int64 = 0
        let fields = schema.fields.enumerated().map { i, field -> FlatBuffers.Value in
            var dictionary: FlatBuffers.Field?
            let type: (id: UInt8, table: FlatBuffers.Value)
            let strings: (id: UInt8, table: FlatBuffers.Value) = (utf8[i] ?? true ? 20 : 19, .table([]))
            switch field.type {
            case .fixed(.bool): type = (6, .table([]))
            case .fixed(let dtype): type = Self.type(of: dtype)
            case .string: type = strings
            case .categorical:
                type = strings
                dictionary = .offset(.table([.int64(dictionaryID), .offset(.table([.int32(32), .bool(true)]))]))
                dictionaryID += 1
            }
            return .table([
                .offset(.string(field.name)), .bool(nullable[i]), .uint8(type.id), .offset(type.table),
                dictionary, .offset(.tables([])),
            ])
        }
        return .table([nil, .offset(.tables(fields))])
    }

    static func type(of dtype: DType) -> (id: UInt8, table: FlatBuffers.Value) {
        switch dtype.kind {
        case .signed, .unsigned:
            return (2, .table([.int32(Int32(dtype.byteWidth * 8)), .bool(dtype.kind == .signed)]))
        case .float:
            return (3, .table([.int16(dtype.byteWidth == 2 ? 0 : dtype.byteWidth == 4 ? 1 : 2)]))
        case .datetime(let unit):
            let code: Int16 = switch unit {
            case .seconds: 0
            case .milliseconds: 1
            case .microseconds: 2
            case .nanoseconds: 3
            }
            return (10, .table([.int16(code)]))
        case .bool, .string:
            return (6, .table([]))  // not stored as fixed values
        }
    }

    static func isUTF8(_ strings: StringArray) -> Bool {
        // ASCII, checked 4 KiB at a time (an OR of a block vectorises; the first block with a high bit stops it).
        var start = 0
        var ascii = true
        while ascii && start < strings.data.count {
            let end = min(strings.data.count, start + 4096)
            ascii = strings.data[start..<end].reduce(0, |) < 0x80
            start = end
        }
        if ascii { return true }
        guard String(validating: strings.data, as: UTF8.self) != nil else { return false }
        // Valid as a whole; no string may start inside a character.
        return strings.offsets.allSatisfy { Int($0) == strings.data.count || strings.data[Int($0)] & 0xC0 != 0x80 }
    }

    static func blocks(_ blocks: [(offset: Int, metadata: Int, body: Int)]) -> FlatBuffers.Value {
        var bytes: [UInt8] = []
        for block in blocks {
            FlatBuffers.append(Int64(block.offset), to: &bytes)
            FlatBuffers.append(Int32(block.metadata), to: &bytes)
            FlatBuffers.append(Int32(0), to: &bytes)
            FlatBuffers.append(Int64(block.body), to: &bytes)
        }
        return .structs(bytes: bytes, count: blocks.count, alignment: 8)
    }

    /// A record batch's body: buffers back to back, each starting at a multiple of 8 bytes. The buffers are
    /// the columns' own arrays, copied once, into the output, when the message is written.
    struct Body {
        enum Piece: Sendable {
            case bytes([UInt8])
            case fixed(any FixedStorage)
            case codes([Int32])
            case offsets([Int64])
        }
        var pieces: [Piece] = []
        /// Each piece's length in bytes (padding excluded).
        var lengths: [Int] = []
        /// The body's length so far, padding included.
        var length = 0
        var nodes: [UInt8] = []
        var nodeCount = 0
        /// The codec the pieces were compressed with, if any.
        var codec: Compression.ArrowCodec?

        mutating func node(_ column: Column) {
            node(length: column.count, nulls: column.validity.map { $0.count - $0.trueCount } ?? 0)
        }

        mutating func node(length: Int, nulls: Int) {
            FlatBuffers.append(Int64(length), to: &nodes)
            FlatBuffers.append(Int64(nulls), to: &nodes)
            nodeCount += 1
        }

        mutating func buffer(_ data: [UInt8]) {
            buffer(.bytes(data), length: data.count)
        }

        mutating func buffer(_ piece: Piece, length bytes: Int) {
            pieces.append(piece)
            lengths.append(bytes)
            length += (bytes + 7) / 8 * 8
        }

        /// The same buffers, each compressed with `codec` behind its uncompressed length (or stored as it is
        /// behind -1 when compressing would not shrink it; empty buffers stay empty).
        func compressed(_ codec: Compression.ArrowCodec) throws -> Body {
            var result = Body()
            result.nodes = nodes
            result.nodeCount = nodeCount
            result.codec = codec
            // Every buffer at once, on all cores, each compressed straight from the column's array.
            let stored = try Parallel.map(Array(zip(pieces, lengths)), totalBytes: length) { piece, bytes -> [UInt8] in
                guard bytes > 0 else { return [] }
                switch piece {
                case .bytes(let bytes): return try Compression.arrowCompressedBuffer(bytes[...], codec)
                case .fixed(let values): return try values.arrowCompressedBuffer(codec)
                case .codes(let codes): return try RawBytes.arrowCompressedBuffer(codes, codec)
                case .offsets(let offsets): return try RawBytes.arrowCompressedBuffer(offsets, codec)
                }
            }
            for bytes in stored { result.buffer(bytes) }
            return result
        }

        mutating func strings(_ strings: StringArray, validity: BitArray?) {
            node(length: strings.count, nulls: validity.map { $0.count - $0.trueCount } ?? 0)
            buffer(validity?.bytes ?? [])
            buffer(.offsets(strings.offsets), length: 8 * strings.offsets.count)
            buffer(strings.data)
        }

        func recordBatch(length: Int) -> FlatBuffers.Value {
            var buffers: [UInt8] = []
            var offset = 0
            for bytes in lengths {
                FlatBuffers.append(Int64(offset), to: &buffers)
                FlatBuffers.append(Int64(bytes), to: &buffers)
                offset += (bytes + 7) / 8 * 8
            }
            return .table([
                .int64(Int64(length)),
                .offset(.structs(bytes: nodes, count: nodeCount, alignment: 8)),
                .offset(.structs(bytes: buffers, count: lengths.count, alignment: 8)),
                codec.map { FlatBuffers.Field.offset(.table([.uint8($0 == .lz4Frame ? 0 : 1)])) },
            ])
        }
    }
}

/// Reads an Arrow IPC file or stream a record batch at a time, from any source of bytes: a file read with
/// `pread`, a memory-mapped region, an array. Memory holds one batch (and the dictionaries) at a time.
///
/// ```swift
/// var batches = try ArrowBatchReader(size: bytes.count) { offset, count in bytes[offset..<(offset + count)] }
/// while let table = try batches.next() { try shuffle.add(table) }
/// ```
///
/// The file format (which starts with `ARROW1`) is read through its footer; a stream, message after message
/// to its end-of-stream marker or its last byte. Dictionaries must come before the batches that use them;
/// deltas add to a dictionary, and a replacement (in a stream) holds for the batches after it. What
/// ``Table/init(arrow:)`` reads, this reads.
public struct ArrowBatchReader {
    /// The columns every batch has.
    public let schema: TableSchema
    private let size: Int
    private let read: (_ offset: Int, _ count: Int) throws -> ArraySlice<UInt8>
    private let fields: [ArrowMessages.FieldType]
    private var dictionaries: [Int64: StringArray] = [:]
    /// Each dictionary as the batches use it (repeats merged once, not per batch), made when a batch first
    /// needs it after the dictionary was sent or added to.
    private var prepared: [Int64: ArrowMessages.Dictionary] = [:]
    /// The file format's record batch offsets; `nil` for a stream.
    private var blocks: [Int]?
    /// The next of `blocks` to read.
    private var nextBlock = 0
    /// The stream's next message; in a file, where its messages end.
    private var position: Int
    private var finished = false

    /// Reads the schema (and, in the file format, the footer and every dictionary).
    ///
    /// - Parameters:
    ///   - size: The number of bytes the source holds.
    ///   - read: Returns exactly `count` bytes at `offset` (within `size`).
    /// - Throws: as ``Table/init(arrow:)`` does.
    public init(size: Int, read: @escaping (_ offset: Int, _ count: Int) throws -> ArraySlice<UInt8>) throws {
        self.size = size
        self.read = read
        let magic = Array("ARROW1".utf8)
        if size >= 6, try read(0, 6).elementsEqual(magic) {
            guard size >= 8 + 10, try read(size - 6, 6).elementsEqual(magic) else {
                throw ArrowMessages.corrupt("the file starts with ARROW1 but does not end with it (truncated?)")
            }
            let footerSize = Int(try ArrowMessages.integer(Int32.self, read(size - 10, 4)))
            guard footerSize > 0, footerSize <= size - 18 else { throw ArrowMessages.corrupt("the footer length \(footerSize) is impossible") }
            position = size - 10 - footerSize
            let footer = try ArrowMessages.flatReader(read(position, footerSize)).root()
            guard let schema = try footer.table(1) else { throw ArrowMessages.corrupt("the footer has no schema") }
            fields = try ArrowMessages.fields(schema)
            var offsets: [[Int]] = []
            for id in [2, 3] {
                let (start, count) = try footer.structs(id, stride: 24)
                offsets.append(try (0..<count).map { Int(try footer.reader.integer(Int64.self, at: start + 24 * $0)) })
            }
            blocks = offsets[1]
            self.schema = ArrowMessages.schema(fields)
            for offset in offsets[0] {
                guard let message = try message(at: offset), message.type == 2 else {
                    throw ArrowMessages.corrupt("the footer's dictionary block at byte \(offset) holds no dictionary batch")
                }
                try addDictionary(message)
            }
        } else {
            position = 0
            blocks = nil
            var at = 0
            guard let first = try Self.message(at: &at, end: size, read: read), first.type == 1 else {
                throw ArrowMessages.corrupt("a stream must start with a schema message")
            }
            position = at
            fields = try ArrowMessages.fields(first.header)
            self.schema = ArrowMessages.schema(fields)
        }
    }

    /// The next record batch, or `nil` after the last.
    public mutating func next() throws -> Table? {
        while !finished {
            let message: ArrowMessages.Message?
            if let blocks {
                guard nextBlock < blocks.count else { finished = true; break }
                let offset = blocks[nextBlock]
                nextBlock += 1
                message = try self.message(at: offset)
                guard message?.type == 3 else {
                    throw ArrowMessages.corrupt("the footer's record batch block at byte \(offset) holds no record batch")
                }
            } else {
                message = try Self.message(at: &position, end: size, read: read)
            }
            guard let message else { finished = true; break }
            switch message.type {
            case 3:
                for (id, values) in dictionaries where prepared[id] == nil { prepared[id] = ArrowMessages.Dictionary(values) }
                return try ArrowMessages.recordBatch(message, fields: fields, dictionaries: prepared)
            case 2: try addDictionary(message)
            case 1: throw ArrowMessages.corrupt("a second schema message")
            default:
                throw PartdError(code: .invalidArgument, message: "the Arrow data holds a message of type \(message.type) (a tensor?), which partd does not read")
            }
        }
        return nil
    }

    /// A file's message at `offset`, which must lie before the footer.
    private func message(at offset: Int) throws -> ArrowMessages.Message? {
        guard offset >= 8, offset < position else { throw ArrowMessages.corrupt("a block offset \(offset) lies outside the file") }
        var at = offset
        return try Self.message(at: &at, end: position, read: read)
    }

    /// The message at `at` (moved past it and its body), or `nil` at an end-of-stream marker or `end`.
    private static func message(
        at: inout Int, end: Int, read: (Int, Int) throws -> ArraySlice<UInt8>
    ) throws -> ArrowMessages.Message? {
        guard at + 4 <= end else { return nil }
        var length = Int(try ArrowMessages.integer(Int32.self, read(at, 4)))
        at += 4
        if UInt32(truncatingIfNeeded: length) == ArrowWriter.continuation {
            guard at + 4 <= end else { throw ArrowMessages.corrupt("the data ends inside a message prefix") }
            length = Int(try ArrowMessages.integer(Int32.self, read(at, 4)))
            at += 4
        }
        if length == 0 { return nil }
        guard length > 0, length <= end - at else { throw ArrowMessages.corrupt("a message at byte \(at - 8) claims \(length) bytes of metadata") }
        let message = try ArrowMessages.flatReader(read(at, length)).root()
        at += length
        let version: Int16 = try message.scalar(0)
        guard version >= 3 else { throw ArrowMessages.corrupt("metadata version \(version) is older than Arrow 0.15 (V4) and not read") }
        let type: UInt8 = try message.scalar(1)
        guard let header = try message.table(2) else { throw ArrowMessages.corrupt("a message has no header") }
        let bodyLength = Int(try message.scalar(3) as Int64)
        guard bodyLength >= 0, bodyLength <= end - at else { throw ArrowMessages.corrupt("a message body of \(bodyLength) bytes runs past the end") }
        let body = try read(at, bodyLength)
        at += bodyLength
        return ArrowMessages.Message(type: type, header: header, body: body)
    }

    private mutating func addDictionary(_ message: ArrowMessages.Message) throws {
        let id: Int64 = try message.header.scalar(0)
        guard let data = try message.header.table(1) else { throw ArrowMessages.corrupt("a dictionary batch has no data") }
        let isDelta = try message.header.bool(2)
        guard let field = fields.first(where: { if case .dictionary(id, _, _, _) = $0.kind { return true } else { return false } }),
            case .dictionary(_, _, _, let layout) = field.kind
        else { throw ArrowMessages.corrupt("a dictionary batch has id \(id), which no column uses") }
        var cursor = try ArrowMessages.BatchCursor(message: ArrowMessages.Message(type: 2, header: data, body: message.body), name: field.name)
        let (length, nulls) = try cursor.nextNode()
        guard nulls == 0 else {
            throw PartdError(code: .invalidArgument, message: "Arrow column \"\(field.name)\" has a null in its dictionary, which partd does not read")
        }
        _ = try cursor.nextBuffer()  // the dictionary's validity, all set
        let values = try cursor.strings(length: length, layout: layout, validity: nil, column: field.name)
        if isDelta {
            // New values for the dictionary, appended; batches from here on may use them.
            guard var existing = dictionaries[id] else {
                throw ArrowMessages.corrupt("a dictionary delta for id \(id) comes before its dictionary")
            }
            existing.append(contentsOf: values)
            dictionaries[id] = existing
        } else {
            // The first dictionary, or (in a stream) a replacement for the batches that follow.
            dictionaries[id] = values
        }
        prepared[id] = nil
    }
}

extension Table {
    /// Reads an Arrow IPC file or stream (told apart by the file format's leading `ARROW1`), joining its
    /// record batches into one table (see ``ArrowBatchReader`` to read a batch at a time).
    ///
    /// Reads columns of signed and unsigned integers, floats (16, 32 and 64 bits), booleans, timestamps
    /// (a time zone is dropped; the values are UTC already), dates (`date32` as timestamps in seconds at
    /// midnight UTC, `date64` as timestamps in milliseconds), `utf8`, `large_utf8`, `binary`,
    /// `large_binary`, `utf8_view` and `binary_view` strings, and dictionary-encoded strings with integer
    /// indices. A nullable column gets
    /// a validity bitmap even when it holds no nulls. Buffers may be compressed with `LZ4_FRAME` or `ZSTD`
    /// (pandas' `to_feather` compresses with LZ4 by default).
    ///
    /// - Throws: ``PartdError/Code/corruptData`` if the bytes are not a well-formed Arrow file or
    ///   stream, and ``PartdError/Code/invalidArgument`` naming the column for a type or feature a
    ///   ``Table`` cannot hold (lists, structs, decimals, nulls inside a dictionary), and for string views
    ///   that share their data so often that a batch's strings would take more than 1 MiB plus 256 times
    ///   its buffers (`docs/format.md` §10.2).
    public init(arrow bytes: [UInt8]) throws {
        var reader = try ArrowBatchReader(size: bytes.count) { offset, count in bytes[offset..<(offset + count)] }
        var batches: [Table] = []
        while let batch = try reader.next() { batches.append(batch) }
        switch batches.count {
        case 0: self.init(empty: reader.schema)
        case 1: self = batches[0]
        default: self = try Table.concatenate(batches)
        }
    }
}

/// Decoding of Arrow IPC metadata and record batches, checking every length and offset against the bytes.
enum ArrowMessages {
    /// A field of the schema, as a ``Table`` can hold it.
    struct FieldType {
        /// `days`: `Date` in days (Int32), read as timestamps in seconds, a day's midnight UTC.
        enum Kind { case fixed(DType), bool, days, string(StringLayout), dictionary(id: Int64, indexWidth: Int, signed: Bool, layout: StringLayout) }
        /// How a string column's values are laid out: Int32 or Int64 offsets into one data buffer, or 16-byte
        /// views (`Utf8View`, `BinaryView`: short strings inline, longer ones in variadic data buffers).
        enum StringLayout { case offsets(Int), views }
        let name: String
        let kind: Kind
        /// Whether the column may hold nulls; a nullable column gets a validity bitmap even when it has none.
        let nullable: Bool
    }

    struct Message {
        let type: UInt8
        let header: FlatBuffers.Reader.Table
        let body: ArraySlice<UInt8>
    }

    static func corrupt(_ message: String) -> PartdError {
        PartdError(code: .corruptData, message: "not a well-formed Arrow IPC file or stream: \(message)")
    }

    static func integer<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>) throws -> T {
        guard bytes.count == MemoryLayout<T>.size else { throw corrupt("a read returned \(bytes.count) bytes, not \(MemoryLayout<T>.size)") }
        return FlatBuffers.load(T.self, from: bytes)
    }

    static func flatReader(_ slice: ArraySlice<UInt8>) throws -> FlatBuffers.Reader {
        FlatBuffers.Reader(bytes: slice, fail: { corrupt($0) })
    }

    static func schema(_ fields: [FieldType]) -> TableSchema {
        TableSchema(fields.map { TableSchema.Field($0.name, columnType($0.kind)) })
    }

    static func unsupported(_ name: String, _ what: String) -> PartdError {
        PartdError(code: .invalidArgument, message: "Arrow column \"\(name)\" is \(what), which a partd Table cannot hold")
    }

    static func fields(_ schema: FlatBuffers.Reader.Table) throws -> [FieldType] {
        let endianness: Int16 = try schema.scalar(0)
        guard endianness == 0 else {
            throw PartdError(code: .invalidArgument, message: "the Arrow data is big-endian; partd reads little-endian Arrow only")
        }
        return try schema.tables(1).map { field in
            let name = try field.string(0) ?? ""
            let nullable = try field.bool(1)
            let typeID: UInt8 = try field.scalar(2)
            let type = try field.table(3)
            let typeTable = { () throws -> FlatBuffers.Reader.Table in
                guard let type else { throw corrupt("column \"\(name)\" has no type") }
                return type
            }
            let kind: FieldType.Kind
            switch typeID {
            case 2:  // Int
                let t = try typeTable()
                let bits: Int32 = try t.scalar(0)
                let signed = try t.bool(1)
                let dtypes: [Int32: DType] = signed
                    ? [8: .int8, 16: .int16, 32: .int32, 64: .int64] : [8: .uint8, 16: .uint16, 32: .uint32, 64: .uint64]
                guard let dtype = dtypes[bits] else { throw unsupported(name, "a \(bits)-bit integer") }
                kind = .fixed(dtype)
            case 3:  // FloatingPoint
                let precision: Int16 = try typeTable().scalar(0)
                #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
                let dtypes: [Int16: DType] = [0: .float16, 1: .float32, 2: .float64]
                #else
                let dtypes: [Int16: DType] = [1: .float32, 2: .float64]
                #endif
                guard let dtype = dtypes[precision] else { throw unsupported(name, "a float of precision \(precision)") }
                kind = .fixed(dtype)
            case 6: kind = .bool
            case 10:  // Timestamp
                let unit: Int16 = try typeTable().scalar(0)
                let units: [Int16: TimeUnit] = [0: .seconds, 1: .milliseconds, 2: .microseconds, 3: .nanoseconds]
                guard let timeUnit = units[unit] else { throw corrupt("column \"\(name)\" has time unit \(unit)") }
                kind = .fixed(.datetime(timeUnit))
            case 8:  // Date: days (Int32) or milliseconds (Int64) since 1970
                let unit: Int16 = try typeTable().scalar(0, default: 1)
                guard unit == 0 || unit == 1 else { throw corrupt("column \"\(name)\" has date unit \(unit)") }
                kind = unit == 0 ? .days : .fixed(.datetime(.milliseconds))
            case 4, 5: kind = .string(.offsets(4))  // Binary, Utf8
            case 19, 20: kind = .string(.offsets(8))  // LargeBinary, LargeUtf8
            case 23, 24: kind = .string(.views)  // BinaryView, Utf8View
            default:
                let names: [UInt8: String] = [
                    1: "null", 7: "a decimal", 9: "a time of day", 11: "an interval", 12: "a list",
                    13: "a struct", 14: "a union", 15: "fixed-size binary", 16: "a fixed-size list", 17: "a map",
                    18: "a duration", 21: "a large list", 22: "run-end encoded", 25: "a list view", 26: "a large list view",
                ]
                throw unsupported(name, names[typeID] ?? "of Arrow type \(typeID)")
            }
            if let dictionary = try field.table(4) {
                guard case .string(let layout) = kind else {
                    throw unsupported(name, "a dictionary of values other than strings")
                }
                let id: Int64 = try dictionary.scalar(0)
                var indexWidth = 4
                var signed = true
                if let index = try dictionary.table(1) {
                    let bits: Int32 = try index.scalar(0)
                    signed = try index.bool(1)
                    guard [8, 16, 32, 64].contains(bits) else { throw corrupt("column \"\(name)\" has \(bits)-bit dictionary indices") }
                    indexWidth = Int(bits) / 8
                }
                return FieldType(
                    name: name, kind: .dictionary(id: id, indexWidth: indexWidth, signed: signed, layout: layout),
                    nullable: nullable)
            }
            return FieldType(name: name, kind: kind, nullable: nullable)
        }
    }

    /// Walks a record batch's nodes and buffers in order.
    struct BatchCursor {
        let batch: FlatBuffers.Reader.Table
        let reader: FlatBuffers.Reader
        let body: ArraySlice<UInt8>
        let nodes: (start: Int, count: Int)
        let buffers: (start: Int, count: Int)
        /// The codec of every buffer (`BodyCompression`), or `nil`.
        let compression: Compression.ArrowCodec?
        /// A compressed batch's buffers, decompressed.
        private var decompressed: [ArraySlice<UInt8>]?
        /// The bytes the batch's buffers hold: the body's, or in a compressed body the decompressed buffers'.
        private var bufferBytes: Int
        /// The bytes the batch's view columns may still copy out (see ``viewBudget(body:bufferBytes:)``).
        private var viewBytesLeft = 0
        var node = 0
        var buffer = 0
        /// The next view column's entry in the batch's `variadicBufferCounts`.
        var variadic = 0

        init(message: Message, name: String) throws {
            batch = message.header
            reader = message.header.reader
            body = message.body
            if let compression = try batch.table(3) {
                let codec: Int8 = try compression.scalar(0)
                let method: Int8 = try compression.scalar(1)
                guard method == 0, codec == 0 || codec == 1 else {
                    throw PartdError(
                        code: .invalidArgument,
                        message: "the Arrow data's buffers are compressed with codec \(codec), method \(method) (\(name)); partd reads LZ4_FRAME and ZSTD buffers")
                }
                self.compression = codec == 0 ? .lz4Frame : .zstd
            } else {
                self.compression = nil
            }
            nodes = try batch.structs(1, stride: 16)
            buffers = try batch.structs(2, stride: 16)
            decompressed = nil
            bufferBytes = body.count
            if let compression {
                // Every buffer of the batch at once, on all cores.
                let stored = try (0..<buffers.count).map { try self.stored($0) }
                let buffers = try Parallel.map(stored, totalBytes: stored.reduce(0) { $0 + $1.count }) {
                    try Self.decompress($0, compression)
                }
                decompressed = buffers
                bufferBytes = buffers.reduce(0) { $0 + $1.count }
            }
            viewBytesLeft = Self.viewBudget(body: body.count, bufferBytes: bufferBytes)
        }

        /// What the strings of a batch's view columns may take together once copied out: 1 MiB plus 256 times
        /// the batch's buffers (decompressed), and no more than 1 MiB plus 32,768 times its body as stored (the
        /// factor a compressed buffer is held to). Views may share data, so without a bound a small input
        /// could copy one region once per row; legitimately shared strings of up to 4 KiB fit.
        static func viewBudget(body: Int, bufferBytes: Int) -> Int {
            let (held, overflow) = bufferBytes.multipliedReportingOverflow(by: 256)
            let (stored, overflowStored) = body.multipliedReportingOverflow(by: 32_768)
            return (1 << 20) + min(overflow ? Int.max / 2 : held, overflowStored ? Int.max / 2 : stored)
        }

        var length: Int { get throws { Int(try batch.scalar(0) as Int64) } }

        mutating func nextNode() throws -> (length: Int, nulls: Int) {
            guard node < nodes.count else { throw ArrowMessages.corrupt("a record batch has fewer field nodes than the schema has columns") }
            let at = nodes.start + 16 * node
            node += 1
            let length = Int(try reader.integer(Int64.self, at: at))
            let nulls = Int(try reader.integer(Int64.self, at: at + 8))
            // Every column type a Table holds takes at least a bit per row of the batch's buffers (decompressed,
            // in a compressed body), so a larger count is damage; this bounds what a node's length may make
            // us allocate (a validity bitmap, offsets) by the bytes already in memory.
            guard length >= 0, nulls >= 0, nulls <= length, length <= 8 * bufferBytes else {
                throw ArrowMessages.corrupt(
                    "a field node claims \(length) rows, \(nulls) null, in a batch whose buffers hold \(bufferBytes) bytes")
            }
            return (length, nulls)
        }

        mutating func nextBuffer() throws -> ArraySlice<UInt8> {
            guard buffer < buffers.count else { throw ArrowMessages.corrupt("a record batch has fewer buffers than its columns need") }
            buffer += 1
            if let decompressed { return decompressed[buffer - 1] }
            return try stored(buffer - 1)
        }

        /// Buffer `index` as the body holds it.
        func stored(_ index: Int) throws -> ArraySlice<UInt8> {
            let at = buffers.start + 16 * index
            let offset = Int(try reader.integer(Int64.self, at: at))
            let length = Int(try reader.integer(Int64.self, at: at + 8))
            guard offset >= 0, length >= 0, offset <= body.count, length <= body.count - offset else {
                throw ArrowMessages.corrupt("a buffer at \(offset) of \(length) bytes lies outside its \(body.count)-byte body")
            }
            return body[(body.startIndex + offset)..<(body.startIndex + offset + length)]
        }

        /// A compressed buffer undone: its uncompressed length (Int64), then its data, which is stored as it is
        /// when the length is -1.
        static func decompress(_ stored: ArraySlice<UInt8>, _ codec: Compression.ArrowCodec) throws -> ArraySlice<UInt8> {
            guard !stored.isEmpty else { return stored }
            guard stored.count >= 8 else { throw ArrowMessages.corrupt("a compressed buffer of \(stored.count) bytes has no length") }
            let original = try ArrowMessages.integer(Int64.self, stored.prefix(8))
            let data = stored.dropFirst(8)
            if original == -1 { return data }
            // Bounded, so that a damaged length cannot ask for more memory than any real buffer needs.
            guard original >= 0, original <= (1 << 20) + 32_768 * Int64(data.count) else {
                throw ArrowMessages.corrupt("a compressed buffer of \(data.count) bytes claims \(original) bytes")
            }
            return try Compression.arrowDecompress(data, codec, originalSize: Int(original))[...]
        }

        /// The validity bitmap of a node of `length` rows with `nulls` nulls (`nil` when none are null).
        mutating func validity(length: Int, nulls: Int) throws -> BitArray? {
            let bytes = try nextBuffer()
            guard nulls > 0 else { return nil }
            guard bytes.count >= (length + 7) / 8 else { throw ArrowMessages.corrupt("a validity bitmap is too short") }
            let bits = BitArray(packed: Array(bytes.prefix((length + 7) / 8)), count: length)
            guard length - bits.trueCount == nulls else { throw ArrowMessages.corrupt("a validity bitmap disagrees with its null count") }
            return bits
        }

        /// The next buffer, which must hold `length` values of `width` bytes (its padding is dropped).
        mutating func fixed(width: Int, length: Int) throws -> ArraySlice<UInt8> {
            let bytes = try nextBuffer()
            guard length <= bytes.count / width else { throw ArrowMessages.corrupt("a values buffer holds \(bytes.count) bytes for \(length) values of \(width)") }
            return bytes.prefix(width * length)
        }

        mutating func strings(length: Int, layout: FieldType.StringLayout, validity: BitArray?, column: String) throws -> StringArray {
            guard case .offsets(let offsetWidth) = layout else { return try stringViews(length: length, validity: validity, column: column) }
            // A column of no rows may come with an empty offsets buffer instead of the one offset 0 (pyarrow writes
            // one so for an array built without offsets, which Arrow's own validation accepts): it holds no strings.
            let offsetBytes = length == 0 ? try nextBuffer() : try fixed(width: offsetWidth, length: length + 1)
            let data = try nextBuffer()
            if length == 0 { return StringArray() }
            var offsets = offsetWidth == 4
                ? RawBytes.elements(Int32.self, count: length + 1, from: [offsetBytes]).map { Int64($0) }
                : RawBytes.elements(Int64.self, count: length + 1, from: [offsetBytes])
            let (first, last) = (offsets[0], offsets[length])
            var ordered = first >= 0 && last <= Int64(data.count)
            var previous = first
            for offset in offsets {
                ordered = ordered && offset >= previous
                previous = offset
            }
            guard ordered else { throw ArrowMessages.corrupt("string offsets decrease or run past their data") }
            if first != 0 { for i in offsets.indices { offsets[i] -= first } }
            let used = data[(data.startIndex + Int(first))..<(data.startIndex + Int(last))]
            return StringArray(checkedOffsets: offsets, data: RawBytes.elements(UInt8.self, count: used.count, from: [used]))
        }

        /// A view column's strings: 16 bytes per row (the length as Int32; up to 12 bytes inline, or a 4-byte
        /// prefix, the index of a data buffer and an offset in it, each Int32), then the column's variadic data
        /// buffers, as many as the batch's `variadicBufferCounts` gives for it. A null row's view is not read.
        mutating func stringViews(length: Int, validity: BitArray?, column: String) throws -> StringArray {
            let views = try fixed(width: 16, length: length)
            let counts = try batch.structs(4, stride: 8)
            guard variadic < counts.count else { throw ArrowMessages.corrupt("a view column has no variadic buffer count") }
            let count = Int(try reader.integer(Int64.self, at: counts.start + 8 * variadic))
            variadic += 1
            guard count >= 0, count <= buffers.count - buffer else {
                throw ArrowMessages.corrupt("a view column claims \(count) data buffers; the batch has \(buffers.count - buffer) left")
            }
            let data = try (0..<count).map { _ in try nextBuffer() }
            func int32(_ at: Int) -> Int {
                Int(Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(views[views.startIndex + at + $1]) << (8 * UInt32($1)) }))
            }
            // Every view checked and their sizes summed first: views may point at the same data, so the strings
            // can add up to far more than the batch; past the batch's budget they are refused, else the bytes
            // are reserved once.
            var total = 0
            for row in 0..<length where validity?[row] ?? true {
                let at = 16 * row
                let size = int32(at)
                guard size >= 0 else { throw ArrowMessages.corrupt("a string view has length \(size)") }
                if size > 12 {
                    let (index, offset) = (int32(at + 8), int32(at + 12))
                    guard index >= 0, index < data.count, offset >= 0, offset <= data[index].count - size else {
                        throw ArrowMessages.corrupt("a string view points outside its data buffers")
                    }
                }
                total += size  // cannot overflow: the budget is under Int.max / 2, a size under 2^31
                guard total <= viewBytesLeft else {
                    throw PartdError(
                        code: .invalidArgument,
                        message: "Arrow column \"\(column)\" has string views that share their data so often that their strings would take more than the \(viewBytesLeft) bytes this batch may still copy out (1 MiB plus 256 times its buffers, at most 32,768 times its stored body)")
                }
            }
            viewBytesLeft -= total
            var offsets = [Int64](repeating: 0, count: length + 1)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(total)
            for row in 0..<length {
                defer { offsets[row + 1] = Int64(bytes.count) }
                guard validity?[row] ?? true else { continue }
                let at = 16 * row
                let size = int32(at)
                if size <= 12 {
                    bytes.append(contentsOf: views[(views.startIndex + at + 4)..<(views.startIndex + at + 4 + size)])
                    continue
                }
                let (index, offset) = (int32(at + 8), int32(at + 12))
                let start = data[index].startIndex + offset
                bytes.append(contentsOf: data[index][start..<(start + size)])
            }
            return StringArray(checkedOffsets: offsets, data: bytes)
        }
    }

    static func columnType(_ kind: FieldType.Kind) -> ColumnType {
        switch kind {
        case .fixed(let dtype): return .fixed(dtype)
        case .bool: return .bool
        case .days: return .timestamp(.seconds)
        case .string: return .string
        case .dictionary: return .categorical
        }
    }

    static func recordBatch(_ message: Message, fields: [FieldType], dictionaries: [Int64: Dictionary]) throws -> Table {
        var cursor = try BatchCursor(message: message, name: fields.first?.name ?? "")
        let rows = try cursor.length
        var columns: [Column] = []
        for field in fields {
            let (length, nulls) = try cursor.nextNode()
            guard length == rows else { throw corrupt("column \"\(field.name)\" has \(length) rows in a batch of \(rows)") }
            // The bitmap as sent (`nil` when no row is null); a nullable column's all-set bitmap is made only
            // once its values are read, so a damaged length fails on its buffers before it allocates.
            let validity = try cursor.validity(length: length, nulls: nulls)
            let storage: Column.Storage
            switch field.kind {
            case .fixed(let dtype):
                let values = try cursor.fixed(width: dtype.byteWidth, length: length)
                storage = .fixed(makeFixedStorage(dtype, count: length, pieces: [values])!)
            case .bool:
                let values = try cursor.fixed(width: 1, length: (length + 7) / 8)
                storage = .bool(BitArray(packed: Array(values), count: length))
            case .days:
                let days = RawBytes.elements(Int32.self, count: length, from: [try cursor.fixed(width: 4, length: length)])
                storage = .fixed(FixedValues(values: days.map { Timestamp<Seconds>(Int64($0) * 86_400) }))
            case .string(let layout):
                storage = .string(try cursor.strings(length: length, layout: layout, validity: validity, column: field.name))
            case .dictionary(let id, let indexWidth, let signed, _):
                guard let dictionary = dictionaries[id] else { throw corrupt("column \"\(field.name)\" uses dictionary \(id) before it is sent") }
                let raw = try cursor.fixed(width: indexWidth, length: length)
                let count = dictionary.values.count
                let codes = try Self.codes(raw, width: indexWidth, signed: signed, count: length, validity: validity, limit: count) {
                    corrupt("column \"\(field.name)\" has an index \($0) outside its \(count)-value dictionary")
                }
                storage = .categorical(dictionary.categorical(codes: codes))
            }
            let bitmap = validity ?? (field.nullable ? BitArray(repeating: true, count: length) : nil)
            columns.append(Column(name: field.name, storage: storage, validity: bitmap))
        }
        guard !fields.isEmpty else {
            // No columns: the batch's length is all it holds (what a table of rows but no columns writes). Nothing
            // in the bytes backs it, so it is held to what a table frame without columns may claim.
            guard rows >= 0, rows <= Int(UInt32.max) else { throw corrupt("a record batch without columns claims \(rows) rows") }
            return Table(unchecked: [], rowCount: rows)
        }
        return try Table(columns)
    }

    /// Dictionary indices of `width` bytes as `Int32` codes, each checked to lie in `0..<limit` unless its row
    /// is null (a null row's index may be anything; its code becomes 0).
    static func codes(
        _ raw: ArraySlice<UInt8>, width: Int, signed: Bool, count: Int, validity: BitArray?, limit: Int,
        outside: (Int64) -> PartdError
    ) throws -> [Int32] {
        func widened<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type) -> [Int64] {
            RawBytes.elements(T.self, count: count, from: [raw]).map { Int64(truncatingIfNeeded: $0) }
        }
        var codes: [Int32]
        if width == 4 && signed {
            codes = RawBytes.elements(Int32.self, count: count, from: [raw])
        } else {
            let wide: [Int64] = switch (width, signed) {
            case (1, true): widened(Int8.self)
            case (1, false): widened(UInt8.self)
            case (2, true): widened(Int16.self)
            case (2, false): widened(UInt16.self)
            case (4, _): widened(UInt32.self)
            case (8, false): widened(UInt64.self).map { $0 < 0 ? Int64.max : $0 }
            default: widened(Int64.self)
            }
            codes = try wide.indices.map { row in
                let index = wide[row]
                if index >= 0 && index < limit { return Int32(index) }
                guard let validity, !validity[row] else { throw outside(index) }
                return 0
            }
        }
        // One pass for the common case, every code in range; rows outside it must be null.
        var inRange = true
        for code in codes { inRange = inRange && code >= 0 && Int(code) < limit }
        if !inRange {
            for row in codes.indices where codes[row] < 0 || Int(codes[row]) >= limit {
                guard let validity, !validity[row] else { throw outside(Int64(codes[row])) }
                codes[row] = 0
            }
        }
        return codes
    }

    /// Codes (checked against the dictionary, null rows' set to 0) into an Arrow dictionary, which may repeat a
    /// value where a ``CategoricalArray`` may not: repeats are merged and their codes remapped, as for table
    /// frames. Codes of an empty dictionary (rows that are all null) point at one empty category.
    static func categorical(codes: [Int32], categories: StringArray) -> CategoricalArray {
        Dictionary(categories).categorical(codes: codes)
    }

    /// An Arrow dictionary made ready for the batches that use it: whether its values repeat is found once,
    /// not per batch (which hashed the whole dictionary for every batch).
    struct Dictionary {
        /// The values as sent, which the indices point at.
        let values: StringArray
        /// The values without repeats (each at its first place), and the code of each value's index among
        /// them; `nil` when no value repeats and the indices are the codes.
        private let merged: (categories: StringArray, remap: [Int32])?

        init(_ values: StringArray) {
            self.values = values
            if values.hasRepeats {
                // As a concatenation after an empty array remaps it: categories in order, repeats merged.
                let all = CategoricalArray(unchecked: values.indices.map { Int32($0) }, categories: values)
                let result = CategoricalArray.concatenate([CategoricalArray(), all])
                merged = (result.categories, result.codes)
            } else {
                merged = nil
            }
        }

        /// Codes (checked against ``values``, null rows' set to 0) as a ``CategoricalArray``; codes of an empty
        /// dictionary (rows that are all null) point at one empty category.
        func categorical(codes: [Int32]) -> CategoricalArray {
            if let merged {
                return CategoricalArray(unchecked: codes.map { merged.remap[Int($0)] }, categories: merged.categories)
            }
            var categories = values
            if categories.isEmpty && !codes.isEmpty { categories.append("") }
            return CategoricalArray(unchecked: codes, categories: categories)
        }
    }
}

extension StringArray {
    /// Whether every string is valid UTF-8, each on its own (as Arrow's `utf8` type requires).
    public var isUTF8: Bool { ArrowWriter.isUTF8(self) }
}
