// SPDX-License-Identifier: Apache-2.0
//
// partd join: two CSV files through two Shuffle<Table>s and joinPartitions.

import ArgumentParser
import Foundation
import Synchronization
import Partd
import PartdCSV
import PartdShuffle
import PartdTyped

extension JoinKind: ExpressibleByArgument {}

struct JoinCSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join two CSV or Arrow files on key columns out of core and print the joined rows.",
        discussion: """
            Shuffles both files by the --on columns in temporary directories (at most --memory in memory \
            each), then joins partition N of the left file with partition N of the right on all cores and \
            prints each partition's rows as it is done, partition by partition. The columns are the left \
            file's, then the right's other than the keys (with --suffix appended to names the left file has). \
            Rows with an empty key (or NaN) match nothing, where pandas matches them with each other. The key \
            columns are checked in both files before anything is shuffled. Their types must compare (integers \
            with integers, floats with floats, strings with strings: an integer key and a float key are an error \
            naming the --types to give, where pandas joins 1 with 1.0); types that differ in the first chunks are \
            refused only once both files are read through, as a later value may widen a key (to strings, say) \
            in both.
            """)

    @Argument(help: "The left file: CSV (a header row, then one row per line; gzip-compressed or not; - for standard input, or a pipe) or Arrow IPC.")
    var left: String
    @Argument(help: "The right file: CSV (or -, or a pipe) or Arrow IPC.") var right: String
    @Option(help: "The key columns, in both files: a column, or several as a,b.") var on: String
    @Option(help: """
        inner (rows whose keys match), left (also each left row without a match, once), right (also each right \
        row without a match), outer (both), semi (the left rows with a match, once, left columns only) or anti \
        (the left rows without one).
        """)
    var kind: JoinKind = .inner
    @Option(help: "Appended to the names of right columns the left file also has.") var suffix = "_right"
    @Option(help: "The number of partitions.") var partitions: Int = 64
    @Option(help: "Memory for each file's partitions before they spill to disk, e.g. 256MB.") var memory: String = "256MB"
    @Option(help: "Rows read per chunk.") var chunkRows: Int = 200_000
    @Option(help: "Column types instead of inferring them, for either file: NAME:TYPE,… with TYPE int, uint, float, string or category (TYPE follows the last colon).")
    var types: String?
    @OptionGroup var missing: MissingValueOptions
    @OptionGroup var output: PartitionOutputOptions

    func validate() throws {
        guard partitions > 0 else { throw ValidationError("--partitions must be at least 1") }
        guard chunkRows > 0 else { throw ValidationError("--chunk-rows must be at least 1") }
        guard ByteCount(memory) != nil else { throw ValidationError("--memory needs a size such as 256MB") }
        guard left != right || !CSVInput.isReadOnce(left) else {
            throw ValidationError("\(left) can be read once (standard input or a pipe): it cannot be both files")
        }
    }

    func run() throws {
        let types = try parseTypes(self.types)
        // Both files are read whole (into the shuffles) before anything is printed, so they can be read again with
        // a wider column type, which applies to both, as --types does.
        let (readers, keys, resultSchema, shuffles) = try readingAgainOnConflict(inputs: [left, right], given: types) { widened in
            try shuffleBoth(types: types, widened: widened)
        }
        defer { for shuffle in shuffles { try? shuffle.close() } }

        try output.printPartitions(
            // (semi and anti joins print the left side's columns alone)
            schema: resultSchema, binaryStrings: (kind == .semi || kind == .anti ? [readers[0]] : readers).contains { $0.holdsNonUTF8 },
            partitions: partitions, label: "join: ",
            summary: { "\($0) rows" }
        ) { emit in
            try shuffles[0].joinPartitions(shuffles[1], on: keys, kind: kind, rightSuffix: suffix, emit)
        }
    }

    /// Opens both files (CSV columns typed by `types`, else `widened`, else inferred), checks the join against
    /// their first chunks and shuffles each file whole: the readers, the key columns, the result's columns and
    /// the shuffles.
    private func shuffleBoth(
        types: [UTF8Key: ColumnKind], widened: [UTF8Key: ColumnKind]
    ) throws -> (readers: [any TableSource], keys: [String], resultSchema: TableSchema, shuffles: [Shuffle<Table>]) {
        let readers = try [left, right].map {
            try openInput(
                path: $0, chunkRows: chunkRows, types: types, missingValues: missing.missingValues, typesOfOtherFiles: true, settled: widened)
        }
        for name in types.keys where !readers.contains(where: { $0.header.containsSameUTF8(as: name.string) }) {
            throw CommandError("--types names \(name), which is a column of neither file")
        }
        let keys = try keyColumns(on, in: readers)
        // The first chunks decide the column types: the join is tried on none of their rows, so keys that do
        // not compare (an int and a string) or clashing column names stop the command before the shuffles.
        let firsts = try readers.map { try $0.nextChunk() }
        /// A side's columns with no rows: its first chunk's, or for a file of a header alone its header's (typed by
        /// --types, else strings, its key columns as the other side's first chunk has them).
        func shape(_ side: Int) -> Table {
            if let first = firsts[side] { return first.slice(0..<0) }
            let empty = readers[side].emptyTable()
            guard let other = firsts[1 - side] else { return empty }
            return Table(empty: TableSchema(empty.schema.fields.map { field in
                // Names compare as bytes, as a table finds columns.
                guard keys.containsSameUTF8(as: field.name), types[UTF8Key(field.name)] == nil,
                    let type = other.schema.fields.first(where: { $0.name.hasSameUTF8(as: field.name) })?.type
                else { return field }
                return .init(field.name, type)
            }))
        }
        let shapes = [shape(0), shape(1)]
        let resultSchema: TableSchema
        do {
            resultSchema = try shapes[0].join(shapes[1], on: keys, kind: kind, rightSuffix: suffix).schema
        } catch let error as PartdError {
            let advice = error.code == .typeMismatch ? "; give the key one type in both files with --types KEY:TYPE" : ""
            let failure = CommandError("joining \(left) with \(right): \(error.message)\(advice)")
            // Key types that do not compare in the first chunks may yet come to: a later chunk can widen a key
            // column (an int to strings, as pandas reads the whole file), and then both files are read again with
            // it widened. So files that can be read again are read through first (nothing shuffled, nothing
            // printed); a later value that does not fit throws the conflict that widens it.
            if error.code == .typeMismatch, [left, right].allSatisfy(canReadAgain) {
                for path in [left, right] {
                    let reader = try openInput(
                        path: path, chunkRows: chunkRows, types: types, missingValues: missing.missingValues, typesOfOtherFiles: true,
                        settled: widened)
                    while try reader.nextChunk() != nil {}
                }
            }
            throw failure
        }
        var shuffles: [Shuffle<Table>] = []
        do {
            for _ in 0..<2 {
                shuffles.append(try Shuffle<Table>(
                    by: keys, partitions: partitions,
                    options: ShuffleOptions(memory: ByteCount(memory)!, temporaryParent: try Scratch.shared.directory())))
            }
            for side in 0..<2 {
                // A side without rows gets its shape, so that its partitions join with its columns.
                try feed(readers[side], first: firsts[side] ?? shapes[side], into: shuffles[side], label: side == 0 ? "left: " : "right: ")
            }
        } catch {
            for shuffle in shuffles { try? shuffle.close() }
            throw error
        }
        return (readers, keys, resultSchema, shuffles)
    }
}

/// Where and how `join`, `sort` and `distinct` print their partitions.
struct PartitionOutputOptions: ParsableArguments {
    @Option(help: "Write the result to this file instead of standard output.") var out: String?
    @Option(help: "The result's format: csv, arrow (an Arrow IPC file) or arrow-stream; json is not offered here.")
    var format: Cat.Format = .csv
    @Option(help: "Compress the buffers of --format arrow or arrow-stream: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?

    func validate() throws {
        guard format != .json else { throw ValidationError("--format takes csv, arrow or arrow-stream here") }
    }

    /// The output of an input without rows, whose result has `schema`: its header for CSV (as pandas prints
    /// it), an Arrow file or stream of no batches.
    func writeEmpty(schema: TableSchema) throws {
        try withOutput(out) {
            try PartitionPrinter(handle: $0, named: $1, format: format, schema: schema, compression: arrowCompression, binaryStrings: false)
                .finish()
        }
    }

    /// ``printPartitions(to:format:schema:compression:binaryStrings:partitions:label:summary:_:)`` to this output.
    func printPartitions(
        schema: TableSchema, binaryStrings: Bool, partitions: Int, label: String, summary: (Int) -> String,
        _ produce: (@Sendable (Int, Table) throws -> Int) throws -> [Int]
    ) throws {
        try partd.printPartitions(
            to: out, format: format, schema: schema, compression: arrowCompression, binaryStrings: binaryStrings,
            partitions: partitions, label: label, summary: summary, produce)
    }
}

/// Prints the tables `produce` hands to its callback (from several threads, in any order), in partition order,
/// to `out` (or standard output) as `format`, with a progress line as each partition is printed (labelled
/// `label`) and a last line that `summary` makes of the rows printed. With `binaryStrings` (the input held strings
/// that are not UTF-8), Arrow output declares every string column binary.
func printPartitions(
    to out: String?, format: Cat.Format, schema: TableSchema, compression: ArrowCompressionOption?, binaryStrings: Bool,
    partitions: Int, label: String, summary: (Int) -> String,
    _ produce: (@Sendable (Int, Table) throws -> Int) throws -> [Int]
) throws {
    try withOutput(out) { handle, name in
        let printer = PartitionPrinter(
            handle: handle, named: name, format: format, schema: schema, compression: compression, binaryStrings: binaryStrings)
        // (`produce` calls back from several threads; the printer reports each partition printed under its lock)
        let progress = Mutex(ProgressLine(total: partitions, label: label))
        let rows = try produce { index, table in
            try printer.print(index, table) { done in
                progress.withLock { $0.update(done, "\(done) of \(partitions) partitions") }
            }
            return table.rowCount
        }
        try printer.finish()
        let line = summary(rows.reduce(0, +))
        progress.withLock { $0.finish(line) }
    }
}

/// Runs `body` with the file `out` (created or emptied in place, see ``openOutput(_:)``; closed afterwards), or
/// standard output if `out` is nil, and its name for error messages.
func withOutput(_ out: String?, _ body: (FileHandle, String) throws -> Void) throws {
    guard let out else { return try body(FileHandle.standardOutput, "standard output") }
    let file = try openOutput(out)
    defer { try? file.close() }
    try body(file, out)
}

/// Prints partitions' tables in partition order as they arrive from several threads, as CSV or as the record
/// batches of Arrow IPC output: a partition done early waits (in memory) until those before it are printed.
/// The CSV header comes with the first table that has columns, or at the end, from the schema given, if none
/// had (an input without rows). A failed write (a closed pipe, a full disk) fails that call and every later one.
final class PartitionPrinter: @unchecked Sendable {
    private let handle: FileHandle
    private let name: String
    private let lock = NSLock()
    private var next = 0
    private var waiting: [Int: Pending] = [:]
    private var headerWritten = false
    private let writesArrow: Bool
    /// The CSV header written at the end if no table had columns (empty for none).
    private let emptyHeader: [UInt8]
    private var arrow: ArrowBatchWriter?
    private var failure: (any Error)?

    /// A partition waiting for its turn: a table for Arrow output, or its CSV rows already encoded (and its
    /// header line, written before the first partition's rows).
    private enum Pending {
        case table(Table)
        case csv(header: [UInt8], rows: [UInt8])
        case nothing
    }

    init(handle: FileHandle, named name: String, arrow: ArrowBatchWriter? = nil, schema: TableSchema = TableSchema([])) {
        self.handle = handle
        self.name = name
        self.arrow = arrow
        writesArrow = arrow != nil
        emptyHeader = schema.fields.isEmpty ? [] : CSVWriter.header(Table(empty: schema))
    }

    /// A printer of `format` (csv, arrow or arrow-stream) output of tables of `schema`; with `binaryStrings`,
    /// Arrow output declares every string column binary (the tables' strings may not all be UTF-8, and the
    /// first table's may be).
    convenience init(
        handle: FileHandle, named name: String, format: Cat.Format, schema: TableSchema, compression: ArrowCompressionOption?,
        binaryStrings: Bool
    ) {
        let arrow = format == .csv
            ? nil
            : ArrowBatchWriter(
                format == .arrow ? .file : .stream, schema: schema, compression: compression?.compression, binaryStrings: binaryStrings)
        self.init(handle: handle, named: name, arrow: arrow, schema: schema)
    }

    func print(_ index: Int, _ table: Table, printed: (Int) -> Void) throws {
        // CSV is encoded on the caller's thread, so partitions encode in parallel; only the writes take turns.
        let pending: Pending =
            if table.columns.isEmpty { .nothing }
            else if writesArrow { .table(table) }
            else { .csv(header: CSVWriter.header(table), rows: CSVWriter.bytes(table, header: false)) }
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        waiting[index] = pending
        while let pending = waiting.removeValue(forKey: next) {
            do {
                switch pending {
                case .table(let table):
                    try arrow!.write(table) { try write($0, to: handle, name) }
                case .csv(let header, let rows):
                    if !headerWritten { try write(header, to: handle, name) }
                    try write(rows, to: handle, name)
                    headerWritten = true
                case .nothing:
                    break
                }
            } catch {
                failure = error
                waiting = [:]
                throw error
            }
            next += 1
            printed(next)
        }
    }

    /// Ends the output (CSV's header if no table had columns, Arrow's footer); throws what writing a partition
    /// threw.
    func finish() throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        if !writesArrow && !headerWritten && !emptyHeader.isEmpty {
            try write(emptyHeader, to: handle, name)
            headerWritten = true
        }
        try arrow?.finish { try write($0, to: handle, name) }
    }
}
