// SPDX-License-Identifier: Apache-2.0
//
// Where a CSV reader's bytes come from: a file, standard input ("-") or a pipe, either gzip-compressed or not.

import Foundation
import Partd
import PartdCompression

#if canImport(Glibc)
import Glibc
#endif

/// The bytes of a CSV file, standard input (the path `-`) or a pipe, or any of them compressed with gzip (told
/// by its first two bytes, whatever the name), a block at a time. The path is opened once: a pipe's bytes are
/// read once.
package final class CSVInput {
    package let path: String
    /// The size of the file as stored (compressed, for gzip), or 0 for standard input or a pipe.
    package let size: Int
    private let handle: FileHandle
    private let closes: Bool
    /// Bytes already taken from `handle` (a look at the format), read before the handle's.
    private var peeked: [UInt8]
    /// `nil` until the first block shows whether the bytes are gzip.
    private var inflater: GzipInflater??
    private var ended = false

    /// Whether `path` names standard input.
    package static func isStandardInput(_ path: String) -> Bool { path == "-" }

    /// Whether `path` can be read only once: standard input, or something that is not a file (a pipe such as
    /// `/dev/stdin` or a process substitution's `/dev/fd/63`, a FIFO, a socket, a terminal). A path that does
    /// not exist is not (opening it fails instead).
    package static func isReadOnce(_ path: String) -> Bool {
        if isStandardInput(path) { return true }
        var status = stat()
        guard stat(path, &status) == 0 else { return false }
        let type = status.st_mode & mode_t(S_IFMT)
        return type != mode_t(S_IFREG) && type != mode_t(S_IFDIR) && type != mode_t(S_IFBLK)
    }

    /// Whether `handle` reads a regular file, which can be read again from any offset.
    package static func isRegularFile(_ handle: FileHandle) -> Bool {
        var status = stat()
        return fstat(handle.fileDescriptor, &status) == 0 && status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG)
    }

    /// Opens `path` (or takes standard input for `-`).
    package convenience init(path: String) throws {
        let (handle, closes) = try Self.open(path)
        self.init(path: path, handle: handle, closes: closes)
    }

    /// The bytes `handle` reads, after `peeked`, the bytes already read from it. The handle is closed at
    /// deinit if `closes`.
    package init(path: String, handle: FileHandle, closes: Bool, peeked: [UInt8] = []) {
        self.path = path
        self.handle = handle
        self.closes = closes
        self.peeked = peeked
        size = Self.isStandardInput(path) ? 0 : (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// A handle reading `path` (standard input for `-`), and whether it should be closed after.
    package static func open(_ path: String) throws -> (handle: FileHandle, closes: Bool) {
        if isStandardInput(path) { return (FileHandle.standardInput, false) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open \(path)") }
        var status = stat()
        if fstat(handle.fileDescriptor, &status) == 0 && status.st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR) {
            try? handle.close()
            throw CommandError("cannot read \(path): it is a directory")
        }
        return (handle, true)
    }

    /// Up to `count` first bytes of `handle`, fewer only at its end (a pipe may give them a few at a time).
    package static func peek(_ handle: FileHandle, _ count: Int, path: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        do {
            while bytes.count < count, let data = try handle.read(upToCount: count - bytes.count), !data.isEmpty {
                bytes += data
            }
        } catch {
            throw CommandError("cannot read \(path): \(error.localizedDescription)")
        }
        return bytes
    }

    deinit {
        if closes { try? handle.close() }
    }

    /// The next block of bytes (decompressed) and how many bytes of the input it took; `nil` at the end.
    package func next(_ count: Int) throws -> (bytes: [UInt8], consumed: Int)? {
        var consumed = 0
        while !ended {
            // The first read takes at least the two bytes that tell gzip (the peeked bytes first).
            let wanted = inflater == nil ? max(2, count) : count
            var raw = peeked
            peeked = []
            if raw.count < wanted { raw += handle.readData(ofLength: wanted - raw.count) }
            if inflater == nil {
                inflater = raw.starts(with: [0x1F, 0x8B]) ? try GzipInflater() : .some(nil)
            }
            guard let gzip = inflater! else {
                if raw.isEmpty { ended = true }
                return raw.isEmpty ? nil : (raw, raw.count)
            }
            do {
                if raw.isEmpty {
                    ended = true
                    try gzip.finish()
                    return nil
                }
                var bytes: [UInt8] = []
                try gzip.inflate(raw, into: &bytes)
                consumed += raw.count
                // A block may hold only a gzip header: read on until bytes come.
                if !bytes.isEmpty { return (bytes, consumed) }
            } catch let error as PartdError {
                throw CommandError("\(path): \(error.message)")
            }
        }
        return nil
    }
}
