// SPDX-License-Identifier: Apache-2.0
//
// partd distinct: a CSV or Arrow file's rows without duplicates, through Shuffle<Table>.distinctPartitions.

import ArgumentParser
import Foundation
import Partd
import PartdCSV
import PartdShuffle
import PartdTyped

extension DuplicateKeep: ExpressibleByArgument {}

struct DistinctCSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distinct",
        abstract: "Drop duplicate rows of a CSV or Arrow file out of core (pandas' drop_duplicates) and print the rest.",
        discussion: """
            Shuffles the file by the --by columns (every column if not given) into a temporary directory (at \
            most --memory in memory), then drops the duplicates of each partition on all cores and prints \
            each partition's rows as it is done, partition by partition; within a partition rows keep the \
            file's order, so --keep first and last pick by the file's order. Rows are duplicates when every \
            --by column holds equal values: empty fields (nulls) equal each other, NaN equals NaN, -0.0 equals \
            0.0; a null and a NaN differ.
            """)

    @Argument(help: """
        The input: CSV files (a header row, then one row per line; gzip-compressed or not; - for standard input) \
        or Arrow IPC files or streams, read one after the other as one input (each with the first's columns).
        """)
    var inputs: [String]
    @Option(help: "The columns that make rows duplicates, e.g. user or user,day (default: every column).") var by: String?
    @Option(help: "first (the first row of each set of duplicates), last, or none (only rows without a duplicate).")
    var keep: DuplicateKeep = .first
    @Option(help: "The number of partitions.") var partitions: Int = 64
    @Option(help: "Memory for partitions before they spill to disk, e.g. 256MB.") var memory: String = "256MB"
    @Option(help: "Compress what spills: none, lz4, zstd, snappy, zlib.") var codec: String = "none"
    @Option(help: "Rows read per chunk.") var chunkRows: Int = 200_000
    @Option(help: "Column types instead of inferring them: NAME:TYPE,… with TYPE int, float, string or category.")
    var types: String?
    @Option(help: "Write the rows to this file instead of standard output.") var out: String?
    @Option(help: "The output's format: csv, arrow (an Arrow IPC file) or arrow-stream.")
    var format: Cat.Format = .csv
    @Option(help: "Compress the buffers of --format arrow or arrow-stream: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file") }
        guard format != .json else { throw ValidationError("distinct writes csv, arrow or arrow-stream") }
        guard partitions > 0 else { throw ValidationError("--partitions must be at least 1") }
        guard chunkRows > 0 else { throw ValidationError("--chunk-rows must be at least 1") }
        guard ByteCount(memory) != nil else { throw ValidationError("--memory needs a size such as 256MB") }
        guard codec == "none" || spillCompression(codec) != nil else { throw ValidationError("unknown --codec \(codec)") }
    }

    func run() throws {
        let reader = try openInputs(paths: inputs, chunkRows: chunkRows, types: try parseTypes(types))
        let columns = try by.map { try keyColumns($0, in: [reader]) }
        let keys = columns ?? reader.header
        guard let first = try reader.nextChunk() else {
            // No rows: nothing to print (an Arrow file of no batches for Arrow output).
            return try withOutput(out) { try printer(to: $0, schema: TableSchema([])).finish() }
        }
        guard !keys.isEmpty else { throw CommandError("\(inputs[0]): the file has no columns") }
        let shuffle = try Shuffle<Table>(
            by: keys, partitions: partitions,
            options: ShuffleOptions(memory: ByteCount(memory)!, compression: spillCompression(codec)))
        defer { try? shuffle.close() }
        try feed(reader, first: first, into: shuffle, label: "shuffle: ")
        let rowsIn = shuffle.rowCount
        try withOutput(out) { handle in
            let printer = printer(to: handle, schema: first.schema)
            let progress = ProgressLine(total: partitions, label: "distinct: ")
            let rows = try shuffle.distinctPartitions(by: columns, keep: keep) { index, table in
                printer.print(index, table) { done in progress.update(done, "\(done) of \(partitions) partitions") }
                return table.rowCount
            }
            try printer.finish()
            let kept = rows.reduce(0, +)
            progress.finish("\(kept) of \(rowsIn) rows kept, \(rowsIn - kept) dropped")
        }
    }

    /// The printer of `--format` output to `handle`.
    private func printer(to handle: FileHandle, schema: TableSchema) -> PartitionPrinter {
        PartitionPrinter(handle: handle, format: format, schema: schema, compression: arrowCompression)
    }
}
