// SPDX-License-Identifier: Apache-2.0

import Partd

/// Table frames, version 1 (`docs/format.md` §6.3): a 24-byte header, column
/// descriptors with every buffer's length, then the buffers, each padded to a
/// multiple of 8 bytes. Reading a subset of columns skips the others' buffers.
enum TableFrames {
    static let magic: [UInt8] = Array("PDTB".utf8)
    static let version: UInt8 = 1
    static let headerSize = 24

    private static let fixedCodes: [(DType, UInt8)] = [
        (.bool, 1), (.int8, 2), (.int16, 3), (.int32, 4), (.int64, 5), (.uint8, 6), (.uint16, 7), (.uint32, 8),
        (.uint64, 9), (.float16, 10), (.float32, 11), (.float64, 12),
    ]
    private static let timestampCode: UInt8 = 13
    private static let stringCode: UInt8 = 14
    private static let categoricalCode: UInt8 = 15
    /// A string column with Int32 offsets (Arrow's `utf8`), written whenever its data is under 2 GiB.
    private static let string32Code: UInt8 = 16

    private static func code(of type: ColumnType) -> (code: UInt8, unit: UInt8) {
        switch type {
        case .fixed(let dtype):
            if case .datetime(let unit) = dtype.kind {
                return (timestampCode, UInt8(TimeUnit.allCases.firstIndex(of: unit)!))
            }
            return (fixedCodes.first { $0.0 == dtype }!.1, 0)
        case .string: return (stringCode, 0)
        case .categorical: return (categoricalCode, 0)
        }
    }

    private static func type(code: UInt8, unit: UInt8) -> ColumnType? {
        switch code {
        case timestampCode: return Int(unit) < TimeUnit.allCases.count ? .timestamp(TimeUnit.allCases[Int(unit)]) : nil
        case stringCode, string32Code: return unit == 0 ? .string : nil
        case categoricalCode: return unit == 0 ? .categorical : nil
        default: return unit == 0 ? fixedCodes.first { $0.1 == code }.map { .fixed($0.0) } : nil
        }
    }

    private static func padding(_ length: Int) -> Int { (8 - length % 8) % 8 }

    // MARK: Writing

    /// The longest column name a descriptor holds (its length is a UInt16).
    static let maxNameBytes = Int(UInt16.max)

    /// Checks that `table` fits a table frame: every column name at most ``maxNameBytes`` bytes of UTF-8 and
    /// none repeated (as bytes; what ``parse(_:)`` refuses), and the descriptors (a UInt32 length) under 4 GiB
    /// together.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` naming the column (by its first characters).
    static func checkFits(_ table: Table, key: PartdKey? = nil) throws {
        var descriptorBytes = 0
        var names = Set<UTF8Key>(minimumCapacity: table.columns.count)
        for column in table.columns {
            guard names.insert(UTF8Key(column.name)).inserted else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "column \"\(column.name.prefix(40))\" appears twice; a table frame's column names are unique", key: key)
            }
            let name = column.name.utf8.count
            guard name <= maxNameBytes else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "column \"\(column.name.prefix(40))…\" has a name of \(name) bytes; a table frame holds names of up to \(maxNameBytes) bytes of UTF-8",
                    key: key)
            }
            let buffers = (column.validity == nil ? 0 : 1) + {
                switch column.storage {
                case .fixed, .bool: 1
                case .string: 2
                case .categorical: 3
                }
            }()
            descriptorBytes += 2 + name + 4 + 8 * buffers
        }
        guard descriptorBytes <= UInt32.max, table.columns.count <= UInt32.max else {
            throw PartdError(
                code: .invalidArgument,
                message: "a table of \(table.columns.count) columns has \(descriptorBytes) bytes of column descriptors; a table frame holds up to 4 GiB",
                key: key)
        }
    }

    /// The frame payload of `table`, which must fit (``checkFits(_:key:)``). String columns get Int32 offsets (type code 16) when their data is under
    /// 2 GiB, unless `wideStringOffsets` (Int64 offsets, type code 14, as every column over 2 GiB gets).
    static func payload(_ table: Table, wideStringOffsets: Bool = false) -> [UInt8] {
        // Every array is made at its final size: a table piece of a shuffle is often a few hundred rows, for
        // which growing small arrays cost more allocations than the columns themselves.
        var buffers: [Buffer] = []
        buffers.reserveCapacity(table.columns.count * 4)
        var descriptors: [UInt8] = []
        descriptors.reserveCapacity(table.columns.reduce(0) { $0 + 6 + $1.name.utf8.count + 4 * 8 })
        for column in table.columns {
            let described = code(of: column.type)
            var code = described.code
            let first = buffers.count
            if let validity = column.validity { buffers.append(.bytes(validity.bytes)) }
            switch column.storage {
            case .fixed(let values):
                buffers.append(.fixed(values))
            case .bool(let bits):
                buffers.append(.bytes(bits.bytes))
            case .string(let strings):
                if strings.data.count <= Int32.max && !wideStringOffsets {
                    buffers.append(.narrowedOffsets(strings.offsets))
                    code = string32Code
                } else {
                    buffers.append(.offsets(strings.offsets))
                }
                buffers.append(.bytes(strings.data))
            case .categorical(let categorical):
                buffers.append(.codes(categorical.codes))
                buffers.append(.offsets(categorical.categories.offsets))
                buffers.append(.bytes(categorical.categories.data))
            }
            LittleEndian.append(UInt16(column.name.utf8.count), to: &descriptors)
            descriptors.append(contentsOf: column.name.utf8)
            descriptors.append(code)
            descriptors.append(column.validity == nil ? 0 : 1)
            descriptors.append(described.unit)
            descriptors.append(UInt8(buffers.count - first))
            for buffer in buffers[first...] { LittleEndian.append(UInt64(buffer.byteCount), to: &descriptors) }
        }
        let start = headerSize + descriptors.count
        var payload: [UInt8] = []
        payload.reserveCapacity(start + padding(start) + buffers.reduce(0) { $0 + $1.byteCount + 7 })
        payload.append(contentsOf: magic)
        payload.append(version)
        payload.append(contentsOf: repeatElement(0, count: 3))
        LittleEndian.append(UInt64(table.rowCount), to: &payload)
        LittleEndian.append(UInt32(table.columns.count), to: &payload)
        LittleEndian.append(UInt32(descriptors.count), to: &payload)
        payload += descriptors
        payload.append(contentsOf: repeatElement(0, count: padding(payload.count)))
        for buffer in buffers {
            buffer.append(to: &payload)
            payload.append(contentsOf: repeatElement(0, count: padding(payload.count)))
        }
        return payload
    }

    /// One buffer of a column as it is written: its source, copied once, straight into the payload.
    private enum Buffer {
        case bytes([UInt8])
        case fixed(any FixedStorage)
        case codes([Int32])
        case offsets([Int64])
        /// Int64 offsets written as Int32 values (all fit: the data is under 2 GiB).
        case narrowedOffsets([Int64])

        var byteCount: Int {
            switch self {
            case .bytes(let bytes): bytes.count
            case .fixed(let values): values.count * values.dtype.byteWidth
            case .codes(let codes): codes.count * 4
            case .offsets(let offsets): offsets.count * 8
            case .narrowedOffsets(let offsets): offsets.count * 4
            }
        }

        func append(to payload: inout [UInt8]) {
            switch self {
            case .bytes(let bytes): payload += bytes
            case .fixed(let values): values.appendBytes(to: &payload)
            case .codes(let codes): RawBytes.append(codes, to: &payload)
            case .offsets(let offsets): RawBytes.append(offsets, to: &payload)
            case .narrowedOffsets(let offsets): RawBytes.appendNarrowed(offsets, to: &payload)
            }
        }
    }

    // MARK: Reading

    struct Descriptor {
        var name: String
        var type: ColumnType
        var nullable: Bool
        /// Buffer ranges within the payload.
        var buffers: [Range<Int>]
        /// The width of a string column's offsets: 8 (type code 14) or 4 (type code 16).
        var offsetWidth = 8
    }

    /// The row count and column descriptors of one table frame, every length
    /// checked against the bytes present.
    static func parse(_ bytes: ArraySlice<UInt8>) throws(FrameError) -> (rows: Int, columns: [Descriptor]) {
        let base = bytes.startIndex
        guard bytes.count >= headerSize, bytes.starts(with: magic) else { throw FrameError("not a table frame (bad magic)") }
        guard bytes[base + 4] == version else {
            throw FrameError("table frame version \(bytes[base + 4]) is not supported (this library reads version \(version))")
        }
        guard bytes[(base + 5)..<(base + 8)].allSatisfy({ $0 == 0 }) else { throw FrameError("non-zero reserved bytes") }
        let rows64 = LittleEndian.load(bytes, at: 8)
        let columnCount = Int(LittleEndian.load32(bytes, at: 16))
        let descriptorLength = Int(LittleEndian.load32(bytes, at: 20))
        guard descriptorLength <= bytes.count - headerSize else { throw FrameError("the column descriptors are cut off") }
        // Every row costs at least one bit of a buffer, so a row count beyond 8 x the bytes is a lie; a
        // frame without columns (a row count alone) may claim up to 2^32 - 1 rows.
        guard rows64 <= UInt64(bytes.count) * 8 || (columnCount == 0 && rows64 <= UInt64(UInt32.max)),
            rows64 <= UInt64(Int.max / 16)
        else {
            throw FrameError("a table frame claims \(rows64) rows in \(bytes.count) bytes")
        }
        let rows = Int(rows64)
        var cursor = headerSize
        let descriptorEnd = headerSize + descriptorLength
        var position = descriptorEnd + padding(descriptorEnd)
        guard position <= bytes.count else { throw FrameError("the padding after the column descriptors is cut off") }
        var columns: [Descriptor] = []
        var names = Set<UTF8Key>()
        for _ in 0..<min(columnCount, descriptorLength / 4 + 1) {
            guard descriptorEnd - cursor >= 2 else { throw FrameError("a column descriptor is cut off") }
            let nameLength = Int(LittleEndian.load16(bytes, at: cursor))
            guard descriptorEnd - cursor - 2 >= nameLength + 4 else { throw FrameError("a column descriptor is cut off") }
            guard let name = String(validating: bytes[(base + cursor + 2)..<(base + cursor + 2 + nameLength)], as: UTF8.self),
                names.insert(UTF8Key(name)).inserted
            else { throw FrameError("a column name is not UTF-8 or repeats") }
            cursor += 2 + nameLength
            let (code, flags, unit, bufferCount) = (
                bytes[base + cursor], bytes[base + cursor + 1], bytes[base + cursor + 2], Int(bytes[base + cursor + 3])
            )
            cursor += 4
            guard flags <= 1 else { throw FrameError("column \"\(name)\" has unknown flags \(flags) (type code \(code))") }
            guard let type = type(code: code, unit: unit) else {
                guard type(code: code, unit: 0) != nil || code == timestampCode else {
                    throw FrameError("column \"\(name)\" has an unknown type code \(code)")
                }
                throw FrameError(
                    code == timestampCode
                        ? "timestamp column \"\(name)\" has an unknown unit \(unit) (0 s, 1 ms, 2 us, 3 ns)"
                        : "column \"\(name)\" of type code \(code) has unit \(unit), which only timestamps may have (others 0)")
            }
            guard descriptorEnd - cursor >= 8 * bufferCount else { throw FrameError("a column descriptor is cut off") }
            var buffers: [Range<Int>] = []
            for _ in 0..<bufferCount {
                let length = LittleEndian.load(bytes, at: cursor)
                cursor += 8
                guard length <= UInt64(bytes.count - position) else {
                    throw FrameError("column \"\(name)\" claims a \(length)-byte buffer but only \(bytes.count - position) bytes follow")
                }
                buffers.append(position..<(position + Int(length)))
                position += Int(length)
                position += padding(position)
                guard position <= bytes.count else { throw FrameError("the padding after a buffer is cut off") }
            }
            let descriptor = Descriptor(
                name: name, type: type, nullable: flags == 1, buffers: buffers, offsetWidth: code == string32Code ? 4 : 8)
            try checkLengths(descriptor, rows: rows, bytes: bytes)
            columns.append(descriptor)
        }
        guard columns.count == columnCount, cursor == descriptorEnd else {
            throw FrameError("the column descriptors do not add up to the \(columnCount) columns declared")
        }
        guard position == bytes.count else {
            throw FrameError("\(bytes.count - position) bytes follow the last buffer")
        }
        return (rows, columns)
    }

    private static func checkLengths(_ d: Descriptor, rows: Int, bytes: ArraySlice<UInt8>) throws(FrameError) {
        var expected: [Int?] = []
        if d.nullable { expected.append((rows + 7) / 8) }
        switch d.type {
        case .fixed(.bool): expected.append((rows + 7) / 8)
        case .fixed(let dtype): expected.append(rows * dtype.byteWidth)
        case .string: expected += [(rows + 1) * d.offsetWidth, nil]
        case .categorical: expected += [rows * 4, nil, nil]
        }
        guard d.buffers.count == expected.count else {
            throw FrameError("column \"\(d.name)\" (\(d.type)) has \(d.buffers.count) buffers, not \(expected.count)")
        }
        for (buffer, length) in zip(d.buffers, expected) where length != nil && buffer.count != length! {
            throw FrameError("column \"\(d.name)\" (\(d.type)) has a \(buffer.count)-byte buffer where \(rows) rows need \(length!)")
        }
        if d.type == .categorical, d.buffers[d.buffers.count - 2].count % 8 != 0 || d.buffers[d.buffers.count - 2].isEmpty {
            throw FrameError("column \"\(d.name)\": the category offsets are not whole Int64 values")
        }
    }

    /// Decodes the frames of one key into one table: the selected columns (all if
    /// `selection` is nil), in that order, each built from every frame's buffers
    /// with one copy. `nil` if there are no frames.
    ///
    /// - Throws: `corruptData` (key and frame offset) for a damaged frame, `typeMismatch`
    ///   if frames disagree on the schema, `invalidArgument` for an unknown column or one selected twice.
    static func decode(
        frames: [(offset: Int, bytes: ArraySlice<UInt8>)], selection: [String]?, key: PartdKey, recycler: ResultBuffers? = nil
    ) throws -> Table? {
        if let selection { try Table.checkSelection(selection, key: key) }
        var parsed: [Parsed] = []
        parsed.reserveCapacity(frames.count)
        for frame in frames {
            try TypedPayloadKind.check(frame.bytes, startsWith: magic, key: key, given: "tables")
            do {
                let (rows, columns) = try parse(frame.bytes)
                parsed.append(Parsed(offset: frame.offset, bytes: frame.bytes, rows: rows, columns: columns))
            } catch {
                throw PartdError.corruptFrame(key, frame.offset, error)
            }
        }
        guard let first = parsed.first else { return nil }
        for frame in parsed.dropFirst() where frame.schema != first.schema {
            throw PartdError.layoutMismatch(key, holds: "tables \(first.schema) and \(frame.schema)", given: "one schema")
        }
        let names = first.columns.map(\.name)
        let wanted = selection ?? names
        let finder = ColumnFinder(names, lookups: wanted.count)
        let chosen = try wanted.map { name in
            guard let index = finder.index(of: name) else {
                throw PartdError(code: .invalidArgument, message: "key \(key) has no column \"\(name)\"; its tables are \(first.schema)", key: key)
            }
            return index
        }
        var rows = 0
        for frame in parsed {
            let (sum, overflow) = rows.addingReportingOverflow(frame.rows)
            guard !overflow else {
                throw PartdError.corruptFrame(key, frame.offset, "the frames' row counts add up to more than \(Int.max) rows")
            }
            rows = sum
        }
        let columns = try chosen.map { try column($0, of: parsed, rows: rows, key: key, recycler: recycler) }
        return Table(unchecked: columns, rowCount: rows)
    }

    /// One parsed frame.
    private struct Parsed {
        var offset: Int
        var bytes: ArraySlice<UInt8>
        var rows: Int
        var columns: [Descriptor]

        var schema: TableSchema { TableSchema(columns.map { TableSchema.Field($0.name, $0.type) }) }

        func buffer(_ range: Range<Int>) -> ArraySlice<UInt8> {
            bytes[(bytes.startIndex + range.lowerBound)..<(bytes.startIndex + range.upperBound)]
        }

        /// The value buffers of column `index` (after its validity bitmap, if any).
        func values(_ index: Int) -> [ArraySlice<UInt8>] {
            let d = columns[index]
            return d.buffers.dropFirst(d.nullable ? 1 : 0).map(buffer)
        }

        func validity(_ index: Int) -> BitArray? {
            columns[index].nullable ? BitArray(packed: Array(buffer(columns[index].buffers[0])), count: rows) : nil
        }
    }

    private static func column(_ index: Int, of frames: [Parsed], rows: Int, key: PartdKey, recycler: ResultBuffers?) throws -> Column {
        let descriptor = frames[0].columns[index]
        let name = descriptor.name
        var validity: BitArray?
        if frames.contains(where: { $0.columns[index].nullable }) {
            var bits = BitArray()
            for frame in frames { bits.append(contentsOf: frame.validity(index) ?? BitArray(repeating: true, count: frame.rows)) }
            validity = bits
        }
        let storage: Column.Storage
        switch descriptor.type {
        case .fixed(.bool):
            var bits = BitArray()
            for frame in frames { bits.append(contentsOf: BitArray(packed: Array(frame.values(index)[0]), count: frame.rows)) }
            storage = .bool(bits)
        case .fixed(let dtype):
            guard let values = makeFixedStorage(dtype, count: rows, pieces: frames.map { $0.values(index)[0] }, recycler: recycler) else {
                throw PartdError.corruptFrame(key, frames[0].offset, "column \"\(name)\" has type \(dtype), which this platform cannot represent")
            }
            storage = .fixed(values)
        case .string:
            let parts = frames.map { frame in
                let b = frame.values(index)
                return (offsets: b[0], offsetWidth: frame.columns[index].offsetWidth, data: b[1])
            }
            guard let strings = StringArray(parts: parts, recycler: recycler) else {
                let bad = zip(frames, parts).first { StringArray(parts: [$0.1]) == nil }?.0 ?? frames[0]
                throw PartdError.corruptFrame(key, bad.offset, "column \"\(name)\": string offsets are not increasing from 0 to the data length")
            }
            storage = .string(strings)
        case .categorical:
            var parts: [CategoricalArray] = []
            for frame in frames {
                let b = frame.values(index)
                guard var categories = StringArray(parts: [(b[1], b[2])]) else {
                    throw PartdError.corruptFrame(key, frame.offset, "column \"\(name)\": category offsets are not increasing from 0 to the data length")
                }
                if RawBytes.allCodes(b[0], below: Int32(clamping: categories.count)) {
                    parts.append(CategoricalArray(rawCodes: b[0], count: frame.rows, categories: categories))
                    continue
                }
                // Out-of-range codes are allowed only in null rows; they read as 0.
                var codes = RawBytes.elements(Int32.self, count: frame.rows, from: [b[0]])
                let valid = frame.validity(index)
                for row in 0..<frame.rows where codes[row] < 0 || Int(codes[row]) >= categories.count {
                    guard let valid, !valid[row] else {
                        throw PartdError.corruptFrame(
                            key, frame.offset, "column \"\(name)\", row \(row): category code \(codes[row]) is outside 0..<\(categories.count)")
                    }
                    codes[row] = 0
                }
                // Rows that are all null may come with no categories at all (§6.3 leaves their codes
                // unspecified); they point at one empty category, so every code points somewhere.
                if categories.isEmpty { categories.append("") }
                parts.append(CategoricalArray(unchecked: codes, categories: categories))
            }
            // Another writer may repeat a category; they are merged, so equal values share one code.
            storage = .categorical(CategoricalArray.concatenate(parts, mergingRepeatsOfFirst: true))
        }
        return Column(name: name, storage: storage, validity: validity)
    }

    /// The schema of one frame.
    static func schema(_ bytes: ArraySlice<UInt8>) throws(FrameError) -> TableSchema {
        TableSchema(try parse(bytes).columns.map { TableSchema.Field($0.name, $0.type) })
    }

    struct FrameError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
