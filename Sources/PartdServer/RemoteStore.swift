// SPDX-License-Identifier: Apache-2.0

import NIOCore
import NIOPosix
import Partd

/// A ``ByteStore`` served by a ``StoreServer`` (partd's ZeroMQ `Client`): every
/// operation is a request on one connection, so compressed and typed stores
/// stack on it unchanged.
///
/// ```swift
/// let store = try RemoteStore(connectingTo: .unixSocket("/tmp/partd.sock"))
/// try store.append(["x": [1, 2, 3]])        // pipelined: returns once queued
/// try store.get("x")                         // waits for its answer (and so for every earlier append)
/// ```
///
/// **Pipelining.** Unlike partd's client, which waits for each answer, appends
/// (and deletes) return as soon as they are queued, with at most
/// ``Configuration/maxOutstandingBytes`` of requests unanswered (back-pressure:
/// an append waits while more are). The connection keeps order: the server
/// applies requests as sent, so a read sees every earlier append. A failed
/// pipelined request is reported by the next call (or ``flush()``), once.
/// Set ``Configuration/pipelining`` to `false` to wait for every answer.
///
/// **Connection loss** fails what is unanswered with
/// ``PartdError/Code/connectionFailed``; the next call reconnects.
public final class RemoteStore: ByteStore, @unchecked Sendable {
    public typealias Address = StoreServer.Address

    public struct Configuration: Sendable {
        /// The server's shared secret, if it has one.
        public var token: String?
        /// The most request bytes in flight before an append waits (default 64 MiB).
        public var maxOutstandingBytes: Int
        /// Return from appends and deletes once queued (default `true`).
        public var pipelining: Bool
        /// The largest answer accepted (default 1 GiB).
        public var maxFrameBytes: Int
        /// How long to wait for a connection (default 10 s).
        public var connectTimeout: TimeAmount

        public init(
            token: String? = nil, maxOutstandingBytes: Int = 64 << 20, pipelining: Bool = true,
            maxFrameBytes: Int = 1 << 30, connectTimeout: TimeAmount = .seconds(10)
        ) {
            self.token = token
            self.maxOutstandingBytes = max(1, maxOutstandingBytes)
            self.pipelining = pipelining
            self.maxFrameBytes = maxFrameBytes
            self.connectTimeout = connectTimeout
        }
    }

    public let address: Address
    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let state = Locked(ClientState())

    private struct ClientState {
        var connection: Connection?
        /// Bytes of pipelined requests not yet answered.
        var inFlightBytes = 0
        var pendingError: PartdError?
        var nextID: UInt32 = 1
    }

    /// Connects to `address` and shakes hands.
    ///
    /// - Throws: ``PartdError/Code/connectionFailed`` if no server answers;
    ///   ``PartdError/Code/unauthorized`` for a wrong token;
    ///   ``PartdError/Code/protocolViolation`` for a version mismatch.
    public init(connectingTo address: Address, configuration: Configuration = Configuration()) throws {
        self.address = address
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup.singleton
        _ = try connection()
    }

    deinit {
        let connection = state.withLock { $0.connection }
        connection?.channel.close(promise: nil)
    }

    /// Waits until every request sent so far is answered; throws the first
    /// failure of a pipelined request not yet reported.
    public func flush() throws {
        _ = try request(.sync, pipelined: false) { _ in }
    }

    /// Closes the connection (after the requests in flight are answered). A later call reconnects.
    public func close() throws {
        try flush()
        let connection = state.withLock { state -> Connection? in
            defer { state.connection = nil }
            return state.connection
        }
        try connection?.channel.close().wait()
    }

    // MARK: - ByteStore

    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        guard !batch.isEmpty else { return }
        _ = try request(.append, pipelined: configuration.pipelining) { out in
            out.writeInteger(UInt32(batch.count), endianness: .little)
            for entry in batch {
                Wire.writeKey(entry.key, into: &out)
                Wire.writeBytes(entry.value, into: &out)
            }
        }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        var answer = try request(.get, pipelined: false) { Wire.writeKeys(keys, into: &$0) }!
        let count = Int(try Wire.readInteger(&answer, as: UInt32.self, "value count"))
        guard count == keys.count else { throw Wire.violation("asked for \(keys.count) values, got \(count)") }
        return try (0..<count).map { _ in try Wire.readBytes(&answer) }
    }

    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        var answer = try request(.setOnce, pipelined: false) { out in
            Wire.writeKey(key, into: &out)
            Wire.writeBytes(value, into: &out)
        }!
        return try Wire.readInteger(&answer, as: UInt8.self, "set-once answer") == 1
    }

    public func delete(_ keys: [PartdKey]) throws {
        _ = try request(.delete, pipelined: configuration.pipelining) { Wire.writeKeys(keys, into: &$0) }
    }

    public func drop() throws {
        _ = try request(.drop, pipelined: false) { _ in }
    }

    public func keys() throws -> [PartdKey] {
        var answer = try request(.keys, pipelined: false) { _ in }!
        return try Wire.readKeys(&answer)
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        var answer = try request(.contains, pipelined: false) { Wire.writeKey(key, into: &$0) }!
        return try Wire.readInteger(&answer, as: UInt8.self, "contains answer") == 1
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        var answer = try request(.byteCount, pipelined: false) { Wire.writeKey(key, into: &$0) }!
        return Int(try Wire.readInteger(&answer, as: UInt64.self, "byte count"))
    }

    public func validate(_ key: PartdKey) throws {
        _ = try request(.validate, pipelined: false) { Wire.writeKey(key, into: &$0) }
    }

    // MARK: - Async

    /// The same operations for async callers: they suspend instead of blocking a thread.
    public var async: AsyncView { AsyncView(store: self) }

    public struct AsyncView: Sendable {
        let store: RemoteStore

        public func append(_ batch: [PartdKey: [UInt8]]) async throws {
            let entries = batch.map { (key: $0.key, value: $0.value) }
            _ = try await store.send(.append) { out in
                out.writeInteger(UInt32(entries.count), endianness: .little)
                for entry in entries {
                    Wire.writeKey(entry.key, into: &out)
                    Wire.writeBytes(entry.value, into: &out)
                }
            }.get()
        }

        public func get(_ key: PartdKey) async throws -> [UInt8] {
            var answer = try await store.send(.get) { Wire.writeKeys([key], into: &$0) }.get()
            _ = try Wire.readInteger(&answer, as: UInt32.self, "value count")
            return try Wire.readBytes(&answer)
        }

        public func keys() async throws -> [PartdKey] {
            var answer = try await store.send(.keys) { _ in }.get()
            return try Wire.readKeys(&answer)
        }

        public func delete(_ keys: [PartdKey]) async throws {
            _ = try await store.send(.delete) { Wire.writeKeys(keys, into: &$0) }.get()
        }

        public func drop() async throws {
            _ = try await store.send(.drop) { _ in }.get()
        }
    }

    // MARK: - Requests

    /// Sends a request; a pipelined one returns `nil` at once (its failure is
    /// reported later), any other waits for its answer.
    private func request(_ kind: Wire.Kind, pipelined: Bool, body: (inout ByteBuffer) -> Void) throws -> ByteBuffer? {
        if let pending = state.withLock({ state -> PartdError? in
            defer { state.pendingError = nil }
            return state.pendingError
        }) {
            throw pending
        }
        let future = try send(kind, pipelined: pipelined, body: body)
        guard pipelined else {
            do {
                let answer = try future.wait()
                // Everything sent before has been answered too; report an earlier failure first.
                if let pending = state.withLock({ state -> PartdError? in
                    defer { state.pendingError = nil }
                    return state.pendingError
                }) {
                    throw pending
                }
                return answer
            } catch let error as PartdError {
                throw error
            } catch {
                throw PartdError(code: .connectionFailed, message: "request to \(address) failed: \(error)")
            }
        }
        // Back-pressure: past the limit, wait for this request's answer, which
        // comes after every earlier one's (the pipeline drains, then refills).
        if state.withLock({ $0.inFlightBytes > configuration.maxOutstandingBytes }) {
            _ = try? future.wait()
        }
        return nil
    }

    /// Encodes a request and queues it on the connection; the future holds the answer's body.
    fileprivate func send(
        _ kind: Wire.Kind, pipelined: Bool = false, body: (inout ByteBuffer) -> Void
    ) throws -> EventLoopFuture<ByteBuffer> {
        let connection = try connection()
        let id = state.withLock { state -> UInt32 in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        var buffer = connection.channel.allocator.buffer(capacity: 64)
        Wire.writeFrame(kind, id: id, into: &buffer, body: body)
        let bytes = buffer.readableBytes
        let future = connection.handler.enqueue(buffer, id: id)
        guard pipelined else { return future }
        state.withLock { $0.inFlightBytes += bytes }
        future.whenComplete { [weak self] result in
            self?.state.withLock { state in
                state.inFlightBytes -= bytes
                if case .failure(let error) = result, state.pendingError == nil {
                    state.pendingError = (error as? PartdError)
                        ?? PartdError(code: .connectionFailed, message: "request failed: \(error)")
                }
            }
        }
        return future
    }

    /// The live connection, made (and greeted) if there is none.
    private func connection() throws -> Connection {
        if let live = state.withLock({ $0.connection }), live.channel.isActive { return live }
        let handler = ClientConnectionHandler()
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [maxFrameBytes = configuration.maxFrameBytes] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(WireFrameDecoder(maxFrameBytes: maxFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            switch address {
            case .unixSocket(let path): channel = try bootstrap.connect(unixDomainSocketPath: path).wait()
            case .tcp(let host, let port): channel = try bootstrap.connect(host: host, port: port).wait()
            }
        } catch {
            throw PartdError(code: .connectionFailed, message: "cannot connect to \(address): \(error)")
        }
        let connection = Connection(channel: channel, handler: handler)
        var hello = channel.allocator.buffer(capacity: 32)
        Wire.writeFrame(.hello, id: 0, into: &hello) { out in
            out.writeBytes(Wire.magic)
            out.writeInteger(Wire.version, endianness: .little)
            Wire.writeString(configuration.token ?? "", into: &out)
        }
        do {
            _ = try handler.enqueue(hello, id: 0).wait()
        } catch {
            channel.close(promise: nil)
            throw (error as? PartdError) ?? PartdError(code: .connectionFailed, message: "handshake with \(address) failed: \(error)")
        }
        state.withLock { $0.connection = connection }
        return connection
    }

    private struct Connection {
        let channel: any Channel
        let handler: ClientConnectionHandler
    }
}

/// Writes requests and matches answers to them, in order.
private final class ClientConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireFrame
    typealias OutboundOut = ByteBuffer

    /// Requests not yet written, gathered from any thread and written by one event-loop task.
    private let queued = Locked<(frames: [(ByteBuffer, EventLoopPromise<ByteBuffer>)], scheduled: Bool)>(([], false))
    // Event-loop state.
    private var context: ChannelHandlerContext?
    private var waiting = CircularBuffer<EventLoopPromise<ByteBuffer>>()
    private var failure: (any Error)?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func enqueue(_ frame: ByteBuffer, id: UInt32) -> EventLoopFuture<ByteBuffer> {
        guard let context else {
            return MultiThreadedEventLoopGroup.singleton.next().makeFailedFuture(
                PartdError(code: .connectionFailed, message: "not connected"))
        }
        let loop = context.eventLoop
        let promise = loop.makePromise(of: ByteBuffer.self)
        let schedule = queued.withLock { queued -> Bool in
            queued.frames.append((frame, promise))
            defer { queued.scheduled = true }
            return !queued.scheduled
        }
        if schedule { loop.execute { self.drain() } }
        return promise.futureResult
    }

    /// Writes every queued request with one flush.
    private func drain() {
        let frames = queued.withLock { queued -> [(ByteBuffer, EventLoopPromise<ByteBuffer>)] in
            defer { queued = ([], false) }
            return queued.frames
        }
        guard let context else {
            for (_, promise) in frames { promise.fail(PartdError(code: .connectionFailed, message: "not connected")) }
            return
        }
        if let failure {
            for (_, promise) in frames { promise.fail(failure) }
            return
        }
        for (frame, promise) in frames {
            waiting.append(promise)
            context.write(wrapOutboundOut(frame), promise: nil)
        }
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let promise = waiting.popFirst() else {
            if frame.kind == .error, let error = try? Wire.readError(&frame.body) {
                fail(PartdError(code: error.code, message: "the server closed the connection: \(error.message)"))
            } else {
                fail(Wire.violation("an answer arrived for no request"))
            }
            context.close(promise: nil)
            return
        }
        switch frame.kind {
        case .ok: promise.succeed(frame.body)
        case .error: promise.fail((try? Wire.readError(&frame.body)) ?? Wire.violation("an unreadable error frame"))
        default: promise.fail(Wire.violation("an answer of kind \(frame.kind)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail((error as? PartdError) ?? PartdError(code: .protocolViolation, message: "\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(PartdError(code: .connectionFailed, message: "the connection to the server was lost"))
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        failure = failure ?? error
        while let promise = waiting.popFirst() { promise.fail(error) }
        let frames = queued.withLock { queued -> [(ByteBuffer, EventLoopPromise<ByteBuffer>)] in
            defer { queued.frames = [] }
            return queued.frames
        }
        for (_, promise) in frames { promise.fail(error) }
    }
}
