// SPDX-License-Identifier: Apache-2.0

import Partd

/// Damage found in a key's frames.
///
/// `ranges` are the byte ranges that are not complete, checked frames: a torn or damaged frame, or bytes
/// between frames. Every other byte belongs to a frame that checks, so ``StoreIntegrity/repair(_:)`` keeps
/// those frames, in order, and removes only the ranges. `restoredMagic` lists frames whose four magic
/// bytes are damaged while everything else in them (header and payload, under the checksum) checks; repair
/// writes the magic back.
public struct FrameDamage: Sendable, CustomStringConvertible {
    public var key: PartdKey
    /// Where the first damage starts: everything before it is complete, checked frames.
    public var validBytes: Int
    /// The key's length in bytes.
    public var totalBytes: Int
    /// What is wrong at `validBytes`, with the byte offset.
    public var detail: String
    /// The damaged byte ranges, in order; repair removes them.
    public var ranges: [Range<Int>]
    /// The offsets of frames whose magic is damaged but that otherwise check; repair restores the magic.
    public var restoredMagic: [Int]

    /// How many bytes repair removes.
    public var damagedBytes: Int { ranges.reduce(0) { $0 + $1.count } }

    public var description: String {
        var parts: [String] = []
        if !ranges.isEmpty {
            let spans = ranges.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ")
            parts.append("\(damagedBytes) of \(totalBytes) bytes damaged (\(ranges.count == 1 ? "range" : "ranges") \(spans))")
        }
        if !restoredMagic.isEmpty {
            let offsets = restoredMagic.map(String.init).joined(separator: ", ")
            parts.append("bad magic on \(restoredMagic.count == 1 ? "the frame" : "the frames") at byte offset \(offsets), which otherwise check")
        }
        return "key \(key): \(parts.joined(separator: "; ")): \(detail)"
    }
}

/// Integrity checks over stores written by the framed layers (compressed
/// frames, `docs/format.md` §4, and value frames, §5, both checksummed).
public enum StoreIntegrity {
    /// Checks every frame of every key of `store`; keys of raw bytes (no frames)
    /// have nothing to check. Returns the damaged keys.
    public static func verify(_ store: some ByteStore) throws -> [FrameDamage] {
        try store.keys().compactMap { key in damage(in: try store.get(key), key: key) }
    }

    /// The damage in one key's bytes, or `nil` if every frame is complete and checks (or the bytes are not
    /// frames: a key is framed when its first frame checks, with its magic or with the magic restored).
    public static func damage(in bytes: [UInt8], key: PartdKey) -> FrameDamage? {
        scan(bytes, key: key)?.damage
    }

    /// Repairs every damaged key of a directory store: the damaged ranges are removed and the frames
    /// around them kept, in order, and damaged magic bytes are restored. A key whose damage is a torn tail
    /// is cut back in place; any other is replaced whole (``DirectoryStore/rewrite(_:_:)``). Each key is
    /// checked again and rewritten under the store's exclusive lock, so appends made meanwhile are kept.
    /// Returns what it repaired.
    @discardableResult
    public static func repair(_ store: DirectoryStore) throws -> [FrameDamage] {
        var found: [FrameDamage] = []
        for key in try verify(store).map(\.key) {
            try store.rewrite(key) { bytes in
                guard let (damage, kept) = repaired(bytes, key: key) else { return nil }
                found.append(damage)
                return kept
            }
        }
        return found
    }

    /// A damaged key's bytes repaired, with the damage found: every frame that checks, in order, with its
    /// magic restored where needed; `nil` if there is nothing to repair.
    public static func repaired(_ bytes: [UInt8], key: PartdKey) -> (damage: FrameDamage, bytes: [UInt8])? {
        guard let found = scan(bytes, key: key), let damage = found.damage else { return nil }
        var kept: [UInt8] = []
        kept.reserveCapacity(bytes.count - damage.damagedBytes)
        for frame in found.frames {
            let start = kept.count
            kept.append(contentsOf: bytes[frame.range])
            if frame.restored { kept.replaceSubrange(start..<(start + 4), with: found.kind.magic) }
        }
        return (damage, kept)
    }

    /// The two framed layouts a key can hold.
    enum Kind {
        case compressed, value
        var magic: [UInt8] { self == .compressed ? FrameFormat.magic : ValueFrames.magic }
        var headerSize: Int { self == .compressed ? FrameFormat.headerSize : ValueFrames.headerSize }
    }

    struct Frame {
        var range: Range<Int>
        var restored: Bool
    }

    /// Walks a key's frames. At a frame that does not check, the damage runs to where its header says it
    /// ends if a checked frame starts there (or the bytes end there); otherwise to the next offset where a
    /// checked frame starts, or to the end. Returns `nil` for bytes that are not frames.
    static func scan(_ bytes: [UInt8], key: PartdKey) -> (kind: Kind, frames: [Frame], damage: FrameDamage?)? {
        guard !bytes.isEmpty else { return nil }
        let kind: Kind
        if bytes.starts(with: FrameFormat.magic) {
            kind = .compressed
        } else if bytes.starts(with: ValueFrames.magic) {
            kind = .value
        } else if frameEnd(bytes, at: 0, .compressed, restoringMagic: true) != nil {
            kind = .compressed
        } else if frameEnd(bytes, at: 0, .value, restoringMagic: true) != nil {
            kind = .value
        } else {
            return nil
        }
        var frames: [Frame] = []
        var ranges: [Range<Int>] = []
        var restored: [Int] = []
        var detail: String?
        var offset = 0
        while offset < bytes.count {
            if let end = frameEnd(bytes, at: offset, kind, restoringMagic: false) {
                frames.append(Frame(range: offset..<end, restored: false))
                offset = end
                continue
            }
            if let end = frameEnd(bytes, at: offset, kind, restoringMagic: true) {
                frames.append(Frame(range: offset..<end, restored: true))
                restored.append(offset)
                if detail == nil { detail = problem(bytes, at: offset, kind, key: key) }
                offset = end
                continue
            }
            if detail == nil { detail = problem(bytes, at: offset, kind, key: key) }
            var next = bytes.count
            if let claimed = claimedEnd(bytes, at: offset, kind),
                claimed == bytes.count || frameEnd(bytes, at: claimed, kind, restoringMagic: false) != nil {
                next = claimed
            } else {
                var candidate = offset + 1
                while candidate + kind.headerSize <= bytes.count {
                    if bytes[candidate] == kind.magic[0], frameEnd(bytes, at: candidate, kind, restoringMagic: false) != nil {
                        next = candidate
                        break
                    }
                    candidate += 1
                }
            }
            ranges.append(offset..<next)
            offset = next
        }
        guard let detail else { return (kind, frames, nil) }
        let first = min(ranges.first?.lowerBound ?? bytes.count, restored.first ?? bytes.count)
        return (kind, frames, FrameDamage(
            key: key, validBytes: first, totalBytes: bytes.count, detail: detail, ranges: ranges, restoredMagic: restored))
    }

    /// What the frame reader reports at `offset`.
    private static func problem(_ bytes: [UInt8], at offset: Int, _ kind: Kind, key: PartdKey) -> String {
        do {
            switch kind {
            case .compressed:
                _ = try FrameFormat.parseHeader(bytes[...], at: offset, key: key)
                return "frame at byte offset \(offset): checksum mismatch"
            case .value:
                _ = try ValueFrames.payload(bytes[...], at: offset, key: key)
                return "frame at byte offset \(offset): bad magic"
            }
        } catch let error as PartdError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    /// Where the frame at `offset` ends by its header's length field, when the header's other fields check.
    private static func claimedEnd(_ bytes: [UInt8], at offset: Int, _ kind: Kind) -> Int? {
        guard let length = headerLength(bytes, at: offset, kind, restoringMagic: true) else { return nil }
        return offset + kind.headerSize + length
    }

    /// The end of a complete frame that checks (header and checksum) starting at `offset`, or `nil`.
    /// With `restoringMagic`, the four magic bytes are taken to be the right ones, whatever they hold.
    static func frameEnd(_ bytes: [UInt8], at offset: Int, _ kind: Kind, restoringMagic: Bool) -> Int? {
        guard let length = headerLength(bytes, at: offset, kind, restoringMagic: restoringMagic) else { return nil }
        let seeded = kind == .compressed ? 24 : 16
        var header = Array(bytes[offset..<(offset + seeded)])
        header.replaceSubrange(0..<4, with: kind.magic)
        let seed = XXHash.hash64(header[...], seed: 0)
        let start = offset + kind.headerSize
        guard XXHash.hash64(bytes[start..<(start + length)], seed: seed) == load(bytes, at: offset + seeded) else { return nil }
        return start + length
    }

    /// The payload length of a header at `offset` whose fields check, or `nil`.
    private static func headerLength(_ bytes: [UInt8], at offset: Int, _ kind: Kind, restoringMagic: Bool) -> Int? {
        guard offset >= 0, bytes.count - offset >= kind.headerSize else { return nil }
        guard restoringMagic || bytes[offset..<(offset + 4)].elementsEqual(kind.magic) else { return nil }
        let remaining = UInt64(bytes.count - offset - kind.headerSize)
        switch kind {
        case .compressed:
            guard bytes[offset + 4] == FrameFormat.version, Codec.all.contains(Codec(rawValue: bytes[offset + 5])),
                bytes[offset + 6] == 0, bytes[offset + 7] == 0 else { return nil }
            let original = load(bytes, at: offset + 8), stored = load(bytes, at: offset + 16)
            guard original <= UInt64(Compression.maximumChunkSize), stored <= remaining,
                stored <= FrameFormat.maximumStoredLength(original: original) else { return nil }
            return Int(stored)
        case .value:
            guard bytes[offset + 4] == ValueFrames.version, bytes[(offset + 5)..<(offset + 8)].allSatisfy({ $0 == 0 }) else {
                return nil
            }
            let length = load(bytes, at: offset + 8)
            guard length <= remaining else { return nil }
            return Int(length)
        }
    }

    private static func load(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return value
    }
}
