// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the CSV reader. Built and run by scripts/fuzz.sh.
//
// Each input is read twice, whole in one block and in blocks of 1 to 8 bytes (the first byte picks the size,
// and with its bit 3 whether missing-value spellings are read as nulls: pandas' defaults and `x`, as `--na
// pandas,x`), three rows a chunk: both must give the same tables, or fail with the same error. Line ends (LF,
// CR LF, a lone CR), quotes, fields and missing-value spellings split across blocks must not change what is read.

import Foundation
import Partd
import PartdCSV
import PartdTyped

private let empty = FileHandle(forReadingAtPath: "/dev/null")!

private let missing = parseMissingValues("pandas,x")

private func read(_ bytes: [UInt8], readSize: Int, missingValues: MissingValues?) -> Result<[Table], CommandError> {
    Result {
        let input = CSVInput(path: "fuzz.csv", handle: empty, closes: false, peeked: bytes)
        let reader = try CSVReader(input: input, chunkRows: 3, types: [:], missingValues: missingValues, readSize: readSize)
        var tables: [Table] = []
        while let table = try reader.nextChunk() { tables.append(table) }
        return tables
    }.mapError { $0 as? CommandError ?? CommandError("\($0)") }
}

/// Whether two reads gave the same tables (NaN as NaN: a table's `==` takes NaN for unequal to itself).
private func same(_ a: [Table], _ b: [Table]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in
        x.schema == y.schema && x.rowCount == y.rowCount && zip(x.columns, y.columns).allSatisfy { c, d in
            c == d || (c.type == .float64 && c.validity == d.validity && (0..<x.rowCount).allSatisfy { c.text(at: $0) == d.text(at: $0) })
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let missingValues = bytes[0] & 8 != 0 ? missing : nil
    let whole = read(Array(bytes.dropFirst()), readSize: 1 << 16, missingValues: missingValues)
    let blocks = read(Array(bytes.dropFirst()), readSize: 1 + Int(bytes[0] % 8), missingValues: missingValues)
    switch (whole, blocks) {
    case (.success(let a), .success(let b)):
        precondition(same(a, b), "the tables read in small blocks differ from those read whole")
    case (.failure(let a), .failure(let b)):
        precondition(a.description == b.description, "errors differ: \(a) / \(b)")
    default:
        preconditionFailure("one read failed, the other did not: \(whole) / \(blocks)")
    }
    return 0
}
