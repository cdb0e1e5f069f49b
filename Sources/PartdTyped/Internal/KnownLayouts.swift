// SPDX-License-Identifier: Apache-2.0

import Partd
import PartdCompression

/// What a typed store instance knows each key holds (an array layout or a table
/// schema), and the checked, framed append that ArrayStore and TableStore share.
final class KnownLayouts<Layout: Equatable & Sendable>: Sendable {
    private let known = Locked<[PartdKey: Layout]>([:])

    subscript(key: PartdKey) -> Layout? { known.withLock { $0[key] } }

    func record(_ layout: Layout, for key: PartdKey) { known.withLock { $0[key] = layout } }
    func forget(_ keys: some Sequence<PartdKey>) { known.withLock { for key in keys { $0[key] = nil } } }
    func forgetAll() { known.withLock { $0.removeAll() } }

    /// Checks every entry's layout against what its key holds (`mismatch` makes the
    /// error), then writes each value as one value frame, encoded on all cores. If
    /// the write fails, layouts learned from this batch are forgotten again.
    func append<Value: Sendable>(
        _ batch: [(key: PartdKey, value: Value)], to inner: some ByteStore, totalBytes: Int,
        layout: (Value) -> Layout, mismatch: (PartdKey, Layout, Layout) -> PartdError, payload: (Value) -> [UInt8]
    ) throws {
        let learned = try known.withLock { known in
            var learned: [PartdKey: Layout] = [:]
            for (key, value) in batch {
                let given = layout(value)
                if let holds = learned[key] ?? known[key] {
                    guard holds == given else { throw mismatch(key, holds, given) }
                } else {
                    learned[key] = given
                }
            }
            known.merge(learned) { $1 }
            return learned
        }
        do {
            func frame(_ value: Value) -> [[UInt8]] {
                let bytes = payload(value)
                return [ValueFrames.header(for: bytes), bytes]
            }
            if let directory = inner as? DirectoryStore {
                // Each frame is written by the worker that encoded it, while it is in that core's cache.
                try directory.append(keys: batch.map(\.key), totalBytes: totalBytes) { frame(batch[$0].value) }
            } else {
                let framed = try Parallel.map(batch, totalBytes: totalBytes) { (key: $0.key, chunks: frame($0.value)) }
                try inner.append(chunked: framed)
            }
        } catch {
            forget(learned.keys)
            throw error
        }
    }
}
