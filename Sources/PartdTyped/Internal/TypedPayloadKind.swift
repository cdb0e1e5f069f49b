// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression

/// The typed payload kinds of `docs/format.md` §6, told apart by their first bytes, so that a reader given
/// another kind reports `typeMismatch`, naming what the key holds, instead of calling the frame damaged.
enum TypedPayloadKind {
    /// What `bytes` holds if it starts as another typed payload does: `.npy` arrays (with their dtype and row
    /// shape, when the header parses), string arrays, tables, or, with `lists`, a list (a MessagePack array
    /// whose structure checks to the last byte, or text from `[` to `]`); `nil` for anything else, which the
    /// caller reports as damage. A `.npy` payload whose header does not parse is damage too.
    static func describe(_ bytes: ArraySlice<UInt8>, lists: Bool = true) -> String? {
        if bytes.starts(with: NPYHeader.magic) {
            guard let (header, _) = try? NPYHeader.parse(bytes) else { return nil }
            return ArrayLayout(dtype: header.dtype, rowShape: Array(header.shape.dropFirst())).description
        }
        if bytes.starts(with: StringArray.magic) { return "string arrays" }
        if bytes.starts(with: TableFrames.magic) { return "tables" }
        guard lists, let first = bytes.first else { return nil }
        switch first {
        case 0x90...0x9F, 0xDC, 0xDD:
            let end = try? MessagePackInput(bytes: bytes).skip(from: bytes.startIndex)
            return end == bytes.endIndex ? "a MessagePack list" : nil
        case UInt8(ascii: "["):
            let last = bytes.lastIndex { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            return last.map { bytes[$0] == UInt8(ascii: "]") } == true ? "a JSON list" : nil
        default:
            return nil
        }
    }

    /// The checked frames (`ValueFrames`) of a typed key. A key that holds lists in Python partd's framing (an
    /// 8-byte length, then the list) has no such frames; it is reported as `typeMismatch`, naming it, where
    /// other bytes without the frame magic stay damage. The check runs only once reading has failed.
    static func frames(_ bytes: ArraySlice<UInt8>, key: PartdKey, given: String) throws -> [(offset: Int, bytes: ArraySlice<UInt8>)] {
        do {
            return try ValueFrames.payloads(bytes, key: key)
        } catch {
            if !ValueFrames.starts(bytes, at: 0), let other = describePartdFramed(bytes) {
                throw PartdError.layoutMismatch(key, holds: other, given: given)
            }
            throw error
        }
    }

    /// "… in partd's framing" if `bytes` start with a frame of Python partd's (an 8-byte little-endian length
    /// that fits, then a payload) whose payload is a list; `nil` otherwise.
    private static func describePartdFramed(_ bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.count > 8 else { return nil }
        let length = LittleEndian.load(bytes, at: 0)
        guard length > 0, length <= UInt64(bytes.count - 8) else { return nil }
        let start = bytes.startIndex + 8
        let payload = bytes[start..<(start + Int(length))]
        guard !payload.starts(with: NPYHeader.magic), !payload.starts(with: StringArray.magic),
            !payload.starts(with: TableFrames.magic), let list = describe(payload)
        else { return nil }
        return "\(list) in partd's framing"
    }

    /// Throws ``PartdError/Code/typeMismatch`` naming what `bytes` hold (`given`: what was asked for) if they do
    /// not start with `magic`, the asked-for kind's, but as another typed payload does; anything else is left to
    /// the caller's parser, which reports damage.
    static func check(_ bytes: ArraySlice<UInt8>, startsWith magic: [UInt8], key: PartdKey, given: String) throws {
        if !bytes.starts(with: magic), let other = describe(bytes) {
            throw PartdError.layoutMismatch(key, holds: other, given: given)
        }
    }
}
