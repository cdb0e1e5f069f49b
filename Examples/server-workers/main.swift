// SPDX-License-Identifier: Apache-2.0
//
// Several worker processes writing through one server: starts a StoreServer on
// a Unix socket (a spilling store over a temporary directory), launches
// `--workers` copies of itself as workers that each append `--batches` batches
// of records to shared keys through a RemoteStore, then reads every key back
// and checks that each worker's records arrived once and in order.
//
//   server-workers [--workers W] [--batches B]
//   server-workers worker SOCKET ID BATCHES        (what the workers run)

import Foundation
import Partd
import PartdServer

func record(worker: Int, batch: Int, key: Int) -> [UInt8] {
    // 12 bytes: worker, batch, key (little-endian UInt32s).
    [UInt32(worker), UInt32(batch), UInt32(key)].flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "worker", arguments.count == 4, let id = Int(arguments[2]), let batches = Int(arguments[3]) {
    do {
        let store = try RemoteStore(connectingTo: .unixSocket(arguments[1]))
        for batch in 0..<batches {
            try store.append((0..<8).map { key in (key: PartdKey("key-\(key)"), value: record(worker: id, batch: batch, key: key)) })
        }
        try store.close()
        exit(0)
    } catch {
        print("worker \(id): \(error)")
        exit(1)
    }
}

var workers = 4, batches = 5_000
var iterator = arguments.makeIterator()
while let argument = iterator.next() {
    switch argument {
    case "--workers": workers = Int(iterator.next() ?? "") ?? workers
    case "--batches": batches = Int(iterator.next() ?? "") ?? batches
    default:
        print("usage: server-workers [--workers W] [--batches B]")
        exit(argument == "--help" || argument == "-h" ? 0 : 2)
    }
}

do {
    let directory = try DirectoryStore.temporary()
    let store = SpillingStore(spillingTo: directory, availableMemory: .megabytes(8))
    let socket = directory.path + ".sock"
    let server = try StoreServer.start(serving: store, on: [.unixSocket(socket)])
    print("server on \(socket); \(workers) workers × \(batches) batches of 8 keys")
    let start = Date()
    let processes = try (0..<workers).map { id -> Process in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["worker", socket, String(id), String(batches)]
        try process.run()
        return process
    }
    for process in processes { process.waitUntilExit() }
    let seconds = Date().timeIntervalSince(start)
    var ok = processes.allSatisfy { $0.terminationStatus == 0 }
    for key in 0..<8 {
        let bytes = try store.get(PartdKey("key-\(key)"))
        var next = [Int](repeating: 0, count: workers)
        for offset in stride(from: 0, to: bytes.count, by: 12) {
            let fields = (0..<3).map { field in (0..<4).reduce(0) { $0 | Int(bytes[offset + field * 4 + $1]) << (8 * $1) } }
            ok = ok && fields[2] == key && fields[1] == next[fields[0]]
            next[fields[0]] += 1
        }
        ok = ok && next.allSatisfy { $0 == batches }
    }
    let total = workers * batches
    print("\(total) batches in \(String(format: "%.2f", seconds)) s (\(Int(Double(total) / seconds)) batches/s, process start included)")
    print("every worker's records once and in order: \(ok ? "OK" : "MISMATCH")")
    try server.shutdown()
    try directory.close()
    exit(ok ? 0 : 1)
} catch {
    print("server-workers: \(error)")
    exit(1)
}
