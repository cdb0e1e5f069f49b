// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Partd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Redis Cluster's key → hash slot function: CRC16 (XMODEM) of the key, or of
/// its hash tag (the bytes between the first `{` and the next `}`, if that is
/// not empty), modulo 16384.
public enum RedisHashSlot {
    public static let count = 16384

    /// The hash slot of `key`.
    public static func of<Bytes: Collection>(_ key: Bytes) -> Int where Bytes.Element == UInt8 {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
        }
        return Int(crc16(bytes[...]) % UInt16(count))
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}

/// One request: commands sent back to back on one connection (a lone command,
/// or `MULTI` … `EXEC`), routed by the hash slot of the key they all touch.
/// Its outcome is the last command's reply.
struct RedisRequest: Sendable {
    var slot: Int
    var commands: [[[UInt8]]]
    /// Bytes the request puts on the wire (to bound what is in flight).
    var byteCount: Int { commands.reduce(0) { $0 + $1.reduce(16) { $0 + $1.count + 16 } } }
}

/// Routes requests to the nodes of a Redis Cluster (or one standalone node):
/// the slot map from `CLUSTER SLOTS`, `MOVED` and `ASK` redirects, retries
/// through failovers, a small connection pool per node, and each node's
/// requests pipelined on its own thread.
final class RedisCluster: Sendable {
    struct Options: Sendable {
        /// Connect, read and write timeout of one connection.
        var timeout: Duration
        var retryTimeout: Duration
        var maxInFlightBytes: Int
        var password: String?
    }

    let seeds: [RedisAddress]
    let options: Options
    private let state: Locked<State>
    /// Held while the slot map is reloaded, so threads that noticed the same stale map wait for one reload.
    private let reloading = Locked(())

    private struct State {
        /// Node index serving each slot; empty in standalone mode.
        var slots: [Int32] = []
        var nodes: [RedisAddress] = []
        var standalone: RedisAddress? = nil
        var pools: [RedisAddress: [RedisConnection]] = [:]
        var generation = 0
    }

    init(seeds: [RedisAddress], options: Options) throws {
        guard !seeds.isEmpty else {
            throw PartdError(code: .invalidArgument, message: "a Redis store needs at least one node address")
        }
        self.seeds = seeds
        self.options = options
        state = Locked(State())
        try refresh(seenGeneration: -1)
    }

    /// Whether the nodes form a cluster (false for one standalone server).
    var isCluster: Bool { state.withLock { $0.standalone == nil } }

    /// The primaries that serve slots (the one node in standalone mode).
    var primaries: [RedisAddress] {
        state.withLock { state in
            if let node = state.standalone { return [node] }
            var seen = Set<Int32>()
            return state.slots.compactMap { index in
                guard index >= 0, seen.insert(index).inserted else { return nil }
                return state.nodes[Int(index)]
            }
        }
    }

    /// The node currently serving `slot`, or `nil` while the slot map names none (a cluster not fully
    /// covered: requests for the slot are retried, reloading the map, as for `CLUSTERDOWN`).
    func node(forSlot slot: Int) -> RedisAddress? {
        state.withLock { state in
            if let node = state.standalone { return node }
            let index = state.slots[slot]
            return index >= 0 ? state.nodes[Int(index)] : nil
        }
    }

    // MARK: - Connections

    func checkout(_ address: RedisAddress) throws -> RedisConnection {
        // Pooled connections the server closed while they were idle (a timeout, CLIENT KILL, a restart) are dropped.
        while let pooled = state.withLock({ $0.pools[address]?.popLast() }) {
            if !pooled.isClosedByPeer { return pooled }
        }
        return try connect(address)
    }

    private func connect(_ address: RedisAddress) throws -> RedisConnection {
        let connection = try RedisConnection(address, timeout: options.timeout)
        if let password = options.password {
            let reply = try connection.call([Array("AUTH".utf8), Array(password.utf8)])
            if case .error(let message) = reply {
                throw PartdError(code: .unauthorized, message: "Redis at \(address) refused the password: \(message)", path: address.url)
            }
        }
        return connection
    }

    func checkin(_ connection: RedisConnection) {
        guard !connection.broken else { return }
        state.withLock { state in
            if state.pools[connection.address, default: []].count < 16 {
                state.pools[connection.address, default: []].append(connection)
            }
        }
    }

    /// Runs `body` with a pooled connection to `address`; if that connection turns out to be lost,
    /// once more on a new one (so `body` must be safe to repeat). A connection `body` throws from is
    /// closed, not pooled: replies it asked for may be unread, and would answer the next user's commands.
    func withConnection<R>(to address: RedisAddress, _ body: (RedisConnection) throws -> R) throws -> R {
        let connection = try checkout(address)
        do {
            let result = try body(connection)
            checkin(connection)
            return result
        } catch where connection.broken {
            let fresh = try connect(address)
            let result = try body(fresh)
            checkin(fresh)
            return result
        }
    }

    // MARK: - Topology

    private var generation: Int { state.withLock { $0.generation } }

    /// Reloads the slot map from the first node that answers, unless another
    /// thread already did since `seenGeneration` (`-1`: reload in any case).
    /// Reloads take turns: threads that noticed the same stale map wait for the
    /// first one's reload and then find the generation moved on.
    func refresh(seenGeneration: Int) throws {
        try reloading.withLock { _ in
            let candidates = state.withLock { state -> [RedisAddress]? in
                guard state.generation == seenGeneration || seenGeneration < 0 else { return nil }
                var list = state.nodes
                for seed in seeds where !list.contains(seed) { list.append(seed) }
                return list
            }
            guard let candidates else { return }
            var lastError: any Error = PartdError(code: .connectionFailed, message: "no Redis node answered")
            for address in candidates {
                do {
                    let reply = try withConnection(to: address) { try $0.call([Array("CLUSTER".utf8), Array("SLOTS".utf8)]) }
                    if case .error(let message) = reply {
                        if message.contains("cluster support disabled") {
                            state.withLock { state in
                                state.standalone = address
                                state.generation += 1
                            }
                            return
                        }
                        lastError = PartdError(
                            code: .connectionFailed, message: "CLUSTER SLOTS at \(address): \(message)", path: address.url)
                        continue
                    }
                    try install(reply, from: address)
                    return
                } catch {
                    lastError = error
                }
            }
            throw lastError
        }
    }

    private func install(_ reply: RedisReply, from source: RedisAddress) throws {
        guard case .array(let ranges) = reply else {
            throw PartdError(code: .protocolViolation, message: "CLUSTER SLOTS at \(source) gave \(reply)", path: source.url)
        }
        var slots = [Int32](repeating: -1, count: RedisHashSlot.count)
        var nodes: [RedisAddress] = []
        for range in ranges {
            guard case .array(let fields) = range, fields.count >= 3,
                case .integer(let first) = fields[0], case .integer(let last) = fields[1],
                case .array(let primary) = fields[2], primary.count >= 2, case .integer(let port) = primary[1],
                first >= 0, last < RedisHashSlot.count, first <= last
            else {
                throw PartdError(code: .protocolViolation, message: "CLUSTER SLOTS at \(source): malformed entry \(range)", path: source.url)
            }
            // The reply is not trusted: a port no TCP connection can use is refused here, not at connect time.
            guard (1...65535).contains(port) else {
                throw PartdError(
                    code: .protocolViolation,
                    message: "CLUSTER SLOTS at \(source) names port \(port), outside 1...65535, for slots \(first)...\(last)",
                    path: source.url)
            }
            var host = primary[0].text ?? ""
            if host.isEmpty || host == "?" { host = source.host }
            let address = RedisAddress(host: host, port: port)
            let index: Int
            if let known = nodes.firstIndex(of: address) {
                index = known
            } else {
                index = nodes.count
                nodes.append(address)
            }
            for slot in first...last { slots[slot] = Int32(index) }
        }
        state.withLock { state in
            state.slots = slots
            state.nodes = nodes
            state.standalone = nil
            state.generation += 1
            // Connections to nodes that left the map are dropped.
            for address in state.pools.keys where !nodes.contains(address) { state.pools[address] = nil }
        }
    }

    // MARK: - Running requests

    /// Runs every request and returns each one's outcome (its last reply), in order.
    ///
    /// Requests are grouped by node and each node's group is pipelined on its
    /// own thread, at most `maxInFlightBytes` unanswered at a time. `MOVED`
    /// reloads the slot map and re-sends; `ASK` re-sends once to the named node
    /// after `ASKING`; `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, a slot the map gives
    /// no node and lost connections are retried until `retryTimeout`. A request
    /// sent on a connection that was then lost may have run: it is retried only if
    /// `idempotent` (safe to run again); one never sent (no connection) always is.
    /// With `waitReplicas > 0`, each node's group ends with `WAIT`; a group whose
    /// `WAIT` is not confirmed by that many replicas is sent again (idempotent
    /// requests only) or fails.
    func run(
        _ requests: [RedisRequest], idempotent: Bool, waitReplicas: Int = 0, waitTimeout: Duration = .seconds(5)
    ) throws -> [RedisReply] {
        var outcomes = [RedisReply?](repeating: nil, count: requests.count)
        var pending = Array(requests.indices)
        var redirects: [Int: (address: RedisAddress, asking: Bool)] = [:]
        let deadline = ContinuousClock.now + options.retryTimeout
        var delay = Duration.milliseconds(50)
        var lastError: (any Error)? = nil

        while !pending.isEmpty {
            let seen = generation
            var groups: [RedisAddress: [Int]] = [:]
            var order: [RedisAddress] = []
            // Requests for a slot no node serves wait for a reloaded map, as after CLUSTERDOWN.
            var unrouted: [Int] = []
            for index in pending {
                guard let address = redirects[index]?.address ?? node(forSlot: requests[index].slot) else {
                    unrouted.append(index)
                    continue
                }
                if groups[address] == nil { order.append(address) }
                groups[address, default: []].append(index)
            }
            if let first = unrouted.first {
                lastError = PartdError(
                    code: .connectionFailed,
                    message: "no Redis Cluster node serves hash slot \(requests[first].slot); the cluster is not fully covered",
                    path: seeds.first?.url)
            }
            let results = Locked([GroupResult](repeating: GroupResult(), count: order.count))
            let currentRedirects = redirects
            let work = order.map { ($0, groups[$0]!) }
            let body: @Sendable (Int) -> Void = { g in
                let result = self.runGroup(
                    work[g].0, work[g].1, requests, currentRedirects, waitReplicas: waitReplicas, waitTimeout: waitTimeout)
                results.withLock { $0[g] = result }
            }
            if order.count == 1 {
                body(0)
            } else if order.count > 1 {
                DispatchQueue.concurrentPerform(iterations: order.count, execute: body)
            }

            var retry = unrouted
            var reload = !unrouted.isEmpty
            redirects = [:]
            for (g, result) in results.withLock({ $0 }).enumerated() {
                for (index, reply) in result.replies { outcomes[index] = reply }
                for (index, target) in result.redirects { redirects[index] = target }
                retry.append(contentsOf: result.retry)
                reload = reload || result.reload
                if let error = result.failure {
                    let group = groups[order[g]]!
                    // Requests refused with a redirect or a retryable error did not run there (they are in `retry`).
                    let refused = Set(result.retry)
                    // The rest without a confirmed outcome; with WAIT, answered writes are not confirmed either,
                    // so the whole group goes again.
                    let unsettled = group.filter { !refused.contains($0) && (outcomes[$0] == nil || waitReplicas > 0) }
                    // Only requests that reached the connection may have run; the others are simply sent again.
                    let sent = Set(group.prefix(result.sent))
                    let uncertain = unsettled.filter { sent.contains($0) }
                    if !idempotent && !uncertain.isEmpty {
                        throw PartdError(
                            code: .connectionFailed,
                            message: "\(error); \(uncertain.count) write(s) to \(order[g]) may or may not have been applied "
                                + "(turn on exactly-once appends to retry them safely)",
                            path: order[g].url)
                    }
                    for index in unsettled { outcomes[index] = nil }
                    retry.append(contentsOf: unsettled)
                    reload = true
                    lastError = error
                }
            }
            pending = Array(Set(retry)).sorted()
            if pending.isEmpty { break }
            guard ContinuousClock.now < deadline else {
                throw lastError.map { error -> any Error in
                    guard let partd = error as? PartdError else { return error }
                    var copy = partd
                    copy.message += " (gave up after retrying for \(options.retryTimeout))"
                    return copy
                } ?? PartdError(
                    code: .connectionFailed,
                    message: "the Redis Cluster did not settle within \(options.retryTimeout): \(pending.count) request(s) still redirected or refused",
                    path: seeds.first?.url)
            }
            if reload || lastError != nil {
                sleepFor(delay)
                delay = min(delay * 2, .milliseconds(500))
            }
            if reload { try? refresh(seenGeneration: seen) }
        }
        return outcomes.map { $0 ?? .null }
    }

    private struct GroupResult: Sendable {
        var replies: [(Int, RedisReply)] = []
        var redirects: [(Int, (address: RedisAddress, asking: Bool))] = []
        var retry: [Int] = []
        var reload = false
        var failure: PartdError? = nil
        /// How many of the group's requests (from its start) were handed to the connection.
        var sent = 0
    }

    private func runGroup(
        _ address: RedisAddress, _ indices: [Int], _ requests: [RedisRequest],
        _ redirects: [Int: (address: RedisAddress, asking: Bool)], waitReplicas: Int, waitTimeout: Duration
    ) -> GroupResult {
        var result = GroupResult()
        let connection: RedisConnection
        do {
            connection = try checkout(address)
        } catch {
            result.failure = error as? PartdError ?? PartdError(code: .connectionFailed, message: "\(error)", path: address.url)
            return result
        }
        defer { checkin(connection) }
        do {
            var start = 0
            while start < indices.count {
                // Send a window of requests, then read their replies.
                var end = start
                var bytes = 0
                while end < indices.count && (end == start || bytes < options.maxInFlightBytes) {
                    let index = indices[end]
                    result.sent = end + 1
                    // ASKING admits the next command to a slot being imported, and its flag lasts through
                    // MULTI … EXEC: it goes once, before the first command. (Inside MULTI it would be queued,
                    // and EXEC would answer it too.)
                    if redirects[index]?.asking == true { try connection.send([Array("ASKING".utf8)]) }
                    for command in requests[index].commands { try connection.send(command) }
                    bytes += requests[index].byteCount
                    end += 1
                }
                for index in indices[start..<end] {
                    if redirects[index]?.asking == true { _ = try connection.reply() }
                    var replies: [RedisReply] = []
                    for _ in requests[index].commands { replies.append(try connection.reply()) }
                    classify(index, replies, from: address, into: &result)
                }
                start = end
            }
            if waitReplicas > 0 {
                let reply = try connection.call([
                    Array("WAIT".utf8), Array(String(waitReplicas).utf8), Array(String(waitTimeout.wholeMilliseconds).utf8),
                ])
                if case .integer(let acknowledged) = reply, acknowledged >= waitReplicas {
                    return result
                }
                result.failure = PartdError(
                    code: .connectionFailed,
                    message: "Redis at \(address) confirmed the writes on \(reply) of \(waitReplicas) replica(s) within \(waitTimeout)",
                    path: address.url)
            }
        } catch {
            result.failure = error as? PartdError ?? PartdError(code: .connectionFailed, message: "\(error)", path: address.url)
        }
        return result
    }

    /// Sorts one request's replies (from `source`) into an outcome, a redirect or a retry.
    private func classify(_ index: Int, _ replies: [RedisReply], from source: RedisAddress, into result: inout GroupResult) {
        for reply in replies {
            guard case .error(let message) = reply else { continue }
            let words = message.split(separator: " ")
            switch words.first {
            case "MOVED", "ASK":
                if words.count >= 3, let address = Self.redirectTarget(words[2], from: source) {
                    result.redirects.append((index, (address, words.first == "ASK")))
                    if words.first == "MOVED" { result.reload = true }
                    result.retry.append(index)
                    return
                }
            case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY":
                result.reload = result.reload || words.first != "TRYAGAIN"
                result.retry.append(index)
                return
            default:
                continue
            }
        }
        result.replies.append((index, replies.last ?? .null))
    }

    /// The node a `MOVED` or `ASK` error names: `host:port`, where Redis writes an IPv6 host without
    /// brackets, and an empty host or `?` when it does not know the node's endpoint (the client is to use
    /// the host it sent the command to, as `CLUSTER SLOTS` entries are read).
    static func redirectTarget(_ text: Substring, from source: RedisAddress) -> RedisAddress? {
        if text.hasPrefix("[") { return try? RedisAddress(parsing: String(text)) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        let host = text[..<colon]
        return RedisAddress(host: host.isEmpty || host == "?" ? source.host : String(host), port: port)
    }

    /// Runs `body` on every primary (the `SCAN` sweeps of `keys` and `drop`), in parallel, and returns
    /// each one's result. A primary that cannot be reached is retried as requests are: the slot map is
    /// reloaded, with back-off, until `retryTimeout`, so after a failover its successor is swept instead.
    /// Other errors are thrown at once.
    func onEveryPrimary<R: Sendable>(_ body: @Sendable (RedisConnection) throws -> R) throws -> [R] {
        let deadline = ContinuousClock.now + options.retryTimeout
        var delay = Duration.milliseconds(50)
        var swept: [(node: RedisAddress, result: R)] = []
        while true {
            let seen = generation
            let nodes = primaries.filter { node in !swept.contains { $0.node == node } }
            let results = Locked([Result<R, any Error>?](repeating: nil, count: nodes.count))
            DispatchQueue.concurrentPerform(iterations: nodes.count) { i in
                let outcome = Result { try self.withConnection(to: nodes[i], body) }
                results.withLock { $0[i] = outcome }
            }
            var failure: PartdError? = nil
            for (node, outcome) in zip(nodes, results.withLock { $0 }) {
                switch outcome! {
                case .success(let result): swept.append((node, result))
                case .failure(let error as PartdError) where error.code == .connectionFailed: failure = error
                case .failure(let error): throw error
                }
            }
            guard var failure else { return swept.map(\.result) }
            guard ContinuousClock.now < deadline else {
                failure.message += " (gave up after retrying for \(options.retryTimeout))"
                throw failure
            }
            sleepFor(delay)
            delay = min(delay * 2, .milliseconds(500))
            try? refresh(seenGeneration: seen)
        }
    }
}

private func sleepFor(_ duration: Duration) {
    _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .milliseconds(duration.wholeMilliseconds))
}
