// SPDX-License-Identifier: Apache-2.0
//
// partd export: every table of a store (a shuffle's partitions, say) as the record batches of one Arrow file.

import ArgumentParser
import Foundation
import Partd
import PartdCSV
import PartdTyped

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the tables of a store's keys as the record batches of one Arrow IPC file or stream.",
        discussion: """
            Keys are taken in order (integers by value, as `partd shuffle` numbers its partitions, then the \
            others as `ls` prints them), one key's table in memory at a time; each becomes one record batch. \
            Every key must hold tables of one schema; keys that hold nothing are skipped. A categorical \
            column's dictionary is unified across keys (docs/format.md §10.1). pandas.read_feather, \
            pyarrow.feather.read_table and polars' read_ipc read the result.
            """)

    @Argument(help: "The store's directory.") var directory: String
    @Option(help: "The Arrow file to write.") var out: String
    @Option(help: "The keys to export, as `ls` prints them and comma-separated (default: every key).") var keys: String?
    @Option(help: "arrow (an Arrow IPC file) or arrow-stream.") var format: Cat.Format = .arrow
    @Option(help: "Compress the buffers: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?

    func validate() throws {
        guard format == .arrow || format == .arrowStream else { throw ValidationError("export writes arrow or arrow-stream") }
    }

    func run() throws {
        let store = try openStore(directory)
        let chosen = try keys.map { list in try list.split(separator: ",").map { try findKey(String($0), in: store) } }
            ?? store.keys().sorted(by: Self.precedes)
        guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
            throw CommandError("cannot write \(out)")
        }
        defer { try? handle.close() }
        var writer: ArrowBatchWriter?
        var rows = 0
        var batches = 0
        let progress = ProgressLine(total: chosen.count, label: "export: ")
        for (done, key) in chosen.enumerated() {
            let value = try decodedValue(try store.get(key), key: key)
            guard !value.isEmpty else { continue }
            guard Cat.kind(of: value, key: key) == .table else {
                throw CommandError("key \(key) holds \(Cat.kind(of: value, key: key).rawValue), not tables")
            }
            let memory = MemoryStore()
            try memory.append([(key, value)])
            let table = try TableStore(over: memory).get(key)
            if writer == nil {
                writer = ArrowBatchWriter(format == .arrow ? .file : .stream, schema: table.schema,
                                          compression: arrowCompression?.compression)
            }
            do {
                try writer!.write(table) { handle.write(Data($0)) }
            } catch let error as PartdError where error.code == .typeMismatch {
                throw CommandError("key \(key): its tables have schema \(table.schema), the keys before it another")
            }
            rows += table.rowCount
            batches += 1
            progress.update(done + 1, "\(rows) rows")
        }
        var last = writer ?? ArrowBatchWriter(format == .arrow ? .file : .stream, schema: TableSchema([]))
        try last.finish { handle.write(Data($0)) }
        progress.finish("\(rows) rows")
        print("\(rows) rows from \(batches) keys in \(out)")
    }

    /// Integer keys by value first, then the others by their printed form.
    static func precedes(_ a: PartdKey, _ b: PartdKey) -> Bool {
        switch (a.kind, b.kind) {
        case (.int(let x), .int(let y)): return x < y
        case (.int, _): return true
        case (_, .int): return false
        default: return a.description < b.description
        }
    }
}
