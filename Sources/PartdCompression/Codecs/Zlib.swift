// SPDX-License-Identifier: Apache-2.0
// The only file that calls zlib.

import CPartdZlib

enum ZlibCodec {
    static func compress(_ input: ArraySlice<UInt8>, level: Int) throws -> [UInt8] {
        guard (0...9).contains(level) else { throw Compression.failed(.zlib, "level \(level) is not 0–9") }
        let bound = Int(compressBound(uLong(input.count)))
        var status: Int32 = Z_OK
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            var length = uLongf(bound)
            status = (input.isEmpty ? [0][...] : input).withUnsafeBufferPointer { source in
                compress2(out.baseAddress, &length, source.baseAddress, uLong(input.count), Int32(level))
            }
            count = status == Z_OK ? Int(length) : 0
        }
        guard status == Z_OK else { throw Compression.failed(.zlib, "zlib status \(status)") }
        return output
    }

    /// Decompresses `input` into `out`, which must hold exactly the recorded original size.
    static func decompress(_ input: ArraySlice<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        let originalSize = out.count
        var status: Int32 = Z_OK
        var produced = 0
        do {
            var length = uLongf(originalSize)
            status = (input.isEmpty ? [0][...] : input).withUnsafeBufferPointer { source in
                uncompress(out.baseAddress, &length, source.baseAddress, uLong(input.count))
            }
            produced = Int(length)
        }
        guard status == Z_OK else {
            throw Compression.corrupt(.zlib, status == Z_BUF_ERROR ? "is longer than the recorded \(originalSize) bytes or truncated" : "is damaged (zlib status \(status))")
        }
        guard produced == originalSize else {
            throw Compression.corrupt(.zlib, "decompressed to \(produced) bytes where \(originalSize) were recorded")
        }
    }
}

/// Decompresses a gzip stream piece by piece, as its bytes arrive (a `.csv.gz` file read a block at a
/// time, or a pipe): concatenated gzip members (what `cat a.gz b.gz` makes) decompress one after the other,
/// and zlib-wrapped data is taken too.
public final class GzipInflater {
    /// zlib keeps a pointer back to its stream, so the stream lives at a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>
    /// Whether the last member ended and nothing of a next one has come yet.
    private var betweenMembers = false
    private var membersEnded = 0
    /// What zlib inflates into, before it is appended to the caller's output (reused between calls).
    private var chunk = [UInt8](repeating: 0, count: 256 << 10)

    public init() throws {
        // Set up in a local: `stream` is assigned only once it works, so a throw below leaves the object not
        // fully initialised and `deinit` (which would end and free the stream a second time) does not run.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 32: the largest window, gzip or zlib header detected from the first bytes.
        let status = inflateInit2_(stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw Compression.failed(.zlib, "zlib could not start inflating (status \(status))")
        }
        self.stream = stream
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Decompresses all of `input`, appending what it yields to `output`.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` if the bytes are not gzip or are damaged.
    public func inflate(_ input: [UInt8], into output: inout [UInt8]) throws {
        try input.withUnsafeBufferPointer { source in
            var offset = 0
            while offset < source.count {
                if betweenMembers {
                    // Another member follows the one that ended.
                    guard inflateReset(stream) == Z_OK else { throw Compression.corrupt(.zlib, "could not restart after a gzip member") }
                    betweenMembers = false
                }
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress! + offset)
                stream.pointee.avail_in = uInt(source.count - offset)
                var status: Int32 = Z_OK
                repeat {
                    let produced = chunk.withUnsafeMutableBufferPointer { out -> Int in
                        stream.pointee.next_out = out.baseAddress
                        stream.pointee.avail_out = uInt(out.count)
                        status = CPartdZlib.inflate(stream, Z_NO_FLUSH)
                        return out.count - Int(stream.pointee.avail_out)
                    }
                    output.append(contentsOf: chunk[..<produced])
                } while status == Z_OK && stream.pointee.avail_out == 0
                offset = source.count - Int(stream.pointee.avail_in)
                switch status {
                case Z_STREAM_END:
                    betweenMembers = true
                    membersEnded += 1
                case Z_OK:
                    break  // all of the input taken (the loop above ends only then, or on a full output)
                case Z_BUF_ERROR where stream.pointee.avail_in == 0:
                    break  // no input was left to make progress with
                default:
                    let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    throw Compression.corrupt(.zlib, "is not gzip or is damaged (\(detail))")
                }
            }
        }
    }

    /// Checks that the stream ended where its input did.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` if the last member was cut short (or no member began).
    public func finish() throws {
        guard betweenMembers || (membersEnded == 0 && stream.pointee.total_in == 0) else {
            throw Compression.corrupt(.zlib, "ends in the middle of a gzip member (the file is truncated)")
        }
    }
}
