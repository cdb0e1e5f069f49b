// SPDX-License-Identifier: Apache-2.0
//
// `PartdError` as a `LocalizedError`, so apps that show `error.localizedDescription` (as most Foundation code
// does) show what went wrong instead of "The operation could not be completed. (Partd.PartdError error 1.)".
// FoundationEssentials is the toolchain's small core of Foundation; the rest of this module uses none of it.

#if canImport(FoundationEssentials)
import FoundationEssentials
#elseif canImport(Foundation)
import Foundation
#endif

#if canImport(FoundationEssentials) || canImport(Foundation)
extension PartdError: LocalizedError {
    /// The error's ``description``: its code, message, path and `errno`.
    public var errorDescription: String? { description }
}
#endif
