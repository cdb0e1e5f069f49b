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
            Reads the input twice, so it takes files, not standard input or a pipe (such as /dev/stdin, a FIFO or \
            <(zcat f.csv.gz)): save such input to a file first. The first pass samples the key columns (about --sample-rows rows) and picks \
            --partitions - 1 boundaries from the sample; the second shuffles the rows by those ranges into a \
            temporary directory (at most --memory in memory). Then each partition is read back, sorted on all \
            cores and printed in order. --by takes KEY or KEY:desc items (KEY:asc is the default). The sort \
            is stable; nulls and NaN come last in either direction; strings compare by code point. Each \
            partition must fit in memory: raise --partitions for larger files. A key value that fills more \
            than a partition (many rows of one value) makes that partition larger.
            """)

    @OptionGroup var input: InputShuffleOptions
    @Option(help: "The sort keys, e.g. day or amount:desc,day.") var by: String
    @Option(help: "Rows the first pass samples to pick the boundaries.") var sampleRows: Int = 100_000
    @OptionGroup var output: PartitionOutputOptions

    func validate() throws {
        if let once = input.inputs.first(where: CSVInput.isReadOnce) {
            let which = CSVInput.isStandardInput(once) ? "" : " (\(once) is one)"
            throw ValidationError("sort reads its input twice: give files, not - (standard input) or a pipe\(which); save such input to a file first")
        }
        guard sampleRows > 0 else { throw ValidationError("--sample-rows must be at least 1") }
    }

    func run() throws {
        // Both passes read the input whole before anything is printed, so it can be read again (both passes) with a
        // wider column type.
        let read = try input.readingAgainOnConflict { widened -> (shuffle: Shuffle<Table>, reader: any TableSource, whole: Table?)? in
            // 1. A sample of the key columns, and the boundaries it gives.
            let (keys, sampled) = try sampleBoundaries(input, widened: widened, sampleRows: sampleRows) {
                try sortKeys(by, header: $0, path: input.inputs[0])
            }
            guard let boundaries = sampled else { return nil }
            // 2. The rows shuffled by the ranges between the boundaries.
            let shuffle = try Shuffle<Table>(
                sortingBy: keys, boundaries: boundaries,
                options: try input.shuffleOptions())
            do {
                let reader = try input.open(widened: widened)
                let whole = try reader.nextChunk()
                try feed(reader, first: whole, into: shuffle, label: "shuffle: ")
                return (shuffle, reader, whole)
            } catch {
                try? shuffle.close()
                throw error
            }
        }
        guard let (shuffle, reader, whole) = read else {
            // No rows: the header (from the file's header: the sampling pass read the keys alone), or Arrow
            // output of no batches.
            return try output.writeEmpty(schema: try input.open().emptyTable().schema)
        }
        defer { try? shuffle.close() }
        // A partition far above its share is sorted in memory all the same: say so before it starts.
        let counts = shuffle.partitionRowCounts
        if let largest = counts.indices.max(by: { counts[$0] < counts[$1] }), counts.count > 1,
            counts[largest] > max(100_000, 4 * shuffle.rowCount / counts.count)
        {
            writeStderr("""
                partd: partition \(largest) holds \(counts[largest]) of the \(shuffle.rowCount) rows (many rows share \
                its keys); it is sorted in memory

                """)
        }
        // 3. Each partition sorted and printed in partition order as it is done.
        let schema = whole?.schema ?? TableSchema([])
        try output.printPartitions(
            schema: schema, binaryStrings: reader.holdsNonUTF8, partitions: shuffle.partitionCount, label: "sort: ",
            summary: { "\($0) rows" }
        ) {
            try shuffle.sortedPartitions($0)
        }
    }
}

/// The sampling pass of an out-of-core sort: reads the key columns of `input` (the keys `makeKeys` picks from
/// the header; CSV columns typed by `--types`, else `widened`, else inferred), keeps each row with the chance that leaves about `sampleRows` of the rows the first chunk
/// suggests the input holds, and picks `input.partitions` - 1 boundaries from those rows. The boundaries are
/// `nil` for an input without rows.
func sampleBoundaries(
    _ input: InputShuffleOptions, widened: [UTF8Key: ColumnKind] = [:], sampleRows: Int, keys makeKeys: ([String]) throws -> [SortKey]
) throws -> (keys: [SortKey], boundaries: Table?) {
    let sampler = try input.open(widened: widened)
    let keys = try makeKeys(sampler.header)
    let names = keys.map(\.column)
    // The sampling pass reads only the key columns' values.
    sampler.selectedColumns = Set(names.map { UTF8Key($0) })
    guard let first = try sampler.nextChunk() else { return (keys, nil) }
    do {
        _ = try first.slice(0..<0).sorted(by: keys)
    } catch let error as PartdError {
        throw CommandError("\(input.inputs[0]): \(error.message)")
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
    return (keys, try Table.concatenate(pieces).sortBoundaries(by: keys, partitions: input.partitions))
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
        if header.containsSameUTF8(as: name) {
            // A column whose name ends in ":desc" is taken whole.
        } else if name.hasSuffix(":desc") {
            name.removeLast(5)
            descending = true
        } else if name.hasSuffix(":asc") {
            name.removeLast(4)
        }
        guard header.containsSameUTF8(as: name) else {
            throw CommandError("\(path): no column \(name) (columns: \(header.joined(separator: ", ")))")
        }
        return SortKey(name, descending: descending)
    }
}
