// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import Synchronization

/// How a ``ListStore`` encodes each appended list.
public enum ListEncoding: Sendable, Hashable {
    /// MessagePack (the default): fast, compact, and what Python's `partd.Python`
    /// writes and reads. Structs become maps with string keys (`.map`, readable
    /// as dicts in Python) or arrays of their fields (`.array`, smaller and faster).
    case messagePack(MessagePackEncoder.StructEncoding = .map)
    /// JSON text (Foundation's coders): slower, for readability.
    case json
}

/// How a ``ListStore`` frames each appended list in the store below.
public enum ListFraming: Sendable, Hashable {
    /// Checked value frames (`docs/format.md` §5): versioned, with a checksum. The default.
    case checked
    /// Python partd's framing (an 8-byte little-endian length and the payload), so that
    /// `partd.Python(partd.File(path))` reads the lists; no checksum.
    case partd
}

/// Lists of any `Codable` value per key over any byte store (partd's `Python`
/// and `Pickle`, without pickle): each appended list is one frame, and `get`
/// returns the concatenation of every list appended to the key.
///
/// ```swift
/// struct Visit: Codable, Sendable { var user: Int; var page: String }
/// let visits = ListStore<MemoryStore, Visit>(over: MemoryStore())
/// try visits.append(["a": [Visit(user: 1, page: "/")], "b": []])
/// try visits.append(["a": [Visit(user: 2, page: "/x")]])
/// try visits.get("a").count       // 2
/// ```
///
/// Reading accepts both framings and both encodings in any mix, so a store
/// Python's `partd.Python(partd.File(path))` wrote (lists of plain values:
/// numbers, strings, bytes, lists, dicts) reads back as Swift values. Frames
/// holding pickles (partd's fallback for values msgpack cannot hold) are refused
/// with ``PartdError/Code/corruptData``; nothing is ever unpickled or evaluated.
///
/// The store keeps the lists of its latest `get` and writes the next `get`'s
/// values into those the caller has dropped, as ``TableStore`` does with its
/// columns; ``releaseReusableMemory()`` lets them go.
public final class ListStore<Inner: ByteStore, Element: Codable & Sendable>: Sendable {
    /// The store the frames are written to.
    public let inner: Inner
    public let encoding: ListEncoding
    public let framing: ListFraming
    /// The lists of the latest `get`, reused by the next once the caller has dropped them.
    let recycler = ResultBuffers()
    /// Encoded bytes per value of the latest list encoded (at least 16): the next list's payload is reserved
    /// from it, so that encoding writes it without growing the buffer step by step.
    private let bytesPerValue = Atomic<Int>(16)

    public init(over inner: Inner, encoding: ListEncoding = .messagePack(), framing: ListFraming = .checked) {
        self.inner = inner
        self.encoding = encoding
        self.framing = framing
    }

    /// Appends each list as one frame under its key (lists are encoded on all cores).
    ///
    /// - Throws: ``PartdError/Code/invalidArgument`` naming the key if a value
    ///   cannot be encoded; nothing of the batch is written then.
    public func append(_ batch: [(key: PartdKey, value: [Element])]) throws {
        let framed = try Parallel.map(batch, totalBytes: batch.reduce(0) { $0 + $1.value.count * 32 }) { entry in
            (key: entry.key, chunks: try frame(entry.value, key: entry.key))
        }
        try inner.append(chunked: framed)
    }

    public func append(_ batch: [PartdKey: [Element]]) throws {
        try append(batch.map { (key: $0.key, value: $0.value) })
    }

    public func append(_ key: PartdKey, _ values: [Element]) throws {
        try append([(key: key, value: values)])
    }

    /// Every list appended to each key, concatenated; a missing key reads as `[]`.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` naming the key and the frame's
    ///   byte offset if a frame is damaged or its values are not `Element`s;
    ///   ``PartdError/Code/typeMismatch`` naming what the key holds if its frames
    ///   hold arrays or tables.
    public func get(_ keys: [PartdKey]) throws -> [[Element]] {
        let lists = try Parallel.map(keys, totalBytes: .max) { key in
            try inner.withBytes(of: key) { try decode($0, key: key) }
        }
        recycler.keep(lists.map(ResultBuffers.held))
        return lists
    }

    /// Lets go of the memory this store keeps from its latest `get` for the next one to reuse (at most what
    /// that `get` returned; lists the caller still holds are never reused).
    public func releaseReusableMemory() {
        recycler.removeAll()
    }

    public func get(_ key: PartdKey) throws -> [Element] {
        try get([key])[0]
    }

    /// Sets `key` to `values` unless this store's inner store already set it (partd's `iset`).
    @discardableResult
    public func setOnce(_ key: PartdKey, _ values: [Element]) throws -> Bool {
        try inner.setOnce(key, try frame(values, key: key).flatMap { $0 })
    }

    public func delete(_ keys: [PartdKey]) throws { try inner.delete(keys) }
    public func delete(_ key: PartdKey) throws { try inner.delete([key]) }
    public func drop() throws { try inner.drop() }
    public func keys() throws -> [PartdKey] { try inner.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try inner.contains(key) }

    // MARK: Frames

    private func frame(_ values: [Element], key: PartdKey) throws -> [[UInt8]] {
        var payload: [UInt8] = []
        do {
            switch encoding {
            case .messagePack(let structs):
                // The encoder writes into a buffer of an eighth more than the latest list took per value (so a
                // list like it fits without the buffer growing step by step; at most 64 MiB over the old
                // 16 bytes a value), then copies it into `payload` at its exact size: the store keeps
                // `payload`, so it must not hold unused capacity.
                let estimate = bytesPerValue.load(ordering: .relaxed)
                let room = Swift.min(values.count &* (estimate + estimate / 8), values.count &* 16 + (64 << 20))
                try MessagePackEncoder(structEncoding: structs).encode(list: values, into: &payload, writerCapacity: room + 64)
                if !values.isEmpty {
                    bytesPerValue.store(Swift.max(16, payload.count / values.count), ordering: .relaxed)
                }
            case .json:
                payload = Array(try JSONEncoder.sortingKeys.encode(values))
            }
        } catch {
            throw PartdError(code: .invalidArgument, message: "could not encode a list for key \(key): \(error)", key: key)
        }
        switch framing {
        case .checked:
            return [ValueFrames.header(for: payload), payload]
        case .partd:
            guard payload.count < 1 << 32 else {
                throw PartdError(
                    code: .invalidArgument,
                    message: "a list of \(payload.count) encoded bytes for key \(key) is too large for partd framing (4 GiB at most); use checked framing",
                    key: key)
            }
            var length: [UInt8] = []
            for i in 0..<8 { length.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * UInt64(i)))) }
            return [length, payload]
        }
    }

    private func decode(_ bytes: ArraySlice<UInt8>, key: PartdKey) throws -> [Element] {
        // Find every frame first, so the result is allocated once for all their values.
        var payloads: [(offset: Int, payload: ArraySlice<UInt8>)] = []
        var offset = 0
        while offset < bytes.count {
            let payload: ArraySlice<UInt8>
            if ValueFrames.starts(bytes, at: offset) {
                payload = try ValueFrames.payload(bytes, at: offset, key: key)
            } else {
                // Python partd's frame: an 8-byte length (native order; little-endian on every platform it runs on).
                guard bytes.count - offset >= 8 else {
                    throw PartdError.corruptFrame(key, offset, "a frame header is cut off: the value was truncated")
                }
                let length = LittleEndian.load(bytes, at: offset)
                guard length <= UInt64(bytes.count - offset - 8) else {
                    throw PartdError.corruptFrame(key, offset, "a frame claims \(length) bytes but only \(bytes.count - offset - 8) follow")
                }
                let start = bytes.startIndex + offset + 8
                payload = bytes[start..<(start + Int(length))]
            }
            // An array or table payload (a `.npy` frame also starts as a MessagePack array of 3).
            if let other = TypedPayloadKind.describe(payload, lists: false) {
                throw PartdError.layoutMismatch(key, holds: other, given: "lists of \(Element.self)")
            }
            payloads.append((offset, payload))
            offset = payload.endIndex - bytes.startIndex
        }
        // Each count is checked against its payload's size (a value takes a byte at least).
        let counts = payloads.map { MessagePackDecoder.listCount(of: $0.payload) }
        let total = counts.reduce(0) { $0 + ($1 ?? 0) }
        if !(Element.self is any MessagePackRecord.Type), !counts.contains(nil) {
            // Every frame holds a MessagePack list: decode them all in place into the one result.
            return try RawBytes.filling(Element.self, capacity: total, recycler: recycler) { filler in
                for (offset, payload) in payloads {
                    do {
                        try MessagePackDecoder().decodeList(Element.self, from: payload, into: &filler)
                    } catch {
                        throw Self.frameError(error, key: key, offset: offset)
                    }
                }
            }
        }
        // Appended into the storage of an earlier result the caller has dropped, if one fits.
        var result = recycler.take(Element.self, count: total) ?? []
        result.reserveCapacity(total)
        for (offset, payload) in payloads {
            do {
                try Self.decodePayload(payload, into: &result)
            } catch {
                throw Self.frameError(error, key: key, offset: offset)
            }
        }
        return result
    }

    private static func frameError(_ error: any Error, key: PartdKey, offset: Int) -> PartdError {
        if let error = error as? PartdError { return PartdError.corruptFrame(key, offset, error.message) }
        return PartdError.corruptFrame(key, offset, "the values are not \(Element.self): \(error)")
    }

    /// Decodes one payload (a MessagePack array or a JSON array) and appends its values.
    private static func decodePayload(_ payload: ArraySlice<UInt8>, into result: inout [Element]) throws {
        guard let first = payload.first else {
            throw PartdError(code: .corruptData, message: "an empty payload holds no list")
        }
        switch first {
        case 0x90...0x9F, 0xDC, 0xDD:
            try MessagePackDecoder().decode(list: Element.self, from: payload, appendingTo: &result)
        case UInt8(ascii: "["):
            result += try JSONDecoder().decode([Element].self, from: Data(payload))
        case 0x80:
            throw PartdError(
                code: .corruptData,
                message: "the frame holds a Python pickle (partd's fallback for values MessagePack cannot hold); pickles are never loaded")
        default:
            throw PartdError(code: .corruptData, message: "the payload is neither a MessagePack nor a JSON list (first byte \(first))")
        }
    }
}

extension JSONEncoder {
    /// A `JSONEncoder` that writes object keys sorted (`.sortedKeys`): a struct's fields and a dictionary's
    /// keys come out in one order in every process, where Swift's own order for a dictionary is seeded per
    /// process. (A set is written in its iteration order: `JSONEncoder` cannot sort it.)
    package static var sortingKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
