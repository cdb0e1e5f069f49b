// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdServer
import PartdTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The address of the Unix socket at `path` (cut to fit `sun_path`).
func unixSocketAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
    }
    return address
}

/// A raw Unix-socket connection, for sending bytes no client would.
final class RawSocket {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixSocketAddress(path)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else { throw PartdError(code: .connectionFailed, message: "connect failed: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// The next `count` wire frames the server sends (fewer if it closes the connection or 10 s pass), as sent.
    func readFrames(_ count: Int) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func framesComplete() -> Bool {
            var at = 0
            for _ in 0..<count {
                guard all.count - at >= 8 else { return false }
                let length = (0..<8).reduce(0) { $0 | Int(all[at + $1]) << (8 * $1) }
                guard all.count - at - 8 >= length else { return false }
                at += 8 + length
            }
            return true
        }
        while !framesComplete() {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return all }
            all += buffer[0..<n]
        }
        return all
    }

    /// Everything the server sends until it closes the connection (or 10 s pass).
    func readToEnd() -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return all }
            all += buffer[0..<n]
        }
    }
}

/// A Unix-socket listener that accepts connections and reads whatever they send but never answers, except,
/// if asked, the handshake: a server whose store calls are stuck.
final class SilentServer: @unchecked Sendable {
    let path: String
    private let listener: Int32
    private let state = Locked((stopped: false, connections: [Int32](), frames: [UInt8: Int]()))
    private let finished = DispatchGroup()

    init(path: String, answeringHello: Bool) throws {
        self.path = path
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixSocketAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            Glibc.close(listener)
            throw PartdError(code: .connectionFailed, message: "cannot listen on \(path): \(errno)")
        }
        SilentServer.pollEvery100ms(listener)  // accept and recv time out, so stop() is noticed
        finished.enter()
        Thread { [self] in
            defer { finished.leave() }
            while !state.withLock({ $0.stopped }) {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { continue }
                SilentServer.pollEvery100ms(fd)
                let accepted = state.withLock { state -> Bool in
                    if !state.stopped { state.connections.append(fd) }
                    return !state.stopped
                }
                guard accepted else {
                    Glibc.close(fd)
                    return
                }
                finished.enter()
                Thread { [self] in
                    defer { finished.leave() }
                    serve(fd, answeringHello: answeringHello)
                }.start()
            }
        }.start()
    }

    private static func pollEvery100ms(_ fd: Int32) {
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// How many whole frames of `kind` (after the handshake, if answered) the server has received.
    func frames(of kind: UInt8) -> Int { state.withLock { $0.frames[kind] ?? 0 } }

    /// Reads until the client closes (or the server stops), answering only the hello if asked, and counts
    /// the frames received by kind.
    private func serve(_ fd: Int32, answeringHello: Bool) {
        var received: [UInt8] = []
        var greeted = !answeringHello
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !state.withLock({ $0.stopped }) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return }
            guard n > 0 else { continue }
            received += buffer[0..<n]
            while received.count >= 8 {
                let length = received[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
                guard received.count >= 8 + length else { break }
                let kind = received[8]
                received.removeFirst(8 + length)
                if greeted {
                    state.withLock { $0.frames[kind, default: 0] += 1 }
                } else {  // the whole hello (id 0): ok, version 1
                    let ok = wireFrame(kind: 0x80, id: 0, body: [1, 0])
                    _ = ok.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    greeted = true
                }
            }
        }
    }

    /// Closes the listener and every connection, and removes the socket file.
    func stop() {
        state.withLock { $0.stopped = true }
        finished.wait()
        for fd in state.withLock({ $0.connections }) { Glibc.close(fd) }
        Glibc.close(listener)
        unlink(path)
    }
}

/// A frame as the wire protocol lays it out (docs/format.md §8).
func wireFrame(kind: UInt8, id: UInt32 = 0, body: [UInt8]) -> [UInt8] {
    withUnsafeBytes(of: UInt64(5 + body.count).littleEndian, Array.init) + [kind]
        + withUnsafeBytes(of: id.littleEndian, Array.init) + body
}

func hello(version: UInt16 = 1, token: String = "") -> [UInt8] {
    wireFrame(kind: 0x01, body: Array("PDWP".utf8) + withUnsafeBytes(of: version.littleEndian, Array.init)
        + withUnsafeBytes(of: UInt32(token.utf8.count).littleEndian, Array.init) + Array(token.utf8))
}

/// The message of the error frame in `bytes` (the last frame the server sent), if any.
func errorMessage(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

@Suite("Server and client", .serialized)
struct ServerTests {
    func start(_ store: any ByteStore = MemoryStore(), token: String? = nil, maxFrameBytes: Int = 1 << 30) throws -> (StoreServer, String) {
        let path = scratchPath("srv.sock")
        let server = try StoreServer.start(
            serving: store, on: [.unixSocket(path)],
            configuration: StoreServer.Configuration(token: token, maxFrameBytes: maxFrameBytes, threads: 2))
        return (server, path)
    }

    @Test("partd's test_zmq: several clients share one store; get, iset, delete, drop, keys")
    func zmqCounterparts() throws {
        let (server, path) = try start()
        defer { try? server.shutdown() }
        let a = try RemoteStore(connectingTo: .unixSocket(path))
        let b = try RemoteStore(connectingTo: .unixSocket(path))
        try a.append(["x": bytes("Hello"), "y": bytes("abc")])
        try a.flush()  // order across connections is the order the server receives them
        try b.append(["x": bytes(" world!")])
        #expect(try b.get("x") == bytes("Hello world!"))
        #expect(try a.get(["x", "y", "z"]) == [bytes("Hello world!"), bytes("abc"), []])
        #expect(try a.setOnce("i", bytes("1")))
        #expect(try !b.setOnce("i", bytes("2")))
        #expect(try a.get("i") == bytes("1"))
        try b.delete(["y"])
        try b.flush()  // b's pipelined delete is applied before a looks
        #expect(try a.keys() == ["i", "x"])
        #expect(try a.contains("x") && !a.contains("y"))
        #expect(try b.byteCount(of: "x") == 12)
        try a.drop()
        #expect(try b.keys().isEmpty)
        #expect(server.connectionCount == 2)
        try a.close()
        try b.close()
    }

    @Test("appends whose keys change from batch to batch (moved, one byte apart, longer, shorter, integer for string, tuples, empty) land on their own keys")
    func appendKeysChangingPosition() throws {
        // The server takes a key that repeats the previous batch's key at the same position as that key.
        let (server, path) = try start()
        defer { try? server.shutdown() }
        let store = try RemoteStore(connectingTo: .unixSocket(path))
        let batches: [[PartdKey]] = [
            ["a", "b", 1, "c"],
            ["a", "b", 1, "c"],
            ["b", "a", "1", 1],
            ["a ", "c", 2, "c"],
            ["ab", "", PartdKey(.tuple(["a", 1])), "d"],
            ["a", "", PartdKey(.tuple(["a", 2])), "d", "e"],
            ["a"],
            ["a", "b", 1, "c", "e"],
        ]
        var expected: [PartdKey: [UInt8]] = [:]
        for (n, keys) in batches.enumerated() {
            let batch = keys.enumerated().map { (key: $1, value: [UInt8(n), UInt8($0)]) }
            try store.append(batch)
            for entry in batch { expected[entry.key, default: []] += entry.value }
        }
        try store.flush()
        let keys = Array(expected.keys)
        #expect(try store.get(keys) == keys.map { expected[$0]! })
        #expect(try Set(store.keys()) == Set(keys))
        try store.close()
    }

    @Test("a TCP server with a token refuses a client with the wrong token and serves the right one")
    func token() throws {
        let server = try StoreServer.start(
            serving: MemoryStore(), on: [.tcp(host: "127.0.0.1", port: 0)],
            configuration: StoreServer.Configuration(token: "s3cret", threads: 1))
        defer { try? server.shutdown() }
        let error = expectPartdError(.unauthorized) {
            try RemoteStore(connectingTo: server.addresses[0], configuration: .init(token: "wrong"))
        }
        #expect(error?.message.contains("token") == true)
        let good = try RemoteStore(connectingTo: server.addresses[0], configuration: .init(token: "s3cret"))
        try good.append(["k": [1]])
        #expect(try good.get("k") == [1])
    }

    @Test("store errors come back typed, pipelined ones at the next call, and the connection stays usable")
    func errors() throws {
        let failing = FailingStore()
        let (server, path) = try start(failing)
        defer { try? server.shutdown() }
        let client = try RemoteStore(connectingTo: .unixSocket(path))
        failing.setFailing(keys: ["bad"])
        try client.append(["bad": [1]])  // pipelined: queued, fails on the server
        let error = expectPartdError(.diskFull) { try client.get("good") }
        #expect(error?.key == "bad")
        #expect(error?.path == "/injected")
        try client.append(["good": [2]])
        #expect(try client.get("good") == [2])
        expectPartdError(.invalidArgument) { try client.requestServerShutdown() }  // not accepted by this server
        let unpipelined = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(pipelining: false))
        expectPartdError(.diskFull) { try unpipelined.append(["bad": [3]]) }
        #expect(try unpipelined.get("good") == [2])
    }

    @Test("back-pressure: a tiny outstanding-bytes limit still delivers every append in order")
    func backPressure() throws {
        let (server, path) = try start()
        defer { try? server.shutdown() }
        let client = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(maxOutstandingBytes: 300))
        for i in 0..<2000 { try client.append([(key: "k", value: [UInt8(i & 0xFF)])]) }
        #expect(try client.get("k") == (0..<2000).map { UInt8($0 & 0xFF) })
    }

    @Test("requests that would pass the outgoing buffer's limit go into the next buffer: from many threads, every request arrives once and in order")
    func outgoingBufferLimit() throws {
        let (server, path) = try start()
        defer { try? server.shutdown() }
        var configuration = RemoteStore.Configuration()
        configuration.outgoingBufferLimit = 2048  // a frame larger than this goes alone in a buffer
        let client = try RemoteStore(connectingTo: .unixSocket(path), configuration: configuration)
        let threads = 4
        let done = DispatchGroup()
        let failures = Locked([String]())
        for t in 0..<threads {
            done.enter()
            Thread {
                defer { done.leave() }
                do {
                    var expected: [UInt8] = []
                    for i in 0..<300 {
                        let value = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: (i * 37 + t * 11) % 5000 + 1)
                        expected += value
                        try client.append([(key: PartdKey(t), value: value)])
                        if i % 50 == 49, try client.get(PartdKey(t)) != expected {
                            failures.withLock { $0.append("thread \(t): key read back wrong after \(i + 1) appends") }
                        }
                    }
                    if try client.get(PartdKey(t)) != expected { failures.withLock { $0.append("thread \(t): final read wrong") } }
                } catch {
                    failures.withLock { $0.append("thread \(t): \(error)") }
                }
            }.start()
        }
        done.wait()
        #expect(failures.withLock { $0 } == [])
        try client.flush()
        // Requests from four threads gathered past 2 KiB before the event loop wrote them, more than once.
        #expect(client.outgoingBufferRotations > 0)
    }

    @Test("async calls")
    func asyncCalls() async throws {
        let (server, path) = try start()
        defer { try? server.shutdown() }
        let client = try RemoteStore(connectingTo: .unixSocket(path))
        try await client.async.append(["a": [1, 2], "b": [3]])
        try await client.async.append(["a": [4]])
        #expect(try await client.async.get("a") == [1, 2, 4])
        #expect(try await client.async.keys() == ["a", "b"])
        try await client.async.delete(["a"])
        #expect(try await client.async.get("a") == [])
        try await client.async.drop()
        #expect(try await client.async.keys() == [])
    }

    @Test("connection loss fails calls with connectionFailed; the next call after a restart reconnects")
    func reconnect() throws {
        let store = MemoryStore()
        let (server, path) = try start(store)
        let client = try RemoteStore(connectingTo: .unixSocket(path))
        try client.append(["k": [1]])
        try client.flush()
        try server.shutdown()
        expectPartdError(.connectionFailed) { try client.get("k") }
        let again = try StoreServer.start(serving: store, on: [.unixSocket(path)])
        defer { try? again.shutdown() }
        #expect(try client.get("k") == [1])
    }

    @Test("garbage, a 2^60-byte frame, a wrong token, a kill mid-frame, a wrong version, an unknown kind: each connection gets its error and is closed while a good client carries on")
    func faults() throws {
        let (server, path) = try start(token: "t0ken", maxFrameBytes: 1 << 20)
        defer { try? server.shutdown() }
        let good = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(token: "t0ken"))
        let done = Locked(false)
        let worker = Thread {
            do {
                for i in 0..<3000 { try good.append([(key: PartdKey(i % 7), value: [UInt8(i & 0xFF)])]) }
                try good.flush()
                done.withLock { $0 = true }
            } catch {
                Issue.record("the good client failed: \(error)")
            }
        }
        worker.start()

        // Garbage instead of a handshake.
        let garbage = try RawSocket(path: path)
        garbage.send(Array(repeating: 0x41, count: 64))
        #expect(errorMessage(garbage.readToEnd()).contains("frame"))

        // A wrong token.
        let intruder = try RawSocket(path: path)
        intruder.send(hello(token: "guess"))
        #expect(errorMessage(intruder.readToEnd()).contains("refused the client's token"))

        // A frame announcing 2^60 bytes.
        let huge = try RawSocket(path: path)
        huge.send(hello(token: "t0ken"))
        huge.send(withUnsafeBytes(of: (UInt64(1) << 60).littleEndian, Array.init) + [0x10, 0, 0, 0, 0])
        #expect(errorMessage(huge.readToEnd()).contains("over the limit"))

        // A client killed mid-frame: its half-sent append never shows.
        do {
            let killed = try RawSocket(path: path)
            killed.send(hello(token: "t0ken"))
            let append = wireFrame(kind: 0x10, id: 1, body: [1, 0, 0, 0] + [0, 4, 0, 0, 0] + Array("half".utf8)
                + withUnsafeBytes(of: UInt64(3).littleEndian, Array.init) + [7, 8, 9])
            killed.send(Array(append.dropLast(2)))
        }  // closed here, mid-frame

        // A wrong version.
        let old = try RawSocket(path: path)
        old.send(hello(version: 99, token: "t0ken"))
        #expect(errorMessage(old.readToEnd()).contains("version 99"))

        // An unknown frame kind after a good handshake.
        let unknown = try RawSocket(path: path)
        unknown.send(hello(token: "t0ken"))
        unknown.send(wireFrame(kind: 0x42, body: []))
        #expect(errorMessage(unknown.readToEnd()).contains("unknown frame kind"))

        while !done.withLock({ $0 }) { usleep(10_000) }
        let expected = (0..<7).map { k in (0..<3000).filter { $0 % 7 == k }.map { UInt8($0 & 0xFF) } }
        #expect(try (0..<7).map { try good.get(PartdKey($0)) } == expected)
        #expect(try !good.contains("half"))
    }

    @Test("frames that arrive behind a malformed request, or behind a refused handshake, in the same read are never applied")
    func nothingAfterRefusal() throws {
        let store = MemoryStore()
        let (server, path) = try start(store, token: "t0ken")
        defer { try? server.shutdown() }
        func append(_ key: String, id: UInt32) -> [UInt8] {
            wireFrame(kind: 0x10, id: id, body: [1, 0, 0, 0] + [0] + withUnsafeBytes(of: UInt32(key.utf8.count).littleEndian, Array.init)
                + Array(key.utf8) + withUnsafeBytes(of: UInt64(1).littleEndian, Array.init) + [7])
        }
        // hello, an append whose key has the unknown tag 9, then a valid append of "a": one write.
        let malformed = wireFrame(kind: 0x10, id: 1, body: [1, 0, 0, 0] + [9])
        let raw = try RawSocket(path: path)
        raw.send(hello(token: "t0ken") + malformed + append("a", id: 2))
        #expect(errorMessage(raw.readToEnd()).contains("unknown key tag 9"))
        // A wrong token, then a good hello and an append: the second hello is not taken either.
        let intruder = try RawSocket(path: path)
        intruder.send(hello(token: "guess") + hello(token: "t0ken") + append("b", id: 1))
        #expect(errorMessage(intruder.readToEnd()).contains("refused the client's token"))
        // A client that connects after both sees neither append.
        let client = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(token: "t0ken"))
        try client.append(["c": [1]])
        let keys = try client.keys()
        #expect(keys == ["c"])
        #expect(try !store.contains("a") && !store.contains("b"))
    }

    @Test("threads that reconnect at once share one new connection, and each sees its own appends")
    func concurrentReconnect() throws {
        let (server, path) = try start()
        defer { try? server.shutdown() }
        let client = try RemoteStore(connectingTo: .unixSocket(path))
        let threads = 8
        for round in 0..<5 {
            try client.close()  // the next call of every thread reconnects
            var waited = 0
            while server.connectionCount > 0 && waited < 1000 {  // the server notices the close on its own thread
                usleep(10_000)
                waited += 1
            }
            try #require(server.connectionCount == 0)
            let gate = DispatchSemaphore(value: 0)
            let results = Locked([Int: Result<[UInt8], any Error>]())
            let done = DispatchGroup()
            for t in 0..<threads {
                done.enter()
                Thread {
                    defer { done.leave() }
                    gate.wait()
                    let key = PartdKey(.tuple([PartdKey(round), PartdKey(t)]))
                    let result = Result { () throws -> [UInt8] in
                        for i in 0..<20 { try client.append([(key: key, value: [UInt8(i)])]) }
                        return try client.get(key)
                    }
                    results.withLock { $0[t] = result }
                }.start()
            }
            for _ in 0..<threads { gate.signal() }
            done.wait()
            for t in 0..<threads {
                #expect(try results.withLock { $0[t] }?.get() == (0..<20).map { UInt8($0) }, "round \(round), thread \(t)")
            }
            #expect(server.connectionCount == 1, "round \(round)")
        }
    }

    @Test("a spilling store over a remote store (through AnyByteStore and CompressedStore, as a shuffle stacks them): flush waits for the server's answers and throws its failures")
    func flushWaitsForServer() throws {
        let failing = FailingStore()
        let (server, path) = try start(failing)
        defer { try? server.shutdown() }
        let remote = try RemoteStore(connectingTo: .unixSocket(path))
        let spilling = SpillingStore(spillingTo: AnyByteStore(CompressedStore(.lz4, over: remote)), availableMemory: .megabytes(1))
        failing.setFailing(keys: ["bad"])
        try spilling.append(["bad": [1]])
        let error = expectPartdError(.diskFull) { try spilling.flush() }
        #expect(error?.key == "bad")
        failing.setFailing(keys: [])
        try spilling.append(["good": [2]])
        try spilling.flush()
        #expect(try failing.inner.contains("good"))  // applied by the server before flush returned
        try remote.append(["direct": [3]])
        try AnyByteStore(remote).waitForWrites()
        #expect(try failing.inner.get("direct") == [3])
    }

    @Test("a remote store released with appends in flight has them all applied before it closes")
    func releaseFlushes() throws {
        let store = MemoryStore()
        let (server, path) = try start(store)
        defer { try? server.shutdown() }
        let chunk = [UInt8](repeating: 7, count: 1 << 16)
        do {
            let client = try RemoteStore(connectingTo: .unixSocket(path))
            for _ in 0..<256 { try client.append([(key: "k", value: chunk)]) }  // 16 MiB queued, under the 64 MiB limit
        }
        #expect(try store.byteCount(of: "k") == 256 << 16)
    }

    @Test("a server that stops answering: a get fails with connectionFailed after the request timeout, naming the address; the next call reconnects to a real server on the same address")
    func requestTimeout() throws {
        let path = scratchPath("silent.sock")
        let silent = try SilentServer(path: path, answeringHello: true)
        let client = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(requestTimeout: .milliseconds(500)))
        try client.append(["lost": [1]])  // pipelined: queued, never answered
        let started = ContinuousClock.now
        let error = expectPartdError(.connectionFailed) { try client.get("lost") }
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(error?.message.contains("did not answer within 0.5 seconds") == true, "\(String(describing: error))")
        #expect(error?.message.contains("unix:\(path)") == true)
        // The get reported the failure (for the append too) and the connection is closed: a flush has nothing to
        // wait for and does not reconnect.
        try client.flush()
        silent.stop()

        let store = MemoryStore()
        let server = try StoreServer.start(serving: store, on: [.unixSocket(path)])
        defer { try? server.shutdown() }
        try client.append(["k": [2]])
        #expect(try client.get("k") == [2])
        #expect(try !store.contains("lost"))  // the timed-out append never reached a server that answers
        #expect(server.connectionCount == 1)
    }

    @Test("a server that never answers the handshake: connecting fails with connectionFailed after the request timeout")
    func handshakeTimeout() throws {
        let path = scratchPath("mute.sock")
        let silent = try SilentServer(path: path, answeringHello: false)
        defer { silent.stop() }
        let error = expectPartdError(.connectionFailed) {
            try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(requestTimeout: .milliseconds(300)))
        }
        #expect(error?.message.contains("did not answer within 0.3 seconds") == true, "\(String(describing: error))")
    }

    @Test("back-pressure against a server that stops answering: the append that waits fails after the request timeout")
    func backPressureTimeout() throws {
        let path = scratchPath("silent-bp.sock")
        let silent = try SilentServer(path: path, answeringHello: true)
        defer { silent.stop() }
        let client = try RemoteStore(
            connectingTo: .unixSocket(path), configuration: .init(maxOutstandingBytes: 1000, requestTimeout: .milliseconds(300)))
        let chunk = [UInt8](repeating: 1, count: 600)
        let error = expectPartdError(.connectionFailed) {
            for _ in 0..<10 { try client.append([(key: "k", value: chunk)]) }  // the second is past the limit and waits
        }
        #expect(error?.message.contains("did not answer") == true)
    }

    @Test("a remote store released with appends in flight to a server that never answers returns (its wait ends at the request timeout)")
    func releaseWithSilentServer() throws {
        let path = scratchPath("silent-release.sock")
        let silent = try SilentServer(path: path, answeringHello: true)
        defer { silent.stop() }
        let released = DispatchSemaphore(value: 0)
        let appended = Locked(false)
        Thread {
            do {
                let client = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(requestTimeout: .milliseconds(300)))
                for i in 0..<100 { try client.append([(key: "k", value: [UInt8(i)])]) }
                appended.withLock { $0 = true }
            } catch {
                Issue.record("connecting or appending failed: \(error)")
            }  // the client is released here, with its appends unanswered
            released.signal()
        }.start()
        #expect(released.wait(timeout: .now() + 60) == .success, "deinit hung")
        #expect(appended.withLock { $0 })
    }

    @Test("a key nested deeper than the wire protocol allows is refused by the client as invalidKey, before anything is sent; the connection carries on")
    func tooDeepKey() async throws {
        let (server, path) = try start()
        defer { try? server.shutdown() }
        let client = try RemoteStore(connectingTo: .unixSocket(path))
        var deepest = PartdKey("x")
        for _ in 0..<32 { deepest = PartdKey(.tuple([deepest])) }  // "x" 32 tuples down: the deepest the server reads
        let tooDeep = PartdKey(.tuple([PartdKey(1), PartdKey(.tuple([deepest]))]))
        try client.append(["before": [1]])  // pipelined, possibly still in flight
        let error = expectPartdError(.invalidKey) { try client.append([(key: "fine", value: [2]), (key: tooDeep, value: [2])]) }
        #expect(error?.key == tooDeep)
        #expect(error?.message.contains("32") == true)
        expectPartdError(.invalidKey) { try client.get([PartdKey("fine"), tooDeep]) }
        expectPartdError(.invalidKey) { try client.setOnce(tooDeep, [3]) }
        expectPartdError(.invalidKey) { try client.delete([tooDeep]) }
        expectPartdError(.invalidKey) { try client.contains(tooDeep) }
        expectPartdError(.invalidKey) { try client.byteCount(of: tooDeep) }
        expectPartdError(.invalidKey) { try client.validate(tooDeep) }
        await #expect { try await client.async.get(tooDeep) } throws: { ($0 as? PartdError)?.code == .invalidKey }
        await #expect { try await client.async.append([tooDeep: [4]]) } throws: { ($0 as? PartdError)?.code == .invalidKey }
        try client.append([(key: deepest, value: [5])])
        #expect(try client.get(deepest) == [5])
        #expect(try client.get(["before", "fine"]) == [[1], []])
        #expect(server.connectionCount == 1)
    }

    @Test("frames over the limit: a get or keys whose answer would not fit gets invalidArgument naming the key and size, an append or set-once that would not fit is refused before it is sent; the connection carries on")
    func frameLimit() async throws {
        let limit = 1 << 16
        let store = MemoryStore()
        let (server, path) = try start(store, maxFrameBytes: limit)
        defer { try? server.shutdown() }
        let client = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(maxFrameBytes: limit))
        let chunk = [UInt8](repeating: 1, count: 40_000)
        try client.append(["big": chunk])
        try client.append(["big": chunk])  // 80,000 bytes: each append fits in a frame, the value does not
        try client.append(["small": [1]])
        let error = expectPartdError(.invalidArgument) { try client.get(["small", "big"]) }
        #expect(error?.key == "big")
        #expect(error?.message.contains("80000") == true && error?.message.contains("\(limit)") == true, "\(String(describing: error))")
        #expect(try client.get("small") == [1])
        #expect(try client.byteCount(of: "big") == 80_000)

        // A request over the limit is refused by the client, naming the key, before anything is sent.
        let tooBig = [UInt8](repeating: 2, count: limit)
        let refused = expectPartdError(.invalidArgument) {
            try client.append([(key: "small", value: [9]), (key: "huge", value: tooBig)])
        }
        #expect(refused?.key == "huge")
        #expect(refused?.message.contains("\(limit)") == true, "\(String(describing: refused))")
        expectPartdError(.invalidArgument) { try client.setOnce("huge", tooBig) }
        await #expect { try await client.async.append(["huge": tooBig]) } throws: { ($0 as? PartdError)?.code == .invalidArgument }
        #expect(try client.get("small") == [1])  // the refused batch's other entry was not sent either
        #expect(try !store.contains("huge"))

        // A key list over the limit: 10,000 keys of about 15 bytes each.
        for batch in 0..<10 {
            try client.append((0..<1000).map { (key: PartdKey("key-\(batch)-\($0)"), value: [UInt8(1)]) })
        }
        let keysError = expectPartdError(.invalidArgument) { try client.keys() }
        #expect(keysError?.message.contains("\(limit)") == true, "\(String(describing: keysError))")
        #expect(try client.contains("key-9-999"))
        #expect(server.connectionCount == 1)

        // Limits that differ: each side learns the other's in the handshake and keeps to the smaller.
        let smallClient = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(maxFrameBytes: 1 << 15))
        #expect(smallClient.frameLimit == 1 << 15)
        // An answer over the client's limit (but within the server's) is refused by the server, naming the key;
        // the connection stays open (the client took it for a protocol violation and lost the connection).
        try client.append(["mid": [UInt8](repeating: 3, count: 40_000)])
        try client.flush()
        let tooBigForClient = expectPartdError(.invalidArgument) { try smallClient.get("mid") }
        #expect(tooBigForClient?.key == "mid" && tooBigForClient?.message.contains("\(1 << 15)") == true,
            "\(String(describing: tooBigForClient))")
        #expect(try smallClient.get("small") == [1])
        let largeClient = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(maxFrameBytes: 1 << 20))
        #expect(largeClient.frameLimit == limit)
        // A request over the server's limit (but within the client's) is refused before it is sent.
        let tooBigForServer = expectPartdError(.invalidArgument) { try largeClient.append(["huge": tooBig]) }
        #expect(tooBigForServer?.key == "huge" && tooBigForServer?.message.contains("\(limit)") == true,
            "\(String(describing: tooBigForServer))")
        #expect(try largeClient.get("small") == [1])
        #expect(server.connectionCount == 3)
        // An error answer is kept within the client's limit too: here the key alone would take most of it.
        let tinyClient = try RemoteStore(connectingTo: .unixSocket(path), configuration: .init(maxFrameBytes: 1024))
        let longKey = PartdKey(String(repeating: "x", count: 600))
        try client.append([(key: longKey, value: [UInt8](repeating: 1, count: 2_000))])
        try client.flush()
        expectPartdError(.invalidArgument) { try tinyClient.get(longKey) }
        #expect(try tinyClient.get("small") == [1])  // the connection stayed open
        #expect(server.connectionCount == 4)

        // Neither side's limit can reach 4 GiB, where a buffer's indices end.
        #expect(StoreServer.Configuration(maxFrameBytes: 1 << 40).maxFrameBytes < 1 << 32)
        #expect(RemoteStore.Configuration(maxFrameBytes: 1 << 40).maxFrameBytes < 1 << 32)
    }

    @Test("back-pressure waits before an append is queued: an append that throws was never sent (a spilling store writes it again)")
    func backPressureBeforeSending() throws {
        let path = scratchPath("silent-count.sock")
        let silent = try SilentServer(path: path, answeringHello: true)
        defer { silent.stop() }
        let client = try RemoteStore(
            connectingTo: .unixSocket(path), configuration: .init(maxOutstandingBytes: 1000, requestTimeout: .milliseconds(300)))
        let chunk = [UInt8](repeating: 1, count: 600)
        try client.append([(key: "k", value: chunk)])  // sent, never answered
        expectPartdError(.connectionFailed) { try client.append([(key: "k", value: chunk)]) }  // would pass the limit
        // The back-pressure sync follows everything sent before it: once the server has it, it has them all.
        var waited = 0
        while silent.frames(of: 0x19) == 0 && waited < 500 {
            usleep(10_000)
            waited += 1
        }
        #expect(silent.frames(of: 0x19) == 1)
        #expect(silent.frames(of: 0x10) == 1, "the append that threw was sent too")
    }

    @Test("close and flush once the server is gone do not reconnect: they return, or throw the failure still pending")
    func closeAfterServerGone() throws {
        let stopping = DispatchSemaphore(value: 0)
        let path = scratchPath("gone.sock")
        let server = try StoreServer.start(
            serving: MemoryStore(), on: [.unixSocket(path)],
            configuration: StoreServer.Configuration(threads: 1, onShutdownRequest: { stopping.signal() }))
        let client = try RemoteStore(connectingTo: .unixSocket(path))
        try client.append(["k": [1]])
        try client.flush()
        try client.requestServerShutdown()
        stopping.wait()
        try server.shutdown()
        try client.flush()
        try client.close()
        try client.close()

        // An append unanswered when the server goes: close reports its loss (once), not a failed reconnect.
        let silentPath = scratchPath("gone-silent.sock")
        let silent = try SilentServer(path: silentPath, answeringHello: true)
        let other = try RemoteStore(connectingTo: .unixSocket(silentPath))
        try other.append(["lost": [1]])
        var waited = 0
        while silent.frames(of: 0x10) == 0 && waited < 500 {
            usleep(10_000)
            waited += 1
        }
        silent.stop()
        let error = expectPartdError(.connectionFailed) { try other.close() }
        #expect(error?.message.contains("cannot connect") == false, "\(String(describing: error))")
        try other.close()
    }

    @Test("a server that cannot bind every address leaves no socket file behind (closing the bound listener removes it)")
    func failedStartRemovesSocket() throws {
        let occupier = try StoreServer.start(
            serving: MemoryStore(), on: [.tcp(port: 0)], configuration: StoreServer.Configuration(threads: 1))
        defer { try? occupier.shutdown() }
        guard case .tcp(_, let port) = occupier.addresses[0] else { throw PartdError(code: .io, message: "no port") }
        let path = scratchPath("unbound.sock")
        let error = expectPartdError(.connectionFailed) {
            try StoreServer.start(
                serving: MemoryStore(), on: [.unixSocket(path), .tcp(port: port)], configuration: StoreServer.Configuration(threads: 1))
        }
        #expect(error?.message.contains("Address already in use") == true, "\(String(describing: error))")
        #expect(!exists(path))
    }

    @Test("4 client processes x 5,000 batches through one server: every batch once, contiguous, byte-exact")
    func multiProcess() throws {
        let worker = productsDirectory + "/partd-test-worker"
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let directory = try DirectoryStore.temporary()
        let store = SpillingStore(spillingTo: directory, availableMemory: .megabytes(2))
        let (server, path) = try start(store)
        defer { try? server.shutdown() }
        let writers = 4, batches = 5000, maxLength = 300
        var processes: [Process] = []
        for writer in 0..<writers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: worker)
            process.arguments = ["unix:" + path, String(writer), String(batches), String(maxLength)]
            try process.run()
            processes.append(process)
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        try verifyWorkerRecords(in: store, writers: writers, batches: batches, maxLength: maxLength)
    }

    @Test("partd serve: listens, serves, and on SIGTERM, SIGHUP or SIGINT flushes memory to --path and exits")
    func serveCommand() throws {
        let partd = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let data = scratchPath("serve-data")
        defer { removeTree(data) }
        let socketPath = scratchPath("serve.sock")
        let (process, line) = try startedProcess(partd, ["serve", "--path", data, "--memory", "1GB", "--socket", socketPath, "--log-level", "error"])
        #expect(line.contains("listening on unix:\(socketPath)"))
        let client = try RemoteStore(connectingTo: .unixSocket(socketPath))
        try client.append(["kept": bytes("in memory until shutdown")])
        try client.flush()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try DirectoryStore(path: data).get("kept") == bytes("in memory until shutdown"))
        // A client's shutdown request stops it the same way.
        let (second, _) = try startedProcess(partd, ["serve", "--path", data, "--socket", socketPath, "--log-level", "error"])
        let closer = try RemoteStore(connectingTo: .unixSocket(socketPath))
        #expect(try closer.get("kept") == bytes("in memory until shutdown"))
        try closer.append(["kept": bytes("!")])
        try closer.requestServerShutdown()
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        #expect(try DirectoryStore(path: data).get("kept") == bytes("in memory until shutdown!"))
        // SIGHUP (an ssh session hanging up) and SIGINT (Ctrl-C) stop it the same way.
        var kept = "in memory until shutdown!"
        for (signal, suffix) in [(SIGHUP, "?"), (SIGINT, "^C")] {
            let (server, _) = try startedProcess(partd, ["serve", "--path", data, "--socket", socketPath, "--log-level", "error"])
            let client = try RemoteStore(connectingTo: .unixSocket(socketPath))
            try client.append(["kept": bytes(suffix)])
            try client.flush()
            kill(server.processIdentifier, signal)
            #expect(endsWithin10Seconds(server), "partd serve did not stop on signal \(signal)")
            #expect(server.terminationReason == .exit && server.terminationStatus == 0)
            kept += suffix
            #expect(try DirectoryStore(path: data).get("kept") == bytes(kept))
        }
        let usage = try run(partd, ["serve"])
        #expect(usage.status != 0)
        #expect(usage.output.contains("--socket"))
    }

    @Test("partd serve: a SIGTERM sent the moment it prints 'listening on' stops it, and its temporary store goes (10 rounds)")
    func serveStopsOnEarlySignal() throws {
        let partd = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let tmp = scratchPath("serve-early-signal")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { removeTree(tmp) }
        for round in 0..<10 {
            let (process, line) = try startedProcess(partd, ["serve", "--port", "0", "--log-level", "error"], environment: ["TMPDIR": tmp])
            #expect(line.contains("listening on"), "round \(round): \(line)")
            kill(process.processIdentifier, SIGTERM)
            #expect(endsWithin10Seconds(process), "round \(round): partd serve ran on after SIGTERM")
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "round \(round)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: tmp) == [], "round \(round): its temporary store was left")
        }
    }

    @Test("partd serve started with SIGHUP ignored (nohup) keeps it ignored, and still stops on SIGTERM")
    func serveUnderNohup() throws {
        let partd = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let data = scratchPath("serve-nohup")
        defer { removeTree(data) }
        // `trap "" HUP` ignores SIGHUP, as nohup does; the exec'd server inherits that.
        let (process, line) = try startedProcess(
            "/bin/sh", ["-c", "trap '' HUP; exec \"$0\" serve --path \"$1\" --port 0 --log-level error", partd, data])
        #expect(line.contains("listening on"), "\(line)")
        kill(process.processIdentifier, SIGHUP)
        usleep(300_000)
        #expect(process.isRunning, "partd serve stopped on a SIGHUP it was started ignoring")
        kill(process.processIdentifier, SIGTERM)
        #expect(endsWithin10Seconds(process), "partd serve did not stop on SIGTERM")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }

    @Test("partd serve: a SIGTERM at any moment of its start, before 'listening on' too, ends it, leaving nothing (40 rounds)")
    func serveStopsOnSignalDuringStart() throws {
        let partd = productsDirectory + "/partd"
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let tmp = scratchPath("serve-start-signal")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { removeTree(tmp) }
        var generator = SystemRandomNumberGenerator()
        for round in 0..<40 {
            let process = try startedQuietly(partd, ["serve", "--port", "0", "--log-level", "error"], environment: ["TMPDIR": tmp])
            // Anywhere in its first 40 ms: loading, parsing, taking the signals, making the store, listening.
            usleep(UInt32.random(in: 0 ..< 40_000, using: &generator))
            kill(process.processIdentifier, SIGTERM)
            #expect(endsWithin10Seconds(process), "round \(round): partd serve ran on after SIGTERM")
            // Ended by the signal itself (it came before there was anything to clean up) or stopped cleanly.
            let ended = (process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM)
                || (process.terminationReason == .exit && process.terminationStatus == 0)
            #expect(ended, "round \(round): \(process.terminationReason) \(process.terminationStatus)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: tmp) == [], "round \(round): its temporary store was left")
        }
    }
}

/// Whether `process` ends within 10 seconds; if not, it is killed (SIGKILL), so a test that waits on a signal
/// it missed fails instead of hanging. Returns once the process has ended either way.
func endsWithin10Seconds(_ process: Process) -> Bool {
    var waited = 0
    while process.isRunning && waited < 1000 {
        usleep(10_000)
        waited += 1
    }
    let ended = !process.isRunning
    if !ended { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    return ended
}

/// SIGINT, SIGTERM and SIGHUP back at their default action in the test process if it started with them ignored,
/// before it starts a `partd` it will stop by one. A runner started in the background by a shell without job
/// control (`swift test &` in a script) has SIGINT ignored, and under `nohup` SIGHUP; a child inherits that,
/// and `partd` keeps a signal ignored at its start ignored (as POSIX programs do), so the test would wait in
/// vain. (Foundation's `Process` does not reset dispositions for the child.)
let stopSignalsAtDefault: Void = {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        var current = sigaction()
        sigaction(signal, nil, &current)
        if unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
            Glibc.signal(signal, SIG_DFL)
        }
    }
}()

/// `executable` with `arguments` and `environment` over this process's, not yet started, the stop signals at
/// their default action for it (``stopSignalsAtDefault``).
private func unstartedProcess(_ executable: String, _ arguments: [String], environment: [String: String]) -> Process {
    _ = stopSignalsAtDefault
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    return process
}

/// Starts `executable` with `arguments` (and `environment` over this process's), and returns it with the first
/// output it wrote to standard output (`partd serve`'s "listening on" line: it is ready).
func startedProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Process, String) {
    let started = unstartedProcess(executable, arguments, environment: environment)
    let out = Pipe()
    started.standardOutput = out
    try started.run()
    return (started, String(decoding: out.fileHandleForReading.availableData, as: UTF8.self))
}

/// Starts `executable` with `arguments` (and `environment` over this process's), its output discarded.
func startedQuietly(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Process {
    let started = unstartedProcess(executable, arguments, environment: environment)
    started.standardOutput = FileHandle.nullDevice
    started.standardError = FileHandle.nullDevice
    try started.run()
    return started
}
