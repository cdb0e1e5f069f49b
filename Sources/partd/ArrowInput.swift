// SPDX-License-Identifier: Apache-2.0
//
// Input files of `partd shuffle`, `groupby` and `join`: CSV, or Arrow IPC (file or stream) read a record
// batch at a time.

import Foundation
import Partd
import PartdCSV
import PartdTyped

/// A file read as tables a chunk at a time.
protocol TableSource: AnyObject {
    var path: String { get }
    /// The column names.
    var header: [String] { get }
    var fileSize: Int { get }
    /// How far into the file the chunks returned so far reach, for progress.
    var bytesRead: Int { get }
    /// The next chunk, or `nil` at the end.
    func nextChunk() throws -> Table?
}

extension CSVReader: TableSource {}

/// Opens `path` as Arrow if it starts as an Arrow IPC file (`ARROW1`) or stream (a continuation marker)
/// does, else as CSV. `types` applies to CSV columns; naming a column of an Arrow file, whose columns carry
/// their types, is an error.
func openInput(path: String, chunkRows: Int, types: [String: ColumnKind], typesOfOtherFiles: Bool = false) throws -> any TableSource {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open \(path)") }
    let start = [UInt8]((try? handle.read(upToCount: 6)) ?? Data())
    try? handle.close()
    guard start.starts(with: Array("ARROW1".utf8)) || start.starts(with: [0xFF, 0xFF, 0xFF, 0xFF]) else {
        return try CSVReader(path: path, chunkRows: chunkRows, types: types, typesOfOtherFiles: typesOfOtherFiles)
    }
    let input = try ArrowInput(path: path)
    for name in types.keys {
        if let field = input.schema.fields.first(where: { $0.name == name }) {
            throw CommandError("\(path): --types cannot change column \(name) of an Arrow file (it holds \(field.type))")
        }
        if !typesOfOtherFiles { throw CommandError("\(path): --types names \(name), which is not a column") }
    }
    return input
}

/// An Arrow IPC file or stream, a record batch per chunk.
final class ArrowInput: TableSource {
    let path: String
    let fileSize: Int
    private(set) var bytesRead = 0
    private var batches: ArrowBatchReader
    private let handle: FileHandle

    var schema: TableSchema { batches.schema }
    var header: [String] { batches.schema.fields.map(\.name) }

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open \(path)") }
        self.path = path
        self.handle = handle
        fileSize = Int(try handle.seekToEnd())
        let read = { [handle] (offset: Int, count: Int) throws -> ArraySlice<UInt8> in
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else { throw CommandError("\(path): the file ended early (it changed while read?)") }
            return [UInt8](data)[...]
        }
        do {
            batches = try ArrowBatchReader(size: fileSize, read: read)
        } catch let error as PartdError {
            throw CommandError("\(path): \(error.message)")
        }
    }

    deinit { try? handle.close() }

    func nextChunk() throws -> Table? {
        do {
            let table = try batches.next()
            bytesRead = table == nil ? fileSize : Int((try? handle.offset()) ?? 0)
            return table
        } catch let error as PartdError {
            throw CommandError("\(path): \(error.message)")
        }
    }
}
