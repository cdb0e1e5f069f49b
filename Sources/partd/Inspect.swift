// SPDX-License-Identifier: Apache-2.0
//
// partd ls / cat / stats / verify: look inside a directory store.

import ArgumentParser
import Foundation
import Partd
import PartdCSV
import PartdCompression
import PartdTyped

/// Opens the existing directory store at `path` (never creates one). The inspecting commands and `repair`
/// open a directory only if it has a store's `.lock` file (every store has one once written to, by
/// swift-partd or Python's partd), so that pointing them at some other directory changes nothing in it
/// (`repair` would cut files there that start like frames).
func openStore(_ path: String) throws -> DirectoryStore {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw CommandError("no such directory: \(path)")
    }
    guard isDirectory.boolValue else { throw CommandError("not a directory: \(path)") }
    if !FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(".lock")) {
        throw CommandError(
            "\(path) is not a partd store (it has no .lock file); nothing was read or changed (a store copied without its "
                + ".lock: create an empty .lock file in it)")
    }
    return try DirectoryStore(path: path)
}

/// The key a command-line argument names: its printed form (`"x"`, `7`, `("df", 7)`) or a string key's text.
func findKey(_ argument: String, in store: DirectoryStore) throws -> PartdKey {
    let keys = try store.keys()
    if let key = keys.first(where: { $0.description == argument }) { return key }
    if let key = keys.first(where: { if case .string(argument) = $0.kind { return true } else { return false } }) { return key }
    throw CommandError("no key \(argument) in \(store.path)")
}

/// The keys a comma-separated list names, each as ``findKey(_:in:)`` takes it. A comma inside a quoted string
/// (where `\"` and `\\` are escapes, as `ls` prints them) or inside parentheses belongs to the key, so
/// `("df", 7),"a,b"` names two keys; spaces around an item are ignored unless they are part of a string key.
func findKeys(_ list: String, in store: DirectoryStore) throws -> [PartdKey] {
    try splitKeyList(list).map { item in
        let trimmed = item.trimmingCharacters(in: .whitespaces)
        guard trimmed != item else { return try findKey(item, in: store) }
        do {
            return try findKey(item, in: store)
        } catch {
            return try findKey(trimmed, in: store)
        }
    }
}

/// `list` split at the commas outside quoted strings and parentheses (see ``findKeys(_:in:)``).
func splitKeyList(_ list: String) -> [String] {
    var items: [String] = []
    var item = ""
    var quoted = false
    var escaped = false
    var depth = 0
    for character in list {
        if quoted {
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted = false
            }
        } else {
            switch character {
            case "\"": quoted = true
            case "(": depth += 1
            case ")": depth = max(0, depth - 1)
            case "," where depth == 0:
                items.append(item)
                item = ""
                continue
            default: break
            }
        }
        item.append(character)
    }
    items.append(item)
    return items
}

/// What a key's bytes hold.
struct KeyLayout {
    var bytes: Int
    /// Compressed frames (PDZF) or value frames (PDVF); 0 for raw bytes.
    var frames: Int
    var kind: String
    var codecs: Set<String>
    /// Bytes after decompression.
    var original: Int
    /// What the value holds, as `cat` decodes it by default: table, array, list or bytes.
    var holds: Cat.Kind

    init(_ value: [UInt8], key: PartdKey) throws {
        bytes = value.count
        if value.starts(with: FrameFormat.magic) {
            let described = try FrameFormat.describe(value, key: key)
            frames = described.count
            codecs = Set(described.map { "\($0.codec)" })
            original = described.reduce(0) { $0 + $1.original }
            kind = "compressed"
            // The first compressed frames tell what the value holds: enough of them (4 MiB each at most) for a
            // value frame's header and its payload's first bytes (a value frame's header and payload may have
            // been compressed apart).
            var end = 0, used = 0, decoded = 0
            while used < described.count && decoded < ValueFrames.headerSize + 16 {
                end += FrameFormat.headerSize + described[used].stored
                decoded += described[used].original
                used += 1
            }
            let start = try FrameFormat.decodeAll(value[..<end], key: key)
            holds = Cat.kind(of: start, key: key, complete: used == described.count)
        } else if ValueFrames.starts(value[...], at: 0) {
            let payloads = try ValueFrames.payloads(value[...], key: key)
            frames = payloads.count
            codecs = []
            original = value.count
            kind = "frames"
            holds = Cat.kind(ofPayload: payloads.first { !$0.bytes.isEmpty }?.bytes)
        } else {
            frames = 0
            codecs = []
            original = value.count
            kind = value.isEmpty ? "empty" : "raw"
            holds = Cat.kind(of: value, key: key)
        }
    }
}

/// A key's stored value with compression undone (and its value frames checked).
func decodedValue(_ value: [UInt8], key: PartdKey) throws -> [UInt8] {
    let decoded = value.starts(with: FrameFormat.magic) ? try FrameFormat.decodeAll(value, key: key) : value
    if ValueFrames.starts(decoded[...], at: 0) { _ = try ValueFrames.payloads(decoded[...], key: key) }
    return decoded
}

func human(_ bytes: Int) -> String { ByteCount(bytes: bytes).description }

func writeStdout(_ bytes: [UInt8]) throws {
    try write(bytes, to: .standardOutput)
}

/// Writes `bytes` to `handle` (standard output unless `name` names the file), throwing a ``CommandError``
/// that says why when the write fails: a pipe whose reader has gone (`partd sort … | head -1`), a full disk.
/// Foundation's `FileHandle.write(_:)` stops the process instead, without a message and without removing the
/// scratch directory. (SIGPIPE is ignored, so a closed pipe is an error here, not a signal.)
func write(_ bytes: some DataProtocol, to handle: FileHandle, _ name: String = "standard output") throws {
    do {
        try handle.write(contentsOf: bytes)
    } catch {
        // Foundation wraps the operating system's error ("Broken pipe", "No space left on device").
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if handle.fileDescriptor == STDOUT_FILENO, underlying?.domain == NSPOSIXErrorDomain, underlying?.code == Int(EPIPE) {
            throw OutputClosed()
        }
        let reason = underlying.map { $0.localizedFailureReason ?? $0.localizedDescription } ?? error.localizedDescription
        throw CommandError("cannot write \(name): \(reason)")
    }
}

/// Lines for standard output, written a block at a time through ``write(_:to:_:)``: a failed write (a full
/// disk, a closed pipe) stops the command with its reason, where `print` loses it (SIGPIPE is ignored) and the
/// command would go on and end with status 0. See ``printLines(_:)``.
struct StandardOutputLines {
    private var buffer: [UInt8] = []

    mutating func append(_ line: String) throws {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { try flush() }
    }

    fileprivate mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try writeStdout(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Runs `body` with lines for standard output and writes what it left.
func printLines(_ body: (inout StandardOutputLines) throws -> Void) throws {
    var lines = StandardOutputLines()
    try body(&lines)
    try lines.flush()
}

/// One line to standard output (see ``StandardOutputLines``).
func printLine(_ line: String) throws {
    try writeStdout(Array((line + "\n").utf8))
}

/// Standard output is a pipe whose reader has gone (`partd sort … | head -1`): the command stops quietly with
/// status 141, as if SIGPIPE had ended it (what a shell reports for tools that keep its default action).
struct OutputClosed: Error {
    static let exitStatus: Int32 = 128 + SIGPIPE
}

/// Writes `text` to standard error; a failure is ignored (progress and warnings are not worth stopping for).
func writeStderr(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
}

func jsonString(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the keys of a directory store with their sizes and frame counts.")

    @Argument(help: "The store's directory.") var directory: String
    @Flag(help: "One JSON array instead of a table.") var json = false

    func run() throws {
        let store = try openStore(directory)
        var rows: [(key: PartdKey, layout: KeyLayout)] = []
        for key in try store.keys() { rows.append((key, try KeyLayout(try store.get(key), key: key))) }
        if json {
            let items = rows.map { row in
                "{\"key\": \(jsonString(row.key.description)), \"bytes\": \(row.layout.bytes), "
                    + "\"frames\": \(row.layout.frames), \"kind\": \"\(row.layout.kind)\", \"holds\": \"\(row.layout.holds)\"}"
            }
            return try printLine("[" + items.joined(separator: ", ") + "]")
        }
        let width = max(3, rows.map { $0.key.description.count }.max() ?? 0)
        try printLines { out in
            try out.append("KEY".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + "SIZE".leftPadded(10) + "  FRAMES  KIND        HOLDS")
            for row in rows {
                try out.append(row.key.description.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + human(row.layout.bytes).leftPadded(10) + "  " + String(row.layout.frames).leftPadded(6) + "  "
                    + row.layout.kind.padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + "\(row.layout.holds)")
            }
            try out.append("\(rows.count) keys, \(human(rows.reduce(0) { $0 + $1.layout.bytes }))")
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a key's value as the table, array or list its frames hold, or its bytes (compression undone).")

    enum Kind: String, ExpressibleByArgument, CaseIterable { case auto, bytes, table, array, list }
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv, json, arrow
        case arrowStream = "arrow-stream"
    }

    @Argument(help: "The store's directory.") var directory: String
    @Argument(help: "The key: a string, an integer, or a tuple as `ls` prints it.") var key: String
    @Option(
        name: .customLong("as"),
        help: ArgumentHelp(
            "How to decode the value: auto (what its frames hold: a table, an array, a list, else bytes), "
                + "bytes, table, array or list."))
    var kind: Kind = .auto
    @Option(
        help: ArgumentHelp(
            "Output format of tables: csv, json (NaN and infinities as null), arrow (an Arrow IPC file, which pandas.read_feather and "
                + "pyarrow.feather.read_table open) or arrow-stream (an Arrow IPC stream)."))
    var format: Format = .csv
    @Option(help: "Compress the buffers of --format arrow or arrow-stream: lz4 or zstd.") var arrowCompression: ArrowCompressionOption?
    @Flag(help: "Print the stored bytes exactly, frames and all.") var raw = false

    func run() throws {
        let store = try openStore(directory)
        let key = try findKey(self.key, in: store)
        let stored = try store.get(key)
        if raw { return try writeStdout(stored) }
        let value = try decodedValue(stored, key: key)
        let memory = MemoryStore()
        try memory.append([(key, value)])
        switch kind == .auto ? Self.kind(of: value, key: key) : kind {
        case .auto, .bytes:
            try writeStdout(value)
        case .table:
            try printTable(try TableStore(over: memory).get(key), format: format, arrowCompression: arrowCompression?.compression)
        case .array:
            let lines = try arrayLines(ArrayStore(over: memory), key)
            try printLines { out in
                for line in lines { try out.append(line) }
            }
        case .list:
            let encoder = JSONEncoder.sortingKeys
            let elements = try ListStore<MemoryStore, PlainValue>(over: memory).get(key)
            try printLines { out in
                for element in elements { try out.append(String(decoding: try encoder.encode(element), as: UTF8.self)) }
            }
        }
    }

    /// What a value (compression undone) holds, from its first frame's payload: a table, an array (`.npy` or
    /// string array), or a list (MessagePack or JSON, in checked value frames or in Python partd's
    /// length-prefixed frames); anything else is bytes. With `complete` false, `value` is only the start of
    /// the value: the first payload's first bytes decide, and partd's frames (which must cover the whole
    /// value) are not looked for.
    static func kind(of value: [UInt8], key: PartdKey, complete: Bool = true) -> Kind {
        if ValueFrames.starts(value[...], at: 0) {
            return kind(ofPayload: complete
                ? (try? ValueFrames.payloads(value[...], key: key))?.first(where: { !$0.bytes.isEmpty })?.bytes
                : value.dropFirst(ValueFrames.headerSize))
        }
        // Python partd's lists: 8-byte little-endian lengths, each followed by a list, covering the value exactly.
        guard complete else { return .bytes }
        var offset = 0
        while value.count - offset >= 9 {
            let length = value[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let payload = value[(offset + 8)...]
            // A pickle (partd's fallback for values MessagePack cannot hold) counts too, so that reading it
            // reports what it is rather than printing it.
            let pickle = payload.count >= 2 && payload.first == 0x80 && (2...5).contains(payload.dropFirst().first!)
            guard length >= 1, length <= UInt64(value.count - offset - 8), startsList(payload) || pickle else {
                return .bytes
            }
            offset += 8 + Int(length)
        }
        return offset == value.count && offset > 0 ? .list : .bytes
    }

    /// What a value frame's payload (or its first bytes) holds; a value without one is bytes.
    static func kind(ofPayload payload: ArraySlice<UInt8>?) -> Kind {
        guard let payload else { return .bytes }
        if payload.starts(with: Array("PDTB".utf8)) { return .table }
        if payload.starts(with: [0x93] + Array("NUMPY".utf8)) || payload.starts(with: Array("PDSA".utf8)) {
            return .array
        }
        return startsList(payload) ? .list : .bytes
    }

    /// Whether `payload` starts a MessagePack array or a JSON array.
    private static func startsList(_ payload: ArraySlice<UInt8>) -> Bool {
        guard let first = payload.first else { return false }
        return (0x90...0x9F).contains(first) || first == 0xDC || first == 0xDD || first == UInt8(ascii: "[")
    }

    private func arrayLines(_ arrays: ArrayStore<MemoryStore>, _ key: PartdKey) throws -> [String] {
        guard let layout = try arrays.layout(of: key) else { return [] }
        func lines<T: ArrayElement>(_: T.Type, _ text: (T) -> String = { "\($0)" }) throws -> [String] {
            let array = try arrays.get(key, as: NDArray<T>.self)
            let width = max(1, layout.rowShape.reduce(1, *))
            return stride(from: 0, to: array.elements.count, by: width).map { start in
                array.elements[start..<min(start + width, array.elements.count)].map(text).joined(separator: ",")
            }
        }
        // Timestamps print as their count of units since 1970, as tables print them.
        func timestamps<U: TimestampUnit>(_: U.Type) throws -> [String] {
            try lines(Timestamp<U>.self) { String($0.rawValue) }
        }
        switch layout.dtype {
        case .bool: return try lines(Bool.self)
        case .int8: return try lines(Int8.self)
        case .int16: return try lines(Int16.self)
        case .int32: return try lines(Int32.self)
        case .int64: return try lines(Int64.self)
        case .uint8: return try lines(UInt8.self)
        case .uint16: return try lines(UInt16.self)
        case .uint32: return try lines(UInt32.self)
        case .uint64: return try lines(UInt64.self)
        case .float16: return try lines(Float16.self)
        case .float32: return try lines(Float.self)
        case .float64: return try lines(Double.self)
        case .datetime(.seconds): return try timestamps(Seconds.self)
        case .datetime(.milliseconds): return try timestamps(Milliseconds.self)
        case .datetime(.microseconds): return try timestamps(Microseconds.self)
        case .datetime(.nanoseconds): return try timestamps(Nanoseconds.self)
        default:
            if let strings = try? arrays.get(key, as: StringArray.self) { return Array(strings) }
            throw CommandError("cannot print arrays of \(layout.dtype.numpy) yet")
        }
    }
}

/// Arrow's buffer compression as an option of `cat` and `groupby`.
enum ArrowCompressionOption: String, ExpressibleByArgument, CaseIterable {
    case lz4, zstd

    var compression: Table.ArrowCompression { self == .lz4 ? .lz4 : .zstd }
}

/// Prints a table as CSV (header row; nulls empty; fields quoted where needed; see `CSVWriter`), JSON (one
/// array of objects) or an Arrow IPC file or stream, to standard output or `handle`.
func printTable(
    _ table: Table, format: Cat.Format, arrowCompression: Table.ArrowCompression? = nil,
    to handle: FileHandle = .standardOutput, named name: String = "standard output"
) throws {
    switch format {
    case .csv:
        try write(CSVWriter.bytes(table), to: handle, name)
    case .json:
        try printJSON(table) { try write(Data(($0 + "\n").utf8), to: handle, name) }
    case .arrow:
        try table.writeArrow(.file, compression: arrowCompression) { try write($0, to: handle, name) }
    case .arrowStream:
        try table.writeArrow(.stream, compression: arrowCompression) { try write($0, to: handle, name) }
    }
}

/// A table as one JSON array of objects, one row a line; nulls, NaN and infinities are `null`. A string that
/// is not UTF-8 (a Latin-1 CSV's) has no JSON form: an error naming its column and row, not a repaired value
/// that another could equal.
private func printJSON(_ table: Table, to output: (String) throws -> Void) throws {
    var rows: [String] = []
    for row in 0..<table.rowCount {
        let fields = try table.columns.map { column -> String in
            let value = try column.text(at: row).map { text -> String in
                switch column.type {
                case .string, .categorical:
                    let bytes = column.strings?.bytes(at: row)
                        ?? column.categorical.map { $0.categories.bytes(at: Int($0.codes[row])) } ?? []
                    guard text.utf8.elementsEqual(bytes) else {
                        throw CommandError(
                            "column \(column.name), row \(row + 1): bytes that are not UTF-8 have no JSON form; give --format csv or arrow")
                    }
                    return jsonString(text)
                default:
                    // NaN and the infinities have no JSON form: null, as pandas' `to_json` writes them.
                    if let number = Double(text) { return number.isFinite ? text : "null" }
                    return text == "true" || text == "false" ? text : jsonString(text)
                }
            } ?? "null"
            return "\(jsonString(column.name)): \(value)"
        }
        rows.append("{" + fields.joined(separator: ", ") + "}")
    }
    try output("[" + rows.joined(separator: ",\n ") + "]")
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a store: keys, frames, codecs, bytes on disk and the compression ratio.")

    @Argument(help: "The store's directory.") var directory: String

    func run() throws {
        let store = try openStore(directory)
        var keys = 0, frames = 0, stored = 0, original = 0
        var codecs: [String: Int] = [:]
        var kinds: [String: Int] = [:]
        var holds: [String: Int] = [:]
        for key in try store.keys() {
            let layout = try KeyLayout(try store.get(key), key: key)
            keys += 1
            frames += layout.frames
            stored += layout.bytes
            original += layout.original
            kinds[layout.kind, default: 0] += 1
            holds["\(layout.holds)", default: 0] += 1
            for codec in layout.codecs { codecs[codec, default: 0] += 1 }
        }
        let held = holds.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) keys)" }
        let ratio = stored == 0 ? 1 : Double(original) / Double(stored)
        try printLines { out in
            try out.append("keys:          \(keys) (\(kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")))")
            try out.append("holds:         \(held.isEmpty ? "nothing" : held.joined(separator: ", "))")
            try out.append("frames:        \(frames)")
            try out.append("codecs:        \(codecs.isEmpty ? "none" : codecs.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) keys)" }.joined(separator: ", "))")
            try out.append("bytes on disk: \(human(stored)) (\(stored) bytes)")
            try out.append("decoded bytes: \(human(original)) (\(original) bytes)")
            try out.append("compression:   \(String(format: "%.2f", ratio))x")
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every frame of every key; report damaged or torn ones with their offsets.",
        discussion: "Exits with status 1 if any key is damaged. Raw (unframed) keys have nothing to check.")

    @Argument(help: "The store's directory.") var directory: String

    func run() throws {
        let store = try openStore(directory)
        let keys = try store.keys().count
        let damaged = try StoreIntegrity.verify(store)
        try printLines { out in
            for damage in damaged { try out.append("damaged \(damage)") }
            try out.append("\(keys) keys checked, \(damaged.count) damaged")
        }
        if !damaged.isEmpty { throw ExitCode(1) }
    }
}

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the torn or damaged frames of every damaged key, keeping every frame that checks, and report what was removed.")

    @Argument(help: "The store's directory.") var directory: String

    func run() throws {
        let store = try openStore(directory)
        let found = try StoreIntegrity.repair(store)
        let leftAlone = found.filter { $0.newerFormatAt != nil }
        try printLines { out in
            for damage in found { try out.append("\(damage.newerFormatAt == nil ? "repaired" : "left alone") \(damage)") }
            try out.append("\(found.count - leftAlone.count) keys repaired"
                + (leftAlone.isEmpty ? "" : ", \(leftAlone.count) left alone (a newer format than this build reads)"))
        }
        if !leftAlone.isEmpty { throw ExitCode(1) }
    }
}
