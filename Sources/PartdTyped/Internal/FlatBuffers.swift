// SPDX-License-Identifier: Apache-2.0

/// The small part of FlatBuffers that Apache Arrow's IPC metadata uses: tables of scalars and
/// offsets, strings, vectors of tables and vectors of structs, written and read little-endian.
///
/// The writer lays a value out front to back: each table's vtable just before the table, each
/// child after its parent, so every offset points forward as the format requires. Scalars sit at
/// offsets aligned to their size within tables that are themselves aligned to their largest scalar.
enum FlatBuffers {
    /// A value to lay out.
    indirect enum Value {
        /// A table; element `i` is field id `i` (`nil`: absent, the reader takes the default).
        case table([Field?])
        case string(String)
        case tables([Value])
        /// A vector of structs, already encoded: `count` structs of `bytes.count / count` bytes each.
        case structs(bytes: [UInt8], count: Int, alignment: Int)
    }

    enum Field {
        case uint8(UInt8)
        case bool(Bool)
        case int16(Int16)
        case int32(Int32)
        case int64(Int64)
        case offset(Value)

        var width: Int {
            switch self {
            case .uint8, .bool: return 1
            case .int16: return 2
            case .int32, .offset: return 4
            case .int64: return 8
            }
        }
    }

    /// Appends `value`'s little-endian bytes (the byte order of FlatBuffers and of Arrow's other fields).
    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        var v = value.littleEndian
        for _ in 0..<MemoryLayout<T>.size {
            bytes.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    /// The integer whose little-endian bytes `bytes` holds (exactly `MemoryLayout<T>.size` of them).
    static func load<T: FixedWidthInteger>(_: T.Type, from bytes: ArraySlice<UInt8>) -> T {
        bytes.reversed().reduce(T(0)) { $0 << 8 | T(truncatingIfNeeded: $1) }
    }

    /// The buffer holding `root`, its size a multiple of 8.
    static func encode(_ root: Value) -> [UInt8] {
        var writer = Writer()
        writer.bytes = [0, 0, 0, 0]
        let position = writer.place(root)
        writer.patch(UInt32(position), at: 0)
        writer.align(8)
        return writer.bytes
    }

    private struct Writer {
        var bytes: [UInt8] = []

        mutating func align(_ alignment: Int) {
            while bytes.count % alignment != 0 { bytes.append(0) }
        }

        mutating func append<T: FixedWidthInteger>(_ value: T) {
            FlatBuffers.append(value, to: &bytes)
        }

        mutating func patch<T: FixedWidthInteger>(_ value: T, at position: Int) {
            var v = value.littleEndian
            for i in 0..<MemoryLayout<T>.size {
                bytes[position + i] = UInt8(truncatingIfNeeded: v)
                v >>= 8
            }
        }

        /// Writes `value` and returns where it starts.
        mutating func place(_ value: Value) -> Int {
            switch value {
            case .string(let string):
                align(4)
                let position = bytes.count
                let utf8 = Array(string.utf8)
                append(UInt32(utf8.count))
                bytes.append(contentsOf: utf8)
                bytes.append(0)
                return position
            case .structs(let data, let count, let alignment):
                align(4)
                while (bytes.count + 4) % alignment != 0 { bytes.append(0) }
                let position = bytes.count
                append(UInt32(count))
                bytes.append(contentsOf: data)
                return position
            case .tables(let items):
                align(4)
                let position = bytes.count
                append(UInt32(items.count))
                let slots = bytes.count
                bytes.append(contentsOf: repeatElement(0, count: 4 * items.count))
                for (i, item) in items.enumerated() {
                    let slot = slots + 4 * i
                    let child = place(item)
                    patch(UInt32(child - slot), at: slot)
                }
                return position
            case .table(let fields):
                return placeTable(fields)
            }
        }

        private mutating func placeTable(_ fields: [Field?]) -> Int {
            // Inline layout: the vtable offset, then the fields widest first, each aligned to its width.
            var offsets = [Int](repeating: 0, count: fields.count)
            var size = 4
            var tableAlignment = 4
            let order = fields.indices.filter { fields[$0] != nil }.sorted { fields[$0]!.width > fields[$1]!.width }
            for id in order {
                let width = fields[id]!.width
                size = (size + width - 1) / width * width
                offsets[id] = size
                size += width
                tableAlignment = max(tableAlignment, width)
            }
            size = (size + tableAlignment - 1) / tableAlignment * tableAlignment
            let used = (fields.lastIndex { $0 != nil } ?? -1) + 1

            align(2)
            let vtable = bytes.count
            append(UInt16(4 + 2 * used))
            append(UInt16(size))
            for id in 0..<used { append(UInt16(offsets[id])) }
            align(tableAlignment)
            let table = bytes.count
            append(Int32(table - vtable))
            bytes.append(contentsOf: repeatElement(0, count: size - 4))

            var children: [(slot: Int, value: Value)] = []
            for id in order {
                let at = table + offsets[id]
                switch fields[id]! {
                case .uint8(let v): patch(v, at: at)
                case .bool(let v): patch(UInt8(v ? 1 : 0), at: at)
                case .int16(let v): patch(v, at: at)
                case .int32(let v): patch(v, at: at)
                case .int64(let v): patch(v, at: at)
                case .offset(let child): children.append((at, child))
                }
            }
            for (slot, child) in children.sorted(by: { $0.slot < $1.slot }) {
                let position = place(child)
                patch(UInt32(position - slot), at: slot)
            }
            return table
        }
    }

    /// Reads a buffer written by any FlatBuffers writer, checking every position against the buffer's
    /// bounds, so damaged bytes throw instead of reading elsewhere.
    struct Reader {
        let bytes: ArraySlice<UInt8>
        let fail: (String) -> any Error

        var base: Int { bytes.startIndex }

        func integer<T: FixedWidthInteger>(_: T.Type, at position: Int) throws -> T {
            guard position >= 0, position + MemoryLayout<T>.size <= bytes.count else {
                throw fail("a FlatBuffers field at byte \(position) runs past the \(bytes.count)-byte buffer")
            }
            return FlatBuffers.load(T.self, from: bytes[(base + position)..<(base + position + MemoryLayout<T>.size)])
        }

        /// The root table.
        func root() throws -> Table {
            try table(at: Int(try integer(UInt32.self, at: 0)))
        }

        func table(at position: Int) throws -> Table {
            let vtable = position - Int(try integer(Int32.self, at: position))
            let vtableSize = Int(try integer(UInt16.self, at: vtable))
            let tableSize = Int(try integer(UInt16.self, at: vtable + 2))
            guard vtableSize >= 4, vtableSize % 2 == 0, vtable + vtableSize <= bytes.count,
                position + tableSize <= bytes.count
            else { throw fail("a FlatBuffers table at byte \(position) has a damaged vtable") }
            return Table(reader: self, position: position, vtable: vtable, fieldCount: (vtableSize - 4) / 2, size: tableSize)
        }

        struct Table {
            let reader: Reader
            let position: Int
            let vtable: Int
            let fieldCount: Int
            let size: Int

            /// Where field `id` is stored, or `nil` when it is absent.
            func fieldPosition(_ id: Int, width: Int) throws -> Int? {
                guard id < fieldCount else { return nil }
                let offset = Int(try reader.integer(UInt16.self, at: vtable + 4 + 2 * id))
                guard offset != 0 else { return nil }
                guard offset + width <= size else {
                    throw reader.fail("a FlatBuffers field lies outside its table at byte \(position)")
                }
                return position + offset
            }

            func scalar<T: FixedWidthInteger>(_ id: Int, default value: T = 0) throws -> T {
                guard let at = try fieldPosition(id, width: MemoryLayout<T>.size) else { return value }
                return try reader.integer(T.self, at: at)
            }

            func bool(_ id: Int) throws -> Bool { try scalar(id, default: UInt8(0)) != 0 }

            /// Where the object field `id` points, or `nil` when absent.
            private func target(_ id: Int) throws -> Int? {
                guard let at = try fieldPosition(id, width: 4) else { return nil }
                return at + Int(try reader.integer(UInt32.self, at: at))
            }

            func table(_ id: Int) throws -> Table? {
                try target(id).map { try reader.table(at: $0) }
            }

            func string(_ id: Int) throws -> String? {
                guard let at = try target(id) else { return nil }
                let count = Int(try reader.integer(UInt32.self, at: at))
                guard at + 4 + count <= reader.bytes.count else {
                    throw reader.fail("a FlatBuffers string at byte \(at) runs past the buffer")
                }
                let start = reader.base + at + 4
                return String(decoding: reader.bytes[start..<(start + count)], as: UTF8.self)
            }

            func tables(_ id: Int) throws -> [Table] {
                guard let at = try target(id) else { return [] }
                let count = Int(try reader.integer(UInt32.self, at: at))
                guard count <= (reader.bytes.count - at) / 4 else {
                    throw reader.fail("a FlatBuffers vector at byte \(at) runs past the buffer")
                }
                return try (0..<count).map { i in
                    let slot = at + 4 + 4 * i
                    return try reader.table(at: slot + Int(try reader.integer(UInt32.self, at: slot)))
                }
            }

            /// A vector of structs of `stride` bytes: where its first element starts, and how many there are.
            func structs(_ id: Int, stride: Int) throws -> (start: Int, count: Int) {
                guard let at = try target(id) else { return (0, 0) }
                let count = Int(try reader.integer(UInt32.self, at: at))
                guard count <= (reader.bytes.count - at - 4) / stride else {
                    throw reader.fail("a FlatBuffers vector at byte \(at) runs past the buffer")
                }
                return (at + 4, count)
            }
        }
    }
}
