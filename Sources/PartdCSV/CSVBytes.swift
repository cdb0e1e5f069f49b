// SPDX-License-Identifier: Apache-2.0
// The only file of the `partd` command that touches raw memory: copying a range of one byte array to the end
// of another without making a slice (a slice retains its array, once per CSV field).

enum CSVBytes {
    /// Appends `source[range]` to `target`.
    static func append(_ source: [UInt8], _ range: Range<Int>, to target: inout [UInt8]) {
        precondition(range.lowerBound >= 0 && range.upperBound <= source.count, "CSVBytes.append: range outside the source")
        source.withUnsafeBufferPointer { buffer in
            target.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[range]))
        }
    }
}
