// SPDX-License-Identifier: Apache-2.0
//
// partd shuffle / groupby: a CSV file through Shuffle<Table>.

import ArgumentParser
import Foundation
import Partd
import PartdCSV
import PartdCompression
import PartdShuffle
import PartdTyped
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The input files and the shuffle's settings, shared by `shuffle`, `groupby`, `sort` and `distinct`.
struct InputShuffleOptions: ParsableArguments {
    @Argument(help: """
        The input: CSV files (a header row, then one row per line; gzip-compressed or not; - for standard input; \
        a pipe such as /dev/stdin or <(zcat f.csv.gz) too, except for sort) or Arrow IPC files or streams (files, \
        not pipes), read one after the other as one input (each with the first's columns).
        """)
    var inputs: [String]
    @Option(help: "The number of partitions.") var partitions: Int = 64
    @Option(help: "Memory for partitions before they spill to disk, e.g. 256MB.") var memory: String = "256MB"
    @Option(help: "Compress what spills: none, lz4, zstd, snappy, zlib.") var codec: String = "none"
    @Option(help: "Rows read per chunk.") var chunkRows: Int = 200_000
    @Option(help: "Column types instead of inferring them: NAME:TYPE,… with TYPE int, uint, float, string or category (TYPE follows the last colon).")
    var types: String?
    @OptionGroup var missing: MissingValueOptions

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file") }
        guard partitions > 0 else { throw ValidationError("--partitions must be at least 1") }
        guard chunkRows > 0 else { throw ValidationError("--chunk-rows must be at least 1") }
        guard ByteCount(memory) != nil else { throw ValidationError("--memory needs a size such as 256MB") }
        guard compression != nil || codec == "none" else { throw ValidationError("unknown --codec \(codec)") }
    }

    var compression: Compression? { spillCompression(codec) }

    /// The shuffle's settings: the memory budget, the codec of what spills, and `directory` (else a temporary
    /// directory in the command's scratch directory).
    func shuffleOptions(directory: String? = nil) throws -> ShuffleOptions {
        ShuffleOptions(
            memory: ByteCount(memory)!, directory: directory,
            temporaryParent: directory == nil ? try Scratch.shared.directory() : nil, compression: compression)
    }

    /// The input files opened as one input, CSV columns typed by `--types`, else by `widened`, else inferred.
    func open(widened: [UTF8Key: ColumnKind] = [:]) throws -> any TableSource {
        try openInputs(paths: inputs, chunkRows: chunkRows, types: try parseTypes(types), missingValues: missing.missingValues, widened: widened)
    }

    /// ``readingAgainOnConflict(inputs:given:undo:_:)`` for these inputs: `attempt` (which reads them whole, and
    /// writes no output) again with a column type widened while a chunk after the first holds a value the
    /// column's type cannot take, if the inputs are files.
    func readingAgainOnConflict<R>(undo: () -> Void = {}, _ attempt: (_ widened: [UTF8Key: ColumnKind]) throws -> R) throws -> R {
        try partd.readingAgainOnConflict(inputs: inputs, given: try parseTypes(types), undo: undo, attempt)
    }
}

/// `--na`, shared by the commands that read CSV (`shuffle`, `groupby`, `sort` and `distinct` through
/// ``InputShuffleOptions``, and `join`).
struct MissingValueOptions: ParsableArguments {
    @Option(name: .customLong("na"), help: ArgumentHelp("""
        Spellings read as missing (null) in every CSV column besides the empty field, comma-separated: a field equal \
        to one byte for byte, quoted or not, as pandas' na_values. `pandas` stands for pandas' defaults: #N/A, \
        #N/A N/A, #NA, -1.#IND, -1.#QNAN, -NaN, -nan, 1.#IND, 1.#QNAN, <NA>, N/A, NA, NULL, NaN, None, n/a, nan, \
        null. Without it, only empty fields are missing.
        """, valueName: "list"))
    var na: String?

    /// The spellings, or `nil` for the empty field alone.
    var missingValues: MissingValues? { parseMissingValues(na) }
}

/// Options shared by `shuffle` and `groupby`.
struct CSVShuffleOptions: ParsableArguments {
    @OptionGroup var input: InputShuffleOptions
    @Option(help: "The key column rows are partitioned by, or several as a,b (a column whose name has a comma is taken whole).")
    var by: String

    /// Reads the CSV into a shuffle by `keys` (CSV columns that `--types` does not type typed by `widened`, else
    /// inferred), showing progress on stderr. `check` sees the first chunk (`nil`
    /// for an input of a header alone) and the reader before anything is shuffled, so that a mistake its schema
    /// reveals stops the command before the long part. `columns`, given the key columns, names the only
    /// columns to read (all when `nil`). `binaryStrings`: some string read is not UTF-8 (see
    /// ``TableSource/holdsNonUTF8``).
    func shuffle(
        into directory: String?, widened: [UTF8Key: ColumnKind], columns: (([String]) -> [String])? = nil,
        check: ([String], Table?, any TableSource) throws -> Void = { _, _, _ in }
    ) throws -> (shuffle: Shuffle<Table>, keys: [String], binaryStrings: Bool) {
        let reader = try input.open(widened: widened)
        let keys = try keyColumns(by, in: [reader])
        if let columns { reader.selectedColumns = Set(columns(keys).map { UTF8Key($0) }) }
        let first = try reader.nextChunk()
        try check(keys, first, reader)
        let shuffle = try Shuffle<Table>(by: keys, partitions: input.partitions, options: try input.shuffleOptions(directory: directory))
        do {
            try feed(reader, first: first, into: shuffle)
        } catch {
            // Closed before the error goes on, so that no spill is still writing when a read again removes the
            // scratch directory.
            try? shuffle.close()
            throw error
        }
        return (shuffle, keys, reader.holdsNonUTF8)
    }
}

/// The compression a `--codec` names (`nil` for none or an unknown name).
func spillCompression(_ codec: String) -> Compression? {
    switch codec {
    case "lz4": return .lz4
    case "zstd": return .zstd(level: 1)
    case "snappy": return .snappy
    case "zlib": return .zlib(level: 1)
    default: return nil
    }
}

/// The key columns an option such as `--by` or `--on` names: the whole text if every file has a column of
/// that name, else its comma-separated parts; each checked against every file's header.
func keyColumns(_ option: String, in readers: [any TableSource]) throws -> [String] {
    // Names compare as bytes, as a table finds columns (`String`'s `==` takes canonically equivalent names as one).
    let columns = readers.allSatisfy { $0.header.containsSameUTF8(as: option) }
        ? [option] : option.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    for reader in readers {
        for column in columns where !reader.header.containsSameUTF8(as: column) {
            throw CommandError("\(reader.path): no column \(column) (columns: \(reader.header.joined(separator: ", ")))")
        }
    }
    return columns
}

/// Adds `first` and then every further chunk of `reader` to `shuffle`, showing progress on stderr (each line
/// starting with `label`); on an error the shuffle is closed.
///
/// The reader parses the next chunks on a thread of its own while this one adds the current chunk, so reading
/// and shuffling share the cores; at most two parsed chunks wait at a time.
func feed(_ reader: any TableSource, first: Table?, into shuffle: Shuffle<Table>, label: String = "") throws {
    let progress = ProgressLine(total: reader.fileSize, label: label)
    let ahead = ChunkPrefetcher(reader, after: first, depth: 2)
    defer { ahead.stop() }
    do {
        while let (chunk, bytesRead) = try ahead.next() {
            try shuffle.add(chunk)
            progress.update(bytesRead, "\(shuffle.rowCount) rows, \(human(shuffle.store.statistics.spilledBytes)) spilled")
        }
        progress.finish("\(shuffle.rowCount) rows, \(human(shuffle.store.statistics.spilledBytes)) spilled")
    } catch {
        try? shuffle.close()
        throw error
    }
}

/// A reader's chunks, parsed on a thread of its own up to `depth` chunks ahead of the consumer. The
/// reader is used by that thread alone once handed over (hence `@unchecked Sendable`); everything else is
/// behind the condition's lock.
final class ChunkPrefetcher: @unchecked Sendable {
    private let condition = NSCondition()
    /// Parsed chunks with the file bytes read when each was done, then `nil` for the end.
    private var ready: [(table: Table, bytesRead: Int)?] = []
    private var failure: (any Error)?
    private var stopped = false
    private let depth: Int

    init(_ reader: any TableSource, after first: Table?, depth: Int) {
        self.depth = max(1, depth)
        guard let first else {
            ready = [nil]
            return
        }
        ready = [(first, reader.bytesRead)]
        let handoff = Handoff(reader: reader)
        let thread = Thread { [self] in self.produce(handoff.reader) }
        thread.start()
    }

    /// The reader on its way to the parsing thread, which alone uses it from then on.
    private struct Handoff: @unchecked Sendable {
        let reader: any TableSource
    }

    private func produce(_ reader: any TableSource) {
        while true {
            condition.lock()
            while ready.count >= depth && !stopped { condition.wait() }
            let stop = stopped
            condition.unlock()
            if stop { return }
            let item: (table: Table, bytesRead: Int)?
            do {
                item = try reader.nextChunk().map { ($0, reader.bytesRead) }
            } catch {
                condition.lock()
                failure = error
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.lock()
            ready.append(item)
            condition.broadcast()
            condition.unlock()
            if item == nil { return }
        }
    }

    /// The next chunk and the bytes read by then, `nil` at the end; what parsing threw, once the chunks
    /// before it are taken.
    func next() throws -> (Table, Int)? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty && failure == nil { condition.wait() }
        guard !ready.isEmpty else { throw failure! }
        let item = ready.removeFirst()
        condition.broadcast()
        return item.map { ($0.table, $0.bytesRead) }
    }

    /// Lets the parsing thread end (after the chunk it is parsing, if any).
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Progress on stderr: a bar on a terminal, a line every 10 % otherwise.
final class ProgressLine {
    let total: Int
    let label: String
    let terminal = isatty(STDERR_FILENO) == 1
    var lastDecile = -1

    init(total: Int, label: String = "") {
        self.total = total
        self.label = label
    }

    /// What the last line written off a terminal said.
    var lastLine = ""

    func update(_ done: Int, _ detail: String) {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        if terminal {
            let filled = Int(fraction * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
            writeStderr("\r\(label)[\(bar)] \(Int(fraction * 100))% \(detail)   ")
        } else if Int(fraction * 10) != lastDecile {
            lastDecile = Int(fraction * 10)
            lastLine = "\(label)\(Int(fraction * 100))% \(detail)\n"
            writeStderr(lastLine)
        }
    }

    /// The last line, with `detail` (off a terminal also when the 100% line was written with another detail).
    func finish(_ detail: String) {
        if terminal {
            update(total, detail)
            writeStderr("\n")
        } else if lastLine != "\(label)100% \(detail)\n" {
            lastLine = "\(label)100% \(detail)\n"
            writeStderr(lastLine)
        }
    }
}

struct ShuffleCSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shuffle",
        abstract: "Partition a CSV or Arrow file by one or more columns into a directory of partitions.",
        discussion: """
            Reads the CSV in chunks, hashes the --by columns of every row (docs/format.md §7) and appends \
            each partition's rows as table frames to key N of the directory --out, keeping at most --memory \
            in memory. Read a partition back with `partd cat OUT N`. A --out that already holds anything \
            is refused unless --overwrite is given, which empties it first; a shuffle that fails or is \
            stopped (SIGINT, SIGTERM, SIGHUP) leaves no partitions behind (nor the directory, if it made it).
            """)

    @OptionGroup var options: CSVShuffleOptions
    @Option(help: "The directory the partitions are written to (made if missing; it must hold nothing).") var out: String
    @Flag(help: "Empty --out first if it holds anything (every entry in it is removed).") var overwrite = false

    func run() throws {
        // Appending to partitions already there would add every row again; a partial shuffle would be taken for
        // a whole one. So --out starts empty, and a failure empties it again.
        let existed = FileManager.default.fileExists(atPath: out)
        if existed {
            let entries = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { $0 != ".lock" }
            if !entries.isEmpty {
                guard overwrite else {
                    throw CommandError("\(out) is not empty (\(entries.count) entries): give --overwrite to replace what it holds")
                }
                try DirectoryStore(path: out).drop()
            }
        }
        // Undone on a failure, and on SIGINT, SIGTERM or SIGHUP.
        let out = self.out
        let undo: @Sendable () -> Void = {
            if existed {
                try? DirectoryStore(path: out).drop()
                return
            }
            removeUntilGone(out)  // on a signal the shuffle's threads may still be writing partitions
        }
        // A chunk that does not fit the column types: --out emptied (or removed) again before the file is read again.
        let shuffle: Shuffle<Table> = try options.input.readingAgainOnConflict { widened in
            do {
                return try Scratch.shared.whileRunning(undo: undo) {
                    let shuffle = try options.shuffle(into: out, widened: widened).shuffle
                    try shuffle.close()
                    return shuffle
                }
            } catch {
                undo()
                throw error
            }
        }
        try printLine("\(shuffle.rowCount) rows in \(options.input.partitions) partitions in \(out)")
    }
}

struct GroupByCSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groupby",
        abstract: "Group a CSV or Arrow file by one or more columns out of core and print the aggregates.",
        discussion: """
            Shuffles the CSV by --by in a temporary directory (at most --memory in memory), then aggregates \
            every partition. --agg takes FUNCTION:COLUMN items (sum, mean, min, max, count, var, std, first, \
            last, nunique, median, and qQ for the quantile Q in 0...1, as q0.9) and `count` alone for the \
            rows per group; result columns are named COLUMN_FUNCTION (COLUMN_qQ) and count. min and max \
            take numbers and strings (by code point). Empty fields and --na spellings (nulls) are skipped, and so is NaN by \
            every aggregate but the row count, as in pandas. Groups come partition by partition, each in the order \
            its rows first appear, printed as each partition is done (so the result need not fit in memory); \
            --sort sorts them by their keys, the null key last: in memory when they take less than a quarter \
            of --memory, else through a second shuffle of the groups by ranges of their keys, printed a sorted \
            range at a time. --format json holds the whole result in memory. The aggregates are checked \
            against the first chunk before the file is shuffled.
            """)

    @OptionGroup var options: CSVShuffleOptions
    @Option(help: "The aggregates, e.g. sum:x,mean:x,median:x,q0.9:x,count.") var agg: String = "count"
    @Flag(help: "Print the groups sorted by their keys (as pandas' groupby does), the null key last.") var sort = false
    @Option(help: "Write the result to this file instead of standard output.") var out: String?
    @Option(help: "The result's format: csv, json, arrow (an Arrow IPC file) or arrow-stream.") var format: Cat.Format = .csv
    @Option(help: "Compress the buffers of --format arrow or arrow-stream: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?

    func run() throws {
        let aggregations = try agg.split(separator: ",").map { item -> Aggregation in
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            if parts == ["count"] { return .count }
            if parts.count == 2, parts[0].hasPrefix("q"), let q = Double(parts[0].dropFirst()) {
                guard (0...1).contains(q) else { throw CommandError("--agg \(item): the quantile must lie in 0...1") }
                return .quantile(parts[1], q)
            }
            guard parts.count == 2, let function = Aggregation.Function(rawValue: parts[0]), function != .size,
                function != .quantile
            else {
                throw CommandError(
                    "--agg takes FUNCTION:COLUMN items (sum, mean, min, max, count, var, std, first, last, nunique, median, "
                        + "or qQ for the quantile Q, as q0.9) or count; got \(item)")
            }
            return Aggregation(function, parts[1])
        }
        // The aggregates are tried on none of the first chunk's rows: a missing column or one of the wrong
        // type is reported before the file is shuffled. An input of a header alone is checked against its
        // header: columns --types does not type as strings, or, if an aggregate needs numbers, as floats (the
        // result's columns, whose header is printed, are the same).
        var schema = TableSchema([])
        // Only the key columns and the aggregated ones are read (and count for binary strings in Arrow output).
        let read = { (keys: [String]) in keys + aggregations.compactMap(\.column) }
        func check(keys: [String], chunk: Table?, reader: any TableSource) throws {
            do {
                if let chunk {
                    schema = try chunk.slice(0..<0).groupBy(keys).aggregate(aggregations).schema
                } else {
                    do {
                        schema = try reader.emptyTable().groupBy(keys).aggregate(aggregations).schema
                    } catch is PartdError {
                        schema = try reader.emptyTable(defaultKind: .float).groupBy(keys).aggregate(aggregations).schema
                    }
                }
            } catch let error as PartdError {
                throw CommandError("\(options.input.inputs[0]): \(error.message)")
            }
        }
        // The file is read whole before anything is printed, so it can be read again with a wider column type.
        let (shuffle, keys, binaryStrings) = try options.input.readingAgainOnConflict { widened in
            try options.shuffle(into: nil, widened: widened, columns: read, check: check)
        }
        guard format != .json else {
            // JSON is printed from the whole result.
            var result = try shuffle.groupBy(keys).aggregate(aggregations)
            // No rows (an input of a header alone): the result's columns, with no groups.
            if result.columns.isEmpty { result = Table(empty: schema) }
            if sort { result = try result.sorted(by: keys.map { SortKey($0) }) }
            return try withOutput(out) {
                try printTable(result, format: format, arrowCompression: arrowCompression?.compression, to: $0, named: $1)
            }
        }
        if sort { return try printSorted(shuffle, keys: keys, aggregations, schema: schema, binaryStrings: binaryStrings) }
        // Otherwise each partition's groups are printed as they are done, in partition order, so the result
        // never has to fit in memory (a groupby by a key of millions of values has millions of groups).
        try printPartitions(
            to: out, format: format, schema: schema, compression: arrowCompression, binaryStrings: binaryStrings,
            partitions: shuffle.partitionCount, label: "groupby: ", summary: { "\($0) groups" }
        ) { emit in
            try shuffle.groupByPartitions(keys, aggregations, emit)
        }
    }

    /// `--sort`: each partition's groups are kept in memory up to a quarter of `--memory`, the rest written to a
    /// store in the scratch directory, with a sample of every partition's keys. If all stayed in memory they
    /// are sorted there; otherwise all groups are shuffled again, by ranges of the keys the sample gives, and
    /// printed a sorted range at a time, so that sorted groups need not fit in memory either.
    private func printSorted(
        _ shuffle: Shuffle<Table>, keys: [String], _ aggregations: [Aggregation], schema: TableSchema, binaryStrings: Bool
    ) throws {
        let sortKeys = keys.map { SortKey($0) }
        let staging = GroupStaging(budget: ByteCount(options.input.memory)!.bytes / 4)
        defer { staging.close() }
        let partitions = shuffle.partitionCount
        let progress = Mutex((done: 0, line: ProgressLine(total: partitions, label: "groupby: ")))
        _ = try shuffle.groupByPartitions(keys, aggregations) { index, groups in
            if groups.rowCount > 0 { try staging.add(index, groups, keys: keys) }
            progress.withLock {
                $0.done += 1
                $0.line.update($0.done, "\($0.done) of \(partitions) partitions")
            }
        }
        progress.withLock { $0.line.finish("\(staging.rows) groups") }
        guard let spilled = staging.spilled else {
            // All in memory: sorted there.
            let parts = staging.takeKept().map(\.1)
            // No groups (an input of a header alone): the result's header.
            let result = parts.isEmpty ? Table(empty: schema) : try Table.concatenate(parts).sorted(by: sortKeys)
            return try withOutput(out) {
                try printTable(result, format: format, arrowCompression: arrowCompression?.compression, to: $0, named: $1)
            }
        }
        // Too many groups: a shuffle of them by ranges of the keys, each range sorted and printed in order.
        let boundaries = try Table.concatenate(staging.samples).sortBoundaries(by: sortKeys, partitions: options.input.partitions)
        // The groups still in memory take up to a quarter of the budget (while the first shuffle's partitions
        // go), and the second shuffle as much before it spills.
        var rangeOptions = try options.input.shuffleOptions()
        rangeOptions.memory = ByteCount(bytes: staging.budget)
        let ranges = try Shuffle<Table>(sortingBy: sortKeys, boundaries: boundaries, options: rangeOptions)
        defer { try? ranges.close() }
        // The groups go in as chunks of about --chunk-rows rows, not a partition's groups at a time: every chunk
        // costs the range shuffle work for each of its partitions, so one per partition was partitions² (4096
        // partitions, 200,000 groups, --memory 4MB: 25 s in release against 4 s without --sort).
        var pending: [Table] = []
        var pendingRows = 0
        func add(_ table: Table) throws {
            pending.append(table)
            pendingRows += table.rowCount
            if pendingRows >= options.input.chunkRows { try addPending() }
        }
        func addPending() throws {
            guard !pending.isEmpty else { return }
            try ranges.add(pending.count == 1 ? pending[0] : try Table.concatenate(pending))
            pending = []
            pendingRows = 0
        }
        while let table = staging.popKept() { try add(table) }
        for index in staging.spilledPartitions { try add(try spilled.get(PartdKey(index))) }
        try addPending()
        staging.close()
        try printPartitions(
            to: out, format: format, schema: schema, compression: arrowCompression, binaryStrings: binaryStrings,
            partitions: ranges.partitionCount, label: "sort: ", summary: { "\($0) groups" }
        ) { emit in
            try ranges.sortedPartitions(emit)
        }
    }
}

/// The groups of `groupby --sort`, partition by partition as they are aggregated (on several threads): kept in
/// memory up to `budget` bytes (by a rough estimate), written to a temporary store in the scratch directory
/// after that; with up to 2,000 rows of each partition's keys, at random, to pick ranges from.
final class GroupStaging: @unchecked Sendable {
    private let lock = NSLock()
    let budget: Int
    private var kept: [(Int, Table)] = []
    private var keptBytes = 0
    private var directory: DirectoryStore?
    private(set) var spilled: TableStore<DirectoryStore>?
    private(set) var spilledPartitions: [Int] = []
    private(set) var samples: [Table] = []
    private(set) var rows = 0
    private var generator = SplitMix(seed: UInt64.random(in: 0 ... .max))

    init(budget: Int) {
        self.budget = budget
    }

    func add(_ index: Int, _ groups: Table, keys: [String]) throws {
        let bytes = groups.rowCount * max(1, groups.columns.count) * 8
        let keyColumns = try groups.selecting(keys)
        lock.lock()
        defer { lock.unlock() }
        rows += groups.rowCount
        let picked = groups.rowCount <= 2_000
            ? Array(0..<groups.rowCount)
            : (0..<2_000).map { _ in Int.random(in: 0..<groups.rowCount, using: &generator) }.sorted()
        samples.append(keyColumns.take(picked))
        if keptBytes + bytes <= budget {
            kept.append((index, groups))
            keptBytes += bytes
            return
        }
        if spilled == nil {
            let store = try DirectoryStore.temporary(in: try Scratch.shared.directory())
            directory = store
            spilled = TableStore(over: store)
        }
        try spilled!.append(PartdKey(index), groups)
        spilledPartitions.append(index)
    }

    /// The groups kept in memory, in partition order, handed over (and no longer held here).
    func takeKept() -> [(Int, Table)] {
        lock.lock()
        defer { lock.unlock() }
        defer { kept = [] }
        return kept.sorted { $0.0 < $1.0 }
    }

    /// One partition's groups kept in memory, handed over (and no longer held here); `nil` when none are left.
    func popKept() -> Table? {
        lock.lock()
        defer { lock.unlock() }
        return kept.popLast()?.1
    }

    /// Removes the store of spilled groups.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        try? directory?.close()
        directory = nil
    }
}
