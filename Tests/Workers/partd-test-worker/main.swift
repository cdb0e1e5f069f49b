// SPDX-License-Identifier: Apache-2.0
//
// partd-test-worker DIR WRITER BATCHES MAXLEN [fsync]
// Appends the deterministic batches of `workerBatches(writer:)` to the
// directory store at DIR (or, for DIR = unix:PATH, to the server listening
// there), as one of several concurrent processes.

import Partd
import PartdCompanions
import PartdServer
import PartdTestSupport
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments

// partd-test-worker spill PATH WRITER N: sets N keys "w<WRITER>-<i>" in the spill dictionary at PATH,
// flushing every 25, as one of several processes sharing it.
if arguments.count == 5, arguments[1] == "spill", let writer = Int(arguments[3]), let count = Int(arguments[4]) {
    do {
        let dictionary = try SpillDictionary<String, [Int]>(path: arguments[2], memoryBudget: .kilobytes(2))
        for i in 0..<count {
            try dictionary.set([writer, i, writer * i], for: "w\(writer)-\(i)")
            if i % 25 == 24 { try dictionary.flush() }
        }
        try dictionary.flush()
        exit(0)
    } catch {
        print("spill worker \(writer): \(error)")
        exit(1)
    }
}

// partd-test-worker rewrite PATH: rewrites entries e0…e9 of the dataset directory at PATH forever,
// each a value whose every element is the generation number, until killed.
if arguments.count == 3, arguments[1] == "rewrite" {
    do {
        let database = try DatasetDirectory(path: arguments[2])
        var generation = 1
        print("started")
        fflush(nil)
        while true {
            for i in 0..<10 {
                try database.entry("e\(i)").write(
                    [Int](repeating: generation, count: 20_000), metadata: ["generation": .number(Double(generation))])
            }
            generation += 1
        }
    } catch {
        print("rewrite worker: \(error)")
        exit(1)
    }
}

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
