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
            --by column holds equal values: empty fields and --na spellings (nulls) equal each other, NaN equals NaN, -0.0 equals \
            0.0; a null and a NaN differ.
            """)

    @OptionGroup var input: InputShuffleOptions
    @Option(help: "The columns that make rows duplicates, e.g. user or user,day (default: every column).") var by: String?
    @Option(help: "first (the first row of each set of duplicates), last, or none (only rows without a duplicate).")
    var keep: DuplicateKeep = .first
    @OptionGroup var output: PartitionOutputOptions

    func run() throws {
        // The input is read whole (into the shuffle) before anything is printed, so it can be read again with a
        // wider column type.
        typealias Read = (reader: any TableSource, columns: [String]?, shuffle: Shuffle<Table>?, first: Table?)
        let read = try input.readingAgainOnConflict { widened -> Read in
            let reader = try input.open(widened: widened)
            let columns = try by.map { try keyColumns($0, in: [reader]) }
            let keys = columns ?? reader.header
            guard let first = try reader.nextChunk() else { return (reader, columns, nil, nil) }
            guard !keys.isEmpty else { throw CommandError("\(input.inputs[0]): the file has no columns") }
            let shuffle = try Shuffle<Table>(by: keys, partitions: input.partitions, options: try input.shuffleOptions())
            do {
                try feed(reader, first: first, into: shuffle, label: "shuffle: ")
            } catch {
                try? shuffle.close()
                throw error
            }
            return (reader, columns, shuffle, first)
        }
        guard let shuffle = read.shuffle, let first = read.first else {
            // No rows: the header (an Arrow file of no batches for Arrow output).
            return try output.writeEmpty(schema: read.reader.emptyTable().schema)
        }
        defer { try? shuffle.close() }
        let rowsIn = shuffle.rowCount
        try output.printPartitions(
            schema: first.schema, binaryStrings: read.reader.holdsNonUTF8, partitions: input.partitions, label: "distinct: ",
            summary: { "\($0) of \(rowsIn) rows kept, \(rowsIn - $0) dropped" }
        ) { emit in
            try shuffle.distinctPartitions(by: read.columns, keep: keep, emit)
        }
    }
}
