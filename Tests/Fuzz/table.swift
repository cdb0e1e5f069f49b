// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: table frames, behind a valid value frame. Built and run by scripts/fuzz.sh.

import Partd
import PartdCompression
import PartdTyped

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let payload = Array(UnsafeBufferPointer(start: data, count: size))
    let store = MemoryStore()
    try? store.append([(key: "k", value: ValueFrames.header(for: payload) + payload)])
    let tables = TableStore(over: store)
    if let table = try? tables.get("k") {
        for column in table.columns { for row in 0..<min(table.rowCount, 64) { _ = column.text(at: row) } }
    }
    _ = try? tables.get("k", columns: ["id"])
    return 0
}
