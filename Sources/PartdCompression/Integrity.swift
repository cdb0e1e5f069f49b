// SPDX-License-Identifier: Apache-2.0

import Partd

/// Damage found in a key's frames: everything before `validBytes` is complete,
/// checked frames; the rest (from the first bad frame on) is not.
public struct FrameDamage: Sendable, CustomStringConvertible {
    public var key: PartdKey
    /// Where the first bad frame starts: the length of the valid prefix.
    public var validBytes: Int
    /// The key's length in bytes.
    public var totalBytes: Int
    /// What is wrong, with the byte offset.
    public var detail: String

    public var description: String {
        "key \(key): \(totalBytes - validBytes) of \(totalBytes) bytes past the last valid frame (at offset \(validBytes)): \(detail)"
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

    /// The damage in one key's bytes, or `nil` if every frame is complete and checks.
    public static func damage(in bytes: [UInt8], key: PartdKey) -> FrameDamage? {
        guard !bytes.isEmpty else { return nil }
        var offset = 0
        if bytes.starts(with: FrameFormat.magic) {
            while offset < bytes.count {
                do {
                    let header = try FrameFormat.parseHeader(bytes[...], at: offset, key: key)
                    let end = offset + FrameFormat.headerSize + header.storedLength
                    let seed = XXHash.hash64(bytes[offset..<(offset + 24)], seed: 0)
                    guard XXHash.hash64(bytes[(offset + FrameFormat.headerSize)..<end], seed: seed) == header.checksum else {
                        return FrameDamage(key: key, validBytes: offset, totalBytes: bytes.count, detail: "frame at byte offset \(offset): checksum mismatch")
                    }
                    offset = end
                } catch let error as PartdError {
                    return FrameDamage(key: key, validBytes: offset, totalBytes: bytes.count, detail: error.message)
                } catch {
                    return FrameDamage(key: key, validBytes: offset, totalBytes: bytes.count, detail: "\(error)")
                }
            }
        } else if ValueFrames.starts(bytes[...], at: 0) {
            while offset < bytes.count {
                do {
                    offset = try ValueFrames.payload(bytes[...], at: offset, key: key).endIndex
                } catch let error as PartdError {
                    return FrameDamage(key: key, validBytes: offset, totalBytes: bytes.count, detail: error.message)
                } catch {
                    return FrameDamage(key: key, validBytes: offset, totalBytes: bytes.count, detail: "\(error)")
                }
            }
        }
        return nil
    }

    /// Truncates every damaged key of a directory store to its last complete,
    /// valid frame (a torn append is removed; earlier appends stay), and returns
    /// what it removed.
    @discardableResult
    public static func repair(_ store: DirectoryStore) throws -> [FrameDamage] {
        let damaged = try verify(store)
        for damage in damaged { try store.truncate(damage.key, to: damage.validBytes) }
        return damaged
    }
}
