// SPDX-License-Identifier: Apache-2.0
// The only file that calls libxxhash.

import CPartdXXHash

package enum XXHash {
    /// XXH3-64 with a seed. On x86-64, inputs of 1 KiB and more go through libxxhash's run-time dispatch,
    /// which uses AVX2 where the CPU has it (2.8x the SSE2 code of Debian's plain entry points on 200 KB
    /// buffers here; the same values). Shorter ones (keys, headers) run scalar code either way and skip
    /// the dispatch's indirect call.
    @inline(__always)
    private static func xxh3(_ start: UnsafeRawPointer?, _ count: Int, _ seed: UInt64) -> UInt64 {
        #if arch(x86_64)
        if count >= 1024 { return XXH3_64bits_withSeed_dispatch(start, count, seed) }
        #endif
        return XXH3_64bits_withSeed(start, count, seed)
    }
}

extension XXHash {
    package static func hash64(_ bytes: ArraySlice<UInt8>, seed: UInt64) -> UInt64 {
        bytes.withUnsafeBytes { xxh3($0.baseAddress, $0.count, seed) }
    }

    /// XXH3-64 of each of `rows`' strings, string `i` being `data[offsets[i] ..< offsets[i + 1]]`, all within
    /// one access to the data (a slice per string would retain the array and check its bounds each time).
    package static func hash64(offsets: [Int64], data: [UInt8], rows: Range<Int>, seed: UInt64) -> [UInt64] {
        precondition(rows.isEmpty || (rows.lowerBound >= 0 && rows.upperBound < offsets.count), "rows \(rows) outside the offsets")
        return data.withUnsafeBytes { buffer in
            rows.map { row in
                let (start, end) = (Int(offsets[row]), Int(offsets[row + 1]))
                precondition(start >= 0 && start <= end && end <= buffer.count, "string \(row) lies outside its data")
                return xxh3(buffer.baseAddress.map { $0 + start }, end - start, seed)
            }
        }
    }
}


extension XXHash {
    /// XXH3-64 of a string's UTF-8 bytes, without copying them.
    package static func hash64(utf8 string: String, seed: UInt64) -> UInt64 {
        var string = string
        return string.withUTF8 { xxh3($0.baseAddress, $0.count, seed) }
    }
}
