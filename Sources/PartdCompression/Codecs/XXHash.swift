// SPDX-License-Identifier: Apache-2.0
// The only file that calls libxxhash.

import CPartdXXHash

package enum XXHash {
}

extension XXHash {
    package static func hash64(_ bytes: ArraySlice<UInt8>, seed: UInt64) -> UInt64 {
        bytes.withUnsafeBytes { XXH3_64bits_withSeed($0.baseAddress, $0.count, seed) }
    }
}


extension XXHash {
    /// XXH3-64 of a string's UTF-8 bytes, without copying them.
    package static func hash64(utf8 string: String, seed: UInt64) -> UInt64 {
        var string = string
        return string.withUTF8 { XXH3_64bits_withSeed($0.baseAddress, $0.count, seed) }
    }
}
