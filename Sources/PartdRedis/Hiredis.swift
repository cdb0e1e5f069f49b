// SPDX-License-Identifier: Apache-2.0
//
// Every C call into hiredis lives in this file: one blocking connection to one
// Redis node, commands written with `redisAppendCommandArgv` (pipelined in
// hiredis's output buffer) and replies read with `redisGetReply`.

import CPartdHiredis
import Partd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One reply from Redis, converted out of hiredis's reply tree.
package enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case integer(Int)
    case array([RedisReply])
    case null
    case status(String)
    case error(String)

    /// The reply's text, for status, error and (UTF-8) string replies.
    var text: String? {
        switch self {
        case .status(let s), .error(let s): return s
        case .string(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }
}

/// A Redis node's address.
public struct RedisAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// An address as given, unchecked: a connection to a port outside 1...65535 fails with
    /// ``PartdError/Code/invalidArgument`` (``init(parsing:)`` refuses such a port at once).
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (the port defaults to 6379; an IPv6 host is written in brackets, `[::1]:6379`).
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` for an empty host, a port outside 1...65535, or an
    ///   IPv6 host without brackets (`::1` would otherwise read as host `::` and port 1).
    public init(parsing text: String) throws {
        var rest = Substring(text)
        if rest.hasPrefix("redis://") { rest = rest.dropFirst("redis://".count) }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        var portText: Substring? = nil
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw Self.bad(text) }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let tail = rest[rest.index(after: close)...]
            if !tail.isEmpty {
                guard tail.hasPrefix(":") else { throw Self.bad(text) }
                portText = tail.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            if portText?.contains(":") == true {
                throw PartdError(
                    code: .invalidArgument,
                    message: "\"\(text)\" is not a Redis address; write an IPv6 host in brackets, e.g. [::1]:6379")
            }
        } else {
            host = rest
        }
        var port = 6379
        if let portText {
            guard let p = Int(portText) else { throw Self.bad(text) }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw Self.bad(text) }
        self.init(host: String(host), port: port)
    }

    private static func bad(_ text: String) -> PartdError {
        PartdError(code: .invalidArgument, message: "\"\(text)\" is not a Redis address; write host:port, e.g. 127.0.0.1:6379")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    /// How errors name the node: `redis://host:port`.
    var url: String { "redis://\(description)" }
}

/// A blocking connection to one Redis node. Not thread-safe: the cluster's
/// pool hands each connection to one thread at a time.
final class RedisConnection: @unchecked Sendable {
    let address: RedisAddress
    private let context: UnsafeMutablePointer<redisContext>
    /// Set after an I/O or protocol failure; a broken connection is closed, not pooled.
    private(set) var broken = false

    /// - Throws: ``PartdError/Code/invalidArgument`` for a port outside 1...65535 (a `RedisAddress` made
    ///   with `init(host:port:)` is not checked); ``PartdError/Code/connectionFailed`` if no connection is made.
    init(_ address: RedisAddress, timeout: Duration) throws {
        self.address = address
        guard let port = Int32(exactly: address.port), (1...65535).contains(port) else {
            throw PartdError(
                code: .invalidArgument, message: "cannot connect to Redis at \(address): port \(address.port) is outside 1...65535",
                path: address.url)
        }
        let tv = Self.makeTimeval(timeout)
        guard let context = redisConnectWithTimeout(address.host, port, tv) else {
            throw PartdError(code: .connectionFailed, message: "cannot allocate a Redis connection to \(address)", path: address.url)
        }
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            redisFree(context)
            throw PartdError(
                code: .connectionFailed,
                message: "cannot connect to Redis at \(address): \(reason); is redis-server running there?",
                path: address.url)
        }
        _ = redisSetTimeout(context, tv)
        _ = redisEnableKeepAlive(context)
        self.context = context
    }

    deinit { redisFree(context) }

    /// Whether the server closed this (idle) connection: it is readable and a peek finds end of file
    /// (or an error). Checked before a pooled connection is reused.
    var isClosedByPeer: Bool {
        var entry = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 0) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(context.pointee.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) <= 0
    }

    /// Adds one command to the output buffer (sent by the next `reply()`).
    func send(_ arguments: [[UInt8]]) throws {
        let status = Self.withArgv(arguments) { pointers, lengths in
            redisAppendCommandArgv(context, Int32(arguments.count), &pointers, &lengths)
        }
        if status != REDIS_OK { throw failure("writing a command") }
    }

    /// Sends whatever is buffered and reads the next reply.
    func reply() throws -> RedisReply {
        var raw: UnsafeMutableRawPointer? = nil
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure("reading a reply") }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// One command, sent and answered.
    func call(_ arguments: [[UInt8]]) throws -> RedisReply {
        try send(arguments)
        return try reply()
    }

    private func failure(_ doing: String) -> PartdError {
        broken = true
        let reason = Self.errorText(context)
        return PartdError(
            code: .connectionFailed, message: "connection to Redis at \(address) failed while \(doing): \(reason)",
            path: address.url)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "error \(context.pointee.err)" : text
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard r.len > 0, let str = r.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: r.len))
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(bytes())
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(convert(element)) } else { items.append(.null) }
            }
            return .array(items)
        default: return .error("unknown hiredis reply type \(r.type)")
        }
    }

    private static func makeTimeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    /// Calls `body` with C pointers to every argument's bytes (no copies).
    private static func withArgv<R>(
        _ arguments: [[UInt8]], _ body: (inout [UnsafePointer<CChar>?], inout [Int]) -> R
    ) -> R {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        pointers.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        func nest(_ index: Int) -> R {
            if index == arguments.count { return body(&pointers, &lengths) }
            return arguments[index].withUnsafeBufferPointer { buffer in
                let base = UnsafeRawPointer(buffer.baseAddress) ?? UnsafeRawPointer(("" as StaticString).utf8Start)
                pointers.append(base.assumingMemoryBound(to: CChar.self))
                lengths.append(buffer.count)
                return nest(index + 1)
            }
        }
        return nest(0)
    }
}
