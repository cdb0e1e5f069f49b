// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression
import PartdRedis
import PartdServer
import Testing

/// Every store and wrapper stack the conformance suite runs against. Later
/// layers (compression, typed encoders, remote client) add their stacks here.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case directory
    case spillingOverMemory
    case spillingOverDirectory
    case spillingTinyBudgetOverDirectory
    case spillingZeroBudgetOverMemory
    case spillingSynchronousTinyBudgetOverDirectory
    case zlibOverMemory
    case bloscOverDirectory
    case snappyOverSpillingTinyBudgetOverDirectory
    case zstdOverSpillingOverMemory
    case lz4SmallChunksOverDirectory
    case bz2OverMemory
    case encodedIdentityOverMemory
    case encodedZlibOverSpillingOverDirectory
    case remoteUnixOverSpillingOverDirectory
    case remoteTCPOverMemory
    case zstdOverRemoteUnixOverMemory
    case redisSingleNode
    case redisCluster
    case redisClusterSmallElementsNoExactlyOnce
    case lz4OverRedisCluster
    case spillingOverRedisCluster

    var testDescription: String { rawValue }

    /// Every kind this machine can run: the Redis kinds need the servers
    /// `scripts/test.sh` starts (see ``RedisTestEnvironment``).
    static var allCases: [StoreKind] {
        [
            .memory, .directory, .spillingOverMemory, .spillingOverDirectory, .spillingTinyBudgetOverDirectory,
            .spillingZeroBudgetOverMemory, .spillingSynchronousTinyBudgetOverDirectory, .zlibOverMemory,
            .bloscOverDirectory, .snappyOverSpillingTinyBudgetOverDirectory, .zstdOverSpillingOverMemory,
            .lz4SmallChunksOverDirectory, .bz2OverMemory, .encodedIdentityOverMemory,
            .encodedZlibOverSpillingOverDirectory, .remoteUnixOverSpillingOverDirectory, .remoteTCPOverMemory,
            .zstdOverRemoteUnixOverMemory,
        ]
            + (RedisTestEnvironment.single != nil ? [.redisSingleNode] : [])
            + (RedisTestEnvironment.cluster != nil
                ? [.redisCluster, .redisClusterSmallElementsNoExactlyOnce, .lz4OverRedisCluster, .spillingOverRedisCluster] : [])
    }

    func make() throws -> any ByteStore {
        switch self {
        case .memory:
            return MemoryStore()
        case .directory:
            return try DirectoryStore.temporary()
        case .spillingOverMemory:
            return SpillingStore(spillingTo: MemoryStore(), availableMemory: .megabytes(1))
        case .spillingOverDirectory:
            return SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .megabytes(1))
        case .spillingTinyBudgetOverDirectory:
            return SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(7))
        case .spillingZeroBudgetOverMemory:
            return SpillingStore(spillingTo: MemoryStore(), availableMemory: .zero)
        case .spillingSynchronousTinyBudgetOverDirectory:
            return SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(7), backgroundSpill: false)
        case .zlibOverMemory:
            return CompressedStore(.zlib(), over: MemoryStore())
        case .bloscOverDirectory:
            return CompressedStore(.blosc(), over: try DirectoryStore.temporary())
        case .snappyOverSpillingTinyBudgetOverDirectory:
            return CompressedStore(
                .snappy, over: SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(100)))
        case .zstdOverSpillingOverMemory:
            return CompressedStore(.zstd(), over: SpillingStore(spillingTo: MemoryStore(), availableMemory: .kilobytes(4)))
        case .lz4SmallChunksOverDirectory:
            return CompressedStore(.lz4, over: try DirectoryStore.temporary(), chunkSize: 1000)
        case .bz2OverMemory:
            return CompressedStore(.bz2(), over: MemoryStore())
        case .encodedIdentityOverMemory:
            return EncodedStore<MemoryStore, [UInt8]>(
                over: MemoryStore(), encode: { $0 }, decode: { $0 }, join: { $0.flatMap { $0 } })
        case .encodedZlibOverSpillingOverDirectory:
            // partd's test_encode: Encode(zlib.compress, zlib.decompress, b''.join)
            return EncodedStore<SpillingStore<DirectoryStore>, [UInt8]>(
                over: SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(300)),
                encode: { value in
                    withUnsafeBytes(of: UInt32(value.count).littleEndian, Array.init) + (try Compression.zlib().compress(value))
                },
                decode: { bytes in
                    guard bytes.count >= 4 else { throw PartdError(code: .corruptData, message: "short") }
                    let size = bytes[0..<4].reversed().reduce(0) { $0 << 8 | Int($1) }
                    return try Compression.decompress(Array(bytes[4...]), codec: .zlib, originalSize: size)
                },
                join: { $0.flatMap { $0 } })
        case .remoteUnixOverSpillingOverDirectory:
            return try ServedStore(
                SpillingStore(spillingTo: try DirectoryStore.temporary(), availableMemory: .bytes(500)), unix: true)
        case .remoteTCPOverMemory:
            return try ServedStore(MemoryStore(), unix: false)
        case .zstdOverRemoteUnixOverMemory:
            return CompressedStore(.zstd(), over: try ServedStore(MemoryStore(), unix: true))
        case .redisSingleNode:
            return try RedisTestEnvironment.store(RedisTestEnvironment.single)
        case .redisCluster:
            return try RedisTestEnvironment.store(RedisTestEnvironment.cluster)
        case .redisClusterSmallElementsNoExactlyOnce:
            return try RedisTestEnvironment.store(
                RedisTestEnvironment.cluster, exactlyOnce: false, maxElementBytes: 1000, maxInFlightBytes: 4096)
        case .lz4OverRedisCluster:
            return CompressedStore(.lz4, over: try RedisTestEnvironment.store(RedisTestEnvironment.cluster))
        case .spillingOverRedisCluster:
            return SpillingStore(
                spillingTo: try RedisTestEnvironment.store(RedisTestEnvironment.cluster), availableMemory: .bytes(500))
        }
    }
}

/// A client of a server of its own, which serves `backing` on a fresh Unix
/// socket or loopback TCP port; the server stops when the client goes.
final class ServedStore: ByteStore {
    let server: StoreServer
    let client: RemoteStore

    init(_ backing: any ByteStore, unix: Bool, token: String? = nil) throws {
        let address: StoreServer.Address = unix ? .unixSocket(scratchPath("sock")) : .tcp(host: "127.0.0.1", port: 0)
        server = try StoreServer.start(
            serving: backing, on: [address], configuration: StoreServer.Configuration(token: token, threads: 2))
        client = try RemoteStore(connectingTo: server.addresses[0], configuration: RemoteStore.Configuration(token: token))
    }

    deinit {
        try? client.close()
        try? server.shutdown()
    }

    func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws { try client.append(batch) }
    func get(_ keys: [PartdKey]) throws -> [[UInt8]] { try client.get(keys) }
    func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool { try client.setOnce(key, value) }
    func delete(_ keys: [PartdKey]) throws { try client.delete(keys) }
    func drop() throws { try client.drop() }
    func keys() throws -> [PartdKey] { try client.keys() }
    func contains(_ key: PartdKey) throws -> Bool { try client.contains(key) }
    func byteCount(of key: PartdKey) throws -> Int { try client.byteCount(of: key) }
    func validate(_ key: PartdKey) throws { try client.validate(key) }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A store whose operations can be made to fail, to test error paths of wrappers.
final class FailingStore: ByteStore {
    let inner = MemoryStore()
    private let failing = Synchronization.Mutex(false)
    private let failingKeys = Synchronization.Mutex(Set<PartdKey>())

    func setFailing(_ value: Bool) { failing.withLock { $0 = value } }
    /// Appends to these keys fail; others succeed.
    func setFailing(keys: Set<PartdKey>) { failingKeys.withLock { $0 = keys } }

    private func check() throws {
        if failing.withLock({ $0 }) {
            throw PartdError(code: .diskFull, message: "injected failure", path: "/injected")
        }
    }

    func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        try check()
        let bad = failingKeys.withLock { $0 }
        for entry in batch where bad.contains(entry.key) {
            throw PartdError(code: .diskFull, message: "injected failure", key: entry.key, path: "/injected")
        }
        try inner.append(batch)
    }
    func get(_ keys: [PartdKey]) throws -> [[UInt8]] { try check(); return try inner.get(keys) }
    func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool { try check(); return try inner.setOnce(key, value) }
    func delete(_ keys: [PartdKey]) throws { try check(); try inner.delete(keys) }
    func drop() throws { try check(); try inner.drop() }
    func keys() throws -> [PartdKey] { try check(); return try inner.keys() }
    func contains(_ key: PartdKey) throws -> Bool { try check(); return try inner.contains(key) }
    func byteCount(of key: PartdKey) throws -> Int { try check(); return try inner.byteCount(of: key) }
}

import Synchronization

/// Expects `body` to throw a ``PartdError`` with `code`; returns the error.
@discardableResult
func expectPartdError<R>(
    _ code: PartdError.Code, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R
) -> PartdError? {
    let error = #expect(throws: PartdError.self, comment, sourceLocation: sourceLocation) { _ = try body() }
    #expect(error?.code == code, "\(error.map { "\($0)" } ?? "no error")", sourceLocation: sourceLocation)
    return error
}

/// Where the Redis servers for the tests are: `scripts/test.sh` starts a
/// standalone server and a 3-primary, 3-replica cluster
/// (`scripts/redis-cluster.sh`) and names them in `PARTD_TEST_REDIS` and
/// `PARTD_TEST_REDIS_CLUSTER`. Without them the Redis tests do not run.
enum RedisTestEnvironment {
    static let single = ProcessInfo.processInfo.environment["PARTD_TEST_REDIS"].flatMap { $0.isEmpty ? nil : $0 }
    static let cluster = ProcessInfo.processInfo.environment["PARTD_TEST_REDIS_CLUSTER"].flatMap { $0.isEmpty ? nil : $0 }

    /// A namespace no other test uses.
    static func namespace() -> String { "t\(UInt64.random(in: 0...UInt64.max))" }

    static func store(
        _ node: String?, namespace: String = namespace(), exactlyOnce: Bool = true, maxElementBytes: Int = 256 << 20,
        maxInFlightBytes: Int = 32 << 20, waitForReplicas: Int = 0
    ) throws -> RedisStore {
        try RedisStore(
            nodes: [node ?? "127.0.0.1:1"],
            configuration: RedisStore.Configuration(
                namespace: namespace, exactlyOnceAppends: exactlyOnce, waitForReplicas: waitForReplicas,
                maxElementBytes: maxElementBytes, maxInFlightBytes: maxInFlightBytes))
    }
}

import Foundation
