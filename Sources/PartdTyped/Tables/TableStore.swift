// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression

/// Tables per key over any byte store (partd's `PandasBlocks` and
/// `PandasColumns`, in a format of our own): each appended table is one
/// checked frame (`docs/format.md` §6.3); `get` concatenates a key's tables in
/// append order.
///
/// ```swift
/// let tables = TableStore(over: MemoryStore())
/// let t = try Table([Column("id", [1, 2] as [Int64]), Column("name", strings: ["a", "b"])])
/// try tables.append(["p0": t])
/// try tables.append(["p0": t])
/// try tables.get("p0").rowCount                 // 4
/// try tables.get("p0", columns: ["name"])       // only the name column is decoded
/// ```
///
/// Every table appended to a key must have the same schema (column names and
/// types, in order); a mismatch is ``PartdError/Code/typeMismatch`` naming
/// both. An append checks against the schema this instance knows (from an
/// append or a read); tables another instance or process appended are checked
/// when the key is read, as ``ArrayStore`` does. Categorical columns whose dictionaries differ are unified on read.
/// A missing key reads as an empty table with the key's schema when this
/// instance knows it (from an append or a read), and with no columns otherwise.
///
/// The store keeps the column arrays of its latest `get` (at most that `get`'s
/// size) and writes the next `get`'s columns into those the caller has dropped,
/// which spares the kernel's work of handing out fresh pages; arrays the caller
/// still holds are never written. ``releaseReusableMemory()`` lets them go.
public final class TableStore<Inner: ByteStore>: Sendable {
    /// The store the frames are written to.
    public let inner: Inner
    private let schemas = KnownLayouts<TableSchema>()
    /// The column arrays of the latest `get`, reused by the next once the caller has dropped them.
    let recycler = ResultBuffers()

    public init(over inner: Inner) {
        self.inner = inner
    }

    /// Appends each table as one frame under its key.
    ///
    /// - Throws: ``PartdError/Code/typeMismatch`` (and appends nothing) if a
    ///   table's schema differs from what this instance knows its key holds;
    ///   ``PartdError/Code/invalidArgument`` (and appends nothing) for a column
    ///   name longer than 65,535 bytes of UTF-8, which a table frame cannot hold.
    public func append(_ batch: [(key: PartdKey, value: Table)]) throws {
        for (key, table) in batch { try TableFrames.checkFits(table, key: key) }
        try schemas.append(
            batch, to: inner, totalBytes: batch.reduce(0) { $0 + $1.value.rowCount * 8 * $1.value.columns.count },
            layout: { $0.schema },
            mismatch: { PartdError.layoutMismatch($0, holds: "tables \($1)", given: "\($2)") },
            payload: { TableFrames.payload($0) })
    }

    public func append(_ batch: [PartdKey: Table]) throws {
        try append(batch.map { (key: $0.key, value: $0.value) })
    }

    public func append(_ key: PartdKey, _ table: Table) throws {
        try append([(key: key, value: table)])
    }

    /// Every table appended to each key, concatenated in append order; with
    /// `columns`, only those columns, in that order (the others' bytes are not
    /// decoded).
    ///
    /// - Throws: ``PartdError/Code/corruptData`` naming the key and byte offset
    ///   of a damaged frame; ``PartdError/Code/typeMismatch`` if a key's frames
    ///   disagree on the schema; ``PartdError/Code/invalidArgument`` for a
    ///   column the key's tables do not have, or one named twice in `columns`
    ///   (whatever the keys hold).
    public func get(_ keys: [PartdKey], columns: [String]? = nil) throws -> [Table] {
        if let columns { try Table.checkSelection(columns) }
        // Keys are read and decoded on all cores.
        let tables = try Parallel.map(keys, totalBytes: .max) { key in
            try inner.withBytes(of: key) { try decode($0, key: key, columns: columns) }
        }
        recycler.keep(tables.flatMap(\.heldArrays))
        return tables
    }

    /// Lets go of the memory this store keeps from its latest `get` for the next one to reuse (at most the
    /// size of that `get`'s tables; arrays the caller still holds are never reused, only shared).
    public func releaseReusableMemory() {
        recycler.removeAll()
    }

    public func get(_ key: PartdKey, columns: [String]? = nil) throws -> Table {
        try get([key], columns: columns)[0]
    }

    /// The schema of what `key` holds, from its first frame (or this instance's
    /// memory of it), or `nil` if unknown.
    public func schema(of key: PartdKey) throws -> TableSchema? {
        if let known = schemas[key] { return known }
        return try inner.withBytes(of: key) { bytes in
            guard let first = try TypedPayloadKind.frames(bytes, key: key, given: "tables").first else { return nil }
            try TypedPayloadKind.check(first.bytes, startsWith: TableFrames.magic, key: key, given: "tables")
            do throws(TableFrames.FrameError) {
                return try TableFrames.schema(first.bytes)
            } catch {
                throw PartdError.corruptFrame(key, first.offset, error)
            }
        }
    }

    private func decode(_ bytes: ArraySlice<UInt8>, key: PartdKey, columns: [String]?) throws -> Table {
        let frames = try TypedPayloadKind.frames(bytes, key: key, given: "tables")
        guard let table = try TableFrames.decode(frames: frames, selection: columns, key: key, recycler: recycler) else {
            guard let schema = schemas[key] else { return Table() }
            let empty = Table(empty: schema)
            return try columns.map { try empty.selecting($0) } ?? empty
        }
        if columns == nil { schemas.record(table.schema, for: key) }
        return table
    }

    public func delete(_ keys: [PartdKey]) throws {
        try inner.delete(keys)
        schemas.forget(keys)
    }

    public func delete(_ key: PartdKey) throws { try delete([key]) }

    public func drop() throws {
        try inner.drop()
        schemas.forgetAll()
    }

    public func keys() throws -> [PartdKey] { try inner.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try inner.contains(key) }
}
