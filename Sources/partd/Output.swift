// SPDX-License-Identifier: Apache-2.0
//
// Opening an --out path for writing, as a shell's `>` does.

import Foundation
import PartdCSV

#if canImport(Glibc)
import Glibc
#endif

/// A handle writing `path`, opened as a shell's `>` opens it: open(2) with `O_WRONLY | O_CREAT | O_TRUNC`,
/// mode 0666 less the umask for a new file. The path itself is written: a symlink's target (the link stays),
/// an existing file keeping its mode, owner and hard links, a FIFO, a device or a process substitution's
/// `/dev/fd/N` (Foundation's `createFile(atPath:contents:)` wrote a new file and renamed it over the path).
/// Nothing is removed if the command fails later: what was written stays, as after `partd … > path`.
func openOutput(_ path: String) throws -> FileHandle {
    let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
    guard descriptor >= 0 else { throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))") }
    return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
}
