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
/// an append that would pass the limit waits for the answers before it is queued, so an append that throws
/// was never sent). The connection keeps order: the server
/// applies requests as sent, so a read sees every earlier append. A failed
/// pipelined request is reported by the next call (or ``flush()``), once.
/// Set ``Configuration/pipelining`` to `false` to wait for every answer.
///
/// **Connection loss** fails what is unanswered with
/// ``PartdError/Code/connectionFailed``; the next call reconnects. A call that throws the failure
/// reports it for the pipelined requests it took down too (the next call does not throw it again).
///
/// **Request timeout.** A request (the handshake, a sync taken by ``flush()``, back-pressure or
/// `deinit`, or any other) that gets no answer within ``Configuration/requestTimeout`` (default
/// 60 s) fails with ``PartdError/Code/connectionFailed`` ("did not answer within …"), and so does
/// every other unanswered request on that connection; the connection is closed and the next call
/// reconnects. One timer per connection watches the oldest unanswered request, so pipelined appends
/// schedule nothing of their own. A store call on the server that legitimately takes longer needs a
/// longer timeout (or `nil`, to wait forever).
///
/// **Keys** nested more than 32 tuples deep cannot be sent: a call with one
/// throws ``PartdError/Code/invalidKey`` before sending anything. Nor can a request larger than
/// ``frameLimit`` (the smaller of ``Configuration/maxFrameBytes`` and the server's limit; an append or
/// set-once of large values): it throws
/// ``PartdError/Code/invalidArgument``, naming the largest value's key, before sending anything.
public final class RemoteStore: ByteStore, @unchecked Sendable {
    public typealias Address = StoreServer.Address

    public struct Configuration: Sendable {
        /// The server's shared secret, if it has one.
        public var token: String?
        /// The most request bytes in flight before an append waits (default 64 MiB).
        public var maxOutstandingBytes: Int
        /// Return from appends and deletes once queued (default `true`).
        public var pipelining: Bool
        /// The largest frame sent or accepted (default 1 GiB, at least 1 KiB, at most
        /// ``StoreServer/largestFrameBytes``). The client and the server announce their limits in the handshake
        /// and each keeps to the smaller (``RemoteStore/frameLimit``): a request that would be larger throws
        /// ``PartdError/Code/invalidArgument`` before anything is sent, and a request whose answer would be
        /// larger (a get, keys) is answered with ``PartdError/Code/invalidArgument``; the connection stays open.
        public var maxFrameBytes: Int
        /// How long to wait for a connection (default 10 s).
        public var connectTimeout: TimeAmount
        /// How long a request may go unanswered (default 60 s; `nil` waits forever). Past it the
        /// request and every other unanswered one on the connection fail with
        /// ``PartdError/Code/connectionFailed`` and the connection closes; the next call reconnects.
        /// Counted from when the request is written, so it bounds a server's slowest store call too.
        public var requestTimeout: TimeAmount?
        /// The most bytes one outgoing buffer of the connection holds before requests go into the next one
        /// (tests lower it; a NIO buffer's indices end at 4 GiB, and threads may each queue a frame of up to
        /// the frame limit before the event loop writes them).
        package var outgoingBufferLimit = StoreServer.largestFrameBytes

        public init(
            token: String? = nil, maxOutstandingBytes: Int = 64 << 20, pipelining: Bool = true,
            maxFrameBytes: Int = 1 << 30, connectTimeout: TimeAmount = .seconds(10),
            requestTimeout: TimeAmount? = .seconds(60)
        ) {
            self.token = token
            self.maxOutstandingBytes = max(1, maxOutstandingBytes)
            self.pipelining = pipelining
            self.maxFrameBytes = max(Wire.smallestFrameLimit, min(maxFrameBytes, StoreServer.largestFrameBytes))
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
        }
    }

    public let address: Address
    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let connectionState = Locked<Connection?>(nil)
    /// Held while a connection is made, so threads that find none at once make one between them; counts the
    /// connections made. (Not a `Locked<Void>`: ThreadSanitizer reports the zero-sized value's accesses
    /// as racing.)
    private let connecting = Locked(0)
    /// Shared with the connection's handler: unanswered pipelined bytes and the first unreported failure.
    private let pipeline = Locked(PipelineState())
    /// The frame limit the server announced in the last handshake (`nil` before one, or from a server that
    /// does not announce it).
    private let serverLimit = Locked<Int?>(nil)

    /// The largest frame this store sends and the server answers with: the smaller of
    /// ``Configuration/maxFrameBytes`` and the limit the server announced when the connection was made.
    public var frameLimit: Int { min(configuration.maxFrameBytes, serverLimit.withLock { $0 } ?? .max) }

    /// Connects to `address` and shakes hands.
    ///
    /// - Throws: ``PartdError/Code/connectionFailed`` if no server answers (within
    ///   ``Configuration/connectTimeout`` for the connection, ``Configuration/requestTimeout`` for the handshake);
    ///   ``PartdError/Code/unauthorized`` for a wrong token;
    ///   ``PartdError/Code/protocolViolation`` for a version mismatch.
    public init(connectingTo address: Address, configuration: Configuration = Configuration()) throws {
        self.address = address
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup.singleton
        _ = try connection()
    }

    /// Requests still in flight are sent and answered before the connection closes (closing at once
    /// dropped what the socket had not taken yet); their failures can no longer be reported, so call
    /// ``flush()`` or ``close()`` to see them. The wait ends after ``Configuration/requestTimeout`` at the
    /// latest (a server that does not answer). Released on an event-loop thread, where it cannot wait, it
    /// closes at once.
    deinit {
        guard let connection = connectionState.withLock({ $0 }) else { return }
        if MultiThreadedEventLoopGroup.currentEventLoop == nil, connection.channel.isActive {
            // A sync on this connection (never a new one): its answer comes after every earlier request's.
            _ = try? connection.handler.enqueue(.sync, pipelined: false) { _ in }?.wait()
        }
        connection.channel.close(promise: nil)
    }

    /// Waits until every request sent so far is answered; throws the first
    /// failure of a pipelined request not yet reported. With no live connection (closed, or lost when the
    /// server went away) nothing is in flight: it throws a failure not yet reported, if any, and does not
    /// reconnect.
    public func flush() throws {
        try throwPendingError()
        guard let connection = liveConnection() else {
            // A lost connection fails its unanswered requests as it closes: wait for that, then report them.
            if let lost = connectionState.withLock({ $0 }), MultiThreadedEventLoopGroup.currentEventLoop == nil {
                _ = try? lost.channel.closeFuture.wait()
            }
            try throwPendingError()
            return
        }
        // Nothing unanswered: every append sent before was answered, its failure (if any) recorded with it.
        // (A sync now could meet a server that has just gone, and report a loss that lost nothing.)
        if pipeline.withLock({ $0.inFlightBytes == 0 }) {
            try throwPendingError()
            return
        }
        // A sync on this connection (never a new one): its answer comes after every earlier request's.
        do {
            _ = try connection.handler.enqueue(.sync, pipelined: false) { _ in }!.wait()
            try throwPendingError()
        } catch {
            throw thrown(error)
        }
    }

    /// Asks the server to shut down (partd's `close_server`): it finishes what it
    /// has received from every client, flushes its store and stops.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` if the server does not accept shutdown requests.
    public func requestServerShutdown() throws {
        _ = try request(.shutdown, pipelined: false) { _ in }
    }

    /// Closes the connection after the requests in flight are answered, and throws the first failure not yet
    /// reported (as ``flush()``, so without reconnecting when the server has gone). The connection is closed
    /// either way. A later call reconnects.
    public func close() throws {
        defer {
            let connection = connectionState.withLock { connection -> Connection? in
                defer { connection = nil }
                return connection
            }
            try? connection?.channel.close().wait()  // fails (ignored) if it closed already
        }
        try flush()
    }

    // MARK: - ByteStore

    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        guard !batch.isEmpty else { return }
        for entry in batch { try Wire.checkSendable(entry.key) }
        let bodyBytes = try checkedAppendBytes(batch)
        _ = try request(.append, pipelined: configuration.pipelining, bodyBytes: bodyBytes) { out in
            out.writeInteger(UInt32(batch.count), endianness: .little)
            for entry in batch {
                Wire.writeKey(entry.key, into: &out)
                Wire.writeBytes(entry.value, into: &out)
            }
        }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        for key in keys { try Wire.checkSendable(key) }
        let bodyBytes = Wire.encodedSize(ofKeys: keys)
        try checkRequest(bodyBytes: bodyBytes) { ("a get of \(keys.count) keys", nil) }
        var answer = try request(.get, pipelined: false, bodyBytes: bodyBytes) { Wire.writeKeys(keys, into: &$0) }!
        let count = Int(try Wire.readInteger(&answer, as: UInt32.self, "value count"))
        guard count == keys.count else { throw Wire.violation("asked for \(keys.count) values, got \(count)") }
        return try (0..<count).map { _ in try Wire.readBytes(&answer) }
    }

    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        try Wire.checkSendable(key)
        let bodyBytes = Wire.encodedSize(of: key) + 8 + value.count
        try checkRequest(bodyBytes: bodyBytes) { ("a set-once of \(value.count) bytes", key) }
        var answer = try request(.setOnce, pipelined: false, bodyBytes: bodyBytes) { out in
            Wire.writeKey(key, into: &out)
            Wire.writeBytes(value, into: &out)
        }!
        return try Wire.readInteger(&answer, as: UInt8.self, "set-once answer") == 1
    }

    public func delete(_ keys: [PartdKey]) throws {
        for key in keys { try Wire.checkSendable(key) }
        let bodyBytes = Wire.encodedSize(ofKeys: keys)
        try checkRequest(bodyBytes: bodyBytes) { ("a delete of \(keys.count) keys", nil) }
        _ = try request(.delete, pipelined: configuration.pipelining, bodyBytes: bodyBytes) { Wire.writeKeys(keys, into: &$0) }
    }

    public func drop() throws {
        _ = try request(.drop, pipelined: false) { _ in }
    }

    public func keys() throws -> [PartdKey] {
        var answer = try request(.keys, pipelined: false) { _ in }!
        return try Wire.readKeys(&answer)
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        let bodyBytes = try checkedKeyBytes(key, "a contains")
        var answer = try request(.contains, pipelined: false, bodyBytes: bodyBytes) { Wire.writeKey(key, into: &$0) }!
        return try Wire.readInteger(&answer, as: UInt8.self, "contains answer") == 1
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        let bodyBytes = try checkedKeyBytes(key, "a byte count")
        var answer = try request(.byteCount, pipelined: false, bodyBytes: bodyBytes) { Wire.writeKey(key, into: &$0) }!
        return Int(try Wire.readInteger(&answer, as: UInt64.self, "byte count"))
    }

    public func validate(_ key: PartdKey) throws {
        let bodyBytes = try checkedKeyBytes(key, "a validate")
        _ = try request(.validate, pipelined: false, bodyBytes: bodyBytes) { Wire.writeKey(key, into: &$0) }
    }

    /// ``flush()``: wrappers above this store (a `SpillingStore`'s `flush`, a shuffle's `close`) wait for the
    /// server's answers through it.
    public func waitForWrites() throws {
        try flush()
    }

    // MARK: - Async

    /// The same operations for async callers: they suspend instead of blocking a thread.
    public var async: AsyncView { AsyncView(store: self) }

    public struct AsyncView: Sendable {
        let store: RemoteStore

        public func append(_ batch: [PartdKey: [UInt8]]) async throws {
            let entries = batch.map { (key: $0.key, value: $0.value) }
            for entry in entries { try Wire.checkSendable(entry.key) }
            let bodyBytes = try store.checkedAppendBytes(entries)
            _ = try await store.send(.append, bodyBytes: bodyBytes) { out in
                out.writeInteger(UInt32(entries.count), endianness: .little)
                for entry in entries {
                    Wire.writeKey(entry.key, into: &out)
                    Wire.writeBytes(entry.value, into: &out)
                }
            }!.get()
        }

        public func get(_ key: PartdKey) async throws -> [UInt8] {
            try Wire.checkSendable(key)
            let bodyBytes = Wire.encodedSize(ofKeys: [key])
            try store.checkRequest(bodyBytes: bodyBytes) { ("a get of 1 key", key) }
            var answer = try await store.send(.get, bodyBytes: bodyBytes) { Wire.writeKeys([key], into: &$0) }!.get()
            _ = try Wire.readInteger(&answer, as: UInt32.self, "value count")
            return try Wire.readBytes(&answer)
        }

        public func keys() async throws -> [PartdKey] {
            var answer = try await store.send(.keys) { _ in }!.get()
            return try Wire.readKeys(&answer)
        }

        public func delete(_ keys: [PartdKey]) async throws {
            for key in keys { try Wire.checkSendable(key) }
            let bodyBytes = Wire.encodedSize(ofKeys: keys)
            try store.checkRequest(bodyBytes: bodyBytes) { ("a delete of \(keys.count) keys", nil) }
            _ = try await store.send(.delete, bodyBytes: bodyBytes) { Wire.writeKeys(keys, into: &$0) }!.get()
        }

        public func drop() async throws {
            _ = try await store.send(.drop) { _ in }!.get()
        }
    }

    // MARK: - Requests

    /// Throws ``PartdError/Code/invalidArgument`` if a request with a body of `bodyBytes` would be a frame over
    /// ``Configuration/maxFrameBytes`` (checked before encoding it: a buffer cannot reach 4 GiB, and a server
    /// refuses a frame over its limit by closing the connection); `what` describes the request.
    fileprivate func checkRequest(bodyBytes: Int, _ what: () -> (String, PartdKey?)) throws {
        let length = 5 + bodyBytes
        let limit = frameLimit
        guard length > limit else { return }
        let (description, key) = what()
        let whose = limit < configuration.maxFrameBytes ? "the server's" : "the"
        throw PartdError(
            code: .invalidArgument,
            message: "\(description) would be a frame of \(length) bytes, over \(whose) limit of \(limit) bytes",
            key: key)
    }

    /// The body bytes of a request of one key, `what`, checked as sendable and with ``checkRequest(bodyBytes:_:)``.
    private func checkedKeyBytes(_ key: PartdKey, _ what: String) throws -> Int {
        try Wire.checkSendable(key)
        let bodyBytes = Wire.encodedSize(of: key)
        try checkRequest(bodyBytes: bodyBytes) { ("\(what) of a key of \(bodyBytes) bytes", key) }
        return bodyBytes
    }

    /// The body bytes of an append of `entries`, checked with ``checkRequest(bodyBytes:_:)`` (naming the largest
    /// value's key).
    fileprivate func checkedAppendBytes(_ entries: [(key: PartdKey, value: [UInt8])]) throws -> Int {
        var bodyBytes = 4
        var largest = 0
        for (index, entry) in entries.enumerated() {
            bodyBytes += Wire.encodedSize(of: entry.key) + 8 + entry.value.count
            if entry.value.count > entries[largest].value.count { largest = index }
        }
        try checkRequest(bodyBytes: bodyBytes) {
            let entry = entries[largest]
            let count = entries.count
            return ("an append of \(count) value\(count == 1 ? "" : "s") (key \(entry.key): \(entry.value.count) bytes)", entry.key)
        }
        return bodyBytes
    }

    /// Sends a request; a pipelined one returns `nil` once queued (its failure is
    /// reported later), any other waits for its answer. A pipelined request waits for room under
    /// ``Configuration/maxOutstandingBytes`` (for `bodyBytes`) before it is queued, so when this throws the
    /// request was not sent.
    private func request(
        _ kind: Wire.Kind, pipelined: Bool, bodyBytes: Int = 0, body: (inout ByteBuffer) -> Void
    ) throws -> ByteBuffer? {
        try throwPendingError()
        if pipelined {
            // Back-pressure: if this request would pass the limit, wait for a sync's answer, which comes after
            // every earlier one's (the pipeline drains, then refills), and only then queue it.
            let bytes = Wire.headerBytes + bodyBytes
            if pipeline.withLock({ $0.inFlightBytes > 0 && $0.inFlightBytes + bytes > configuration.maxOutstandingBytes }) {
                do {
                    _ = try send(.sync, pipelined: false) { _ in }!.wait()
                } catch {
                    throw thrown(error)
                }
            }
        }
        let sent: EventLoopFuture<ByteBuffer>?
        do {
            sent = try send(kind, pipelined: pipelined, bodyBytes: bodyBytes, body: body)
        } catch let error as PartdError {
            throw reported(error)
        }
        guard let future = sent else { return nil }
        do {
            let answer = try future.wait()
            // Everything sent before has been answered too; report an earlier failure first.
            try throwPendingError()
            return answer
        } catch {
            throw thrown(error)
        }
    }

    /// What a call throws for `error` from waiting on a request: a ``PartdError`` as ``reported(_:)`` gives it,
    /// anything else as `connectionFailed`.
    private func thrown(_ error: any Error) -> PartdError {
        if let error = error as? PartdError { return reported(error) }
        return PartdError(code: .connectionFailed, message: "request to \(address) failed: \(error)")
    }

    /// `error`, which this call throws: if the connection failed, the pipelined requests before this one failed
    /// with the same error, which is then not thrown again by the next call.
    private func reported(_ error: PartdError) -> PartdError {
        guard error.code == .connectionFailed else { return error }
        pipeline.withLock { state in
            if let pending = state.pendingError, pending.code == error.code, pending.message == error.message {
                state.pendingError = nil
            }
        }
        return error
    }

    private func throwPendingError() throws {
        if let pending = pipeline.withLock({ state -> PartdError? in
            defer { state.pendingError = nil }
            return state.pendingError
        }) {
            throw pending
        }
    }

    /// Encodes a request onto the connection's outgoing buffer; the future holds
    /// the answer's body (`nil` for a pipelined request, whose answer only counts).
    fileprivate func send(
        _ kind: Wire.Kind, pipelined: Bool = false, bodyBytes: Int = 0, body: (inout ByteBuffer) -> Void
    ) throws -> EventLoopFuture<ByteBuffer>? {
        try connection().handler.enqueue(kind, pipelined: pipelined, bodyBytes: bodyBytes, body: body)
    }

    /// The live connection, made (and greeted) if there is none. One thread makes it while the others wait
    /// and then use it: two connections made at once would leave one open unused and let a thread's requests
    /// go out on both, unordered.
    private func connection() throws -> Connection {
        if let live = liveConnection() { return live }
        return try connecting.withLock { made in
            if let live = liveConnection() { return live }
            let connection = try connect()
            made += 1
            return connection
        }
    }

    /// How many times a request started a new outgoing buffer on the live connection
    /// (``Configuration/outgoingBufferLimit``); 0 without one.
    package var outgoingBufferRotations: Int { liveConnection()?.handler.rotations ?? 0 }

    /// The handler of the connection made last, live or not (tests check that a closed connection's is freed).
    package var connectionHandler: AnyObject? { connectionState.withLock { $0?.handler } }

    private func liveConnection() -> Connection? {
        guard let live = connectionState.withLock({ $0 }), live.channel.isActive else { return nil }
        return live
    }

    /// A new connection, greeted, made the live one.
    private func connect() throws -> Connection {
        let handler = ClientConnectionHandler(
            pipeline: pipeline, address: address, requestTimeout: configuration.requestTimeout,
            bufferLimit: configuration.outgoingBufferLimit)
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
        do {
            var answer = try handler.enqueue(.hello, pipelined: false) { out in
                out.writeBytes(Wire.magic)
                out.writeInteger(Wire.version, endianness: .little)
                Wire.writeString(configuration.token ?? "", into: &out)
                out.writeInteger(UInt64(configuration.maxFrameBytes), endianness: .little)
            }!.wait()
            _ = try Wire.readInteger(&answer, as: UInt16.self, "version")
            let announced = try Wire.optionalLimit(&answer)
            serverLimit.withLock { $0 = announced.map { Int(min($0, UInt64(Int.max))) } }
        } catch {
            channel.close(promise: nil)
            throw (error as? PartdError) ?? PartdError(code: .connectionFailed, message: "handshake with \(address) failed: \(error)")
        }
        connectionState.withLock { $0 = connection }
        return connection
    }

    private struct Connection {
        let channel: any Channel
        let handler: ClientConnectionHandler
    }
}

/// What a client's pipelined requests share with its connection handler.
struct PipelineState {
    /// Bytes of pipelined requests not yet answered.
    var inFlightBytes = 0
    /// The first failure of a pipelined request, not yet reported to the caller.
    var pendingError: PartdError?
}

/// Writes requests and matches answers to them, in order. Callers encode their
/// requests straight into one outgoing buffer; one event-loop task writes
/// whatever has gathered with one flush.
private final class ClientConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireFrame
    typealias OutboundOut = ByteBuffer

    private enum Expectation {
        case answer(EventLoopPromise<ByteBuffer>)
        case pipelined(bytes: Int)
    }

    private struct Outgoing {
        /// How many times a request started a new buffer (tests read it through ``RemoteStore``).
        var rotations = 0
        /// Buffers filled up to the handler's `bufferLimit` while the event loop had not yet written
        /// them, in order; `buffer` follows them.
        var filled: [ByteBuffer] = []
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        var expectations: [Expectation] = []
        var scheduled = false
        var nextID: UInt32 = 0
        var failure: PartdError?
    }

    /// A request written and not yet answered, with when it times out.
    private struct Waiting {
        let expectation: Expectation
        let deadline: NIODeadline
    }

    private let pipeline: Locked<PipelineState>
    private let address: StoreServer.Address
    private let requestTimeout: TimeAmount?
    /// The most bytes one outgoing buffer holds (``RemoteStore/Configuration/outgoingBufferLimit``); the
    /// largest frame (4 GiB − 64 MiB) leaves room below 4 GiB for a small request whose size is not counted.
    private let bufferLimit: Int
    private let outgoing = Locked(Outgoing())
    // Set before the connection is handed out; used from the event loop afterwards. Weak: the context holds
    // this handler, and a strong reference back kept both (and the handler's buffers) once the channel closed.
    private weak var context: ChannelHandlerContext?
    private var waiting = CircularBuffer<Waiting>()
    /// The connection's one timeout timer (event loop only): due at the oldest unanswered request's deadline
    /// or earlier; when it fires early it re-arms for the oldest's deadline, so answers never touch it.
    private var timer: Scheduled<Void>?

    init(pipeline: Locked<PipelineState>, address: StoreServer.Address, requestTimeout: TimeAmount?, bufferLimit: Int) {
        self.pipeline = pipeline
        self.bufferLimit = bufferLimit
        self.address = address
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// How many times a request started a new outgoing buffer on this connection.
    var rotations: Int { outgoing.withLock { $0.rotations } }

    /// Encodes one request for sending (`bodyBytes`, the bytes `body` writes, keeps the outgoing buffer
    /// within `bufferLimit`: a request that would pass it starts the next buffer); `nil` for a pipelined one, which throws the connection's failure if it
    /// has failed already (so it was not sent).
    func enqueue(
        _ kind: Wire.Kind, pipelined: Bool, bodyBytes: Int = 0, body: (inout ByteBuffer) -> Void
    ) throws -> EventLoopFuture<ByteBuffer>? {
        guard let loop = context?.eventLoop else {
            // The channel is gone: its recorded failure says why, if there was one.
            let error = outgoing.withLock { $0.failure } ?? PartdError(code: .connectionFailed, message: "not connected")
            if pipelined { throw error }
            return MultiThreadedEventLoopGroup.singleton.next().makeFailedFuture(error)
        }
        let promise = pipelined ? nil : loop.makePromise(of: ByteBuffer.self)
        let (schedule, failure) = outgoing.withLock { out -> (Bool, PartdError?) in
            if let failure = out.failure { return (false, failure) }
            if out.buffer.readableBytes > 0, out.buffer.readableBytes + Wire.headerBytes + bodyBytes > bufferLimit {
                out.filled.append(out.buffer)
                out.buffer = ByteBufferAllocator().buffer(capacity: 4096)
                out.rotations += 1
            }
            let before = out.buffer.writerIndex
            Wire.writeFrame(kind, id: out.nextID, into: &out.buffer, body: body)
            out.nextID &+= 1
            if let promise {
                out.expectations.append(.answer(promise))
            } else {
                let bytes = out.buffer.writerIndex - before
                out.expectations.append(.pipelined(bytes: bytes))
                pipeline.withLock { $0.inFlightBytes += bytes }
            }
            defer { out.scheduled = true }
            return (!out.scheduled, nil)
        }
        if let failure {
            guard let promise else { throw failure }
            promise.fail(failure)
            return promise.futureResult
        }
        if schedule { loop.execute { self.drain() } }
        return promise?.futureResult
    }

    /// Writes everything gathered with one flush.
    private func drain() {
        let (buffers, expectations) = outgoing.withLock { out -> ([ByteBuffer], [Expectation]) in
            defer {
                out.filled = []
                out.buffer = ByteBufferAllocator().buffer(capacity: 4096)
                out.expectations = []
                out.scheduled = false
            }
            return (out.filled + [out.buffer], out.expectations)
        }
        guard let context else {
            // The channel went between the request and this write: what was drained fails as the rest did.
            fail(PartdError(code: .connectionFailed, message: "the connection to the server was lost"), also: expectations)
            return
        }
        if !expectations.isEmpty {
            // One clock read per write, not per request.
            let deadline = requestTimeout.map { NIODeadline.now() + $0 } ?? .distantFuture
            for expectation in expectations { waiting.append(Waiting(expectation: expectation, deadline: deadline)) }
            if requestTimeout != nil, timer == nil { armTimer(at: deadline, on: context.eventLoop) }
        }
        for buffer in buffers.dropLast() { context.write(wrapOutboundOut(buffer), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(buffers[buffers.count - 1]), promise: nil)
    }

    private func armTimer(at deadline: NIODeadline, on loop: any EventLoop) {
        timer = loop.scheduleTask(deadline: deadline) { self.timerFired() }
    }

    /// Fails every unanswered request and closes the connection if the oldest is past its deadline; otherwise
    /// waits for the oldest's deadline.
    private func timerFired() {
        timer = nil
        guard let context, let oldest = waiting.first, let requestTimeout else { return }
        guard oldest.deadline <= .now() else {
            armTimer(at: oldest.deadline, on: context.eventLoop)
            return
        }
        let nanoseconds = requestTimeout.nanoseconds
        let seconds = nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)" : "\(Double(nanoseconds) / 1e9)"
        let error = PartdError(code: .connectionFailed, message: "the server at \(address) did not answer within \(seconds) seconds")
        // Recorded before the close, so the close's own failure (channelInactive) reports this one, and the
        // channel is inactive before any waiting caller wakes: its next call reconnects.
        outgoing.withLock { $0.failure = $0.failure ?? error }
        context.close(promise: nil)
        fail(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let expectation = waiting.popFirst()?.expectation else {
            if frame.kind == .error, let error = try? Wire.readError(&frame.body) {
                fail(PartdError(code: error.code, message: "the server closed the connection: \(error.message)"))
            } else {
                fail(Wire.violation("an answer arrived for no request"))
            }
            context.close(promise: nil)
            return
        }
        let result: Result<ByteBuffer, PartdError>
        switch frame.kind {
        case .ok: result = .success(frame.body)
        case .error: result = .failure((try? Wire.readError(&frame.body)) ?? Wire.violation("an unreadable error frame"))
        default: result = .failure(Wire.violation("an answer of kind \(frame.kind)"))
        }
        switch expectation {
        case .answer(let promise): promise.completeWith(result.mapError { $0 as any Error })
        case .pipelined(let bytes):
            pipeline.withLock { state in
                state.inFlightBytes -= bytes
                if case .failure(let error) = result, state.pendingError == nil { state.pendingError = error }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Our frame decoder throws `PartdError`s (protocol violations); anything else is the transport
        // failing (a reset or broken pipe when the server went away), so it is a lost connection.
        fail((error as? PartdError) ?? PartdError(code: .connectionFailed, message: "the connection to the server failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        fail(PartdError(code: .connectionFailed, message: "the connection to the server was lost"))
        context.fireChannelInactive()
    }

    /// Fails every request not yet answered (and `drained`, taken for a write that cannot happen), and all later
    /// ones, with the connection's first failure.
    private func fail(_ error: PartdError, also drained: [Expectation] = []) {
        let (error, queued) = outgoing.withLock { out -> (PartdError, [Expectation]) in
            let first = out.failure ?? error
            out.failure = first
            defer { out.expectations = [] }
            return (first, out.expectations)
        }
        for expectation in waiting.map(\.expectation) + queued + drained {
            switch expectation {
            case .answer(let promise): promise.fail(error)
            case .pipelined(let bytes):
                // In one step, so a flush that finds nothing unanswered finds the failure too.
                pipeline.withLock { state in
                    state.inFlightBytes -= bytes
                    state.pendingError = state.pendingError ?? error
                }
            }
        }
        waiting.removeAll()
    }
}
