// SPDX-License-Identifier: Apache-2.0

import Partd

/// A store of typed values over any byte store, given how to encode, decode
/// and join them (partd's `Encode(encode, decode, join, partd)`).
///
/// Each appended value is encoded and written as one value frame
/// (`docs/format.md` §5), so the boundaries between appends survive; `get`
/// decodes every frame of a key and joins the values in append order. A
/// missing key reads as `join([])`.
///
/// ```swift
/// let lists = EncodedStore<MemoryStore, [Int]>(
///     over: MemoryStore(),
///     encode: { ints in ints.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) } },
///     decode: { bytes in stride(from: 0, to: bytes.count, by: 8).map { i in
///         bytes[i..<i + 8].reversed().reduce(0) { $0 << 8 | Int($1) } } },
///     join: { $0.flatMap { $0 } })
/// try lists.append("a", [1, 2, 3])
/// try lists.append("a", [4])
/// try lists.get("a")     // [1, 2, 3, 4]
/// ```
///
/// With `Value == [UInt8]` an encoded store is itself a ``ByteStore``, so it
/// stacks under other wrappers.
public final class EncodedStore<Inner: ByteStore, Value>: @unchecked Sendable {
    // @unchecked: the closures are @Sendable and `inner` is Sendable; `Value` itself never
    // crosses threads inside the store.

    /// The store the frames are written to.
    public let inner: Inner
    private let encode: @Sendable (Value) throws -> [UInt8]
    private let decode: @Sendable ([UInt8]) throws -> Value
    private let join: @Sendable ([Value]) -> Value

    public init(
        over inner: Inner,
        encode: @escaping @Sendable (Value) throws -> [UInt8],
        decode: @escaping @Sendable ([UInt8]) throws -> Value,
        join: @escaping @Sendable ([Value]) -> Value
    ) {
        self.inner = inner
        self.encode = encode
        self.decode = decode
        self.join = join
    }

    /// Appends each value, encoded, as one frame under its key.
    public func append(_ batch: [(key: PartdKey, value: Value)]) throws {
        var framed: [(key: PartdKey, chunks: [[UInt8]])] = []
        framed.reserveCapacity(batch.count)
        for entry in batch {
            let payload = try encodeValue(entry.value, key: entry.key)
            framed.append((key: entry.key, chunks: [ValueFrames.header(for: payload), payload]))
        }
        try inner.append(chunked: framed)
    }

    public func append(_ batch: [PartdKey: Value]) throws {
        try append(batch.map { (key: $0.key, value: $0.value) })
    }

    public func append(_ key: PartdKey, _ value: Value) throws {
        try append([(key: key, value: value)])
    }

    /// Every value appended to each key, decoded and joined; a missing key gives `join([])`.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` naming the key and the frame's byte offset
    ///   if a frame is damaged or the decoder rejects it.
    public func get(_ keys: [PartdKey]) throws -> [Value] {
        let stored = try inner.get(keys)
        return try zip(keys, stored).map { key, bytes in
            try join(ValueFrames.payloads(bytes[...], key: key).map { payload in
                do {
                    return try decode(Array(payload.bytes))
                } catch {
                    throw PartdError(
                        code: .corruptData,
                        message: "key \(key), frame at byte offset \(payload.offset): the decoder rejected the value: \(error)",
                        key: key)
                }
            })
        }
    }

    public func get(_ key: PartdKey) throws -> Value {
        try get([key])[0]
    }

    /// Sets `key` to `value` unless this store's inner store already set it (partd's `iset`).
    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: Value) throws -> Bool {
        let payload = try encodeValue(value, key: key)
        return try inner.setOnce(key, ValueFrames.header(for: payload) + payload)
    }

    public func delete(_ keys: [PartdKey]) throws { try inner.delete(keys) }
    public func delete(_ key: PartdKey) throws { try inner.delete([key]) }
    public func drop() throws { try inner.drop() }
    public func keys() throws -> [PartdKey] { try inner.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try inner.contains(key) }

    private func encodeValue(_ value: Value, key: PartdKey) throws -> [UInt8] {
        do {
            return try encode(value)
        } catch let error as PartdError {
            throw error
        } catch {
            throw PartdError(code: .invalidArgument, message: "could not encode a value for key \(key): \(error)", key: key)
        }
    }
}

extension EncodedStore: ByteStore where Value == [UInt8] {
    public func byteCount(of key: PartdKey) throws -> Int {
        try get(key).count
    }

    public func validate(_ key: PartdKey) throws {
        try inner.validate(key)
    }

    public func waitForWrites() throws {
        try inner.waitForWrites()
    }
}

/// Value frames, format version 1 (`docs/format.md` §5): a 24-byte header
/// ("PDVF", version, flags, reserved, payload length, XXH3 checksum) and the payload.
public enum ValueFrames {
    public static let magic: [UInt8] = Array("PDVF".utf8)
    public static let version: UInt8 = 1
    public static let headerSize = 24

    /// The 24-byte header of a frame holding `payload`.
    public static func header(for payload: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: headerSize)
        h[0..<4] = magic[...]
        h[4] = version
        let length = UInt64(payload.count)
        for i in 0..<8 { h[8 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
        let seed = XXHash.hash64(h[0..<16], seed: 0)
        let checksum = XXHash.hash64(payload[...], seed: seed)
        for i in 0..<8 { h[16 + i] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt64(i))) }
        return h
    }

    /// The payloads of every frame in `bytes`, in order, each checked against its
    /// checksum; offsets count from the start of `bytes`.
    public static func payloads(_ bytes: ArraySlice<UInt8>, key: PartdKey) throws -> [(offset: Int, bytes: ArraySlice<UInt8>)] {
        var result: [(offset: Int, bytes: ArraySlice<UInt8>)] = []
        var offset = 0
        while offset < bytes.count {
            let payload = try self.payload(bytes, at: offset, key: key)
            result.append((offset, payload))
            offset = payload.endIndex - bytes.startIndex
        }
        return result
    }

    /// Whether a value frame starts `offset` bytes into `bytes` (its magic and version are there).
    public static func starts(_ bytes: ArraySlice<UInt8>, at offset: Int) -> Bool {
        let at = bytes.startIndex + offset
        return bytes.count - offset >= 5 && bytes[at..<(at + 4)].elementsEqual(magic) && bytes[at + 4] == version
    }

    /// The payload of the frame that starts `offset` bytes into `bytes`, checked
    /// against its checksum; it ends where the next frame starts.
    public static func payload(_ bytes: ArraySlice<UInt8>, at offset: Int, key: PartdKey) throws -> ArraySlice<UInt8> {
        let at = bytes.startIndex + offset
        func corrupt(_ detail: String) -> PartdError {
            PartdError(code: .corruptData, message: "key \(key), frame at byte offset \(offset): \(detail)", key: key)
        }
        func load(_ position: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(bytes[at + position + i]) << (8 * UInt64(i)) }
            return v
        }
        guard bytes.count - offset >= headerSize else {
            throw corrupt("a frame header is cut off: the value was truncated")
        }
        guard bytes[at..<(at + 4)].elementsEqual(magic) else {
            throw corrupt("no value frame starts here (bad magic)")
        }
        guard bytes[at + 4] == version else {
            throw corrupt("value frame version \(bytes[at + 4]) is not supported (this library reads version \(version))")
        }
        guard bytes[(at + 5)..<(at + 8)].allSatisfy({ $0 == 0 }) else {
            throw corrupt("unknown flags or non-zero reserved bytes")
        }
        let length = load(8)
        guard length <= UInt64(bytes.count - offset - headerSize) else {
            throw corrupt("a frame claims \(length) bytes but only \(bytes.count - offset - headerSize) follow: the value was truncated")
        }
        let start = at + headerSize
        let payload = bytes[start..<(start + Int(length))]
        let seed = XXHash.hash64(bytes[at..<(at + 16)], seed: 0)
        guard XXHash.hash64(payload, seed: seed) == load(16) else {
            throw corrupt("checksum mismatch: the frame is damaged")
        }
        return payload
    }
}
