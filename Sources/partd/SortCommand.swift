// SPDX-License-Identifier: Apache-2.0

import ArgumentParser
import Foundation
import Partd
import PartdCSV
import PartdCompression
import PartdShuffle
import PartdTyped

struct SortCSV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sort",
        abstract: "Sort a CSV or Arrow file by key columns out of core and print the sorted rows.",
        discussion: """
            Reads the file twice. The first pass samples the key columns (about --sample-rows rows) and picks \
            --partitions - 1 boundaries from the sample; the second shuffles the rows by those ranges into a \
            temporary directory (at most --memory in memory). Then each partition is read back, sorted on all \
            cores and printed in order. --by takes KEY or KEY:desc items (KEY:asc is the default). The sort \
            is stable; nulls and NaN come last in either direction; strings compare by code point. Each \
            partition must fit in memory: raise --partitions for larger files. A key value that fills more \
            than a partition (many rows of one value) makes that partition larger.
            """)

    @Argument(help: """
        The input: CSV files (a header row, then one row per line; gzip-compressed or not) or Arrow IPC files or \
        streams, read one after the other as one input (each with the first's columns). Not standard input: \
        the files are read twice.
        """)
    var inputs: [String]
    @Option(help: "The sort keys, e.g. day or amount:desc,day.") var by: String
    @Option(help: "The number of partitions (ranges of the keys).") var partitions: Int = 64
    @Option(help: "Memory for partitions before they spill to disk, e.g. 256MB.") var memory: String = "256MB"
    @Option(help: "Compress what spills: none, lz4, zstd, snappy, zlib.") var codec: String = "none"
    @Option(help: "Rows read per chunk.") var chunkRows: Int = 200_000
    @Option(help: "Rows the first pass samples to pick the boundaries.") var sampleRows: Int = 100_000
    @Option(help: "Column types instead of inferring them: NAME:TYPE,… with TYPE int, float, string or category.")
    var types: String?
    @Option(help: "Write the sorted rows to this file instead of standard output.") var out: String?
    @Option(help: "The output's format: csv, arrow (an Arrow IPC file) or arrow-stream.")
    var format: Cat.Format = .csv
    @Option(help: "Compress the buffers of --format arrow or arrow-stream: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file") }
        guard !inputs.contains(where: CSVInput.isStandardInput) else {
            throw ValidationError("sort reads its input twice: give files, not - (standard input)")
        }
        guard format != .json else { throw ValidationError("sort writes csv, arrow or arrow-stream") }
        guard partitions > 0 else { throw ValidationError("--partitions must be at least 1") }
        guard chunkRows > 0 else { throw ValidationError("--chunk-rows must be at least 1") }
        guard sampleRows > 0 else { throw ValidationError("--sample-rows must be at least 1") }
        guard ByteCount(memory) != nil else { throw ValidationError("--memory needs a size such as 256MB") }
        guard codec == "none" || compression != nil else { throw ValidationError("unknown --codec \(codec)") }
    }

    private var compression: Compression? { spillCompression(codec) }

    func run() throws {
        let types = try parseTypes(self.types)
        let sampler = try openInputs(paths: inputs, chunkRows: chunkRows, types: types)
        let keys = try sortKeys(by, header: sampler.header, path: inputs[0])
        let names = keys.map(\.column)
        // The sampling pass reads only the key columns' values.
        sampler.selectedColumns = Set(names)

        // 1. A sample of the key columns: each row kept with the chance that makes about --sample-rows of the
        // rows the first chunk suggests the file holds.
        guard let first = try sampler.nextChunk() else {
            // No rows: an empty CSV, or Arrow output of no batches.
            return try withOutput(out) { try printer(to: $0, schema: TableSchema([])).finish() }
        }
        do {
            _ = try first.slice(0..<0).sorted(by: keys)
        } catch let error as PartdError {
            throw CommandError("\(inputs[0]): \(error.message)")
        }
        let estimatedRows = Double(first.rowCount) * Double(max(1, sampler.fileSize)) / Double(max(1, sampler.bytesRead))
        let chance = min(1, Double(sampleRows) / max(1, estimatedRows))
        var generator = SplitMix(seed: UInt64.random(in: 0 ... .max))
        var pieces: [Table] = []
        let progress = ProgressLine(total: sampler.fileSize, label: "sample: ")
        let ahead = ChunkPrefetcher(sampler, after: first, depth: 2)
        var sampled = 0
        do {
            defer { ahead.stop() }
            while let (chunk, bytesRead) = try ahead.next() {
                let keyColumns = try chunk.selecting(names)
                let kept = (0..<chunk.rowCount).filter { _ in Double.random(in: 0..<1, using: &generator) < chance }
                pieces.append(keyColumns.take(kept))
                sampled += kept.count
                progress.update(bytesRead, "\(sampled) rows sampled")
            }
        }
        progress.finish("\(sampled) rows sampled")
        let boundaries = try Table.concatenate(pieces).sortBoundaries(by: keys, partitions: partitions)

        // 2. The rows shuffled by the ranges between the boundaries, 3. each range sorted and printed in order.
        let shuffle = try Shuffle<Table>(
            sortingBy: keys, boundaries: boundaries,
            options: ShuffleOptions(memory: ByteCount(memory)!, compression: compression))
        defer { try? shuffle.close() }
        let reader = try openInputs(paths: inputs, chunkRows: chunkRows, types: types)
        let whole = try reader.nextChunk()
        try feed(reader, first: whole, into: shuffle, label: "shuffle: ")
        // A partition far above its share is sorted in memory all the same: say so before it starts.
        let counts = shuffle.partitionRowCounts
        if let largest = counts.indices.max(by: { counts[$0] < counts[$1] }), counts.count > 1,
            counts[largest] > max(100_000, 4 * shuffle.rowCount / counts.count)
        {
            FileHandle.standardError.write(Data("""
                partd: partition \(largest) holds \(counts[largest]) of the \(shuffle.rowCount) rows (many rows share \
                its keys); it is sorted in memory

                """.utf8))
        }
        try write(shuffle, resultSchema: whole?.schema ?? first.schema)
    }

    /// Prints each partition of `shuffle` sorted, in partition order, as it is done.
    private func write(_ shuffle: Shuffle<Table>, resultSchema: TableSchema) throws {
        try withOutput(out) { handle in
            let printer = printer(to: handle, schema: resultSchema)
            let total = shuffle.partitionCount
            let progress = ProgressLine(total: total, label: "sort: ")
            let rows = try shuffle.sortedPartitions { index, sorted in
                printer.print(index, sorted) { done in progress.update(done, "\(done) of \(total) partitions") }
                return sorted.rowCount
            }
            try printer.finish()
            progress.finish("\(rows.reduce(0, +)) rows")
        }
    }

    /// The printer of `--format` output to `handle`.
    private func printer(to handle: FileHandle, schema: TableSchema) -> PartitionPrinter {
        PartitionPrinter(handle: handle, format: format, schema: schema, compression: arrowCompression)
    }
}

/// A fast pseudo-random generator for sampling (SplitMix64; `SystemRandomNumberGenerator` asks the kernel
/// each time).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The sort keys `--by` names: `KEY` or `KEY:desc` (or `KEY:asc`) items separated by commas, each checked
/// against the file's columns.
func sortKeys(_ option: String, header: [String], path: String) throws -> [SortKey] {
    try option.split(separator: ",", omittingEmptySubsequences: false).map { item in
        var name = String(item)
        var descending = false
        if header.contains(name) {
            // A column whose name ends in ":desc" is taken whole.
        } else if name.hasSuffix(":desc") {
            name.removeLast(5)
            descending = true
        } else if name.hasSuffix(":asc") {
            name.removeLast(4)
        }
        guard header.contains(name) else {
            throw CommandError("\(path): no column \(name) (columns: \(header.joined(separator: ", ")))")
        }
        return SortKey(name, descending: descending)
    }
}
