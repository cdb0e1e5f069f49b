// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Partd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The barrier of a multi-host shuffle, kept in the same Redis Cluster as the
/// partitions: mappers register, keep a heartbeat while they work and report
/// what they wrote; reducers wait until every mapper has reported before they
/// read a partition, notice a mapper that died, and check each partition's row
/// count against what the mappers reported.
///
/// All of a job's keys share the hash tag `{namespace/job}`, so they live on
/// one node and change together (layout in `docs/format.md` §9):
/// `namespace:job{namespace/job}:started` and `…:done` are hashes from mapper
/// number to a timestamp and the lease's token, and to `rows` then each
/// partition's rows (comma separated); `…:alive:N` is mapper N's heartbeat,
/// holding its lease's token, which expires after ``deadAfter`` unless refreshed.
/// A lease only refreshes and reports while it still holds the mapper: one that
/// stalled past ``deadAfter`` does not take the mapper back from a rerun, nor
/// carry on once a reducer saw it dead; if neither happened, it carries on.
///
/// ```swift
/// // mapper m of M, on any host
/// let coordinator = try ShuffleCoordinator(store: redis, job: "sales", mappers: M)
/// let lease = try coordinator.start(mapper: m)
/// let shuffle = try Shuffle<Table>(by: ["id"], partitions: 64, options: ShuffleOptions(store: AnyByteStore(redis)))
/// try shuffle.add(contentsOf: mySlice)
/// try shuffle.close()                                     // flushes what is buffered
/// try lease.finish(partitionRows: shuffle.partitionRowCounts)
///
/// // any reducer
/// let report = try coordinator.waitForMappers(timeout: .seconds(600))
/// let rows = try reducerShuffle.partition(p)
/// try report.check(partition: p, rows: rows.rowCount)   // throws if rows were lost
/// ```
public final class ShuffleCoordinator: Sendable {
    public let job: String
    public let mappers: Int
    /// How often a working mapper refreshes its heartbeat.
    public let heartbeat: Duration
    /// A mapper whose heartbeat is older than this, and that has not finished, is dead. Keep it
    /// above the cluster's failover time (a heartbeat cannot be written while the coordinator's
    /// primary is being replaced): the default is 15 s.
    public let deadAfter: Duration
    let store: RedisStore

    /// - Parameters:
    ///   - job: names the shuffle; mappers and reducers of one shuffle use the same name.
    ///   - mappers: how many mappers must finish before partitions may be read.
    public init(
        store: RedisStore, job: String, mappers: Int, heartbeat: Duration = .seconds(1), deadAfter: Duration = .seconds(15)
    ) throws {
        guard mappers > 0, !job.isEmpty, !job.utf8.contains(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) else {
            throw PartdError(code: .invalidArgument, message: "a shuffle job needs a name without braces and at least one mapper")
        }
        guard deadAfter > heartbeat * 2 else {
            throw PartdError(code: .invalidArgument, message: "deadAfter (\(deadAfter)) must exceed twice the heartbeat (\(heartbeat))")
        }
        self.store = store
        self.job = job
        self.mappers = mappers
        self.heartbeat = heartbeat
        self.deadAfter = deadAfter
    }

    private var prefix: String { "\(store.configuration.namespace):job{\(store.configuration.namespace)/\(job)}" }
    private var startedKey: [UInt8] { Array("\(prefix):started".utf8) }
    private var doneKey: [UInt8] { Array("\(prefix):done".utf8) }
    private func aliveKey(_ mapper: Int) -> [UInt8] { Array("\(prefix):alive:\(mapper)".utf8) }
    private var slot: Int { RedisHashSlot.of(startedKey) }

    private func call(_ commands: [[[UInt8]]], what: String) throws -> RedisReply {
        let outcome = try store.cluster.run([RedisRequest(slot: slot, commands: commands)], idempotent: true)[0]
        if case .error(let message) = outcome {
            throw PartdError(code: .io, message: "shuffle coordinator of job \(job): \(what) failed: \(message)")
        }
        return outcome
    }


    /// A mapper's registration: its heartbeat runs until ``finish(partitionRows:)`` or ``abandon()``, or
    /// until the lease is deinitialised (reducers then see the mapper as dead). A lease that stalled past
    /// ``deadAfter`` (its heartbeat key expired) sets the key again on its next beat if no reducer saw the
    /// mapper dead meanwhile (``poll()`` makes that final), no other lease registered the mapper and the job
    /// was not reset; otherwise it stops beating and is over: it never takes the key from a rerun, and its
    /// ``finish(partitionRows:)`` throws.
    public final class Lease: Sendable {
        public let mapper: Int
        let coordinator: ShuffleCoordinator
        private let token: [UInt8]
        private let running = Locked(true)
        private let wake = DispatchSemaphore(value: 0)
        private let ended = DispatchSemaphore(value: 0)

        init(_ coordinator: ShuffleCoordinator, mapper: Int, token: [UInt8]) {
            self.coordinator = coordinator
            self.mapper = mapper
            self.token = token
            // The loop holds what it needs, not the lease: a lease let go of is deinitialised, which stops it.
            let (running, wake, ended) = (running, wake, ended)
            let interval = coordinator.heartbeat.wholeMilliseconds
            DispatchQueue.global().async {
                while running.withLock({ $0 }) {
                    // A failed beat (a lost connection) is tried again next time; a lease that lost its claim stops.
                    if (try? coordinator.beat(mapper, token: token)) == false { break }
                    _ = wake.wait(timeout: .now() + .milliseconds(interval))
                }
                ended.signal()
            }
        }

        /// Reports the mapper done, with the rows it wrote to each partition. The report is recorded only
        /// while this lease still holds the mapper: its heartbeat key holds the lease's token, or the key
        /// expired (the lease stalled past ``ShuffleCoordinator/deadAfter``) and neither did a reducer see
        /// the mapper dead nor another lease register it since. The same report sent again by this lease
        /// (after a lost connection, say) is accepted.
        ///
        /// - Throws: ``PartdError/Code/alreadyExists`` if the lease was superseded: its heartbeat expired
        ///   and the mapper was started again (a rerun now holds it, or already reported), or this lease
        ///   already reported other rows. ``PartdError/Code/connectionFailed`` if a reducer saw the mapper
        ///   dead (its heartbeat had expired), or the job was reset since the lease registered. Neither
        ///   report is recorded.
        public func finish(partitionRows: [Int]) throws {
            stop(waiting: true)
            try coordinator.finish(mapper, token: token, partitionRows: partitionRows)
        }

        /// Stops the heartbeat without reporting (reducers will see the mapper as dead).
        public func abandon() { stop(waiting: true) }

        /// Ends the heartbeat loop; `waiting`, until its last beat is written (so none lands after `finish`'s
        /// report, or after `abandon` returns).
        private func stop(waiting: Bool) {
            let was = running.withLock { running in
                defer { running = false }
                return running
            }
            guard was else { return }
            wake.signal()
            if waiting { ended.wait() }
        }

        deinit { stop(waiting: false) }
    }

    /// Registers `mapper` (0..<mappers) and starts its heartbeat. A mapper started again (a rerun) drops
    /// its earlier report, so reducers wait for the new one.
    ///
    /// - Throws: ``PartdError/Code/alreadyExists`` while another lease of `mapper` is alive (its heartbeat
    ///   has not expired): two mappers with one number would both write its rows.
    public func start(mapper: Int) throws -> Lease {
        guard (0..<mappers).contains(mapper) else {
            throw PartdError(code: .invalidArgument, message: "mapper \(mapper) is outside 0..<\(mappers) of job \(job)")
        }
        // The heartbeat holds a token of this lease, so a registration re-sent after a lost connection
        // recognises its own claim.
        var generator = SystemRandomNumberGenerator()
        let token = Array("\(String(generator.next() as UInt64, radix: 36)).\(String(getpid(), radix: 36))".utf8)
        let reply = try call(
            [[
                Array("EVAL".utf8), Self.register, Array("3".utf8), startedKey, doneKey, aliveKey(mapper),
                Array(String(mapper).utf8), Array("\(Self.now()),".utf8) + token, Array(String(deadAfter.wholeMilliseconds).utf8),
                token,
            ]], what: "registering mapper \(mapper)")
        guard reply == .integer(1) else {
            throw PartdError(
                code: .alreadyExists,
                message: "mapper \(mapper) of shuffle job \(job) is already running (its heartbeat is alive); if that "
                    + "process died, start it again once its heartbeat expired (after \(deadAfter)), or reset() the job")
        }
        return Lease(self, mapper: mapper, token: token)
    }

    /// Claims mapper `ARGV[1]` in one step: its heartbeat `KEYS[3]` is set to the lease's token `ARGV[4]`
    /// (for `ARGV[3]` ms) unless it holds another lease's token, its earlier report in `KEYS[2]` is dropped
    /// and its start record `ARGV[2]` (`TIME,TOKEN`) written to `KEYS[1]`.
    private static let register = Array("""
        local holder = redis.call('GET', KEYS[3])
        if holder and holder ~= ARGV[4] then return 0 end
        redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        return 1
        """.utf8)

    /// Reads the mappers' states in one step: the `started` hash `KEYS[1]`, the `done` hash `KEYS[2]`, and
    /// whether each heartbeat `KEYS[3…]` (mapper 0, 1, …) exists. A mapper started, not done and without a
    /// heartbeat is dead, and that is final: its start record's token is replaced by `dead`, so the lease can
    /// neither set its heartbeat again nor report (reducers that saw it dead give up on the job, so a report
    /// that came later would let others read a job being dropped and rerun).
    private static let pollScript = Array("""
        local started = redis.call('HGETALL', KEYS[1])
        local done = redis.call('HGETALL', KEYS[2])
        local alive = {}
        for i = 3, #KEYS do
          local exists = redis.call('EXISTS', KEYS[i])
          if exists == 0 then
            local mapper = tostring(i - 3)
            local record = redis.call('HGET', KEYS[1], mapper)
            if record and redis.call('HEXISTS', KEYS[2], mapper) == 0 then
              redis.call('HSET', KEYS[1], mapper, string.match(record, '^[^,]*') .. ',dead')
            end
          end
          alive[#alive + 1] = exists
        end
        return {started, done, alive}
        """.utf8)

    /// Refreshes mapper `ARGV[3]`'s heartbeat `KEYS[1]` for `ARGV[2]` ms if it still holds the lease's token
    /// `ARGV[1]`, or sets it again if it expired while the start record in `KEYS[2]` (`TIME,TOKEN`) still names
    /// this lease (the lease was starved, say, no rerun registered and no reducer saw it dead): 1 if so, 0 if
    /// the lease lost its claim (another lease registered, a reducer saw it dead, or the job was reset) or
    /// already reported.
    private static let heartbeatScript = Array("""
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if holder then return 0 end
        local started = redis.call('HGET', KEYS[2], ARGV[3])
        if not started or string.match(started, ',(.+)$') ~= ARGV[1] then return 0 end
        if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """.utf8)

    /// Records mapper `ARGV[1]`'s report `ARGV[3]` in `KEYS[2]` and ends its heartbeat `KEYS[3]`, if the lease
    /// with token `ARGV[2]` still holds the mapper: the heartbeat holds its token, and the start record in
    /// `KEYS[1]` (`TIME,TOKEN`) names no other lease. Returns 1 when recorded, or when this lease already
    /// recorded this very report (a request re-sent after a lost connection), or when the heartbeat expired
    /// but the start record still names this lease (no rerun registered: the report is late, not
    /// superseded); 0 when another lease holds or held the mapper since; 2 when this lease already reported
    /// other rows; -2 when a reducer saw the mapper dead (see `pollScript`); -1 when the start record names no
    /// lease (the job was reset, or an earlier version wrote it).
    private static let finishScript = Array("""
        local started = redis.call('HGET', KEYS[1], ARGV[1])
        local owner = started and string.match(started, ',(.+)$')
        if owner == 'dead' then return -2 end
        if owner and owner ~= ARGV[2] then return 0 end
        local holder = redis.call('GET', KEYS[3])
        if holder == ARGV[2] then
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
          redis.call('DEL', KEYS[3])
          return 1
        end
        if holder then return 0 end
        local done = redis.call('HGET', KEYS[2], ARGV[1])
        if owner and done then
          if done == ARGV[3] then return 1 end
          return 2
        end
        if owner then
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
          return 1
        end
        return -1
        """.utf8)

    /// One heartbeat: `false` if the lease no longer holds `mapper`.
    fileprivate func beat(_ mapper: Int, token: [UInt8]) throws -> Bool {
        let reply = try call(
            [[
                Array("EVAL".utf8), Self.heartbeatScript, Array("3".utf8), aliveKey(mapper), startedKey, doneKey, token,
                Array(String(deadAfter.wholeMilliseconds).utf8), Array(String(mapper).utf8),
            ]], what: "heartbeat of mapper \(mapper)")
        return reply != .integer(0)
    }

    fileprivate func finish(_ mapper: Int, token: [UInt8], partitionRows: [Int]) throws {
        let record = ([partitionRows.reduce(0, +)] + partitionRows).map(String.init).joined(separator: ",")
        let reply = try call(
            [[
                Array("EVAL".utf8), Self.finishScript, Array("3".utf8), startedKey, doneKey, aliveKey(mapper),
                Array(String(mapper).utf8), token, Array(record.utf8),
            ]], what: "reporting mapper \(mapper) done")
        switch reply {
        case .integer(1):
            return
        case .integer(0):
            throw PartdError(
                code: .alreadyExists,
                message: "the lease of mapper \(mapper) of shuffle job \(job) was superseded: its heartbeat expired (it stalled "
                    + "longer than \(deadAfter)) and the mapper was started again; its report is not recorded, the rerun's counts")
        case .integer(2):
            throw PartdError(
                code: .alreadyExists,
                message: "mapper \(mapper) of shuffle job \(job) already reported other rows from this lease; the first report stands")
        case .integer(-2):
            throw PartdError(
                code: .connectionFailed,
                message: "mapper \(mapper) of shuffle job \(job) was seen dead by a reducer (its heartbeat expired for \(deadAfter) "
                    + "before it finished), so its report is not recorded: drop() the store and reset() the coordinator, then rerun the job")
        case .integer(-1):
            throw PartdError(
                code: .connectionFailed,
                message: "the lease of mapper \(mapper) of shuffle job \(job) is over: the job was reset (its start record is "
                    + "gone, or was written by an earlier version), so its report is not recorded: drop() the store and reset() "
                    + "the coordinator, then rerun the job")
        default:
            throw PartdError(code: .protocolViolation, message: "shuffle coordinator of job \(job): unexpected reply \(reply)")
        }
    }

    /// What the mappers reported once all finished.
    public struct Report: Sendable {
        /// Rows each mapper wrote.
        public var mapperRows: [Int]
        /// Rows all mappers together wrote to each partition.
        public var partitionRows: [Int]
        public var job: String

        /// Throws ``PartdError/Code/corruptData`` unless a partition holds exactly the
        /// rows the mappers reported writing to it: rows were lost (for example
        /// acknowledged writes a failover discarded) or duplicated.
        public func check(partition: Int, rows: Int) throws {
            let expected = partition < partitionRows.count ? partitionRows[partition] : 0
            guard rows == expected else {
                let what = rows < expected ? "\(expected - rows) row(s) were lost" : "\(rows - expected) row(s) are duplicated"
                throw PartdError(
                    code: .corruptData,
                    message: "partition \(partition) of shuffle job \(job) holds \(rows) rows but its mappers wrote \(expected): \(what) "
                        + "(a Redis failover discards writes its replicas had not received; set waitForReplicas to prevent it)",
                    key: PartdKey(partition))
            }
        }
    }

    /// The state of every mapper: `nil` while some are still running, the report once all finished.
    ///
    /// - Throws: ``PartdError/Code/connectionFailed`` naming a mapper that registered
    ///   but whose heartbeat expired before it finished (it died). That is final: the mapper's lease can
    ///   no longer set its heartbeat again or report, even if it was only stalled.
    public func poll() throws -> Report? {
        let reply = try call(
            [[Array("EVAL".utf8), Self.pollScript, Array(String(2 + mappers).utf8), startedKey, doneKey] + (0..<mappers).map(aliveKey)],
            what: "reading mapper states")
        guard case .array(let outer) = reply, outer.count == 3, case .array(let alive) = outer[2], alive.count == mappers else {
            throw PartdError(code: .protocolViolation, message: "shuffle coordinator of job \(job): unexpected reply \(reply)")
        }
        let parts = [outer[0], outer[1]] + alive
        let started = Self.hash(parts[0])
        let done = Self.hash(parts[1])
        var mapperRows = [Int](repeating: 0, count: mappers)
        var partitionRows: [Int] = []
        var finished = 0
        for mapper in 0..<mappers {
            if let record = done[mapper] {
                let numbers = record.split(separator: ",").compactMap { Int($0) }
                guard let total = numbers.first else { continue }
                mapperRows[mapper] = total
                let counts = numbers.dropFirst()
                if partitionRows.count < counts.count { partitionRows += [Int](repeating: 0, count: counts.count - partitionRows.count) }
                for (p, n) in counts.enumerated() { partitionRows[p] += n }
                finished += 1
            } else if started[mapper] != nil, parts[2 + mapper] == .integer(0) {
                throw PartdError(
                    code: .connectionFailed,
                    message: "mapper \(mapper) of shuffle job \(job) stopped sending heartbeats before it finished: it died; "
                        + "its partial output is in the store: drop() the store and reset() the coordinator, then rerun the job")
            }
        }
        return finished == mappers ? Report(mapperRows: mapperRows, partitionRows: partitionRows, job: job) : nil
    }

    /// Waits until every mapper finished (the barrier before reducers read).
    ///
    /// - Throws: ``PartdError/Code/connectionFailed`` if a mapper died, or if not
    ///   all finished within `timeout`.
    public func waitForMappers(timeout: Duration, pollEvery: Duration = .milliseconds(100)) throws -> Report {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let report = try poll() { return report }
            guard ContinuousClock.now < deadline else {
                throw PartdError(code: .connectionFailed, message: "not every mapper of shuffle job \(job) finished within \(timeout)")
            }
            _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .milliseconds(pollEvery.wholeMilliseconds))
        }
    }

    /// Removes the job's records (not the partitions): who started, who finished, the heartbeats. Call it
    /// before running a job of the same name again, and when a job is done: `RedisStore.drop()` removes
    /// only the store's keys, not these.
    public func reset() throws {
        _ = try call([[Array("DEL".utf8), startedKey, doneKey] + (0..<mappers).map(aliveKey)], what: "resetting")
    }

    private static func hash(_ reply: RedisReply) -> [Int: String] {
        guard case .array(let items) = reply else { return [:] }
        var out: [Int: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let field = items[i].text.flatMap({ Int($0) }), let value = items[i + 1].text { out[field] = value }
            i += 2
        }
        return out
    }

    private static func now() -> Int { Int(time(nil)) }
}

extension Duration {
    /// The duration in whole milliseconds (at least 1).
    var wholeMilliseconds: Int { max(1, Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)) }
}
