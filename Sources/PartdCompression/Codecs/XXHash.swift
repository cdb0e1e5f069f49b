// SPDX-License-Identifier: Apache-2.0
// The only file that calls libxxhash.

import CPartdXXHash

enum XXHash {
    /// XXH3, 64-bit, seed 0: the frame checksum (`docs/format.md` §4).
    static func hash64(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
    }

    static func hash64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
    }
}

extension XXHash {
    static func hash64(_ bytes: ArraySlice<UInt8>, seed: UInt64) -> UInt64 {
        bytes.withUnsafeBytes { XXH3_64bits_withSeed($0.baseAddress, $0.count, seed) }
    }
}

