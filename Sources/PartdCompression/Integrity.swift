// SPDX-License-Identifier: Apache-2.0

import Partd

/// Damage found in a key's frames.
///
/// `ranges` are the byte ranges that are not complete, checked frames: a torn or damaged frame, or bytes
/// between frames. Every other byte belongs to a frame that checks, so ``StoreIntegrity/repair(_:)`` keeps
/// those frames, in order, and removes only the ranges. `restoredMagic` lists frames whose four magic
/// bytes are damaged while everything else in them (header and payload, under the checksum) checks, and
/// `restoredVersion` those whose version byte alone is; repair writes them back. `newerFormatAt` marks a
/// key repair leaves alone.
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
    /// The offsets of frames whose version byte is damaged (the magic intact) but that check with it set back;
    /// repair restores it.
    public var restoredVersion: [Int] = []
    /// The offset of a frame this build cannot read but that need not be damaged: its magic is intact and it
    /// names a newer format version (with its flags and reserved bytes zero, and not merely a damaged version
    /// byte), or (with a checksum that checks) a codec this build does not know. A newer release may have
    /// written it, so the walk stops there and ``StoreIntegrity/repair(_:)`` leaves the key as it is.
    public var newerFormatAt: Int?

    /// How many bytes repair removes.
    public var damagedBytes: Int { ranges.reduce(0) { $0 + $1.count } }

    public var description: String {
        var parts: [String] = []
        if !ranges.isEmpty {
            let spans = ranges.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ")
            parts.append("\(damagedBytes) of \(totalBytes) bytes damaged (\(ranges.count == 1 ? "range" : "ranges") \(spans))")
        }
        if let newerFormatAt {
            parts.append("the frame at byte offset \(newerFormatAt) is of a newer format than this build reads (left as it is)")
        }
        if !restoredVersion.isEmpty {
            let offsets = restoredVersion.map(String.init).joined(separator: ", ")
            parts.append("bad version byte on \(restoredVersion.count == 1 ? "the frame" : "the frames") at byte offset \(offsets), which otherwise check")
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
    /// Returns what it repaired, and the keys it left as they are because they hold a frame of a newer
    /// format than this build reads (``FrameDamage/newerFormatAt`` set): a newer release may have written it,
    /// and this build cannot tell its frames from damage.
    @discardableResult
    public static func repair(_ store: DirectoryStore) throws -> [FrameDamage] {
        var found: [FrameDamage] = []
        for key in try verify(store).map(\.key) {
            try store.rewrite(key) { bytes in
                guard let found1 = scan(bytes, key: key), let damage = found1.damage else { return nil }
                found.append(damage)
                if damage.newerFormatAt != nil { return nil }
                return kept(bytes, found1.kind, found1.frames, damagedBytes: damage.damagedBytes)
            }
        }
        return found
    }

    /// A damaged key's bytes repaired, with the damage found: every frame that checks, in order, with its
    /// magic restored where needed; `nil` if there is nothing to repair.
    ///
    /// - Throws: ``PartdError/Code/corruptData`` if the bytes hold a frame of a newer format than this build
    ///   reads (``FrameDamage/newerFormatAt``).
    public static func repaired(_ bytes: [UInt8], key: PartdKey) throws -> (damage: FrameDamage, bytes: [UInt8])? {
        guard let found = scan(bytes, key: key), let damage = found.damage else { return nil }
        if damage.newerFormatAt != nil { throw newerFormat(damage) }
        return (damage, kept(bytes, found.kind, found.frames, damagedBytes: damage.damagedBytes))
    }

    /// The frames `frames` of `bytes`, in order, their magic and version restored where needed.
    private static func kept(_ bytes: [UInt8], _ kind: Kind, _ frames: [Frame], damagedBytes: Int) -> [UInt8] {
        var kept: [UInt8] = []
        kept.reserveCapacity(bytes.count - damagedBytes)
        for frame in frames {
            let start = kept.count
            kept.append(contentsOf: bytes[frame.range])
            if frame.restored { kept.replaceSubrange(start..<(start + 4), with: kind.magic) }
            if frame.restoredVersion { kept[start + 4] = kind.version }
        }
        return kept
    }

    private static func newerFormat(_ damage: FrameDamage) -> PartdError {
        PartdError(
            code: .corruptData,
            message: "\(damage.detail): the key may have been written by a newer release; it is left as it is (use a build "
                + "that reads this format)",
            key: damage.key)
    }

    /// The two framed layouts a key can hold.
    enum Kind {
        case compressed, value
        var magic: [UInt8] { self == .compressed ? FrameFormat.magic : ValueFrames.magic }
        var version: UInt8 { self == .compressed ? FrameFormat.version : ValueFrames.version }
        var headerSize: Int { self == .compressed ? FrameFormat.headerSize : ValueFrames.headerSize }
    }

    struct Frame {
        var range: Range<Int>
        var restored: Bool
        var restoredVersion = false
    }

    /// Walks a key's frames. At a frame that does not check, the damage runs to the next offset where a
    /// checked frame starts (its magic may be damaged), or to the end; when the damaged frame's header says
    /// where it ends and a checked frame (or the end of the bytes) is there, the damage ends there, unless a
    /// chain of checked frames inside ends exactly there (a torn append whose claimed length happens to land
    /// on a later frame). Returns `nil` for bytes that are not frames.
    ///
    /// The search for the next frame hashes what candidate headers claim; it may hash at most four times the
    /// key's bytes (plus 64 MiB), so hostile bytes (a header every few bytes, each claiming the rest) cost
    /// linear time. Past that budget the rest of the key counts as damaged, and the detail says so.
    static func scan(_ bytes: [UInt8], key: PartdKey) -> (kind: Kind, frames: [Frame], damage: FrameDamage?)? {
        guard !bytes.isEmpty else { return nil }
        // The kind whose first frame checks (as written, then with its magic restored: "PDZF" and "PDVF"
        // differ in one byte); failing that, the kind the magic names.
        var kind: Kind?
        for (candidate, restoring) in [(Kind.compressed, false), (.value, false), (.compressed, true), (.value, true)] {
            var probe = Walk(bytes: bytes, kind: candidate)
            if probe.frameEnd(at: 0, restoringMagic: restoring, charged: false) != nil {
                kind = candidate
                break
            }
        }
        if kind == nil {
            if bytes.starts(with: FrameFormat.magic) { kind = .compressed } else if bytes.starts(with: ValueFrames.magic) { kind = .value }
        }
        guard let kind else { return nil }
        var walk = Walk(bytes: bytes, kind: kind)
        var frames: [Frame] = []
        var ranges: [Range<Int>] = []
        var restored: [Int] = []
        var restoredVersion: [Int] = []
        var newer: Int?
        var detail: String?
        var offset = 0
        while offset < bytes.count {
            if let end = walk.frameEnd(at: offset, restoringMagic: false, charged: false) {
                frames.append(Frame(range: offset..<end, restored: false))
                offset = end
                continue
            }
            // A version byte damaged alone: the frame checks with it set back (the checksum's seed covers it).
            if let end = walk.frameEnd(restoringVersionAt: offset) {
                frames.append(Frame(range: offset..<end, restored: false, restoredVersion: true))
                restoredVersion.append(offset)
                if detail == nil { detail = problem(bytes, at: offset, kind, key: key) }
                offset = end
                continue
            }
            if walk.isNewerFormat(at: offset) {
                // Not ours to judge: the rest of the key is left as it is.
                detail = detail ?? problem(bytes, at: offset, kind, key: key)
                newer = offset
                ranges.append(offset..<bytes.count)
                break
            }
            // (With its magic intact, the frame was just checked as it is.)
            if !walk.hasMagic(at: offset), let end = walk.frameEnd(at: offset, restoringMagic: true, charged: true) {
                frames.append(Frame(range: offset..<end, restored: true))
                restored.append(offset)
                if detail == nil { detail = problem(bytes, at: offset, kind, key: key) }
                offset = end
                continue
            }
            if detail == nil { detail = problem(bytes, at: offset, kind, key: key) }
            var next: Int
            if let claimed = claimedEnd(bytes, at: offset, kind), claimed > offset,
                claimed == bytes.count || walk.frameEnd(at: claimed, restoringMagic: true, charged: true) != nil {
                next = walk.nextChain(after: offset, endingAt: claimed) ?? claimed
            } else {
                next = walk.nextFrame(after: offset) ?? bytes.count
            }
            if walk.exhausted {
                // No more searching: what is left counts as damaged.
                next = bytes.count
            }
            ranges.append(offset..<next)
            offset = next
        }
        guard var detail else { return (kind, frames, nil) }
        if walk.exhausted {
            detail += " (the search for the next valid frame gave up after hashing four times the key's bytes: "
                + "everything after the damage is counted as damaged)"
        }
        let first = min(ranges.first?.lowerBound ?? bytes.count, restored.first ?? bytes.count, restoredVersion.first ?? bytes.count)
        return (kind, frames, FrameDamage(
            key: key, validBytes: first, totalBytes: bytes.count, detail: detail, ranges: ranges, restoredMagic: restored,
            restoredVersion: restoredVersion, newerFormatAt: newer))
    }

    /// A walk over one key's frames of one kind, with the budget its searches may hash.
    struct Walk {
        let bytes: [UInt8]
        let kind: Kind
        var budget: Int
        var exhausted = false

        init(bytes: [UInt8], kind: Kind) {
            self.bytes = bytes
            self.kind = kind
            let (scaled, overflow) = bytes.count.multipliedReportingOverflow(by: 4)
            budget = overflow ? .max : scaled &+ (64 << 20)
        }

        /// The end of a complete frame that checks (header and checksum) starting at `offset`, or `nil`.
        /// With `restoringMagic`, the four magic bytes are taken to be the right ones, whatever they hold.
        /// A `charged` check spends the search budget on the payload it hashes.
        mutating func frameEnd(at offset: Int, restoringMagic: Bool, charged: Bool) -> Int? {
            guard !exhausted, let length = headerLength(bytes, at: offset, kind, restoringMagic: restoringMagic) else { return nil }
            if charged { guard charge(length) else { return nil } }
            return StoreIntegrity.frameEnd(bytes, at: offset, kind, length: length)
        }

        /// Spends `length` bytes of the search budget: `false` (and the walk exhausted) if too few are left.
        mutating func charge(_ length: Int) -> Bool {
            guard budget >= length else {
                exhausted = true
                return false
            }
            budget -= length
            return true
        }

        /// Whether the kind's magic is at `offset`.
        func hasMagic(at offset: Int) -> Bool {
            bytes.count - offset >= 4 && bytes[offset..<(offset + 4)].elementsEqual(kind.magic)
        }

        /// The end of the frame at `offset` if its magic is intact, its version byte is not this build's, and
        /// it checks with that byte set back (a damaged version byte), or `nil`; spends the search budget.
        mutating func frameEnd(restoringVersionAt offset: Int) -> Int? {
            guard !exhausted, hasMagic(at: offset), bytes.count - offset > 4, bytes[offset + 4] != kind.version,
                let length = headerLength(bytes, at: offset, kind, restoringMagic: false, restoringVersion: true),
                charge(length)
            else { return nil }
            return StoreIntegrity.frameEnd(bytes, at: offset, kind, length: length, restoringVersion: true)
        }

        /// Whether a frame this build cannot read, but that need not be damaged, starts at `offset`: the magic
        /// is intact and the version newer than this build's, with the flags and reserved bytes zero (callers
        /// first try ``frameEnd(restoringVersionAt:)``: a frame that checks with the version set back has a
        /// damaged version byte); or (compressed
        /// frames) the codec is unknown while every other field and the checksum check. Hashing spends the
        /// search budget.
        mutating func isNewerFormat(at offset: Int) -> Bool {
            guard !exhausted, bytes.count - offset >= 8, hasMagic(at: offset) else { return false }
            if bytes[offset + 4] > kind.version {
                // Flags and reserved bytes (compressed frames: the codec, then zeros) as every version so far has them.
                return bytes[(offset + (kind == .compressed ? 6 : 5))..<(offset + 8)].allSatisfy { $0 == 0 }
            }
            guard kind == .compressed, bytes[offset + 4] == kind.version, !Codec.all.contains(Codec(rawValue: bytes[offset + 5])),
                let length = headerLength(bytes, at: offset, kind, restoringMagic: false, anyCodec: true), charge(length)
            else { return false }
            return StoreIntegrity.frameEnd(bytes, at: offset, kind, length: length) != nil
        }

        /// The first offset after `offset` where a frame that checks starts (magic damaged or not), or `nil`.
        mutating func nextFrame(after offset: Int, before limit: Int? = nil) -> Int? {
            let limit = limit ?? bytes.count
            var candidate = offset + 1
            while candidate < limit, candidate + kind.headerSize <= bytes.count, !exhausted {
                if frameEnd(at: candidate, restoringMagic: true, charged: true) != nil { return candidate }
                // A frame whose version byte alone is damaged (restored there), or one of a newer format.
                if frameEnd(restoringVersionAt: candidate) != nil || isNewerFormat(at: candidate) { return candidate }
                candidate += 1
            }
            return nil
        }

        /// The first offset between `offset` and `claimed` where a chain of frames that check starts and
        /// ends exactly at `claimed`, or `nil`.
        mutating func nextChain(after offset: Int, endingAt claimed: Int) -> Int? {
            var from = offset
            while let start = nextFrame(after: from, before: claimed) {
                var end = start
                while end < claimed, let next = frameEnd(at: end, restoringMagic: true, charged: true) { end = next }
                if end == claimed { return start }
                from = start
            }
            return nil
        }
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

    /// The end of the frame at `offset` whose header (magic taken as right) claims `length` payload bytes, if
    /// its checksum checks.
    /// With `restoringVersion`, the version byte is taken to be this build's too.
    static func frameEnd(_ bytes: [UInt8], at offset: Int, _ kind: Kind, length: Int, restoringVersion: Bool = false) -> Int? {
        let seeded = kind == .compressed ? 24 : 16
        var header = Array(bytes[offset..<(offset + seeded)])
        header.replaceSubrange(0..<4, with: kind.magic)
        if restoringVersion { header[4] = kind.version }
        let seed = XXHash.hash64(header[...], seed: 0)
        let start = offset + kind.headerSize
        guard XXHash.hash64(bytes[start..<(start + length)], seed: seed) == load(bytes, at: offset + seeded) else { return nil }
        return start + length
    }

    /// The payload length of a header at `offset` whose fields check, or `nil`; with `restoringVersion`, the
    /// version byte is not checked, and with `anyCodec`, nor is a compressed frame's codec.
    static func headerLength(
        _ bytes: [UInt8], at offset: Int, _ kind: Kind, restoringMagic: Bool, restoringVersion: Bool = false, anyCodec: Bool = false
    ) -> Int? {
        guard offset >= 0, bytes.count - offset >= kind.headerSize else { return nil }
        guard restoringMagic || bytes[offset..<(offset + 4)].elementsEqual(kind.magic) else { return nil }
        let remaining = UInt64(bytes.count - offset - kind.headerSize)
        switch kind {
        case .compressed:
            guard restoringVersion || bytes[offset + 4] == FrameFormat.version,
                anyCodec || Codec.all.contains(Codec(rawValue: bytes[offset + 5])),
                bytes[offset + 6] == 0, bytes[offset + 7] == 0 else { return nil }
            let original = load(bytes, at: offset + 8), stored = load(bytes, at: offset + 16)
            guard original <= UInt64(Compression.maximumChunkSize), stored <= remaining,
                stored <= FrameFormat.maximumStoredLength(original: original) else { return nil }
            return Int(stored)
        case .value:
            guard restoringVersion || bytes[offset + 4] == ValueFrames.version, bytes[(offset + 5)..<(offset + 8)].allSatisfy({ $0 == 0 }) else {
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
