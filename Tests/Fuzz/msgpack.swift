// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the MessagePack decoder. Built and run by scripts/fuzz.sh.

import PartdTyped

struct Record: Codable {
    var id: Int
    var x: Double
    var name: String
    var tags: [String]?
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? MessagePackDecoder().decode(PlainValue.self, from: bytes[...])
    _ = try? MessagePackDecoder().decode([Record].self, from: bytes[...])
    return 0
}
