// SPDX-License-Identifier: Apache-2.0
//
// partd-test-worker DIR WRITER BATCHES MAXLEN [fsync]
// Appends the deterministic batches of `workerBatches(writer:)` to the
// directory store at DIR (or, for DIR = unix:PATH, to the server listening
// there), as one of several concurrent processes.

import Partd
import PartdServer
import PartdTestSupport
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 5, let writer = Int(arguments[2]), let count = Int(arguments[3]),
    let maxLength = Int(arguments[4])
else {
    print("usage: partd-test-worker DIR WRITER BATCHES MAXLEN [fsync]")
    exit(2)
}
do {
    let store: any ByteStore
    let close: () throws -> Void
    if arguments[1].hasPrefix("unix:") {
        let remote = try RemoteStore(connectingTo: .unixSocket(String(arguments[1].dropFirst(5))))
        (store, close) = (remote, remote.close)
    } else {
        let directory = try DirectoryStore(
            path: arguments[1], configuration: .init(fsync: arguments.count > 5 && arguments[5] == "fsync"))
        (store, close) = (directory, directory.close)
    }
    for batch in workerBatches(writer: writer, count: count, maxLength: maxLength) {
        try store.append(batch)
    }
    try close()
} catch {
    print("worker \(writer): \(error)")
    exit(1)
}
