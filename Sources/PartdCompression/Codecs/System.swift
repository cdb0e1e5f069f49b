// SPDX-License-Identifier: Apache-2.0
// The only libc call of this module.

#if canImport(Glibc)
import Glibc
#endif

/// The number of online processors (`sysconf`).
enum ProcessorCount {
    static let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

enum Memory {
    /// Asks for transparent huge pages on the 2 MiB-aligned interior of a large
    /// buffer before it is first written (THP in `madvise` mode), so filling it
    /// takes a few page faults instead of one per 4 KiB.
    static func adviseHugePages(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        let huge = 2 << 20
        guard buffer.count >= 2 * huge, let base = buffer.baseAddress else { return }
        let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: base) + buffer.count) & ~(huge - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, MADV_HUGEPAGE)
    }
}
