// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: Arrow IPC files and streams (Table(arrow:)). Built and run by scripts/fuzz.sh.

import Partd
import PartdTyped

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let table = try? Table(arrow: bytes) {
        for column in table.columns { for row in 0..<min(table.rowCount, 64) { _ = column.text(at: row) } }
        _ = try? Table(arrow: table.arrowFile())
    }
    return 0
}
