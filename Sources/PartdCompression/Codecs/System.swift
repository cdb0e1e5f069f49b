// SPDX-License-Identifier: Apache-2.0
// The only libc call of this module.

#if canImport(Glibc)
import Glibc
#endif

/// The number of online processors (`sysconf`).
enum ProcessorCount {
    static let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}
