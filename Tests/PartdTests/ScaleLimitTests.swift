// SPDX-License-Identifier: Apache-2.0
//
// The limits nobody had exercised: many clients on a server with few descriptors, keys at the file-name limit,
// many datasets and partitions (docs/scaling.md, "Limits measured on one machine").

import Foundation
import Partd
import PartdCompanions
import PartdServer
import PartdTestSupport
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
    @Test("a server out of descriptors with clients waiting backs off its accepts (no spin), refuses or serves each client with a typed error, loses no acknowledged append, and serves again once descriptors free")
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
        configuration.requestTimeout = .seconds(2)
        configuration.connectTimeout = .seconds(2)
        let done = DispatchGroup()
        for c in 0..<clients {
            done.enter()
            let thread = Thread { [configuration] in
                defer { done.leave() }
                do {
                    let store = try RemoteStore(connectingTo: .unixSocket(socketPath), configuration: configuration)
                    for i in 0..<20 { try store.append([(key: PartdKey("c\(c)"), value: [UInt8(i)])]) }
                    try store.flush()
                    outcomes.withLock { $0[c] = .success(true) }
                    try store.close()
                } catch let error as PartdError {
                    outcomes.withLock { $0[c] = $0[c] ?? .failure(error) }
                } catch {
                    outcomes.withLock { $0[c] = .failure(PartdError(code: .io, message: "untyped: \(error)")) }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
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
        let acknowledged = results.filter { (try? $0.value.get()) == true }.map(\.key)
        #expect(!acknowledged.isEmpty)
        for c in acknowledged {
            #expect(try store.get(PartdKey("c\(c)")) == (0..<20).map { UInt8($0) }, "client \(c)")
        }
        try store.close()
        #expect(server.isRunning)
    }
}
