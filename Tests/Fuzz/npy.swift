// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: .npy headers and array payloads, behind a valid value frame (so the
// checksum does not hide the parser). Built and run by scripts/fuzz.sh.

import Partd
import PartdCompression
import PartdTyped

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let payload = Array(UnsafeBufferPointer(start: data, count: size))
    let store = MemoryStore()
    try? store.append([(key: "k", value: ValueFrames.header(for: payload) + payload)])
    let arrays = ArrayStore(over: store)
    _ = try? arrays.get("k", as: NDArray<Double>.self)
    _ = try? arrays.get("k", as: NDArray<Int8>.self)
    _ = try? arrays.get("k", as: StringArray.self)
    _ = try? arrays.layout(of: "k")
    return 0
}
