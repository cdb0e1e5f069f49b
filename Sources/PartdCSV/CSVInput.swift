// SPDX-License-Identifier: Apache-2.0
//
// Where a CSV reader's bytes come from: a file, standard input ("-"), either gzip-compressed or not.

import Foundation
import Partd
import PartdCompression

/// The bytes of a CSV file, standard input (the path `-`), or either compressed with gzip (told by its
/// first two bytes, whatever the name), a block at a time.
package final class CSVInput {
    package let path: String
    /// The size of the file as stored (compressed, for gzip), or 0 for standard input.
    package let size: Int
    private let handle: FileHandle
    private let closes: Bool
    /// `nil` until the first block shows whether the bytes are gzip.
    private var inflater: GzipInflater??
    private var ended = false

    /// Whether `path` names standard input.
    package static func isStandardInput(_ path: String) -> Bool { path == "-" }

    package init(path: String) throws {
        self.path = path
        if Self.isStandardInput(path) {
            handle = FileHandle.standardInput
            closes = false
            size = 0
        } else {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open \(path)") }
            self.handle = handle
            closes = true
            size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
    }

    deinit {
        if closes { try? handle.close() }
    }

    /// The next block of bytes (decompressed) and how many bytes of the input it took; `nil` at the end.
    package func next(_ count: Int) throws -> (bytes: [UInt8], consumed: Int)? {
        var consumed = 0
        while !ended {
            // The first read takes at least the two bytes that tell gzip.
            let raw = [UInt8](handle.readData(ofLength: inflater == nil ? max(2, count) : count))
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
