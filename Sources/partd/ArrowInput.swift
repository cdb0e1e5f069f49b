// SPDX-License-Identifier: Apache-2.0
//
// Input files of `partd shuffle`, `groupby`, `join`, `sort` and `distinct`: CSV (plain or gzip-compressed, a
// file, standard input or a pipe), or Arrow IPC (file or stream, from a file) read a record batch at a time;
// several files read one after the other as one input.

import Foundation
import Partd
import PartdCSV
import PartdTyped

/// A file read as tables a chunk at a time.
protocol TableSource: AnyObject {
    var path: String { get }
    /// The column names.
    var header: [String] { get }
    var fileSize: Int { get }
    /// How far into the file the chunks returned so far reach, for progress.
    var bytesRead: Int { get }
    /// The next chunk, or `nil` at the end.
    func nextChunk() throws -> Table?
    /// Only these columns make it into the chunks (all when `nil`); a source that cannot skip columns
    /// gives them all.
    var selectedColumns: Set<UTF8Key>? { get set }
    /// Whether a string of the chunks returned so far is not UTF-8: Arrow output of them must declare its
    /// string columns binary from the start (``PartitionPrinter``).
    var holdsNonUTF8: Bool { get }
    /// A table of the chunks' columns with no rows, for an input of a header alone: CSV columns of the types
    /// the first chunk settled or `--types` gives, else `defaultKind`; an Arrow file's schema.
    func emptyTable(defaultKind: ColumnKind) -> Table
}

extension TableSource {
    /// ``emptyTable(defaultKind:)`` with CSV columns not typed by `--types` as strings (as pandas reads a
    /// header alone: columns of objects).
    func emptyTable() -> Table { emptyTable(defaultKind: .string) }
}

extension CSVReader: TableSource {}

/// Opens `path` as Arrow if it starts as an Arrow IPC file (`ARROW1`) or stream (a continuation marker)
/// does, else as CSV. The path is opened once, so a pipe or FIFO reads whole; Arrow needs a file. `types` applies to CSV columns; naming a column of an Arrow file, whose columns carry
/// their types, is an error. `missingValues` (`--na`) applies to CSV too; an Arrow file's nulls are its own.
/// `settled` adds column types for a CSV file only (those an earlier file of the same input settled).
func openInput(
    path: String, chunkRows: Int, types: [UTF8Key: ColumnKind], missingValues: MissingValues?, typesOfOtherFiles: Bool = false,
    settled: [UTF8Key: ColumnKind] = [:]
) throws -> any TableSource {
    let csvTypes = settled.merging(types) { $1 }
    // The path is opened once and its first bytes handed on to the reader: a pipe (`/dev/stdin`, `<(zcat …)`, a
    // FIFO) cannot be opened again from its start.
    let (handle, closes) = try CSVInput.open(path)
    let start: [UInt8]
    do {
        start = try CSVInput.peek(handle, 6, path: path)
    } catch {
        if closes { try? handle.close() }
        throw error
    }
    guard start.starts(with: Array("ARROW1".utf8)) || start.starts(with: [0xFF, 0xFF, 0xFF, 0xFF]) else {
        let csv = CSVInput(path: path, handle: handle, closes: closes, peeked: start)
        return try CSVReader(
            input: csv, chunkRows: chunkRows, types: csvTypes, missingValues: missingValues, typesOfOtherFiles: typesOfOtherFiles)
    }
    guard CSVInput.isRegularFile(handle) else {
        if closes { try? handle.close() }
        throw CommandError("\(path): Arrow input is read by seeking, so it must be a file, not a pipe: save it to a file first")
    }
    let input = try ArrowInput(path: path, handle: handle, closes: closes)
    for name in types.keys {
        if let field = input.schema.fields.first(where: { $0.name.hasSameUTF8(as: name.string) }) {
            throw CommandError("\(path): --types cannot change column \(name) of an Arrow file (it holds \(field.type))")
        }
        if !typesOfOtherFiles { throw CommandError("\(path): --types names \(name), which is not a column") }
    }
    return input
}

/// Opens `paths` as one input: the one file, or ``InputFiles`` for several. `widened` adds column types for CSV
/// files (those ``readingAgainOnConflict(inputs:given:undo:_:)`` widened), below `types`.
func openInputs(
    paths: [String], chunkRows: Int, types: [UTF8Key: ColumnKind], missingValues: MissingValues?, widened: [UTF8Key: ColumnKind] = [:]
) throws -> any TableSource {
    guard paths.count > 1 else {
        return try openInput(path: paths[0], chunkRows: chunkRows, types: types, missingValues: missingValues, settled: widened)
    }
    return try InputFiles(paths: paths, chunkRows: chunkRows, types: types, missingValues: missingValues, widened: widened)
}

/// Several files read one after the other as one input. Each must have the first file's columns, and its
/// chunks the first chunk's column types: CSV files after the first take the types the first file's first
/// chunk settled (or `--types`), not types of their own. `widened` types every CSV file's columns it names
/// (below `--types`).
final class InputFiles: TableSource {
    let paths: [String]
    let header: [String]
    let fileSize: Int
    private let chunkRows: Int
    private let types: [UTF8Key: ColumnKind]
    private let widened: [UTF8Key: ColumnKind]
    private let missingValues: MissingValues?
    private var index = 0
    private var current: any TableSource
    /// The bytes of the files before the current one.
    private var bytesBefore = 0
    private var schema: TableSchema?
    /// The column types the first CSV file settled, by name.
    private var settledKinds: [UTF8Key: ColumnKind] = [:]
    /// Whether a file before the current one held strings that are not UTF-8.
    private var earlierNonUTF8 = false

    var holdsNonUTF8: Bool { earlierNonUTF8 || current.holdsNonUTF8 }

    var path: String { current.path }
    var bytesRead: Int { bytesBefore + current.bytesRead }
    var selectedColumns: Set<UTF8Key>? {
        didSet { current.selectedColumns = selectedColumns }
    }

    init(
        paths: [String], chunkRows: Int, types: [UTF8Key: ColumnKind], missingValues: MissingValues?, widened: [UTF8Key: ColumnKind] = [:]
    ) throws {
        // A missing file is reported before any is read.
        for path in paths where !CSVInput.isStandardInput(path) && !FileManager.default.isReadableFile(atPath: path) {
            throw CommandError("cannot open \(path)")
        }
        guard paths.filter(CSVInput.isStandardInput).count <= 1 else { throw CommandError("standard input (-) can be read once") }
        for (index, path) in paths.enumerated() where paths[..<index].contains(path) && CSVInput.isReadOnce(path) {
            throw CommandError("\(path) is a pipe, which can be read once: give it once")
        }
        self.paths = paths
        self.chunkRows = chunkRows
        self.types = types
        self.widened = widened
        self.missingValues = missingValues
        current = try openInput(path: paths[0], chunkRows: chunkRows, types: types, missingValues: missingValues, settled: widened)
        header = current.header
        fileSize = paths.reduce(0) { total, path in
            total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        }
    }

    func emptyTable(defaultKind: ColumnKind) -> Table {
        if let schema { return Table(empty: schema) }
        return current.emptyTable(defaultKind: defaultKind)
    }

    func nextChunk() throws -> Table? {
        while true {
            if let chunk = try current.nextChunk() {
                if let schema {
                    guard chunk.schema == schema else {
                        throw CommandError("\(current.path): its columns \(chunk.schema) differ from those of \(paths[0]), \(schema)")
                    }
                } else {
                    schema = chunk.schema
                    if let csv = current as? CSVReader, let kinds = csv.kinds {
                        settledKinds = Dictionary(uniqueKeysWithValues: zip(csv.header.map { UTF8Key($0) }, kinds))
                    }
                }
                return chunk
            }
            guard index + 1 < paths.count else { return nil }
            bytesBefore += current.fileSize
            earlierNonUTF8 = holdsNonUTF8
            index += 1
            current = try openInput(
                path: paths[index], chunkRows: chunkRows, types: types, missingValues: missingValues, typesOfOtherFiles: true,
                settled: widened.merging(settledKinds) { $1 })
            current.selectedColumns = selectedColumns
            guard current.header.elementsEqual(header, by: { $0.hasSameUTF8(as: $1) }) else {
                throw CommandError("""
                    \(paths[index]): its columns (\(current.header.joined(separator: ", "))) differ from those of \(paths[0]) \
                    (\(header.joined(separator: ", ")))
                    """)
            }
        }
    }
}

/// An Arrow IPC file or stream, a record batch per chunk.
final class ArrowInput: TableSource {
    let path: String
    let fileSize: Int
    private(set) var bytesRead = 0
    /// The columns each chunk holds (all when `nil`), in the file's order, as a CSV file's reader gives them, so
    /// that an Arrow file and a CSV file can make one input (their chunks then have the same columns).
    var selectedColumns: Set<UTF8Key>?
    private(set) var holdsNonUTF8 = false
    private var batches: ArrowBatchReader
    private let handle: FileHandle
    private let closes: Bool

    var schema: TableSchema { batches.schema }
    var header: [String] { batches.schema.fields.map(\.name) }

    /// Reads `handle`, a regular file's (standard input's too, redirected from a file), closed at deinit if
    /// `closes`.
    init(path: String, handle: FileHandle, closes: Bool) throws {
        self.path = path
        self.handle = handle
        self.closes = closes
        fileSize = Int(try handle.seekToEnd())
        let read = { [handle] (offset: Int, count: Int) throws -> ArraySlice<UInt8> in
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else { throw CommandError("\(path): the file ended early (it changed while read?)") }
            return [UInt8](data)[...]
        }
        do {
            batches = try ArrowBatchReader(size: fileSize, read: read)
        } catch let error as PartdError {
            throw CommandError("\(path): \(error.message)")
        }
    }

    deinit {
        if closes { try? handle.close() }
    }

    func emptyTable(defaultKind: ColumnKind) -> Table {
        Table(empty: schema)
    }

    func nextChunk() throws -> Table? {
        do {
            var table = try batches.next()
            bytesRead = table == nil ? fileSize : Int((try? handle.offset()) ?? 0)
            if let selected = selectedColumns, let whole = table {
                table = try whole.selecting(header.filter { selected.contains(UTF8Key($0)) })
            }
            if !holdsNonUTF8, let table {
                holdsNonUTF8 = table.columns.contains { column in
                    (column.strings ?? column.categorical?.categories).map { !$0.isUTF8 } ?? false
                }
            }
            return table
        } catch let error as PartdError {
            throw CommandError("\(path): \(error.message)")
        }
    }
}
