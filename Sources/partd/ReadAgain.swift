// SPDX-License-Identifier: Apache-2.0
//
// Reading the input again with a wider column type when a later CSV chunk does not fit the types the first one
// settled.

import Foundation
import Partd
import PartdCSV
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

/// Runs `attempt`, the part of a command that reads its whole input (and writes no output), with the column
/// types widened so far (none at first). When a chunk after the first holds a value its column's type cannot
/// take (``CSVTypeConflict``) and the input can be read again from its start (every path in `inputs` a regular
/// file: not standard input, a pipe or a FIFO), it says so on stderr, runs `undo` (which removes what the attempt
/// made outside the scratch directory), removes the scratch directory and runs `attempt` again with the column
/// widened, as if `--types` gave the wider type. A column widens at most twice (int to float or uint, then to
/// string), so this ends. The conflict is thrown as it is (with the `--types` to give) for input that can be read
/// once, and for a column whose type `given` (`--types`) names: the user chose it.
func readingAgainOnConflict<R>(
    inputs: [String], given: [UTF8Key: ColumnKind], undo: () -> Void = {},
    _ attempt: (_ widened: [UTF8Key: ColumnKind]) throws -> R
) throws -> R {
    var widened: [UTF8Key: ColumnKind] = [:]
    while true {
        do {
            return try attempt(widened)
        } catch let conflict as CSVTypeConflict {
            let column = UTF8Key(conflict.column)
            // (A conflict with a type already widened to is a mistake of the reading: never read again for it.)
            guard given[column] == nil, widened[column] != conflict.widened, inputs.allSatisfy(canReadAgain) else { throw conflict }
            writeStderr("partd: \(conflict.note)\n")
            undo()
            Scratch.shared.remove()
            widened[column] = conflict.widened
        }
    }
}

/// Whether `path` can be read again from its start: a regular file (compressed or not), not standard input
/// (`-`), a pipe (`/dev/stdin` on a pipe, `<(…)`), a FIFO, a socket or a terminal.
func canReadAgain(_ path: String) -> Bool {
    guard !CSVInput.isStandardInput(path) else { return false }
    var status = stat()
    return stat(path, &status) == 0 && status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG)
}
