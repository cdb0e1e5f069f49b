// SPDX-License-Identifier: Apache-2.0

/// A one-line error for the command line, which the `partd` command prints as it is.
package struct CommandError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
