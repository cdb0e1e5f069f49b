// SPDX-License-Identifier: Apache-2.0
//
// W4 server client: appends BATCHES batches of 16 keys × 100 bytes to a partd server
// (`partd serve`), waits until the server has answered all of them, and prints one JSON
// line with the time taken. Benchmarks/run-server.sh starts the server and two of these.
//
//   partd-bench-server ADDRESS WORKER BATCHES      (ADDRESS: unix:PATH or tcp:HOST:PORT)

import BenchmarkSupport
import Partd
import PartdServer

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 4, let worker = Int(arguments[2]), let batches = Int(arguments[3]) else {
    print("usage: partd-bench-server unix:PATH|tcp:HOST:PORT WORKER BATCHES")
    exit(2)
}
let address: StoreServer.Address
if arguments[1].hasPrefix("unix:") {
    address = .unixSocket(String(arguments[1].dropFirst(5)))
} else {
    let parts = arguments[1].split(separator: ":")
    guard parts.count == 3, parts[0] == "tcp", let port = Int(parts[2]) else {
        print("partd-bench-server: bad address \(arguments[1])")
        exit(2)
    }
    address = .tcp(host: String(parts[1]), port: port)
}

do {
    var rng = SplitMix64(state: UInt64(worker) + 1)
    let keys = (0..<16).map { PartdKey("w\(worker)-k\($0)") }
    let values = (0..<16).map { _ in (0..<100).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
    let batch = zip(keys, values).map { (key: $0, value: $1) }
    let start = now()
    let store = try RemoteStore(connectingTo: address)
    for _ in 0..<batches { try store.append(batch) }
    try store.flush()
    let seconds = now() - start
    let stored = try store.byteCount(of: keys[0])
    print("""
        {"impl": "swift-partd", "worker": \(worker), "batches": \(batches), "seconds": \(seconds), \
        "key0_bytes": \(stored)}
        """)
} catch {
    print("partd-bench-server: \(error)")
    exit(1)
}
