// SPDX-License-Identifier: Apache-2.0

import NIOCore
import Partd

/// The wire protocol between `RemoteStore` and `StoreServer` (`docs/format.md` §8),
/// version 1: length-prefixed little-endian frames.
///
/// ```
/// frame    = length:u64 kind:u8 id:u32 body      (length counts kind, id and body)
/// key      = 0x00 len:u32 utf8 | 0x01 i64 | 0x02 count:u32 key*
/// bytes    = len:u64 byte*
/// ```
enum Wire {
    static let magic: [UInt8] = Array("PDWP".utf8)
    static let version: UInt16 = 1
    /// Bytes of the length, kind and id fields.
    static let headerBytes = 13
    /// Deepest tuple nesting a key may have on the wire.
    static let maxKeyDepth = 32

    /// What a frame carries.
    enum Kind: UInt8 {
        case hello = 0x01
        case append = 0x10
        case get = 0x11
        case delete = 0x12
        case drop = 0x13
        case setOnce = 0x14
        case keys = 0x15
        case contains = 0x16
        case byteCount = 0x17
        case validate = 0x18
        case sync = 0x19
        case shutdown = 0x1A
        case ok = 0x80
        case error = 0xFF
    }

    // MARK: Writing

    static func writeFrame(_ kind: Kind, id: UInt32, into buffer: inout ByteBuffer, body: (inout ByteBuffer) -> Void) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt64(0), endianness: .little)
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(id, endianness: .little)
        body(&buffer)
        buffer.setInteger(UInt64(buffer.writerIndex - start - 8), at: start, endianness: .little)
    }

    static func writeKey(_ key: PartdKey, into buffer: inout ByteBuffer) {
        switch key.kind {
        case .string(let string):
            buffer.writeInteger(UInt8(0))
            let lengthAt = buffer.writerIndex
            buffer.writeInteger(UInt32(0), endianness: .little)
            let written = buffer.writeString(string)
            buffer.setInteger(UInt32(written), at: lengthAt, endianness: .little)
        case .int(let int):
            buffer.writeInteger(UInt8(1))
            buffer.writeInteger(Int64(int), endianness: .little)
        case .tuple(let parts):
            buffer.writeInteger(UInt8(2))
            buffer.writeInteger(UInt32(parts.count), endianness: .little)
            for part in parts { writeKey(part, into: &buffer) }
        }
    }

    /// Throws ``PartdError/Code/invalidKey`` for a key with a part nested more than ``maxKeyDepth`` tuples down,
    /// which a server refuses as a protocol violation (closing the connection): a client checks its keys with
    /// this before it sends anything.
    static func checkSendable(_ key: PartdKey) throws {
        func tooDeep(_ key: PartdKey, _ depth: Int) -> Bool {
            guard depth <= maxKeyDepth else { return true }
            guard case .tuple(let parts) = key.kind else { return false }
            return parts.contains { tooDeep($0, depth + 1) }
        }
        guard tooDeep(key, 0) else { return }
        throw PartdError(
            code: .invalidKey,
            message: "a key nests tuples more than \(maxKeyDepth) deep, deeper than the wire protocol carries", key: key)
    }

    /// The bytes ``writeKey(_:into:)`` writes for `key`.
    static func encodedSize(of key: PartdKey) -> Int {
        switch key.kind {
        case .string(let string): return 5 + string.utf8.count
        case .int: return 9
        case .tuple(let parts): return parts.reduce(5) { $0 + encodedSize(of: $1) }
        }
    }

    /// The bytes ``writeKeys(_:into:)`` writes for `keys`.
    static func encodedSize(ofKeys keys: [PartdKey]) -> Int {
        keys.reduce(4) { $0 + encodedSize(of: $1) }
    }

    static func writeKeys(_ keys: [PartdKey], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(keys.count), endianness: .little)
        for key in keys { writeKey(key, into: &buffer) }
    }

    static func writeBytes(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt64(bytes.count), endianness: .little)
        buffer.writeBytes(bytes)
    }

    /// Writes an error answer's body, kept within a frame of `limit` bytes (the peer's frame limit): a key or
    /// path that would take more than a quarter of it is left out (the message still names them, cut if need
    /// be), and the message is cut to what remains.
    static func writeError(_ error: PartdError, limit: Int = .max, into buffer: inout ByteBuffer) {
        var error = error
        // Frame header 5, code 1, message length 4, key flag 1, path length 4, errno 4.
        let room = limit - 19
        if let key = error.key, encodedSize(of: key) > room / 4 { error.key = nil }
        if let path = error.path, path.utf8.count > room / 4 { error.path = nil }
        let budget = room - (error.key.map(encodedSize(of:)) ?? 0) - (error.path?.utf8.count ?? 0)
        if error.message.utf8.count > budget {
            let marker = " … (cut to fit the frame limit)"
            var cut = error.message.utf8.prefix(max(0, budget - marker.utf8.count))
            // End on a character boundary.
            while let last = cut.last, last & 0xC0 == 0x80 { cut = cut.dropLast() }
            if let last = cut.last, last >= 0xC0 { cut = cut.dropLast() }
            error.message = String(decoding: cut, as: UTF8.self) + marker
        }
        let code = PartdError.Code.all.firstIndex(of: error.code) ?? PartdError.Code.all.firstIndex(of: .io)!
        buffer.writeInteger(UInt8(code))
        writeString(error.message, into: &buffer)
        if let key = error.key {
            buffer.writeInteger(UInt8(1))
            writeKey(key, into: &buffer)
        } else {
            buffer.writeInteger(UInt8(0))
        }
        writeString(error.path ?? "", into: &buffer)
        buffer.writeInteger(error.errno ?? 0, endianness: .little)
    }

    static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        let lengthAt = buffer.writerIndex
        buffer.writeInteger(UInt32(0), endianness: .little)
        let written = buffer.writeString(string)
        buffer.setInteger(UInt32(written), at: lengthAt, endianness: .little)
    }

    // MARK: Reading (every read checks what remains; a short or malformed body throws)

    static func violation(_ what: String) -> PartdError {
        PartdError(code: .protocolViolation, message: "malformed frame: \(what)")
    }

    static func readInteger<T: FixedWidthInteger>(_ buffer: inout ByteBuffer, as: T.Type = T.self, _ what: String) throws -> T {
        guard let value = buffer.readInteger(endianness: .little, as: T.self) else { throw violation("\(what) is cut short") }
        return value
    }

    static func readKey(_ buffer: inout ByteBuffer, depth: Int = 0) throws -> PartdKey {
        guard depth <= maxKeyDepth else { throw violation("a key nests deeper than \(maxKeyDepth) tuples") }
        switch try readInteger(&buffer, as: UInt8.self, "key tag") {
        case 0:
            let length = Int(try readInteger(&buffer, as: UInt32.self, "string key length"))
            guard length <= buffer.readableBytes, let string = buffer.readString(length: length) else {
                throw violation("a string key runs past the frame")
            }
            return PartdKey(string)
        case 1:
            return PartdKey(Int(try readInteger(&buffer, as: Int64.self, "integer key")))
        case 2:
            let count = Int(try readInteger(&buffer, as: UInt32.self, "tuple key length"))
            guard count <= buffer.readableBytes else { throw violation("a tuple key claims \(count) parts") }
            var parts: [PartdKey] = []
            parts.reserveCapacity(count)
            for _ in 0..<count { parts.append(try readKey(&buffer, depth: depth + 1)) }
            return PartdKey(.tuple(parts))
        case let tag:
            throw violation("unknown key tag \(tag)")
        }
    }

    /// ``readKey(_:depth:)``, returning `candidate` itself when the key's wire bytes are `candidate`'s (a string
    /// or integer key), so that no new key is made.
    static func readKey(_ buffer: inout ByteBuffer, reusing candidate: PartdKey?) throws -> PartdKey {
        guard let candidate, let tag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            return try readKey(&buffer)
        }
        switch (tag, candidate.kind) {
        case (0, .string(let string)):
            guard let length = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .little, as: UInt32.self),
                Int(length) == string.utf8.count, Int(length) <= buffer.readableBytes - 5,
                let stored = buffer.viewBytes(at: buffer.readerIndex + 5, length: Int(length)),
                string.utf8.elementsEqual(stored)
            else { return try readKey(&buffer) }
            buffer.moveReaderIndex(forwardBy: 5 + Int(length))
            return candidate
        case (1, .int(let int)):
            guard let value = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .little, as: Int64.self),
                value == Int64(int)
            else { return try readKey(&buffer) }
            buffer.moveReaderIndex(forwardBy: 9)
            return candidate
        default:
            return try readKey(&buffer)
        }
    }

    static func readKeys(_ buffer: inout ByteBuffer) throws -> [PartdKey] {
        let count = Int(try readInteger(&buffer, as: UInt32.self, "key count"))
        guard count <= buffer.readableBytes else { throw violation("\(count) keys claimed in \(buffer.readableBytes) bytes") }
        var keys: [PartdKey] = []
        keys.reserveCapacity(count)
        for _ in 0..<count { keys.append(try readKey(&buffer)) }
        return keys
    }

    static func readBytes(_ buffer: inout ByteBuffer) throws -> [UInt8] {
        let length = try readInteger(&buffer, as: UInt64.self, "value length")
        guard length <= UInt64(buffer.readableBytes), let bytes = buffer.readBytes(length: Int(length)) else {
            throw violation("a value of \(length) bytes runs past the frame")
        }
        return bytes
    }

    static func readString(_ buffer: inout ByteBuffer) throws -> String {
        let length = Int(try readInteger(&buffer, as: UInt32.self, "string length"))
        guard length <= buffer.readableBytes, let string = buffer.readString(length: length) else {
            throw violation("a string runs past the frame")
        }
        return string
    }

    static func readError(_ buffer: inout ByteBuffer) throws -> PartdError {
        let index = Int(try readInteger(&buffer, as: UInt8.self, "error code"))
        let code = index < PartdError.Code.all.count ? PartdError.Code.all[index] : .io
        let message = try readString(&buffer)
        let key = try readInteger(&buffer, as: UInt8.self, "error key flag") == 1 ? try readKey(&buffer) : nil
        let path = try readString(&buffer)
        let errno = try readInteger(&buffer, as: Int32.self, "errno")
        return PartdError(code: code, message: message, key: key, path: path.isEmpty ? nil : path, errno: errno == 0 ? nil : errno)
    }
}

/// One decoded frame.
struct WireFrame {
    var kind: Wire.Kind
    var id: UInt32
    var body: ByteBuffer

    /// Cuts the next whole frame off the front of `buffer`; `nil` while it is incomplete. A frame longer
    /// than `maxFrameBytes`, too short to hold its header, or of an unknown kind is a protocol violation.
    static func cut(from buffer: inout ByteBuffer, maxFrameBytes: Int) throws -> WireFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt64.self) else {
            return nil
        }
        guard length >= 5 else { throw Wire.violation("a frame of \(length) bytes cannot hold its kind and id") }
        guard length <= UInt64(maxFrameBytes) else {
            throw PartdError(
                code: .protocolViolation,
                message: "a frame announces \(length) bytes, over the limit of \(maxFrameBytes)")
        }
        guard buffer.readableBytes >= 8 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 8)
        let rawKind: UInt8 = buffer.readInteger()!
        let id: UInt32 = buffer.readInteger(endianness: .little)!
        let body = buffer.readSlice(length: Int(length) - 5)!
        guard let kind = Wire.Kind(rawValue: rawKind) else {
            throw Wire.violation("unknown frame kind 0x" + String(rawKind, radix: 16))
        }
        return WireFrame(kind: kind, id: id, body: body)
    }
}

/// The handshake a client opens with: magic, protocol version, token (`docs/format.md` §8.2).
struct WireHello {
    var version: UInt16
    var token: String
    /// The largest frame the client accepts, when it says (clients before this field did not).
    var maxFrameBytes: UInt64?

    init(_ body: ByteBuffer) throws {
        var body = body
        guard let magic = body.readBytes(length: 4), magic == Wire.magic else {
            throw Wire.violation("the connection did not start with a partd handshake")
        }
        version = try Wire.readInteger(&body, as: UInt16.self, "version")
        token = try Wire.readString(&body)
        maxFrameBytes = try Wire.optionalLimit(&body)
    }
}

extension Wire {
    /// The frame limit a handshake frame may end with (`docs/format.md` §8.2): absent, or a UInt64 of at
    /// least the smallest frame (a hello and its answer are smaller than any limit allowed).
    static func optionalLimit(_ body: inout ByteBuffer) throws -> UInt64? {
        guard body.readableBytes > 0 else { return nil }
        let limit = try readInteger(&body, as: UInt64.self, "frame limit")
        guard limit >= UInt64(smallestFrameLimit) else { throw violation("a frame limit of \(limit) bytes is too small") }
        return limit
    }

    /// The smallest frame limit a side may announce.
    static let smallestFrameLimit = 1024
}

/// A client's request, decoded from a frame (`docs/format.md` §8.3).
enum WireRequest {
    case append([(key: PartdKey, value: [UInt8])])
    case get([PartdKey])
    case delete([PartdKey])
    case drop
    case setOnce(PartdKey, [UInt8])
    case keys
    case contains(PartdKey)
    case byteCount(PartdKey)
    case validate(PartdKey)
    case sync
    case shutdown

    init(_ frame: WireFrame) throws {
        var none: [PartdKey] = []
        try self.init(frame, recentKeys: &none)
    }

    /// Decodes a request. An append's keys that repeat, position by position, the previous append's
    /// (`recentKeys`, which it then replaces) are those keys themselves.
    init(_ frame: WireFrame, recentKeys: inout [PartdKey]) throws {
        var body = frame.body
        switch frame.kind {
        case .append:
            let count = Int(try Wire.readInteger(&body, as: UInt32.self, "batch size"))
            guard count <= body.readableBytes else { throw Wire.violation("a batch claims \(count) entries") }
            var batch: [(key: PartdKey, value: [UInt8])] = []
            batch.reserveCapacity(count)
            for index in 0..<count {
                let key = try Wire.readKey(&body, reusing: index < recentKeys.count ? recentKeys[index] : nil)
                batch.append((key, try Wire.readBytes(&body)))
            }
            // Kept only for batches of up to 4,096 entries (the common case is a few dozen keys).
            if count <= 4096 {
                recentKeys.removeAll(keepingCapacity: true)
                for entry in batch { recentKeys.append(entry.key) }
            }
            self = .append(batch)
        case .get: self = .get(try Wire.readKeys(&body))
        case .delete: self = .delete(try Wire.readKeys(&body))
        case .drop: self = .drop
        case .setOnce:
            let key = try Wire.readKey(&body)
            self = .setOnce(key, try Wire.readBytes(&body))
        case .keys: self = .keys
        case .contains: self = .contains(try Wire.readKey(&body))
        case .byteCount: self = .byteCount(try Wire.readKey(&body))
        case .validate: self = .validate(try Wire.readKey(&body))
        case .sync: self = .sync
        case .shutdown: self = .shutdown
        case .hello, .ok, .error:
            throw Wire.violation("a client sent a \(frame.kind) frame")
        }
    }
}

/// Cuts the byte stream into frames; a frame longer than `maxFrameBytes` (or
/// too short to hold its header, or of an unknown kind) is a protocol violation.
struct WireFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = WireFrame
    let maxFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try WireFrame.cut(from: &buffer, maxFrameBytes: maxFrameBytes) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A frame cut off by the peer going away is dropped, never applied.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
