// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
@testable import PartdRedis
import PartdShuffle
import PartdTestSupport
import PartdTyped
import Testing

/// The repository's `scripts/redis-cluster.sh`.
private var clusterScript: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/redis-cluster.sh").path
}

/// Runs a program to completion with `posix_spawn` and `waitpid`, its output going to a file.
/// (Foundation's `Process.waitUntilExit` was seen to hang on a script whose children daemonize.)
private func spawnAndWait(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let outputPath = scratchPath("spawn-output")
    defer { unlink(outputPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid = pid_t()
    let status = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
    guard status == 0 else { throw PartdError(code: .io, message: "cannot start \(arguments[0]): errno \(status)") }
    var exitStatus: Int32 = 0
    while waitpid(pid, &exitStatus, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return ((exitStatus >> 8) & 0xFF, output)
}

/// Runs `scripts/redis-cluster.sh` with `arguments`; returns its standard output, trimmed.
@discardableResult
private func cluster(_ arguments: [String]) throws -> String {
    let result = try spawnAndWait(["/bin/bash", clusterScript] + arguments)
    guard result.status == 0 else {
        throw PartdError(code: .io, message: "redis-cluster.sh \(arguments.joined(separator: " ")) failed: \(result.output)")
    }
    // Progress lines go to the same pipe; the answer is the last line.
    return result.output.split(separator: "\n").last.map { String($0) } ?? ""
}

private func redisCLI(_ port: String, _ arguments: [String]) throws -> String {
    try spawnAndWait(["/usr/bin/redis-cli", "-p", port] + arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The process id of the Redis server on `port`.
private func redisPID(_ port: String) throws -> pid_t {
    let info = try redisCLI(port, ["info", "server"])
    guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
        let pid = pid_t(line.dropFirst("process_id:".count).trimmingCharacters(in: .whitespacesAndNewlines))
    else { throw PartdError(code: .io, message: "Redis on port \(port) did not report its process id: \(info)") }
    return pid
}

private func port(_ address: String) -> String { String(address.split(separator: ":").last ?? "") }

@Suite("Redis store", .serialized, .enabled(if: RedisTestEnvironment.cluster != nil && RedisTestEnvironment.single != nil))
struct RedisStoreTests {
    @Test("hash slots match Redis Cluster's CRC16 and hash-tag rule")
    func hashSlots() throws {
        #expect(RedisHashSlot.of(Array("123456789".utf8)) == 0x31C3 % 16384)
        #expect(RedisHashSlot.of(Array("foo".utf8)) == 12182)
        #expect(RedisHashSlot.of(Array("{user1000}.following".utf8)) == RedisHashSlot.of(Array("{user1000}.followers".utf8)))
        #expect(RedisHashSlot.of(Array("foo{}{bar}".utf8)) == RedisHashSlot.of(Array("foo{}{bar}".utf8)))
        let seed = port(RedisTestEnvironment.cluster!)
        for key in ["foo{}{bar}", "{a}b", "x:{%t(a,%i1)}", "partd:{%i7}", "héllo"] {
            #expect(try redisCLI(seed, ["cluster", "keyslot", key]) == String(RedisHashSlot.of(Array(key.utf8))), "\(key)")
        }
    }

    @Test("a cluster store spreads keys over every primary; stores in other namespaces are untouched by drop")
    func namespaces() throws {
        let a = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        let b = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        #expect(a.isCluster)
        #expect(a.primaries.count == 3)
        let keys = (0..<64).map { PartdKey($0) }
        try a.append(keys.map { (key: $0, value: Array("a\($0)".utf8)) })
        try b.append(keys.map { (key: $0, value: Array("b\($0)".utf8)) })
        var slots = Set<String>()
        for key in keys {
            let redisKey = "\(a.configuration.namespace):{\(try KeyFileName.encode(key))}"
            slots.insert(try redisCLI(port(RedisTestEnvironment.cluster!), ["cluster", "keyslot", redisKey]))
        }
        #expect(slots.count > 32, "64 keys land on many slots")
        try a.drop()
        #expect(try a.keys().isEmpty)
        #expect(try b.keys() == keys)
        #expect(try b.get(PartdKey(5)) == Array("b5".utf8))
        try b.drop()
        let single = try RedisTestEnvironment.store(RedisTestEnvironment.single)
        #expect(!single.isCluster)
    }

    @Test("a value over maxElementBytes is stored as several list elements and read back whole")
    func largeValues() throws {
        let store = try RedisTestEnvironment.store(RedisTestEnvironment.cluster, maxElementBytes: 1000)
        let value = (0..<3500).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try store.append(["big": value, "small": [1, 2, 3]])
        try store.append(["big": [9]])
        #expect(try store.get("big") == value + [9])
        #expect(try store.byteCount(of: "big") == 3501)
        let redisKey = "\(store.configuration.namespace):{big}"
        #expect(try redisCLI(port(RedisTestEnvironment.cluster!), ["-c", "llen", redisKey]) == "5")
        try store.drop()
    }

    @Test("4 mapper processes shuffle a table into the cluster; partitions hold the input exactly, each row where its hash says")
    func multiProcessShuffle() throws {
        let seed = RedisTestEnvironment.cluster!
        let namespace = RedisTestEnvironment.namespace()
        let rows = 200_000
        let partitions = 16
        try runMappers(seed: seed, namespace: namespace, job: "mp", mappers: 4, rows: rows, partitions: partitions, wait: 0)
        let store = try RedisTestEnvironment.store(seed, namespace: namespace)
        let report = try ShuffleCoordinator(store: store, job: "mp", mappers: 4).waitForMappers(timeout: .seconds(10))
        #expect(report.mapperRows == [50_000, 50_000, 50_000, 50_000])
        try checkPartitions(store, report: report, rows: rows, partitions: partitions)
        try store.drop()
    }

    @Test("the redis-shuffle example runs its mappers, checks every partition and sums per customer")
    func example() throws {
        let result = try run(
            productsDirectory + "/redis-shuffle", ["--nodes", RedisTestEnvironment.cluster!, "--mappers", "2", "--rows", "60000"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("a cluster of 3 primaries"))
        #expect(result.output.contains("2 mapper processes shuffled 60000 rows into 32 partitions"))
        #expect(result.output.contains("1000 customers") && result.output.contains("OK"))
    }

    @Test("a mapper that stops its heartbeat before finishing is reported dead")
    func deadMapper() throws {
        let store = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        let coordinator = try ShuffleCoordinator(
            // deadAfter leaves room for a busy machine: mapper 1's heartbeat must not expire before the first
            // poll (under a loaded test run, 400 ms was passed once).
            store: store, job: "dead", mappers: 2, heartbeat: .milliseconds(100), deadAfter: .seconds(2))
        let first = try coordinator.start(mapper: 0)
        let second = try coordinator.start(mapper: 1)
        try first.finish(partitionRows: [3, 4])
        #expect(try coordinator.poll() == nil, "mapper 1 is still running")
        second.abandon()
        let error = expectPartdError(.connectionFailed) { try coordinator.waitForMappers(timeout: .seconds(5)) }
        #expect(error?.message.contains("mapper 1") == true)
        try coordinator.reset()
    }

    @Test("a lease dropped without finish or abandon stops its heartbeat, so reducers see the mapper as dead")
    func droppedLease() throws {
        let store = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        let coordinator = try ShuffleCoordinator(
            store: store, job: "dropped", mappers: 1, heartbeat: .milliseconds(100), deadAfter: .milliseconds(400))
        _ = try coordinator.start(mapper: 0)
        let error = expectPartdError(.connectionFailed) { try coordinator.waitForMappers(timeout: .seconds(10)) }
        #expect(error?.message.contains("mapper 0") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.message.contains("reset()") == true, "the error says how to rerun the job")
        try coordinator.reset()
    }

    @Test("a mapper started again forgets its earlier report; a mapper number with a live lease cannot start twice")
    func rerunMapper() throws {
        let store = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        let coordinator = try ShuffleCoordinator(
            store: store, job: "rerun", mappers: 1, heartbeat: .milliseconds(100), deadAfter: .seconds(2))
        try coordinator.start(mapper: 0).finish(partitionRows: [2, 3])
        #expect(try coordinator.poll()?.partitionRows == [2, 3])
        // The rerun's report is not in yet: the first run's no longer counts.
        let lease = try coordinator.start(mapper: 0)
        #expect(try coordinator.poll() == nil)
        let twice = expectPartdError(.alreadyExists) { try coordinator.start(mapper: 0) }
        #expect(twice?.message.contains("mapper 0") == true)
        try lease.finish(partitionRows: [4, 0])
        #expect(try coordinator.poll()?.partitionRows == [4, 0])
        // reset() forgets the job: nothing has started, let alone finished.
        try coordinator.reset()
        #expect(try coordinator.poll() == nil)
        try coordinator.start(mapper: 0).finish(partitionRows: [1])
        #expect(try coordinator.poll()?.mapperRows == [1])
        try coordinator.reset()
    }

    @Test("a lease that stalled past deadAfter, its mapper started again, neither takes the heartbeat back nor finishes for the rerun")
    func supersededLease() throws {
        let store = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        let coordinator = try ShuffleCoordinator(
            store: store, job: "superseded", mappers: 1, heartbeat: .milliseconds(100), deadAfter: .seconds(1))
        let namespace = store.configuration.namespace
        let alive = Array("\(namespace):job{\(namespace)/superseded}:alive:0".utf8)
        func run(_ command: String) throws -> RedisReply {
            try store.cluster.run(
                [RedisRequest(slot: RedisHashSlot.of(alive), commands: [[Array(command.utf8), alive]])], idempotent: true)[0]
        }
        let stalled = try coordinator.start(mapper: 0)
        // It stalls past deadAfter: its heartbeat key expires (deleted here), and the mapper is started again.
        // (Its heartbeat still runs here, and sets the key again if it beats before the rerun registers:
        // then delete and start again.)
        #expect(try run("GET") != .null)
        var rerunLease: ShuffleCoordinator.Lease?
        for _ in 0..<50 where rerunLease == nil {
            _ = try run("DEL")
            rerunLease = try? coordinator.start(mapper: 0)
        }
        let rerun = try #require(rerunLease)
        let rerunToken = try run("GET")
        // The stalled lease's heartbeat goes on beating: it must not put its own token back.
        Thread.sleep(forTimeInterval: 0.4)
        #expect(try run("GET") == rerunToken, "the rerun's heartbeat was taken over")
        let error = expectPartdError(.alreadyExists) { try stalled.finish(partitionRows: [123]) }
        #expect(error?.message.contains("started again") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(try run("GET") == rerunToken, "the stalled lease's report removed the rerun's heartbeat")
        #expect(try coordinator.poll() == nil, "the stalled lease's report counted while the rerun still runs")
        try rerun.finish(partitionRows: [4])
        #expect(try coordinator.poll()?.mapperRows == [4])
        // Once the rerun reported, the stalled lease still cannot replace its report.
        expectPartdError(.alreadyExists) { try stalled.finish(partitionRows: [5]) }
        #expect(try coordinator.poll()?.mapperRows == [4])
        // A report sent again (after a lost connection, say) is accepted; other rows from the same lease are not.
        try rerun.finish(partitionRows: [4])
        expectPartdError(.alreadyExists) { try rerun.finish(partitionRows: [6]) }
        #expect(try coordinator.poll()?.mapperRows == [4])
        try coordinator.reset()

        // A lease whose heartbeat expired with no rerun (it was starved, say) sets its heartbeat again on
        // its next beat, and its report is recorded.
        let starved = try coordinator.start(mapper: 0)
        let starvedToken = try run("GET")
        _ = try run("DEL")
        Thread.sleep(forTimeInterval: 0.4)
        #expect(try run("GET") == starvedToken, "the starved lease's heartbeat did not come back")
        #expect(try coordinator.poll() == nil, "the starved mapper is still seen dead")
        try starved.finish(partitionRows: [7])
        #expect(try coordinator.poll()?.mapperRows == [7])
        try coordinator.reset()

        // Its report is recorded even when it comes before the next beat.
        let late = try coordinator.start(mapper: 0)
        _ = try run("DEL")
        try late.finish(partitionRows: [8])
        #expect(try coordinator.poll()?.mapperRows == [8])
        #expect(try run("EXISTS") == .integer(0), "the report left a heartbeat behind")
        try coordinator.reset()

        // Once a reducer saw the mapper dead (its heartbeat gone), that is final: the lease neither sets its
        // heartbeat again nor reports. (Its heartbeat may set the key again before the poll: then again.)
        let seen = try coordinator.start(mapper: 0)
        var sawDead = false
        for _ in 0..<50 where !sawDead {
            _ = try run("DEL")
            do {
                _ = try coordinator.poll()
            } catch let error as PartdError where error.code == .connectionFailed {
                sawDead = true
            }
        }
        #expect(sawDead)
        Thread.sleep(forTimeInterval: 0.4)
        #expect(try run("EXISTS") == .integer(0), "a mapper seen dead set its heartbeat again")
        let dead = expectPartdError(.connectionFailed) { try seen.finish(partitionRows: [10]) }
        #expect(dead?.message.contains("seen dead") == true, "\(dead.map { "\($0)" } ?? "")")
        expectPartdError(.connectionFailed) { try coordinator.poll() }
        try coordinator.reset()

        // A lease of a job reset since stops beating and cannot report.
        let reset = try coordinator.start(mapper: 0)
        try coordinator.reset()
        Thread.sleep(forTimeInterval: 0.4)
        #expect(try run("EXISTS") == .integer(0), "the heartbeat of a reset job came back")
        let over = expectPartdError(.connectionFailed) { try reset.finish(partitionRows: [9]) }
        #expect(over?.message.contains("reset") == true, "\(over.map { "\($0)" } ?? "")")
        #expect(try coordinator.poll() == nil)
        try coordinator.reset()
    }

    @Test("setOnce from many threads at once writes once: the key holds the value of the one call that returned true")
    func concurrentSetOnce() throws {
        let store = try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        for round in 0..<20 {
            let key = PartdKey("once\(round)")
            let outcomes = Locked([Int: Result<Bool, any Error>]())
            let gate = DispatchSemaphore(value: 0)
            let threads = (0..<8).map { thread in
                Thread {
                    gate.wait()
                    let outcome = Result { try store.setOnce(key, bytes("thread \(thread)")) }
                    outcomes.withLock { $0[thread] = outcome }
                }
            }
            for thread in threads { thread.start() }
            for _ in threads { gate.signal() }
            while outcomes.withLock({ $0.count }) < threads.count { usleep(1000) }
            let results = outcomes.withLock { $0 }
            let winners = try results.filter { try $0.value.get() }.map(\.key)
            #expect(winners.count == 1, "round \(round): \(winners.count) calls returned true")
            if let winner = winners.first { #expect(try store.get(key) == bytes("thread \(winner)")) }
        }
        try store.drop()
    }

    @Test("a drop refused part-way reads every reply of its pipeline: the store's next commands get their own answers")
    func failedDropLeavesNoStaleReplies() throws {
        // A server of its own, whose default user is then refused UNLINK (the shared one serves other tests).
        let node = try cluster(["single", "--port", "7098"])
        defer { _ = try? cluster(["stop-single", "--port", "7098"]) }
        let store = try RedisTestEnvironment.store(node)
        let keys = (0..<20).map { PartdKey("k\($0)") }
        let values = (0..<20).map { bytes("value \($0)") }
        try store.append(Array(zip(keys, values)).map { (key: $0.0, value: $0.1) })
        #expect(try redisCLI("7098", ["acl", "setuser", "default", "-unlink"]) == "OK")
        let error = expectPartdError(.io) { try store.drop() }
        #expect(error?.message.contains("NOPERM") == true, "\(error.map { "\($0)" } ?? "")")
        // Nothing was dropped, and each command reads its own reply, not one the drop left unread.
        #expect(try store.get(keys) == values)
        #expect(try store.contains("k3"))
        #expect(try store.byteCount(of: "k12") == 8)
        #expect(try store.keys() == keys.sorted())
        #expect(try redisCLI("7098", ["acl", "setuser", "default", "+unlink"]) == "OK")
        try store.drop()
        #expect(try store.keys().isEmpty)
    }
}

@Suite("Redis addresses")
struct RedisAddressTests {
    @Test("host:port, a bracketed IPv6 host, the default port; an unbracketed IPv6 host or a bad port is refused")
    func parsing() throws {
        #expect(try RedisAddress(parsing: "10.0.0.1:7000") == RedisAddress(host: "10.0.0.1", port: 7000))
        #expect(try RedisAddress(parsing: "redis://cache.local/") == RedisAddress(host: "cache.local", port: 6379))
        #expect(try RedisAddress(parsing: "[::1]:6380") == RedisAddress(host: "::1", port: 6380))
        #expect(try RedisAddress(parsing: "[fe80::1]") == RedisAddress(host: "fe80::1", port: 6379))
        #expect(try RedisAddress(parsing: "[::1]:6380").description == "[::1]:6380")
        for bad in ["::1", "::1:6379", "fe80::1", "host:", "host:0", "host:x", ":6379", "[::1]x", "[::1]:", "[]:6379", "[::1", ""] {
            expectPartdError(.invalidArgument, "\(bad)") { try RedisAddress(parsing: bad) }
        }
    }

    @Test("a redirect naming no host (\":port\", \"?:port\") goes to the host that sent it; an IPv6 host comes unbracketed")
    func redirectTargets() {
        let source = RedisAddress(host: "10.1.2.3", port: 7000)
        #expect(RedisCluster.redirectTarget(":7001", from: source) == RedisAddress(host: "10.1.2.3", port: 7001))
        #expect(RedisCluster.redirectTarget("?:7002", from: source) == RedisAddress(host: "10.1.2.3", port: 7002))
        #expect(RedisCluster.redirectTarget("10.9.9.9:7003", from: source) == RedisAddress(host: "10.9.9.9", port: 7003))
        #expect(RedisCluster.redirectTarget("fe80::2:7004", from: source) == RedisAddress(host: "fe80::2", port: 7004))
        #expect(RedisCluster.redirectTarget("[fe80::2]:7005", from: source) == RedisAddress(host: "fe80::2", port: 7005))
        #expect(RedisCluster.redirectTarget("nonsense", from: source) == nil)
        #expect(RedisCluster.redirectTarget("10.9.9.9:x", from: source) == nil)
    }
    @Test("a CLUSTER SLOTS reply naming a port outside 1...65535 is refused; so is connecting to such a port")
    func portsOutOfRange() throws {
        for port in [99_999_999_999, 65536, 0, -1] {
            let server = try FakeClusterNode(slotsPort: port)
            defer { server.stop() }
            let error = expectPartdError(.protocolViolation, "port \(port)") {
                try RedisStore(nodes: ["127.0.0.1:\(server.port)"], configuration: .init(namespace: "x", retryTimeout: .seconds(1)))
            }
            #expect(error?.message.contains("\(port)") == true, "\(error.map { "\($0)" } ?? "")")
        }
        for port in [99_999_999_999, 70000, 0, -1] {
            expectPartdError(.invalidArgument, "port \(port)") {
                try RedisConnection(RedisAddress(host: "127.0.0.1", port: port), timeout: .seconds(1))
            }
        }
    }
}

/// A TCP server on 127.0.0.1 that plays a Redis Cluster node: it answers `CLUSTER SLOTS` with one range,
/// every slot, served by 127.0.0.1 at `slotsPort`, and any other command with `+OK`.
private final class FakeClusterNode: @unchecked Sendable {
    private(set) var port = 0
    private let listener: Int32
    private let stopped = Locked(false)
    private let finished = DispatchGroup()

    init(slotsPort: Int) throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound, listen(listener, 16) == 0 else {
            close(listener)
            throw PartdError(code: .connectionFailed, message: "cannot listen on 127.0.0.1: errno \(errno)")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let reply = Array("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:\(slotsPort)\r\n".utf8)
        Self.timeOutEvery100ms(listener)  // accept and recv time out, so stop() is noticed
        let (socket, stopped, finished) = (listener, stopped, finished)
        finished.enter()
        Thread {
            defer { finished.leave() }
            while !stopped.withLock({ $0 }) {
                let fd = accept(socket, nil, nil)
                guard fd >= 0 else { continue }
                Self.timeOutEvery100ms(fd)
                finished.enter()
                Thread {
                    defer { finished.leave(); close(fd) }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while !stopped.withLock({ $0 }) {
                        let n = recv(fd, &buffer, buffer.count, 0)
                        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return }
                        guard n > 0 else { continue }
                        let asksSlots = String(decoding: buffer[..<n], as: UTF8.self).uppercased().contains("CLUSTER")
                        let answer = asksSlots ? reply : Array("+OK\r\n".utf8)
                        _ = answer.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    }
                }.start()
            }
        }.start()
    }

    private static func timeOutEvery100ms(_ fd: Int32) {
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func stop() {
        stopped.withLock { $0 = true }
        finished.wait()
        close(listener)
    }
}

/// Starts `mappers` worker processes of one shuffle job and waits for them; `onChunk` sees each line they print.
private func runMappers(
    seed: String, namespace: String, job: String, mappers: Int, rows: Int, partitions: Int, wait: Int, pauseMs: Int = 0,
    onFirstChunk: (() throws -> Void)? = nil
) throws {
    let worker = productsDirectory + "/partd-test-worker"
    let processes = try (0..<mappers).map { mapper -> (Process, Pipe) in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: worker)
        process.arguments = [
            "redis-map", seed, namespace, job, String(mapper), String(mappers), String(rows), String(partitions), String(wait),
            String(pauseMs),
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        return (process, out)
    }
    if let onFirstChunk {
        // Wait until some mapper finished its first chunk, then act (mid-shuffle).
        var line = Data()
        while !String(decoding: line, as: UTF8.self).contains("chunk 0") {
            let byte = processes[0].1.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            line.append(byte)
        }
        try onFirstChunk()
    }
    for (mapper, (process, out)) in processes.enumerated() {
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "mapper \(mapper): \(output)")
    }
}

/// Reads every partition as a reducer and checks it against the input and the mappers' report.
private func checkPartitions(_ store: RedisStore, report: ShuffleCoordinator.Report, rows: Int, partitions: Int) throws {
    let reducer = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(store)))
    var seen = [Bool](repeating: false, count: rows)
    var total = 0
    for p in 0..<partitions {
        let table = try reducer.partition(p)
        try report.check(partition: p, rows: table.rowCount)
        guard table.rowCount > 0 else { continue }
        let ids = table["id"]!.values(as: Int64.self)!
        let xs = table["x"]!.values(as: Double.self)!
        for row in 0..<table.rowCount {
            let r = Int(xs[row])
            #expect(!seen[r], "row \(r) appears twice")
            seen[r] = true
            #expect(ids[row] == Int64(r * 7919 % 100_003))
            #expect(table["name"]!.text(at: row) == "n\(r % 1000)")
            #expect(PartitionHash.partition(of: PartitionHash.hash(ids[row]), count: partitions) == p)
        }
        total += table.rowCount
    }
    #expect(total == rows)
    #expect(seen.allSatisfy { $0 })
    try reducer.close()
}

/// Failover tests run on a cluster of their own (ports 7200–7205), since they kill its nodes.
@Suite("Redis failover", .serialized, .enabled(if: RedisTestEnvironment.cluster != nil))
struct RedisFailoverTests {
    static let base = "7200"
    static let directory = "/tmp/partd-redis-failover"
    static var options: [String] { ["--base-port", base, "--dir", directory] }

    /// Waits until a live primary other than `killed` serves `slot`.
    private func waitForFailover(slot: Int, killed: String) throws -> String {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let owner = try? cluster(["primary-of-slot", String(slot)] + Self.options), owner != killed, !owner.isEmpty,
                !owner.contains("redis-cluster:")
            {
                return owner
            }
            usleep(200_000)
        }
        throw PartdError(code: .io, message: "no replica took over slot \(slot) within 30 s")
    }

    @Test("exactly-once appends: connections killed mid-append are retried without duplicating or losing records")
    func exactlyOnceUnderKilledConnections() throws {
        // A cluster of its own: killing every normal client would disturb other tests' connections.
        let seed = try cluster(["start"] + Self.options)
        defer { _ = try? cluster(["stop"] + Self.options) }
        let store = try RedisTestEnvironment.store(seed, maxInFlightBytes: 2048)
        let stop = Locked(false)
        let killer = Thread {
            while !stop.withLock({ $0 }) {
                for node in store.primaries {
                    _ = try? redisCLI(String(node.port), ["client", "kill", "type", "normal", "skipme", "yes"])
                }
                usleep(3000)
            }
        }
        killer.start()
        let batches = 150
        for batch in 0..<batches {
            try store.append((0..<8).map { k in
                (key: PartdKey("k\(k)"), value: Record(writer: 0, batch: batch, keyIndex: k, length: 40).encoded())
            })
        }
        stop.withLock { $0 = true }
        for k in 0..<8 {
            let records = try Record.parseAll(try store.get(PartdKey("k\(k)")))
            #expect(records.map(\.batch) == Array(0..<batches), "key k\(k): every batch once, in order")
        }
        try store.drop()
    }

    @Test("a slot migrating between primaries: ASK, TRYAGAIN until it is done, then MOVED reloads the map")
    func redirects() throws {
        let seed = try cluster(["start"] + Self.options)
        defer { _ = try? cluster(["stop"] + Self.options) }
        let store = try RedisTestEnvironment.store(seed)
        let ns = store.configuration.namespace
        let plain = try RedisTestEnvironment.store(seed, namespace: ns, exactlyOnce: false)
        try store.append(["a": bytes("first")])
        let slot = RedisHashSlot.of(Array("\(ns):{a}".utf8))
        // Two more keys in the same slot, which do not exist yet.
        let twins = (0..<10_000_000).lazy.filter { RedisHashSlot.of(Array("\(ns):{%i\($0)}".utf8)) == slot }.prefix(2)
        let (twin, late) = (twins.first!, twins.dropFirst().first!)
        let source = try cluster(["primary-of-slot", String(slot)] + Self.options)
        let primaries = ["7200", "7201", "7202"]
        let target = primaries.first { $0 != source }!
        let sourceID = try redisCLI(source, ["cluster", "myid"])
        let targetID = try redisCLI(target, ["cluster", "myid"])
        #expect(try redisCLI(target, ["cluster", "setslot", String(slot), "importing", sourceID]) == "OK")
        #expect(try redisCLI(source, ["cluster", "setslot", String(slot), "migrating", targetID]) == "OK")

        // The source does not have the twin: it answers ASK, and a one-key append lands on the target.
        // (Key counts, since a plain EXISTS would itself be redirected now.)
        func keys(_ node: String) throws -> String { try redisCLI(node, ["cluster", "countkeysinslot", String(slot)]) }
        #expect(try keys(source) == "2")  // a and its id set
        try plain.append([PartdKey(twin): bytes("second")])
        #expect(try keys(target) == "1")
        #expect(try keys(source) == "2")

        // An exactly-once append touches two keys, which Redis refuses (TRYAGAIN) while the slot
        // is split; the store keeps retrying and it lands once the migration is done.
        let done = DispatchSemaphore(value: 0)
        let outcome = Locked<(any Error)?>(nil)
        DispatchQueue.global().async {
            do { try store.append([PartdKey(late): bytes("late")]) } catch { outcome.withLock { $0 = error } }
            done.signal()
        }
        usleep(500_000)
        #expect(try keys(target) == "1", "the exactly-once append waits")

        // Finish the migration; the store's slot map is now stale and MOVED corrects it.
        _ = try redisCLI(source, ["migrate", "127.0.0.1", target, "", "0", "5000", "keys", "\(ns):{a}", "\(ns):{a}:ids"])
        for node in [target, source] + primaries.filter({ $0 != target && $0 != source }) {
            #expect(try redisCLI(node, ["cluster", "setslot", String(slot), "node", targetID]) == "OK")
        }
        #expect(done.wait(timeout: .now() + 20) == .success)
        #expect(outcome.withLock { $0 } == nil)
        #expect(try store.get("a") == bytes("first"))
        try store.append(["a": bytes("+")])
        #expect(try store.get(["a", PartdKey(twin), PartdKey(late)]) == [bytes("first+"), bytes("second"), bytes("late")])
        #expect(try redisCLI(target, ["llen", "\(ns):{a}"]) == "2")
    }

    @Test("redirects naming no host go to the host that answered; a transaction re-sent after ASK gets only its replies; a slot no node serves is waited for")
    func redirectsWithoutHostsAndUncoveredSlots() throws {
        let seed = try cluster(["start"] + Self.options)
        defer { _ = try? cluster(["stop"] + Self.options) }
        let nodes = (7200...7205).map(String.init)
        let primaries = ["7200", "7201", "7202"]
        let store = try RedisTestEnvironment.store(seed, exactlyOnce: false)
        let ns = store.configuration.namespace
        try store.append(["a": bytes("first")])
        let slot = RedisHashSlot.of(Array("\(ns):{a}".utf8))
        let twins = (0..<10_000_000).lazy.filter { RedisHashSlot.of(Array("\(ns):{%i\($0)}".utf8)) == slot }.prefix(2)
        let (twin, other) = (twins.first!, twins.dropFirst().first!)
        let source = try cluster(["primary-of-slot", String(slot)] + Self.options)
        let target = primaries.first { $0 != source }!
        let sourceID = try redisCLI(source, ["cluster", "myid"])
        let targetID = try redisCLI(target, ["cluster", "myid"])
        // Redirects now say "?:PORT" (no hostname is announced).
        for node in nodes { #expect(try redisCLI(node, ["config", "set", "cluster-preferred-endpoint-type", "hostname"]) == "OK") }
        #expect(try redisCLI(target, ["cluster", "setslot", String(slot), "importing", sourceID]) == "OK")
        #expect(try redisCLI(source, ["cluster", "setslot", String(slot), "migrating", targetID]) == "OK")
        func keys(_ node: String) throws -> String { try redisCLI(node, ["cluster", "countkeysinslot", String(slot)]) }

        // "ASK slot ?:PORT" for a key the source lacks: the append lands on the target.
        try store.append([PartdKey(twin): bytes("second")])
        #expect(try keys(target) == "1")
        // A transaction sent again after ASK: ASKING goes once, before MULTI, so EXEC answers its commands only.
        let list = Array("\(ns):{%i\(other)}".utf8)
        let transaction = RedisRequest(
            slot: slot,
            commands: [
                [Array("MULTI".utf8)], [Array("RPUSH".utf8), list, bytes("x")], [Array("RPUSH".utf8), list, bytes("y")],
                [Array("EXEC".utf8)],
            ])
        #expect(try store.cluster.run([transaction], idempotent: false) == [.array([.integer(1), .integer(2)])])

        // Redirects now say ":PORT"; the migration ends, and the store's stale map meets "MOVED slot :PORT".
        for node in nodes {
            #expect(try redisCLI(node, ["config", "set", "cluster-preferred-endpoint-type", "unknown-endpoint"]) == "OK")
        }
        _ = try redisCLI(source, ["migrate", "127.0.0.1", target, "", "0", "5000", "keys", "\(ns):{a}"])
        for node in [target, source] + primaries.filter({ $0 != target && $0 != source }) {
            #expect(try redisCLI(node, ["cluster", "setslot", String(slot), "node", targetID]) == "OK")
        }
        #expect(try store.get(["a", PartdKey(twin), PartdKey(other)]) == [bytes("first"), bytes("second"), bytes("xy")])

        // No node serves the slot (the cluster stays up: full coverage is not required). A request for it
        // waits, reloading the map, until a node takes the slot again.
        for node in nodes { _ = try redisCLI(node, ["cluster", "delslots", String(slot)]) }
        let reader = try RedisTestEnvironment.store(seed, namespace: ns)
        let done = DispatchSemaphore(value: 0)
        let outcome = Locked<Result<[UInt8], any Error>?>(nil)
        DispatchQueue.global().async {
            let read = Result { try reader.get("a") }
            outcome.withLock { $0 = read }
            done.signal()
        }
        usleep(500_000)
        #expect(outcome.withLock { $0 } == nil, "the read waits for the slot")
        #expect(try redisCLI(target, ["cluster", "addslots", String(slot)]) == "OK")
        #expect(done.wait(timeout: .now() + 25) == .success)
        #expect(try outcome.withLock { $0 }?.get() == bytes("first"))
    }

    @Test("a primary killed between requests: keys() and appends without ids wait for the failover instead of failing")
    func requestsAfterPrimaryDied() throws {
        let seed = try cluster(["start"] + Self.options)
        defer { _ = try? cluster(["stop"] + Self.options) }
        let namespace = RedisTestEnvironment.namespace()
        let writer = try RedisTestEnvironment.store(seed, namespace: namespace, waitForReplicas: 1)
        let keys = (0..<64).map { PartdKey($0) }
        try writer.append(keys.map { (key: $0, value: bytes("v")) })
        let sweeper = try RedisTestEnvironment.store(seed, namespace: namespace)
        let plain = try RedisTestEnvironment.store(seed, namespace: namespace, exactlyOnce: false)
        #expect(try sweeper.keys() == keys)
        let slot = RedisHashSlot.of(Array("\(namespace):{%i0}".utf8))
        let killed = try cluster(["kill-primary-of-slot", String(slot)] + Self.options)
        // The dead primary refuses connections: keys() reloads the map and sweeps its successor.
        #expect(try sweeper.keys() == keys)
        #expect(try cluster(["primary-of-slot", String(slot)] + Self.options) != killed)
        // An append without ids to the dead primary was never sent (no connection): it is retried on the new
        // primary, not reported as a write that may or may not have been applied.
        try plain.append([PartdKey(0): bytes("+")])
        #expect(try plain.get(PartdKey(0)) == bytes("v+"))
    }

    @Test("with waitForReplicas, killing a primary mid-shuffle loses no acknowledged batch")
    func failoverWithWait() throws {
        let seed = try cluster(["start"] + Self.options)
        defer { _ = try? cluster(["stop"] + Self.options) }
        let namespace = RedisTestEnvironment.namespace()
        let rows = 400_000
        let partitions = 16
        let slot = RedisHashSlot.of(Array("\(namespace):{%i0}".utf8))
        try runMappers(
            seed: seed, namespace: namespace, job: "fo", mappers: 4, rows: rows, partitions: partitions, wait: 1, pauseMs: 250,
            onFirstChunk: {
                let killed = try cluster(["kill-primary-of-slot", String(slot)] + Self.options)
                _ = try self.waitForFailover(slot: slot, killed: killed)
                // The old primary comes back as a replica of its successor, so WAIT 1 can be met again.
                try cluster(["restart-node", killed] + Self.options)
            })
        let store = try RedisTestEnvironment.store(seed, namespace: namespace)
        let report = try ShuffleCoordinator(store: store, job: "fo", mappers: 4).waitForMappers(timeout: .seconds(10))
        try checkPartitions(store, report: report, rows: rows, partitions: partitions)
    }

    @Test("without waiting, writes a failover discards are detected by the row-count check")
    func failoverWithoutWaitIsDetected() throws {
        let seed = try cluster(["start"] + Self.options)
        defer { _ = try? cluster(["stop"] + Self.options) }
        let namespace = RedisTestEnvironment.namespace()
        let store = try RedisTestEnvironment.store(seed, namespace: namespace)
        let coordinator = try ShuffleCoordinator(store: store, job: "loss", mappers: 1)
        let lease = try coordinator.start(mapper: 0)
        let partitions = 8
        let shuffle = try Shuffle<Table>(
            by: ["id"], partitions: partitions, options: ShuffleOptions(memory: .kilobytes(1), store: AnyByteStore(store)))
        let chunks = redisShuffleSlice(mapper: 0, mappers: 1, rows: 40_000)
        try shuffle.add(chunks[0])
        try shuffle.store.flush()
        // Partition 0's primary loses its replica (paused, its link closed), takes a batch, and dies.
        let slot = RedisHashSlot.of(Array("\(namespace):{%i0}".utf8))
        let replica = try cluster(["replica-of-slot", String(slot)] + Self.options)
        usleep(300_000)  // let the first chunk reach the replica
        let replicaPID = try redisPID(replica)
        kill(replicaPID, SIGSTOP)
        // Close the replication link too: what the primary takes next reaches no replica's socket.
        let primary = try cluster(["primary-of-slot", String(slot)] + Self.options)
        _ = try redisCLI(primary, ["client", "kill", "type", "replica"])
        try shuffle.add(chunks[1])
        try shuffle.store.flush()
        let killed = try cluster(["kill-primary-of-slot", String(slot)] + Self.options)
        kill(replicaPID, SIGCONT)
        _ = try waitForFailover(slot: slot, killed: killed)
        try shuffle.close()
        try lease.finish(partitionRows: shuffle.partitionRowCounts)

        let report = try coordinator.waitForMappers(timeout: .seconds(10))
        let reducer = try Shuffle<Table>(by: ["id"], partitions: partitions, options: ShuffleOptions(store: AnyByteStore(store)))
        let lost = try (0..<partitions).filter { p in
            let rows = try reducer.partition(p).rowCount
            do {
                try report.check(partition: p, rows: rows)
                return false
            } catch let error as PartdError {
                #expect(error.code == .corruptData)
                #expect(error.message.contains("lost"))
                return true
            }
        }
        #expect(lost.contains(0), "partition 0's second batch died with its primary, and the check says so")
    }
}
