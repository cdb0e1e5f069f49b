// SPDX-License-Identifier: Apache-2.0

import Partd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A ``ByteStore`` on Redis Cluster (or one standalone Redis server), so many
/// hosts can append to the same partitions.
///
/// Each store key is one Redis list under the store's namespace: an append
/// `RPUSH`es the value as one element, `get` joins the elements `LRANGE`
/// returns, `delete` is `DEL`, `keys` and `drop` `SCAN` the namespace on every
/// primary. Several stores share a cluster by using different namespaces; `drop`
/// removes only its own keys. The layout is in `docs/format.md` §9.
///
/// ```swift
/// let store = try RedisStore(nodes: ["127.0.0.1:7100"], configuration: .init(namespace: "job-42"))
/// try store.append(["x": Array("Hello".utf8)])
/// try store.get("x")                           // "Hello"
/// let typed = TableStore(over: CompressedStore(.lz4, over: store))  // every layer stacks on it
/// ```
///
/// ## Guarantees
/// - Each batch entry lands as one element (values over
///   ``Configuration/maxElementBytes`` as several elements in one `MULTI`/`EXEC`),
///   so it is never interleaved with another writer's bytes. Entries of one
///   batch go to different nodes in parallel; a batch is not atomic across keys.
/// - With ``Configuration/exactlyOnceAppends`` (the default) each entry carries
///   a unique id, recorded with the element by one server-side script, so an
///   append re-sent after a lost connection or a failover is applied once.
/// - With ``Configuration/waitForReplicas`` `n > 0`, `append` returns only after
///   `n` replicas of every node written to confirmed the writes (`WAIT`); see
///   `docs/scaling.md` for what survives a failover.
public final class RedisStore: ByteStore {
    public struct Configuration: Sendable {
        /// The prefix of every Redis key of this store: `[A-Za-z0-9_.-]`, 1–64 characters.
        public var namespace: String
        /// Record a unique id with each append so retries never duplicate data (default on).
        public var exactlyOnceAppends: Bool
        /// Replicas that must confirm each batch before `append` returns (0: do not wait).
        public var waitForReplicas: Int
        /// How long one `WAIT` may take.
        public var replicaTimeout: Duration
        /// Values larger than this are stored as several list elements (Redis caps one at 512 MB).
        public var maxElementBytes: Int
        /// The most request bytes sent to one node before reading its replies.
        public var maxInFlightBytes: Int
        /// How long redirects, a cluster that is down and lost connections are retried.
        public var retryTimeout: Duration
        /// Connect, read and write timeout of one connection.
        public var ioTimeout: Duration
        /// Sent with `AUTH` on every new connection, if set.
        public var password: String?

        public init(
            namespace: String = "partd",
            exactlyOnceAppends: Bool = true,
            waitForReplicas: Int = 0,
            replicaTimeout: Duration = .seconds(5),
            maxElementBytes: Int = 256 << 20,
            maxInFlightBytes: Int = 32 << 20,
            retryTimeout: Duration = .seconds(30),
            ioTimeout: Duration = .seconds(60),
            password: String? = nil
        ) {
            self.namespace = namespace
            self.exactlyOnceAppends = exactlyOnceAppends
            self.waitForReplicas = waitForReplicas
            self.replicaTimeout = replicaTimeout
            self.maxElementBytes = maxElementBytes
            self.maxInFlightBytes = maxInFlightBytes
            self.retryTimeout = retryTimeout
            self.ioTimeout = ioTimeout
            self.password = password
        }
    }

    public let configuration: Configuration
    let cluster: RedisCluster
    private let clientID: String
    private let state = Locked(State())
    /// Held by `setOnce` from its check to its write, so concurrent calls for a key write once.
    private let settingOnce = Locked(())

    private struct State {
        var nextAppend: UInt64 = 0
        var setKeys: Set<PartdKey> = []
    }

    /// Connects to the nodes (any one is enough; each `host:port`) and loads the cluster's slot map.
    ///
    /// - Throws: ``PartdError/Code/connectionFailed`` if no node answers,
    ///   ``PartdError/Code/invalidArgument`` for a bad address or namespace.
    public init(nodes: [String], configuration: Configuration = Configuration()) throws {
        let namespace = configuration.namespace
        guard (1...64).contains(namespace.utf8.count), namespace.utf8.allSatisfy(Self.isNamespaceByte) else {
            throw PartdError(
                code: .invalidArgument,
                message: "Redis store namespace \"\(namespace)\" must be 1–64 characters of A-Z a-z 0-9 _ . -")
        }
        guard configuration.maxElementBytes > 0, configuration.maxElementBytes <= 512 << 20 else {
            throw PartdError(code: .invalidArgument, message: "maxElementBytes must be in 1...512 MiB, not \(configuration.maxElementBytes)")
        }
        self.configuration = configuration
        cluster = try RedisCluster(
            seeds: nodes.map(RedisAddress.init(parsing:)),
            options: RedisCluster.Options(
                timeout: configuration.ioTimeout,
                retryTimeout: configuration.retryTimeout, maxInFlightBytes: configuration.maxInFlightBytes,
                password: configuration.password))
        var generator = SystemRandomNumberGenerator()
        clientID = String(generator.next() as UInt64, radix: 36) + "." + String(getpid(), radix: 36)
    }

    private static func isNamespaceByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
    }

    /// Whether the nodes form a Redis Cluster (false for one standalone server).
    public var isCluster: Bool { cluster.isCluster }

    /// The primaries currently serving this store's slots.
    public var primaries: [RedisAddress] { cluster.primaries }

    // MARK: - Key layout

    /// The Redis key holding `key`'s list: `namespace:{name}`, where `name` is the
    /// key's ``KeyFileName`` spelling (which never contains braces), so the hash
    /// slot is that of the key alone.
    func redisKey(_ key: PartdKey) throws -> [UInt8] {
        Array("\(configuration.namespace):{\(try KeyFileName.encode(key))}".utf8)
    }

    /// The set of append ids of `key` (same hash tag, so same slot).
    private func idsKey(_ dataKey: [UInt8]) -> [UInt8] { dataKey + Array(":ids".utf8) }

    private func slot(_ dataKey: [UInt8]) -> Int { RedisHashSlot.of(dataKey) }

    /// The key a Redis key of this namespace stands for (nil for other keys).
    private func storeKey(_ redisKey: [UInt8]) -> PartdKey? {
        let prefix = Array("\(configuration.namespace):{".utf8)
        guard redisKey.count > prefix.count + 1, redisKey.starts(with: prefix), redisKey.last == UInt8(ascii: "}") else {
            return nil
        }
        return KeyFileName.decode(String(decoding: redisKey[prefix.count..<(redisKey.count - 1)], as: UTF8.self))
    }

    // MARK: - ByteStore

    public func validate(_ key: PartdKey) throws {
        _ = try KeyFileName.encode(key)
    }

    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        guard !batch.isEmpty else { return }
        let first = state.withLock { state in
            defer { state.nextAppend += UInt64(batch.count) }
            return state.nextAppend
        }
        var requests: [RedisRequest] = []
        requests.reserveCapacity(batch.count)
        for (offset, entry) in batch.enumerated() {
            let dataKey = try redisKey(entry.key)
            let id = "\(clientID).\(first + UInt64(offset))"
            requests.append(appendRequest(dataKey, entry.value, id: id))
        }
        let outcomes = try cluster.run(
            requests, idempotent: configuration.exactlyOnceAppends,
            waitReplicas: configuration.waitForReplicas, waitTimeout: configuration.replicaTimeout)
        for (entry, outcome) in zip(batch, outcomes) { try check(outcome, "append to", entry.key, transaction: true) }
    }

    private static let appendOnce = Array("""
        if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return -1 end
        return redis.call('RPUSH', KEYS[1], ARGV[2])
        """.utf8)

    private func appendRequest(_ dataKey: [UInt8], _ value: [UInt8], id: String) -> RedisRequest {
        let parts = split(value)
        var commands: [[[UInt8]]] = []
        for (index, part) in parts.enumerated() {
            if configuration.exactlyOnceAppends {
                let partID = parts.count == 1 ? id : "\(id)/\(index)"
                commands.append([
                    Array("EVAL".utf8), Self.appendOnce, Array("2".utf8), dataKey, idsKey(dataKey), Array(partID.utf8), part,
                ])
            } else {
                commands.append([Array("RPUSH".utf8), dataKey, part])
            }
        }
        if commands.count > 1 {
            commands = [[Array("MULTI".utf8)]] + commands + [[Array("EXEC".utf8)]]
        }
        return RedisRequest(slot: slot(dataKey), commands: commands)
    }

    /// `value` in pieces of at most `maxElementBytes` (one piece, possibly empty, for small values).
    private func split(_ value: [UInt8]) -> [[UInt8]] {
        let limit = configuration.maxElementBytes
        guard value.count > limit else { return [value] }
        return stride(from: 0, to: value.count, by: limit).map { Array(value[$0..<min($0 + limit, value.count)]) }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        guard !keys.isEmpty else { return [] }
        let requests = try keys.map { key in
            let dataKey = try redisKey(key)
            return RedisRequest(
                slot: slot(dataKey), commands: [[Array("LRANGE".utf8), dataKey, Array("0".utf8), Array("-1".utf8)]])
        }
        let outcomes = try cluster.run(requests, idempotent: true)
        return try zip(keys, outcomes).map { key, outcome in
            try check(outcome, "get", key)
            guard case .array(let elements) = outcome else { throw unexpected(outcome, "LRANGE", key) }
            if elements.count == 1, case .string(let only) = elements[0] { return only }
            var joined: [UInt8] = []
            joined.reserveCapacity(elements.reduce(0) { total, element in
                if case .string(let bytes) = element { return total + bytes.count }
                return total
            })
            for element in elements {
                guard case .string(let bytes) = element else {
                    throw PartdError(code: .corruptData, message: "Redis list of key \(key) holds \(element), not bytes", key: key)
                }
                joined.append(contentsOf: bytes)
            }
            return joined
        }
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        let dataKey = try redisKey(key)
        if state.withLock({ $0.setKeys.contains(key) }) { return false }
        var commands: [[[UInt8]]] = [[Array("MULTI".utf8)], [Array("DEL".utf8), dataKey, idsKey(dataKey)]]
        for part in split(value) { commands.append([Array("RPUSH".utf8), dataKey, part]) }
        commands.append([Array("EXEC".utf8)])
        return try settingOnce.withLock { _ in
            // Checked again: another thread may have set the key while this one waited. A call that returns
            // false therefore finds the first call's value written.
            if state.withLock({ $0.setKeys.contains(key) }) { return false }
            let outcome = try cluster.run(
                [RedisRequest(slot: slot(dataKey), commands: commands)], idempotent: true,
                waitReplicas: configuration.waitForReplicas, waitTimeout: configuration.replicaTimeout)[0]
            try check(outcome, "set", key, transaction: true)
            state.withLock { _ = $0.setKeys.insert(key) }
            return true
        }
    }

    public func delete(_ keys: [PartdKey]) throws {
        guard !keys.isEmpty else { return }
        let requests = try keys.map { key in
            let dataKey = try redisKey(key)
            return RedisRequest(slot: slot(dataKey), commands: [[Array("DEL".utf8), dataKey, idsKey(dataKey)]])
        }
        let outcomes = try cluster.run(requests, idempotent: true)
        for (key, outcome) in zip(keys, outcomes) { try check(outcome, "delete", key) }
        state.withLock { state in
            for key in keys { state.setKeys.remove(key) }
        }
    }

    public func drop() throws {
        let pattern = Array("\(configuration.namespace):{*".utf8)
        let failures = try cluster.onEveryPrimary { connection -> String? in
            var failure: String? = nil
            for batch in try Self.scan(connection, pattern) where !batch.isEmpty {
                for key in batch { try connection.send([Array("UNLINK".utf8), key]) }
                // Every reply is read, even after a refusal: one left unread would answer the pooled
                // connection's next command.
                for _ in batch {
                    if case .error(let message) = try connection.reply(), failure == nil {
                        failure = "\(connection.address): \(message)"
                    }
                }
            }
            return failure
        }
        if let failure = failures.compactMap({ $0 }).first {
            throw PartdError(code: .io, message: "dropping Redis namespace \(configuration.namespace) failed at \(failure)")
        }
        state.withLock { $0.setKeys.removeAll() }
    }

    public func keys() throws -> [PartdKey] {
        let pattern = Array("\(configuration.namespace):{*}".utf8)
        let found = try cluster.onEveryPrimary { connection in try Self.scan(connection, pattern).flatMap { $0 } }
        return Set(found.flatMap { $0 }.compactMap(storeKey)).sorted()
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        let dataKey = try redisKey(key)
        let outcome = try cluster.run(
            [RedisRequest(slot: slot(dataKey), commands: [[Array("EXISTS".utf8), dataKey]])], idempotent: true)[0]
        try check(outcome, "look up", key)
        guard case .integer(let count) = outcome else { throw unexpected(outcome, "EXISTS", key) }
        return count > 0
    }

    private static let sumLengths = Array("""
        local n = 0
        for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do n = n + #v end
        return n
        """.utf8)

    public func byteCount(of key: PartdKey) throws -> Int {
        let dataKey = try redisKey(key)
        let outcome = try cluster.run(
            [RedisRequest(slot: slot(dataKey), commands: [[Array("EVAL".utf8), Self.sumLengths, Array("1".utf8), dataKey]])],
            idempotent: true)[0]
        try check(outcome, "measure", key)
        guard case .integer(let count) = outcome else { throw unexpected(outcome, "the byte count script", key) }
        return count
    }

    /// Sends one command to one node and returns its reply (benchmarks and tests
    /// read `INFO` and `CLUSTER NODES` with it).
    package func call(_ address: RedisAddress, _ arguments: [String]) throws -> RedisReply {
        try cluster.withConnection(to: address) { try $0.call(arguments.map { Array($0.utf8) }) }
    }

    // MARK: - Helpers

    /// Every key matching `pattern` on one node, in `SCAN` pages.
    static func scan(_ connection: RedisConnection, _ pattern: [UInt8]) throws -> [[[UInt8]]] {
        var cursor: [UInt8] = Array("0".utf8)
        var pages: [[[UInt8]]] = []
        repeat {
            let reply = try connection.call([Array("SCAN".utf8), cursor, Array("MATCH".utf8), pattern, Array("COUNT".utf8), Array("1000".utf8)])
            guard case .array(let parts) = reply, parts.count == 2, case .string(let next) = parts[0], case .array(let keys) = parts[1] else {
                throw PartdError(code: .protocolViolation, message: "SCAN at \(connection.address) gave \(reply)", path: connection.address.url)
            }
            pages.append(keys.compactMap { if case .string(let key) = $0 { return key } else { return nil } })
            cursor = next
        } while cursor != Array("0".utf8)
        return pages
    }

    /// Throws the error `outcome` carries; for a `transaction` (`EXEC`), also one of its commands' errors.
    private func check(_ outcome: RedisReply, _ operation: String, _ key: PartdKey, transaction: Bool = false) throws {
        if transaction, case .array(let replies) = outcome {
            for reply in replies { try check(reply, operation, key) }
        }
        if case .error(let message) = outcome {
            let code: PartdError.Code =
                message.hasPrefix("OOM") ? .diskFull : message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS") ? .unauthorized : .io
            throw PartdError(code: code, message: "Redis refused to \(operation) key \(key): \(message)", key: key, path: seedURL)
        }
    }

    /// The error for a reply of the wrong shape (a server that is not Redis, or replies out of step).
    private func unexpected(_ reply: RedisReply, _ command: String, _ key: PartdKey) -> PartdError {
        PartdError(
            code: .protocolViolation, message: "Redis answered \(command) for key \(key) with \(reply)", key: key, path: seedURL)
    }

    private var seedURL: String? { cluster.seeds.first?.url }
}
