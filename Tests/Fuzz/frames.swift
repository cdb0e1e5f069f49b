// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the frame parsers (compressed frames, value frames, integrity scan).
// Built and run by scripts/fuzz.sh.

import Partd
import PartdCompression

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? FrameFormat.decodeAll(bytes, key: "k")
    _ = try? FrameFormat.describe(bytes, key: "k")
    _ = try? ValueFrames.payloads(bytes[...], key: "k")
    _ = StoreIntegrity.damage(in: bytes, key: "k")
    // What repair keeps verifies clean.
    if let repaired = try? StoreIntegrity.repaired(bytes, key: "k") {
        precondition(StoreIntegrity.damage(in: repaired.bytes, key: "k") == nil, "repaired bytes still damaged")
    }
    return 0
}
