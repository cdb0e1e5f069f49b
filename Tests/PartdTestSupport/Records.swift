// SPDX-License-Identifier: Apache-2.0

import Partd

/// Self-checking records that concurrency tests append: each names its
/// writer, batch and key and carries a payload derived from them, so a reader
/// can prove every record arrived once, whole and unmixed.
///
/// Layout (little-endian): `A5 5A` magic, writer `UInt16`, batch `UInt32`,
/// key index `UInt16`, payload length `UInt32`, payload.
public struct Record: Hashable, Sendable {
    public var writer: Int
    public var batch: Int
    public var keyIndex: Int
    public var length: Int

    public init(writer: Int, batch: Int, keyIndex: Int, length: Int) {
        self.writer = writer
        self.batch = batch
        self.keyIndex = keyIndex
        self.length = length
    }

    public static let headerSize = 14

    static func payloadByte(_ writer: Int, _ batch: Int, _ keyIndex: Int, _ i: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: writer &* 31 &+ batch &* 7 &+ keyIndex &* 13 &+ i)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0xA5, 0x5A]
        out.reserveCapacity(Self.headerSize + length)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt16(writer))
        put(UInt32(batch))
        put(UInt16(keyIndex))
        put(UInt32(length))
        for i in 0..<length { out.append(Self.payloadByte(writer, batch, keyIndex, i)) }
        return out
    }

    public enum ParseError: Error, CustomStringConvertible {
        case badMagic(offset: Int)
        case truncated(offset: Int)
        case badPayload(offset: Int, record: Record)
        public var description: String {
            switch self {
            case .badMagic(let o): return "bad magic at offset \(o) (interleaved or torn bytes)"
            case .truncated(let o): return "truncated record at offset \(o)"
            case .badPayload(let o, let r): return "payload mismatch at offset \(o) in \(r)"
            }
        }
    }

    /// Parses a key's whole content into records, checking every payload byte. With
    /// `allowingPartialTail`, the content may end inside a record (a reader in another process may see
    /// a prefix of an append still being written, `docs/format.md` §3.5): the complete records are returned.
    public static func parseAll(_ bytes: [UInt8], allowingPartialTail: Bool = false) throws -> [Record] {
        var records: [Record] = []
        var offset = 0
        func read<T: FixedWidthInteger>(_: T.Type, _ at: Int) -> T {
            var v: T = 0
            for i in 0..<MemoryLayout<T>.size { v |= T(bytes[at + i]) << (8 * i) }
            return v
        }
        while offset < bytes.count {
            guard offset + headerSize <= bytes.count else {
                if allowingPartialTail && bytes[offset...].starts(with: [0xA5, 0x5A].prefix(bytes.count - offset)) {
                    return records
                }
                throw ParseError.truncated(offset: offset)
            }
            guard bytes[offset] == 0xA5, bytes[offset + 1] == 0x5A else { throw ParseError.badMagic(offset: offset) }
            let record = Record(
                writer: Int(read(UInt16.self, offset + 2)),
                batch: Int(read(UInt32.self, offset + 4)),
                keyIndex: Int(read(UInt16.self, offset + 8)),
                length: Int(read(UInt32.self, offset + 10)))
            let start = offset + headerSize
            guard start + record.length <= bytes.count else {
                // A partial tail must still be a prefix of the record its header announces.
                if allowingPartialTail
                    && (start..<bytes.count).allSatisfy({
                        bytes[$0] == payloadByte(record.writer, record.batch, record.keyIndex, $0 - start)
                    })
                {
                    return records
                }
                throw ParseError.truncated(offset: offset)
            }
            for i in 0..<record.length
            where bytes[start + i] != payloadByte(record.writer, record.batch, record.keyIndex, i) {
                throw ParseError.badPayload(offset: offset, record: record)
            }
            records.append(record)
            offset = start + record.length
        }
        return records
    }
}

/// A deterministic pseudo-random generator (SplitMix64), so failures replay.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The batches writer `writer` appends in the concurrency tests: each batch
/// writes to the shared key `k0`, the writer's own key, and two different random keys
/// of `k1`…`k9`, with record lengths up to `maxLength`.
public func workerBatches(writer: Int, count: Int, maxLength: Int) -> [[(key: PartdKey, value: [UInt8])]] {
    var rng = SplitMix64(seed: UInt64(writer) &* 0x1234_5678 &+ 99)
    var batches: [[(key: PartdKey, value: [UInt8])]] = []
    batches.reserveCapacity(count)
    for batch in 0..<count {
        var keyIndexes = [0, 100 + writer]
        let first = Int.random(in: 1...9, using: &rng)
        keyIndexes.append(first)
        keyIndexes.append(1 + (first + Int.random(in: 0...7, using: &rng)) % 9)  // a different one
        var entries: [(key: PartdKey, value: [UInt8])] = []
        for keyIndex in keyIndexes {
            let length = Int.random(in: 0...maxLength, using: &rng)
            let record = Record(writer: writer, batch: batch, keyIndex: keyIndex, length: length)
            entries.append((key: workerKey(keyIndex), value: record.encoded()))
        }
        batches.append(entries)
    }
    return batches
}

/// The key for a key index used by ``workerBatches(writer:count:maxLength:)``.
public func workerKey(_ index: Int) -> PartdKey {
    index >= 100 ? PartdKey.tuple("own", PartdKey(index - 100)) : PartdKey("k\(index)")
}

/// What thread `thread` of process `process` does in the mixed concurrency test (deterministic, so
/// the test can recompute it): for each step, an append of a record to a shared key `s0`…`s7`, an
/// append to its private key `p<writer>`, every 10th step a get of the shared key, and every 25th
/// step a delete of its private key.
public struct MixedStep: Sendable {
    public var sharedKey: PartdKey
    public var shared: Record
    public var privateKey: PartdKey
    public var privateRecord: Record
    public var reads: Bool
    public var deletesPrivate: Bool
}

public func mixedSteps(process: Int, thread: Int, steps: Int) -> [MixedStep] {
    let writer = process * 8 + thread
    return (0..<steps).map { step in
        let k = (step * 7 + writer) % 8
        return MixedStep(
            sharedKey: PartdKey("s\(k)"),
            shared: Record(writer: writer, batch: step, keyIndex: k, length: 20 + step % 50),
            privateKey: PartdKey("p\(writer)"),
            privateRecord: Record(writer: writer, batch: step, keyIndex: 100, length: 16),
            reads: step % 10 == 9,
            deletesPrivate: step % 25 == 24)
    }
}
