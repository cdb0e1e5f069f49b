// SPDX-License-Identifier: Apache-2.0
//
// The limits nobody had exercised: many clients on a server with few descriptors, keys at the file-name limit,
// many datasets and partitions (docs/scaling.md, "Limits measured on one machine").

import Foundation
import Partd
import PartdCompanions
import PartdServer
import PartdTestSupport
import PartdTyped
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The CPU time (user + system) process `pid` has used, in clock ticks.
private func cpuTicks(_ pid: Int32) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    // Fields after the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}

/// The descriptors process `pid` has open.
private func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
}

@Suite("Scale limits", .serialized)
struct ScaleLimitTests {
    /// `partd serve` with 64 descriptors, and more clients than that. NIO's channel-returning bind adds no accept
    /// back-off: with clients waiting in the backlog the listening socket stays readable, so the server retried the
    /// failing accept (EMFILE) at once, forever, at 100% of a core (seen: 194 of 200 ticks over 2 s).
    @Test("a server out of descriptors with clients waiting backs off its accepts (no spin), refuses waiting clients with a typed error, serves connected ones whole (reads of keys held in memory too), loses no acknowledged append, and serves again once descriptors free")
    func serverOutOfDescriptors() throws {
        let partd = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let socketPath = scratchPath("limits.sock")
        let (server, line) = try startedProcess(
            "/bin/sh", ["-c", "ulimit -n 64 && exec \"$0\" serve --socket \"$1\" --log-level critical", partd, socketPath])
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        #expect(line.contains("listening on"))
        let pid = server.processIdentifier

        // More connections than the server has descriptors: it accepts until EMFILE, the rest wait in the backlog.
        var raw: [RawSocket] = []
        for _ in 0..<100 { raw.append(try RawSocket(path: socketPath)) }
        var waited = 0
        while openDescriptors(pid) < 60 && waited < 200 {
            usleep(10_000)
            waited += 1
        }
        #expect(openDescriptors(pid) >= 60)
        let before = cpuTicks(pid)
        usleep(1_000_000)
        let used = cpuTicks(pid) - before
        let ticksPerSecond = Int(sysconf(Int32(_SC_CLK_TCK)))
        #expect(used * 4 < ticksPerSecond, "the server used \(used) of \(ticksPerSecond) clock ticks in a second of waiting clients")

        // A client now cannot be greeted: a typed connectionFailed, not a hang.
        var quick = RemoteStore.Configuration()
        quick.requestTimeout = .milliseconds(500)
        quick.connectTimeout = .milliseconds(500)
        #expect(throws: PartdError.self) { try RemoteStore(connectingTo: .unixSocket(socketPath), configuration: quick) }
        raw.removeAll()

        // 200 clients at once, each appending 20 values and flushing while the server runs short of descriptors:
        // each succeeds or gets a typed error, and every append a flush acknowledged is there.
        let clients = 200
        let outcomes = Locked<[Int: Result<Bool, PartdError>]>([:])
        var configuration = RemoteStore.Configuration()
        // A connected client's requests may wait behind 200 threads on a loaded machine: any error after connecting
        // fails the test, so only the handshake (clients left in the backlog) has a short timeout.
        configuration.requestTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(2)
        let done = DispatchGroup()
        // Every client connects (or fails to) before any works, so the connected ones hold the server's descriptors.
        let connected = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for c in 0..<clients {
            done.enter()
            connected.enter()
            let thread = Thread { [configuration] in
                defer { done.leave() }
                let store: RemoteStore
                do {
                    store = try RemoteStore(connectingTo: .unixSocket(socketPath), configuration: configuration)
                } catch {
                    outcomes.withLock {
                        $0[c] = .failure((error as? PartdError) ?? PartdError(code: .io, message: "untyped: \(error)"))
                    }
                    connected.leave()
                    return
                }
                connected.leave()
                go.wait()
                do {
                    for i in 0..<20 { try store.append([(key: PartdKey("c\(c)"), value: [UInt8(i)])]) }
                    try store.flush()
                    outcomes.withLock { $0[c] = .success(true) }
                    // Its key is only in the server's memory: reading it needs no descriptor (a read of the key's
                    // missing file failed with tooManyOpenFiles).
                    let back = try store.get(PartdKey("c\(c)"))
                    if back != (0..<20).map({ UInt8($0) }) { outcomes.withLock { $0[c] = .success(false) } }
                    try store.close()
                } catch {
                    outcomes.withLock { $0[c] = .failure(PartdError(code: .io, message: "connected, then: \(error)")) }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        connected.wait()
        for _ in 0..<clients { go.signal() }
        done.wait()
        let results = outcomes.withLock { $0 }
        #expect(results.count == clients)
        for (c, result) in results {
            if case .failure(let error) = result {
                #expect([.connectionFailed, .tooManyOpenFiles].contains(error.code), "client \(c): \(error)")
            }
        }
        // Once they are gone the server serves again, and holds every acknowledged append.
        var check: RemoteStore?
        for _ in 0..<50 where check == nil {
            check = try? RemoteStore(connectingTo: .unixSocket(socketPath), configuration: quick)
            if check == nil { usleep(100_000) }
        }
        let store = try #require(check)
        #expect(!results.values.contains { (try? $0.get()) == false }, "a client read back other bytes than it appended")
        let acknowledged = results.filter { (try? $0.value.get()) == true }.map(\.key)
        #expect(!acknowledged.isEmpty)
        for c in acknowledged {
            #expect(try store.get(PartdKey("c\(c)")) == (0..<20).map { UInt8($0) }, "client \(c)")
        }
        try store.close()
        #expect(server.isRunning)
    }

    /// Keys whose file names are exactly 255 bytes, and one byte more, in every store that keeps files: a directory,
    /// a spilling store over one (which must refuse at the append, not at every spill), and a server serving that.
    /// Many long keys sharing a long prefix must not collide on a file name.
    @Test("keys at the 255-byte file-name limit work in every store, one byte more is keyTooLong at once, and 300 keys sharing a 240-byte prefix stay apart")
    func keysAtTheLengthLimit() throws {
        let path = scratchPath("long-keys")
        let socketPath = scratchPath("long-keys.sock")
        defer { removeTree(path); removeTree(path + "-spill") }
        // File names: plain strings are their own name; others "%s" and three bytes per escaped byte; tuples.
        let atLimit: [PartdKey] = [
            PartdKey(String(repeating: "k", count: 255)),
            PartdKey(String(repeating: "é", count: 42) + "x"),  // "%s" + 84 bytes as %XX (252) + "x" = 255
            .tuple(PartdKey(String(repeating: "t", count: 247)), 7),  // "%t(" + 247 + ",%i7" + ")" = 255
        ]
        let overLimit: [PartdKey] = [
            PartdKey(String(repeating: "k", count: 256)),
            PartdKey(String(repeating: "é", count: 42) + "xy"),
            .tuple(PartdKey(String(repeating: "t", count: 247)), 70),
        ]
        for key in atLimit { #expect(try KeyFileName.encode(key).utf8.count == 255, "\(key)") }
        let prefix = String(repeating: "p", count: 240)
        let shared = (0..<300).map { PartdKey(prefix + "-\($0)") }

        let directory = try DirectoryStore(path: path)
        let spilling = SpillingStore(
            spillingTo: try DirectoryStore(path: path + "-spill"),
            configuration: .init(availableMemory: .kilobytes(4), backgroundSpill: false))
        let server = try StoreServer.start(
            serving: SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .kilobytes(4)),
            on: [.unixSocket(socketPath)], configuration: StoreServer.Configuration(threads: 2))
        defer { try? server.shutdown() }
        let remote = try RemoteStore(connectingTo: .unixSocket(socketPath))
        let stores: [(String, any ByteStore)] = [("directory", directory), ("spilling", spilling), ("server", remote)]
        for (name, store) in stores {
            for key in atLimit {
                try store.append(key, [UInt8](repeating: 1, count: 3000))  // past the spilling budgets
                try store.append(key, [2])
                #expect(try store.setOnce(key, [3]) == true, "\(name) \(key)")
                try store.append(key, [4])
            }
            for key in overLimit {
                let error = expectPartdError(.keyTooLong) {
                    try store.append(key, [1])
                    try store.waitForWrites()  // a remote store's append is pipelined: its error comes here
                }
                #expect(error != nil, "\(name) \(key)")
                expectPartdError(.keyTooLong) { _ = try store.setOnce(key, [1]) }
            }
            try store.append(shared.enumerated().map { (key: $0.element, value: [UInt8](repeating: UInt8($0.offset % 256), count: 40)) })
            for key in atLimit { #expect(try store.get(key) == [3, 4], "\(name) \(key)") }
            let values = try store.get(shared)
            #expect(values == shared.indices.map { [UInt8](repeating: UInt8($0 % 256), count: 40) }, "\(name)")
            #expect(Set(try store.keys()) == Set(atLimit + shared), "\(name)")
        }
        try remote.close()
    }

    /// A shuffle into 4096 partitions with 48 descriptors (`partd shuffle` under `ulimit -n 48`): the directory
    /// store's descriptor cache takes a quarter of the limit (at least 16), so the shuffle finishes, and every row
    /// is in the one partition its key hashes to. (Measured at 1,000,000 rows in docs/scaling.md.)
    @Test("partd shuffle into 4096 partitions with 48 descriptors finishes, and each key's rows are all in its one partition")
    func manyPartitionsFewDescriptors() throws {
        let partd = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("many-partitions.csv")
        let out = scratchPath("many-partitions")
        defer { try? FileManager.default.removeItem(atPath: csv); removeTree(out) }
        var text = "id,x\n"
        for i in 0..<20_000 { text += "\((i * 7_919) % 9_000),\(i)\n" }
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let shuffled = try run("/bin/sh", [
            "-c", "ulimit -n 48 && exec \"$0\" shuffle \"$1\" --by id --partitions 4096 --memory 256kB --chunk-rows 5000 --out \"$2\"",
            partd, csv, out,
        ])
        #expect(shuffled.status == 0 && shuffled.output.contains("20000 rows in 4096 partitions"), "\(shuffled.output.suffix(400))")
        let tables = TableStore(over: try DirectoryStore(path: out))
        var partitionOf: [Int64: Int] = [:]
        var rows = 0
        for key in try tables.keys() {
            guard case .int(let p) = key.kind else { continue }
            let table = try tables.get(key)
            rows += table.rowCount
            let ids = try #require(table["id"]?.values(as: Int64.self))
            for id in ids {
                #expect(partitionOf[id, default: p] == p, "id \(id) in partitions \(partitionOf[id]!) and \(p)")
                partitionOf[id] = p
            }
        }
        #expect(rows == 20_000)
        #expect(partitionOf.count == 9_000)
    }

    /// Entry names at DatasetDirectory's 200-byte limit: the files an entry makes (the data, `NAME.meta.json`, the
    /// lock `.NAME.lock` and the temporary `.NAME.meta.json.tmp-` plus 20 digits: 236 bytes) stay within 255.
    @Test("dataset entries named with 200 bytes (ASCII, two-byte and four-byte characters) write, list, lock and delete; 201 bytes is invalidKey")
    func datasetNamesAtTheLimit() throws {
        let path = scratchPath("dirdb-names")
        defer { removeTree(path) }
        let db = try DatasetDirectory(path: path)
        let names = [String(repeating: "n", count: 200), String(repeating: "é", count: 100), String(repeating: "😀", count: 50)]
        for name in names {
            let entry = try db.entry(name)
            try entry.withLock { try entry.write([1, 2, 3], metadata: ["n": .integer(Int64(name.utf8.count))]) }
            try entry.updateMetadata { $0["done"] = .bool(true) }
            try entry.writeBytes([9], metadata: nil)
            #expect(try entry.readBytes() == [9])
            #expect(try entry.metadata()["done"] == .bool(true))
            _ = try db.subdirectory(name)
        }
        #expect(try db.names() == names.sorted())
        #expect(try db.subdirectoryNames() == names.sorted())
        for name in names { try db.entry(name).delete() }
        #expect(try db.names().isEmpty)
        for name in [String(repeating: "n", count: 201), String(repeating: "é", count: 100) + "x"] {
            expectPartdError(.invalidKey) { try db.entry(name) }
        }
    }
}
