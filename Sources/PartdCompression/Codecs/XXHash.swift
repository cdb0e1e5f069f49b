// SPDX-License-Identifier: Apache-2.0
// The only file that calls libxxhash.

import CPartdXXHash

enum XXHash {
}

extension XXHash {
    static func hash64(_ bytes: ArraySlice<UInt8>, seed: UInt64) -> UInt64 {
        bytes.withUnsafeBytes { XXH3_64bits_withSeed($0.baseAddress, $0.count, seed) }
    }
}

