// SPDX-License-Identifier: Apache-2.0
//
// partd export: every table of a store (a shuffle's partitions, say) as the record batches of one Arrow file,
// or as a file per key (CSV or Arrow).

import ArgumentParser
import Dispatch
import Foundation
import Partd
import PartdCSV
import PartdCompression
import PartdTyped
import Synchronization

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the tables of a store's keys as the record batches of one Arrow IPC file, or as a file per key.",
        discussion: """
            Keys are taken in order (integers by value, as `partd shuffle` numbers its partitions, then the \
            others as `ls` prints them), one key's table in memory at a time; each becomes one record batch. \
            Every key must hold tables of one schema; keys that hold nothing are skipped. A categorical \
            column's dictionary is unified across keys (docs/format.md §10.1). pandas.read_feather, \
            pyarrow.feather.read_table and polars' read_ipc read the result.

            With --out-dir, each key's tables go to a file of their own in that directory instead (CSV, or \
            Arrow IPC), written on all cores: part-0000N.csv for the integer key N (a shuffle's partition N), the \
            string for a string key and the tuple as `ls` prints it for a tuple key, with characters other than \
            letters, digits, '.', '-' and '_' written as %XX; a name that would pass 255 bytes is cut and ends \
            in ~ and 16 hexadecimal digits of a hash of the whole name. Keys that hold nothing get no file.
            """)

    @Argument(help: "The store's directory.") var directory: String
    @Option(help: "The Arrow file to write.") var out: String?
    @Option(help: "Write each key's tables to a file of its own in this directory (created if missing) instead.")
    var outDir: String?
    @Option(help: """
        The keys to export, comma-separated, each as `ls` prints it (default: every key), e.g. 3,"a,b",("df", 7): a \
        comma inside quotes or parentheses is part of the key. A string key's text without quotes will do if it \
        has no comma, quote or parenthesis.
        """)
    var keys: String?
    @Option(help: "arrow (an Arrow IPC file) or arrow-stream; with --out-dir also csv.") var format: Cat.Format = .arrow
    @Option(help: "Compress the buffers: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?
    @Flag(help: "Declare string columns binary (large_binary), for tables whose strings are not all UTF-8.")
    var binaryStrings = false

    func validate() throws {
        guard (out == nil) != (outDir == nil) else { throw ValidationError("give --out FILE or --out-dir DIRECTORY") }
        guard format != .json else { throw ValidationError("export writes arrow, arrow-stream or (with --out-dir) csv") }
        guard format != .csv || outDir != nil else {
            throw ValidationError("CSV has no record batches: give --out-dir to write a CSV file per key")
        }
    }

    func run() throws {
        let store = try openStore(directory)
        let chosen = try keys.map { try findKeys($0, in: store) }
            ?? store.keys().sorted(by: Self.precedes)
        if let outDir { return try exportEach(chosen, from: store, to: outDir) }
        let out = out!
        let handle = try openOutput(out)
        defer { try? handle.close() }
        var writer: ArrowBatchWriter?
        var rows = 0
        var batches = 0
        let progress = ProgressLine(total: chosen.count, label: "export: ")
        for (done, key) in chosen.enumerated() {
            guard let table = try Self.table(of: key, in: store) else { continue }
            if writer == nil {
                writer = ArrowBatchWriter(
                    format == .arrow ? .file : .stream, schema: table.schema, compression: arrowCompression?.compression,
                    binaryStrings: binaryStrings)
            }
            do {
                try writer!.write(table) { try write($0, to: handle, out) }
            } catch let error as PartdError where error.code == .typeMismatch {
                throw CommandError("key \(key): its tables have schema \(table.schema), the keys before it another")
            } catch let error as PartdError where error.code == .invalidArgument {
                // Strings that are not UTF-8 after keys whose strings were: the schema already says utf8.
                throw CommandError("key \(key): \(error.message); give --binary-strings")
            }
            rows += table.rowCount
            batches += 1
            progress.update(done + 1, "\(rows) rows")
        }
        var last = writer ?? ArrowBatchWriter(format == .arrow ? .file : .stream, schema: TableSchema([]))
        try last.finish { try write($0, to: handle, out) }
        progress.finish("\(rows) rows")
        try printLine("\(rows) rows from \(batches) keys in \(out)")
    }

    /// The tables key `key` holds, joined (`nil` if it holds nothing).
    static func table(of key: PartdKey, in store: DirectoryStore) throws -> Table? {
        let value = try decodedValue(try store.get(key), key: key)
        guard !value.isEmpty else { return nil }
        guard Cat.kind(of: value, key: key) == .table else {
            throw CommandError("key \(key) holds \(Cat.kind(of: value, key: key).rawValue), not tables")
        }
        let memory = MemoryStore()
        try memory.append([(key, value)])
        return try TableStore(over: memory).get(key)
    }

    /// Writes each key's tables to a file of its own in `directory`, keys decoded and written on all cores.
    private func exportEach(_ keys: [PartdKey], from store: DirectoryStore, to directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandError("cannot make the directory \(directory)")
        }
        let ext = format == .csv ? "csv" : "arrow"
        let names = keys.map { Self.fileName(for: $0, extension: ext) }
        guard Set(names).count == names.count else { throw CommandError("two keys map to one file name") }
        // What the keys done so far came to, and the first error, shared by the threads.
        struct Tally {
            var done = 0, files = 0, rows = 0
            var failure: (any Error)?
            let progress: ProgressLine
        }
        let tally = Mutex(Tally(progress: ProgressLine(total: keys.count, label: "export: ")))
        let (format, compression) = (format, arrowCompression?.compression)
        DispatchQueue.concurrentPerform(iterations: keys.count) { index in
            do {
                guard tally.withLock({ $0.failure == nil }), let table = try Self.table(of: keys[index], in: store) else {
                    tally.withLock { $0.done += 1 }
                    return
                }
                let path = (directory as NSString).appendingPathComponent(names[index])
                let handle = try openOutput(path)
                defer { try? handle.close() }
                switch format {
                case .csv: try write(CSVWriter.bytes(table), to: handle, path)
                default:
                    try table.writeArrow(format == .arrow ? .file : .stream, compression: compression) { try write($0, to: handle, path) }
                }
                tally.withLock {
                    $0.done += 1
                    $0.files += 1
                    $0.rows += table.rowCount
                    $0.progress.update($0.done, "\($0.rows) rows")
                }
            } catch {
                tally.withLock { $0.failure = $0.failure ?? error }
            }
        }
        let (files, rows, failure) = tally.withLock { ($0.files, $0.rows, $0.failure) }
        if let failure { throw failure }
        tally.withLock { $0.progress.finish("\(rows) rows") }
        try printLine("\(rows) rows from \(files) keys in \(directory)")
    }

    /// The file name (without extension) of `key`'s tables: part-N for the integer N (at least five digits, so
    /// that names list in order), else the string, or the tuple as `ls` prints it,
    /// with every byte other than a letter, digit, '.', '-' or '_' as %XX (and a leading '.' too); "%" for the
    /// empty string.
    static func fileName(for key: PartdKey) -> String {
        if case .int(let n) = key.kind { return "part-" + (n < 0 ? String(n) : String(n).leftPadded(to: 5)) }
        let text: String
        if case .string(let string) = key.kind { text = string } else { text = key.description }
        var name = ""
        for byte in text.utf8 {
            let plain = (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                || byte == 0x2D || byte == 0x5F || (byte == 0x2E && !name.isEmpty)
            name += plain ? String(UnicodeScalar(byte)) : "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
        // The empty string: a lone "%" (every other "%" has two hex digits after it).
        return name.isEmpty ? "%" : name
    }

    /// `fileName(for: key)` with the extension, cut to the 255 bytes a file name may have: a longer name keeps
    /// its first bytes and ends in `~` and 16 hexadecimal digits of the XXH3 hash of the whole name, then the
    /// extension. (A key the store holds may need 255 bytes, and escaping and the extension add to that: the
    /// export wrote the other keys' files and then failed with "File name too long".)
    static func fileName(for key: PartdKey, extension ext: String) -> String {
        let name = fileName(for: key)  // ASCII: every other byte is written %XX
        let whole = name + "." + ext
        guard whole.utf8.count > 255 else { return whole }
        let hash = String(XXHash.hash64(utf8: name, seed: 0), radix: 16).leftPadded(to: 16)
        return String(name.utf8.prefix(255 - 1 - 16 - 1 - ext.utf8.count))! + "~" + hash + "." + ext
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

extension String {
    /// This string with zeros in front up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
