// SPDX-License-Identifier: Apache-2.0

import Logging
import NIOCore
import NIOPosix
import Partd

#if canImport(Glibc)
import Glibc
#endif

/// Serves one ``ByteStore`` to many clients (``RemoteStore``) over a Unix
/// domain socket and/or TCP (partd's ZeroMQ `Server`).
///
/// ```swift
/// let server = try StoreServer.start(
///     serving: SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .gigabytes(2)),
///     on: [.unixSocket("/tmp/partd.sock")])
/// // … clients connect with RemoteStore(connectingTo: .unixSocket("/tmp/partd.sock"))
/// try server.shutdown()
/// ```
///
/// Each request is one store operation, applied only once its frame has
/// arrived whole (a client that disconnects mid-frame leaves nothing behind),
/// in the order the connection sent it; responses go back in the same order.
/// Requests run on the connection's event-loop thread, one connection per
/// thread at a time, so a request is atomic as the store's own operations are.
/// A malformed, oversized or unauthorised connection gets an error frame and
/// is closed; the others are not disturbed. An answer that would be larger than
/// ``Configuration/maxFrameBytes`` (a get of large values, a long key list) is
/// answered with ``PartdError/Code/invalidArgument`` instead, and the connection
/// stays open.
///
/// A server runs until ``shutdown(flush:)``: its event-loop threads hold it, so
/// dropping the last reference to it does not stop it (as with NIO's event-loop
/// groups). Call `shutdown` once, when the clients are done.
public final class StoreServer: Sendable {
    /// Where the server listens.
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        /// A Unix domain socket at this path (made mode 0600; an existing socket file is replaced).
        case unixSocket(String)
        /// TCP on `host` (loopback unless told otherwise) and `port` (0: any free port).
        case tcp(host: String = "127.0.0.1", port: Int)

        public var description: String {
            switch self {
            case .unixSocket(let path): return "unix:\(path)"
            case .tcp(let host, let port): return "tcp:\(host):\(port)"
            }
        }
    }

    public struct Configuration: Sendable {
        /// A shared secret clients must present in their handshake (`nil`: none).
        public var token: String?
        /// The largest frame accepted or sent (default 1 GiB, at least 1 KiB, at most
        /// ``StoreServer/largestFrameBytes``): a larger request closes the connection; a request whose answer
        /// would be larger, or larger than the client's limit (which the client announces in its handshake), is
        /// answered with ``PartdError/Code/invalidArgument`` naming the size (and the largest value's key), and
        /// the connection stays open. The server announces this limit in its answer to the handshake, so
        /// clients refuse larger requests before sending them.
        public var maxFrameBytes: Int
        /// Event-loop threads (default: one per core).
        public var threads: Int
        /// Called (on an event-loop thread; it must not block) when a client asks the server to
        /// shut down (`RemoteStore.requestServerShutdown()`, partd's `close_server`); `nil`
        /// (the default) refuses such requests.
        public var onShutdownRequest: (@Sendable () -> Void)?
        /// Told the description of the event-loop group each start makes, before it binds (tests use it to find
        /// the group's threads, `NIO-ELT-<group>-#<loop>`, among other servers').
        package var madeEventLoopGroup: (@Sendable (String) -> Void)?

        public init(
            token: String? = nil, maxFrameBytes: Int = 1 << 30, threads: Int = System.coreCount,
            onShutdownRequest: (@Sendable () -> Void)? = nil
        ) {
            self.token = token
            self.maxFrameBytes = max(Wire.smallestFrameLimit, min(maxFrameBytes, StoreServer.largestFrameBytes))
            self.threads = max(1, threads)
            self.onShutdownRequest = onShutdownRequest
        }
    }

    /// The highest frame limit either side may have: 4 GiB less 64 MiB, so a frame and what is buffered with it
    /// stay within the 4 GiB a NIO buffer can index.
    public static let largestFrameBytes = (1 << 32) - (64 << 20)

    /// The store being served.
    public let store: any ByteStore
    public let configuration: Configuration
    /// The addresses bound (TCP ports resolved).
    public let addresses: [Address]
    private let group: MultiThreadedEventLoopGroup
    private let listeners: [any Channel]
    private let connections: ConnectionSet
    private let reserve: ReserveDescriptor
    private let logger: Logger
    /// Set by the first ``shutdown(flush:)``: the event loops it stops can take no more work.
    private let stopped = Locked(false)

    /// Starts serving `store` on every address of `addresses`.
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for no addresses;
    ///   ``PartdError/Code/connectionFailed`` if an address cannot be bound.
    public static func start(
        serving store: any ByteStore, on addresses: [Address],
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "partd.server")
    ) throws -> StoreServer {
        guard !addresses.isEmpty else {
            throw PartdError(code: .invalidArgument, message: "a server needs at least one address to listen on")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        configuration.madeEventLoopGroup?("\(group)")
        let connections = ConnectionSet()
        let reserve = ReserveDescriptor()
        let bootstrap = ServerBootstrap(group: group)
            // Out of descriptors (EMFILE, ENFILE), accept fails and leaves the client in the backlog, so the listening
            // socket stays readable, and NIO (level-triggered, its read still pending) retried at once, forever: 100% of
            // a core until a descriptor was freed. NIO's AcceptBackoffHandler holds back only new reads, not the pending
            // one, so the listener's reads are switched off (`autoRead`, which takes it off the poller) for 100 ms
            // after a failed accept instead. The server also keeps one spare descriptor: a failed accept frees it, so
            // the next accept takes the oldest waiting client, which is refused with `tooManyOpenFiles` (an error frame
            // as soon as it is accepted) and closed.
            .serverChannelInitializer { [logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPause(reserve: reserve, logger: logger))
                }
            }
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Accepted with the spare descriptor: refused at once. The spare is taken back when a connection
                    // closes (this one, or any other if taking it back failed then).
                    let refusal = reserve.takeRefusal()
                    channel.closeFuture.whenComplete { _ in reserve.restore() }
                    connections.insert(channel)
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(WireFrameDecoder(maxFrameBytes: configuration.maxFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(
                        ServerConnectionHandler(
                            store: store, token: configuration.token, maxFrameBytes: configuration.maxFrameBytes,
                            onShutdownRequest: configuration.onShutdownRequest, refusal: refusal, logger: logger))
                    channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                }
            }
        var listeners: [any Channel] = []
        var bound: [Address] = []
        do {
            for address in addresses {
                switch address {
                case .unixSocket(let path):
                    let channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                    chmod(path, 0o600)
                    listeners.append(channel)
                    bound.append(address)
                case .tcp(let host, let port):
                    let channel = try bootstrap.bind(host: host, port: port).wait()
                    listeners.append(channel)
                    bound.append(.tcp(host: host, port: channel.localAddress?.port ?? port))
                }
            }
        } catch {
            for listener in listeners { try? listener.close().wait() }
            try? group.syncShutdownGracefully()
            reserve.close()
            throw PartdError(code: .connectionFailed, message: "cannot listen on \(addresses): \(error)")
        }
        logger.info("serving", metadata: ["addresses": "\(bound)"])
        return StoreServer(store: store, configuration: configuration, addresses: bound, group: group,
                           listeners: listeners, connections: connections, reserve: reserve, logger: logger)
    }

    private init(
        store: any ByteStore, configuration: Configuration, addresses: [Address], group: MultiThreadedEventLoopGroup,
        listeners: [any Channel], connections: ConnectionSet, reserve: ReserveDescriptor, logger: Logger
    ) {
        self.reserve = reserve
        self.store = store
        self.configuration = configuration
        self.addresses = addresses
        self.group = group
        self.listeners = listeners
        self.connections = connections
        self.logger = logger
    }

    /// The number of clients connected now.
    public var connectionCount: Int { connections.count }

    /// Stops accepting clients, lets every connection finish the requests it
    /// has received, closes the connections, runs `flush` (for example the
    /// spilling store's `flush()`), and stops the threads, also when `flush` throws (its error is thrown
    /// after). Only the first call does this; later calls return at once.
    public func shutdown(flush: () throws -> Void = {}) throws {
        guard !stopped.withLock({ stopped in defer { stopped = true }; return stopped }) else { return }
        for listener in listeners { try? listener.close().wait() }
        for channel in connections.all {
            // Queued behind whatever the channel's event loop is doing: in-flight requests finish first.
            try? channel.eventLoop.submit { channel.close(promise: nil) }.wait()
        }
        for address in addresses {
            if case .unixSocket(let path) = address { unlink(path) }
        }
        let flushed = Result { try flush() }
        defer { reserve.close() }
        try group.syncShutdownGracefully()
        logger.info("stopped")
        try flushed.get()
    }
}

/// The server's spare descriptor (of `/dev/null`): let go when an accept fails for want of descriptors, so that
/// the next accept takes the client waiting in the backlog, which is then refused; taken back when a connection
/// closes.
final class ReserveDescriptor: Sendable {
    private struct State {
        var fd: Int32?
        /// The spare was let go: the next connection accepted is refused.
        var released = false
        var closed = false
    }

    private let state = Locked(State())

    init() {
        state.withLock { $0.fd = try? Posix.open("/dev/null", flags: O_RDONLY) }
    }

    /// Frees the spare descriptor (if held), so that the next accept can succeed.
    func release() {
        state.withLock { state in
            guard let fd = state.fd else {
                // Not taken back yet (descriptors were short): try again, so that a later failure has one to free.
                if !state.released && !state.closed { state.fd = try? Posix.open("/dev/null", flags: O_RDONLY) }
                return
            }
            Posix.close(fd)
            state.fd = nil
            state.released = true
        }
    }

    /// The error to refuse a connection just accepted with, if it took the spare descriptor.
    func takeRefusal() -> PartdError? {
        state.withLock { state in
            guard state.released else { return nil }
            state.released = false
            return PartdError(
                code: .tooManyOpenFiles,
                message: "the server is out of file descriptors and refuses new clients until some are free; "
                    + "raise its open-file limit (ulimit -n) or connect fewer clients")
        }
    }

    /// Takes the spare descriptor back if it is not held (after a connection closed, freeing one).
    func restore() {
        state.withLock { state in
            guard state.fd == nil, !state.released, !state.closed else { return }
            state.fd = try? Posix.open("/dev/null", flags: O_RDONLY)
        }
    }

    func close() {
        state.withLock { state in
            if let fd = state.fd { Posix.close(fd) }
            state.fd = nil
            state.closed = true
        }
    }
}

/// On a listener's pipeline: after a failed accept, switches the listener's reads off for 100 ms (taking it off
/// the poller, which a pending read kept it on, so no core spins while clients wait), frees the spare descriptor
/// when descriptors ran out, and logs the failure once per 10 s, not at every try.
private final class AcceptPause: ChannelInboundHandler {
    typealias InboundIn = any Channel

    static let pause: TimeAmount = .milliseconds(100)
    static let logEvery: TimeAmount = .seconds(10)

    private let reserve: ReserveDescriptor
    private let logger: Logger
    private var lastLogged: NIODeadline?
    private var resume: Scheduled<Void>?

    init(reserve: ReserveDescriptor, logger: Logger) {
        self.reserve = reserve
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Only a want of resources pauses accepting; others (a client gone before its accept, ECONNABORTED) go on
        // as before, and NIO accepts the next client at once.
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        if error.errnoCode == EMFILE || error.errnoCode == ENFILE { reserve.release() }
        let now = NIODeadline.now()
        if lastLogged.map({ now - $0 >= Self.logEvery }) ?? true {
            lastLogged = now
            logger.warning(
                "cannot accept clients; refusing them until descriptors are free",
                metadata: ["error": "\(PartdError.system("accept a client", key: nil, path: nil, errno: error.errnoCode))"])
        }
        guard resume == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        let channel = context.channel
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) { [weak self] in
            self?.resume = nil
            try? channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
    }
}

/// The open connections, so shutdown can close them.
private final class ConnectionSet: Sendable {
    private let channels = Locked<[ObjectIdentifier: any Channel]>([:])
    func insert(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = nil } }
    var all: [any Channel] { channels.withLock { Array($0.values) } }
    var count: Int { channels.withLock { $0.count } }
}

/// One client connection: the handshake, then requests in order.
private final class ServerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = WireFrame
    typealias OutboundOut = ByteBuffer

    /// Answers gathered past this many bytes are written at once rather than at the end of the read.
    static let flushBytes = 4 << 20

    let store: any ByteStore
    let token: String?
    let maxFrameBytes: Int
    /// The largest answer: the smaller of the server's limit and the one the client announced.
    var answerLimit: Int
    let onShutdownRequest: (@Sendable () -> Void)?
    var logger: Logger
    var greeted = false
    /// Set once the connection is refused: frames decoded behind the bad one (from the same read) are dropped.
    var refused = false
    var output: ByteBuffer?
    /// The keys of the last append batch, by position: a client usually appends to the same keys in the same
    /// order, so a key whose wire bytes match is this one again rather than a new `PartdKey` (an allocation
    /// per entry, and the store's lookup then matches the key by identity, not by comparing it).
    var recentKeys: [PartdKey] = []

    /// Set for a connection the server cannot keep (accepted with its spare descriptor): sent as an error frame as
    /// soon as it is active, and the connection closed.
    let refusal: PartdError?

    init(
        store: any ByteStore, token: String?, maxFrameBytes: Int, onShutdownRequest: (@Sendable () -> Void)?,
        refusal: PartdError? = nil, logger: Logger
    ) {
        self.refusal = refusal
        self.store = store
        self.token = token
        self.maxFrameBytes = maxFrameBytes
        self.answerLimit = maxFrameBytes
        self.onShutdownRequest = onShutdownRequest
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        logger[metadataKey: "peer"] = "\(context.remoteAddress.map { "\($0)" } ?? "unix")"
        context.fireChannelActive()
        if let refusal {
            // At once, not at the handshake: a client that never sends one must not keep the spare descriptor.
            var out = context.channel.allocator.buffer(capacity: 256)
            refuse(context: context, id: 0, refusal, into: &out, quietly: true)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        var frame = unwrapInboundIn(data)
        // Taken out of `output` (not copied) so that writing to it does not copy the answers gathered so far.
        var out = output.take() ?? context.channel.allocator.buffer(capacity: 256)
        defer { output = out }
        guard greeted else {
            do {
                let hello = try handshake(&frame.body)
                greeted = true
                if let clientLimit = hello.maxFrameBytes { answerLimit = Int(min(UInt64(maxFrameBytes), clientLimit)) }
                Wire.writeFrame(.ok, id: frame.id, into: &out) { [maxFrameBytes] body in
                    body.writeInteger(Wire.version, endianness: .little)
                    body.writeInteger(UInt64(maxFrameBytes), endianness: .little)
                }
            } catch let error as PartdError {
                refuse(context: context, id: frame.id, error, into: &out)
            } catch {
                refuse(context: context, id: frame.id, Wire.violation("\(error)"), into: &out)
            }
            return
        }
        do {
            try serve(frame, into: &out)
        } catch let error as PartdError where error.code == .protocolViolation {
            refuse(context: context, id: frame.id, error, into: &out)
        } catch let error as PartdError {
            // The store refused the request: report it, keep the connection.
            Wire.writeFrame(.error, id: frame.id, into: &out) { [answerLimit] in Wire.writeError(error, limit: answerLimit, into: &$0) }
        } catch {
            Wire.writeFrame(.error, id: frame.id, into: &out) { [answerLimit] in
                Wire.writeError(PartdError(code: .io, message: "\(error)"), limit: answerLimit, into: &$0)
            }
        }
        if !refused, out.readableBytes >= Self.flushBytes {
            // Many answers in one read (large gets): written now, so the buffer stays far below 4 GiB.
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            out = context.channel.allocator.buffer(capacity: 256)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let out = output, out.readableBytes > 0 {
            output = nil
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Decoder errors (oversized or malformed frames) end up here.
        guard !refused else { return }
        var out = output ?? context.channel.allocator.buffer(capacity: 256)
        output = nil
        let partdError = (error as? PartdError) ?? PartdError(code: .protocolViolation, message: "\(error)")
        refuse(context: context, id: 0, partdError, into: &out)
    }

    /// Sends an error frame (after any responses already due) and closes the connection; nothing the client
    /// sent after the refused frame is applied or answered.
    /// Answers `error` and closes the connection. `quietly`: logged at debug level, for the clients refused while
    /// descriptors are short (up to 10 a second; the listener warns of that once per 10 s).
    private func refuse(
        context: ChannelHandlerContext, id: UInt32, _ error: PartdError, into out: inout ByteBuffer, quietly: Bool = false
    ) {
        refused = true
        logger.log(level: quietly ? .debug : .error, "closing connection", metadata: ["error": "\(error)"])
        Wire.writeFrame(.error, id: id, into: &out) { [answerLimit] in Wire.writeError(error, limit: answerLimit, into: &$0) }
        let data = out
        out = context.channel.allocator.buffer(capacity: 0)
        output = nil
        context.writeAndFlush(wrapOutboundOut(data)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }

    private func handshake(_ body: inout ByteBuffer) throws -> WireHello {
        let hello = try WireHello(body)
        let version = hello.version
        guard version == Wire.version else {
            throw PartdError(
                code: .protocolViolation,
                message: "the client speaks wire protocol version \(version); this server speaks version \(Wire.version)")
        }
        if let token, hello.token != token {
            throw PartdError(code: .unauthorized, message: "the server refused the client's token")
        }
        return hello
    }

    private func serve(_ frame: WireFrame, into out: inout ByteBuffer) throws {
        switch try WireRequest(frame, recentKeys: &recentKeys) {
        case .append(let batch):
            try store.append(batch)
            Wire.writeFrame(.ok, id: frame.id, into: &out) { _ in }
        case .get(let keys):
            let values = try store.get(keys)
            try checkAnswer(bodyBytes: values.reduce(4) { $0 + 8 + $1.count }) {
                let largest = values.indices.max { values[$0].count < values[$1].count }
                return (
                    "a get of \(keys.count) key\(keys.count == 1 ? "" : "s")"
                        + (largest.map { " (key \(keys[$0]) holds \(values[$0].count) bytes)" } ?? ""),
                    largest.map { keys[$0] })
            }
            Wire.writeFrame(.ok, id: frame.id, into: &out) { out in
                out.writeInteger(UInt32(values.count), endianness: .little)
                for value in values { Wire.writeBytes(value, into: &out) }
            }
        case .delete(let keys):
            try store.delete(keys)
            Wire.writeFrame(.ok, id: frame.id, into: &out) { _ in }
        case .drop:
            try store.drop()
            Wire.writeFrame(.ok, id: frame.id, into: &out) { _ in }
        case .setOnce(let key, let value):
            let stored = try store.setOnce(key, value)
            Wire.writeFrame(.ok, id: frame.id, into: &out) { $0.writeInteger(UInt8(stored ? 1 : 0)) }
        case .keys:
            let keys = try store.keys()
            try checkAnswer(bodyBytes: Wire.encodedSize(ofKeys: keys)) { ("the list of \(keys.count) keys", nil) }
            Wire.writeFrame(.ok, id: frame.id, into: &out) { Wire.writeKeys(keys, into: &$0) }
        case .contains(let key):
            let found = try store.contains(key)
            Wire.writeFrame(.ok, id: frame.id, into: &out) { $0.writeInteger(UInt8(found ? 1 : 0)) }
        case .byteCount(let key):
            let count = try store.byteCount(of: key)
            Wire.writeFrame(.ok, id: frame.id, into: &out) { $0.writeInteger(UInt64(count), endianness: .little) }
        case .validate(let key):
            try store.validate(key)
            Wire.writeFrame(.ok, id: frame.id, into: &out) { _ in }
        case .sync:
            Wire.writeFrame(.ok, id: frame.id, into: &out) { _ in }
        case .shutdown:
            guard let onShutdownRequest else {
                throw PartdError(code: .invalidArgument, message: "this server does not accept shutdown requests")
            }
            logger.info("a client asked the server to shut down")
            Wire.writeFrame(.ok, id: frame.id, into: &out) { _ in }
            onShutdownRequest()
        }
    }

    /// Throws ``PartdError/Code/invalidArgument`` if an answer with a body of `bodyBytes` would be a frame over
    /// the limit (checked before encoding it: an answer of 4 GiB would trap the server); `what` describes it.
    private func checkAnswer(bodyBytes: Int, _ what: () -> (String, PartdKey?)) throws {
        let length = 5 + bodyBytes
        guard length > answerLimit else { return }
        let (description, key) = what()
        let whose = answerLimit < maxFrameBytes ? "the client's" : "the server's"
        throw PartdError(
            code: .invalidArgument,
            message: "the answer to \(description) would be a frame of \(length) bytes, over \(whose) limit of "
                + "\(answerLimit) bytes", key: key)
    }
}
