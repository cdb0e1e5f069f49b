// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the wire protocol's decoders (docs/format.md §8), compiled together with
// Sources/PartdServer/WireProtocol.swift. Built and run by scripts/fuzz.sh.
//
// The input is a byte stream as a server or client would receive it: frames are cut off the front as
// they complete; the first is read as the handshake, every later one as a request (the server's side)
// and as an answer (the client's side: an error frame, a value list, a key list).

import NIOCore
import Partd

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var stream = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    var first = true
    while let frame = try? WireFrame.cut(from: &stream, maxFrameBytes: 1 << 16) {
        if first {
            _ = try? WireHello(frame.body)
            first = false
            continue
        }
        _ = try? WireRequest(frame)
        var error = frame.body
        _ = try? Wire.readError(&error)
        var values = frame.body
        if let count = try? Wire.readInteger(&values, as: UInt32.self, "value count"), count <= values.readableBytes {
            for _ in 0..<count { guard (try? Wire.readBytes(&values)) != nil else { break } }
        }
        var keys = frame.body
        _ = try? Wire.readKeys(&keys)
    }
    return 0
}
