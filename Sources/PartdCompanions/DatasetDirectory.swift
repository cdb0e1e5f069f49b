// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd

/// A directory as a database of named datasets (Python's dirdb): each entry
/// has a data file (any `Codable` value, or raw bytes) and an optional JSON
/// metadata dictionary that reads without loading the data.
///
/// ```swift
/// let db = try DatasetDirectory(path: "/data/experiments")
/// let run = try db.entry("run-7")
/// try run.write([0.5, 0.25], metadata: ["model": "lstm", "epochs": 12])
/// try run.metadata()["model"]                  // "lstm", without reading the data
/// try run.read([Double].self)                  // [0.5, 0.25]
/// try run.withLock { try run.updateMetadata { $0["done"] = true } }   // inter-process lock
/// try db.names()                               // ["run-7"], sorted
/// ```
///
/// Files per entry `NAME`: `NAME.msgpack` or `NAME.json` (an encoded value) or
/// `NAME.bytes` (raw bytes), exactly one of them; `NAME.meta.json`; and
/// `.NAME.lock` for ``DatasetEntry/withLock(_:)``. Every write goes to a
/// temporary file that is fsynced and renamed into place, so a crash leaves an
/// entry's old or new data, never a torn file.
public final class DatasetDirectory: Sendable {
    public let path: String
    /// How values are encoded when written (reads accept either encoding).
    public let encoding: ValueEncoding
    let folder: Folder

    /// Opens the database at `path`, creating the directory (and its parents)
    /// if `create` is set.
    ///
    /// - Throws: ``PartdError/Code/notFound`` if it is missing and `create` is
    ///   false; ``PartdError/Code/notADirectory`` if `path` is a file.
    public init(path: String, create: Bool = true, encoding: ValueEncoding = .messagePack) throws {
        folder = try Folder(path: path, create: create)
        self.path = folder.path
        self.encoding = encoding
    }

    /// The entry called `name` (which need not exist yet).
    ///
    /// - Throws: ``PartdError/Code/invalidKey`` for an empty name, one with `/`
    ///   or NUL, one starting with `.` or ending with `.meta`, or one over 200 bytes.
    public func entry(_ name: String) throws -> DatasetEntry {
        try Self.check(name)
        return DatasetEntry(name: name, database: self)
    }

    /// The names of the entries that have data or metadata, sorted.
    public func names() throws -> [String] {
        // Names are told apart, and suffixes found, by their UTF-8 bytes: `String`'s `==` takes canonically
        // equivalent names (NFC and NFD "café") as one, and `hasSuffix` compares characters, so a name ending in a
        // character that joins the "." after it (U+0600) would not end in ".json".
        var seen = Set<[UInt8]>()
        var names: [String] = []
        for file in try folder.list() where !file.isDirectory && !file.name.utf8.starts(with: ".".utf8) {
            for suffix in DatasetEntry.suffixes {
                guard let name = file.name.droppingUTF8Suffix(suffix), !name.isEmpty else { continue }
                if seen.insert(Array(name.utf8)).inserted { names.append(name) }
                break
            }
        }
        return names.sortedDistinctly()
    }

    /// Every entry, sorted by name.
    public func entries() throws -> [DatasetEntry] {
        try names().map { DatasetEntry(name: $0, database: self) }
    }

    /// Whether an entry called `name` has data.
    public func contains(_ name: String) throws -> Bool { try entry(name).hasData }

    /// The sub-database in the sub-directory `name`, created if missing and `create` is set.
    public func subdirectory(_ name: String, create: Bool = true) throws -> DatasetDirectory {
        try Self.check(name)
        return try DatasetDirectory(path: folder.file(name), create: create, encoding: encoding)
    }

    /// The names of the sub-databases, sorted.
    public func subdirectoryNames() throws -> [String] {
        try folder.list().filter { $0.isDirectory && !$0.name.utf8.starts(with: ".".utf8) }.map(\.name).sortedDistinctly()
    }

    static func check(_ name: String) throws {
        // In bytes: a "." followed by a combining mark is one character, which `hasPrefix(".")` does not see.
        guard !name.isEmpty, !name.utf8.starts(with: ".".utf8), name.droppingUTF8Suffix(".meta") == nil,
            !name.utf8.contains(UInt8(ascii: "/")), !name.utf8.contains(0), name.utf8.count <= 200
        else {
            throw PartdError(
                code: .invalidKey,
                message: "\"\(name)\" cannot name an entry: names are 1 to 200 bytes, without '/' or NUL, "
                    + "not starting with '.' nor ending with '.meta'")
        }
    }
}

/// One named dataset of a ``DatasetDirectory``: a proxy, so making one does no I/O.
public struct DatasetEntry: Sendable, Comparable, CustomStringConvertible {
    public let name: String
    public let database: DatasetDirectory

    /// The metadata suffix first, so `x.meta.json` is not taken for JSON data of `x.meta`.
    static let suffixes = [".meta.json", ".msgpack", ".json", ".bytes"]
    private var folder: Folder { database.folder }
    private var metadataFile: String { name + ".meta.json" }

    public var description: String { "\(database.path)/\(name)" }

    /// By path, then name, as bytes where `String`s are equal (canonically equivalent names are two entries).
    public static func < (a: DatasetEntry, b: DatasetEntry) -> Bool {
        func before(_ x: String, _ y: String) -> Bool { x != y ? x < y : x.utf8.lexicographicallyPrecedes(y.utf8) }
        return a.database.path.utf8.elementsEqual(b.database.path.utf8)
            ? before(a.name, b.name) : before(a.database.path, b.database.path)
    }

    /// The same directory path and name, byte for byte.
    public static func == (a: DatasetEntry, b: DatasetEntry) -> Bool {
        a.database.path.utf8.elementsEqual(b.database.path.utf8) && a.name.utf8.elementsEqual(b.name.utf8)
    }

    /// The data file that exists, if any.
    private func dataFile() throws -> (name: String, encoding: ValueEncoding?)? {
        for (suffix, encoding) in [(".msgpack", ValueEncoding.messagePack), (".json", .json)] {
            if try folder.stat(name + suffix) != nil { return (name + suffix, encoding) }
        }
        if try folder.stat(name + ".bytes") != nil { return (name + ".bytes", nil) }
        return nil
    }

    /// Whether the entry has data.
    public var hasData: Bool { get throws { try dataFile() != nil } }

    // MARK: Data

    /// Writes `value` as the entry's data (replacing any), then `metadata` if given.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if `value` cannot be encoded, or `metadata` holds a
    ///   NaN or infinite number; then nothing is written.
    public func write<T: Encodable>(_ value: T, metadata: [String: JSONValue]? = nil) throws {
        let metadataText = try metadata.map(metadataBytes)
        let encoding = database.encoding
        let bytes: [UInt8]
        do {
            bytes = try encoding.encode(value)
        } catch {
            throw PartdError(code: .invalidArgument, message: "the value for entry \"\(name)\" cannot be encoded: \(error)")
        }
        try replaceData(with: bytes, suffix: encoding == .json ? ".json" : ".msgpack")
        if let metadataText { try folder.write(metadataFile, metadataText) }
    }

    /// Writes raw bytes as the entry's data (replacing any), then `metadata` if given.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if `metadata` holds a NaN or infinite number; then
    ///   nothing is written.
    public func writeBytes(_ bytes: [UInt8], metadata: [String: JSONValue]? = nil) throws {
        let metadataText = try metadata.map(metadataBytes)
        try replaceData(with: bytes, suffix: ".bytes")
        if let metadataText { try folder.write(metadataFile, metadataText) }
    }

    private func replaceData(with bytes: [UInt8], suffix: String) throws {
        try folder.write(name + suffix, bytes)
        for other in [".msgpack", ".json", ".bytes"] where other != suffix { try folder.remove(name + other) }
    }

    /// The entry's data decoded as `T`.
    ///
    /// - Throws: ``PartdError/Code/notFound`` if it has none; ``PartdError/Code/corruptData``
    ///   naming the file if it does not decode as `T` (or holds raw bytes).
    public func read<T: Decodable>(_ type: T.Type) throws -> T {
        guard let file = try dataFile() else {
            throw PartdError(code: .notFound, message: "entry \"\(name)\" has no data", path: folder.file(name))
        }
        guard let encoding = file.encoding, let bytes = try folder.read(file.name) else {
            throw PartdError(code: .corruptData, message: "entry \"\(name)\" holds raw bytes; read them with readBytes()", path: folder.file(file.name))
        }
        do {
            return try encoding.decode(type, from: bytes)
        } catch {
            throw PartdError(code: .corruptData, message: "entry \"\(name)\" does not decode as \(T.self): \(error)", path: folder.file(file.name))
        }
    }

    /// The bytes of the entry's data file, whatever it holds.
    public func readBytes() throws -> [UInt8] {
        guard let file = try dataFile(), let bytes = try folder.read(file.name) else {
            throw PartdError(code: .notFound, message: "entry \"\(name)\" has no data", path: folder.file(name))
        }
        return bytes
    }

    // MARK: Metadata

    /// The metadata dictionary (empty if there is none), read without the data.
    ///
    /// Numbers read as they were written (see ``JSONValue``): an integer that fits in `Int64` as
    /// ``JSONValue/integer(_:)`` with every digit, any other number as ``JSONValue/number(_:)``.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` naming the file if it is not a JSON object, or if an object in
    ///   it holds two keys that differ in bytes but are one `String` to Swift (NFC and NFD "café"), one of
    ///   whose values would be lost.
    public func metadata() throws -> [String: JSONValue] {
        guard let bytes = try folder.read(metadataFile) else { return [:] }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw PartdError(
                code: .corruptData, message: "the metadata of entry \"\(name)\" is not JSON: \(error)", path: folder.file(metadataFile))
        }
        guard case .object(let object) = value else {
            throw PartdError(
                code: .corruptData, message: "the metadata of entry \"\(name)\" is not a JSON object", path: folder.file(metadataFile))
        }
        return object
    }

    /// Replaces the metadata; `nil` removes it. The file is JSON with sorted keys, two spaces of indent;
    /// integers are written in full and other numbers in their shortest exact form (`2.0`, `1e+16`).
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` naming where a NaN or infinite number is
    ///   (`["runs"][2]["loss"]`): JSON has neither. The file is then left as it was.
    public func setMetadata(_ metadata: [String: JSONValue]?) throws {
        guard let metadata else { return try folder.remove(metadataFile) }
        try folder.write(metadataFile, try metadataBytes(metadata))
    }

    private func metadataBytes(_ metadata: [String: JSONValue]) throws -> [UInt8] {
        try JSONValue.object(metadata).jsonText("the metadata of entry \"\(name)\" cannot be written")
    }

    /// Reads, changes and writes back the metadata (hold ``withLock(_:)`` around
    /// it when other processes may change it too). Fields `change` does not touch are written back as
    /// they were read: integers keep every digit.
    public func updateMetadata(_ change: (inout [String: JSONValue]) throws -> Void) throws {
        var metadata = try metadata()
        try change(&metadata)
        try setMetadata(metadata)
    }

    // MARK: Lifecycle

    /// Removes the entry's data and metadata. Its lock file stays: removing it
    /// would let a new `withLock` lock a new file while another holds the old one.
    public func delete() throws {
        for suffix in Self.suffixes { try folder.remove(name + suffix) }
    }

    /// Size and modification time of the entry's data, or `nil` if it has none.
    public func stat() throws -> (bytes: Int, modified: Date)? {
        guard let file = try dataFile() else { return nil }
        return try folder.stat(file.name)
    }

    /// Runs `body` holding this entry's inter-process lock (other threads and
    /// processes calling `withLock` on the same entry wait).
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        try folder.withLock("." + name + ".lock", body)
    }
}

extension String {
    /// The string without `suffix` if its UTF-8 bytes end with those of `suffix`, else `nil`.
    func droppingUTF8Suffix(_ suffix: String) -> String? {
        let length = suffix.utf8.count
        guard utf8.count >= length, utf8.suffix(length).elementsEqual(suffix.utf8) else { return nil }
        return String(decoding: utf8.dropLast(length), as: UTF8.self)
    }
}

extension [String] {
    /// Sorted as `String`s, and canonically equivalent ones (two names here) by their UTF-8 bytes.
    func sortedDistinctly() -> [String] {
        sorted { $0 != $1 ? $0 < $1 : $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
