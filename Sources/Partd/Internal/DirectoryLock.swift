// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The locking scheme of ``DirectoryStore`` (documented in `docs/format.md`).
///
/// - **Key stripes (in-process).** 64 mutexes; a key belongs to stripe
///   `hash & 63`. An operation on some keys locks their stripes in ascending
///   order, so batches on overlapping keys are serialised and batches on
///   disjoint keys run in parallel.
/// - **Directory lock (across processes).** `flock` on `<root>/.lock`: shared
///   for appends and reads, exclusive for operations that remove or replace
///   files (delete, drop, setOnce). Appends from many processes hold it shared
///   together; their bytes stay unmixed because each key's bytes are written
///   with one `write` to an `O_APPEND` descriptor.
/// - **Generation.** Exclusive operations add one to a little-endian `UInt64`
///   at offset 0 of `.lock`, even when they fail part-way. Whenever this
///   process takes the lock (shared afresh, or exclusive) it compares the
///   generation with the one it last saw and, if it changed, closes its cached
///   descriptors, which may point at files another process removed.
final class DirectoryLock: Sendable {
    static let stripeCount = 64

    private struct Shared {
        var holders = 0
        var generation: UInt64 = 0
        var closed = false
    }

    /// Replaced only by `replacingDescriptor`, which holds every stripe, while every other use of it holds
    /// at least one: no two threads ever touch it at once.
    nonisolated(unsafe) private(set) var lockFD: Int32
    private let stripes: [PosixMutex]
    private let shared = Locked(Shared())

    /// The store's directory, named in errors.
    let directory: String

    init(lockFD: Int32, directory: String) {
        self.lockFD = lockFD
        self.directory = directory
        self.stripes = (0..<Self.stripeCount).map { _ in PosixMutex() }
    }

    deinit { if lockFD >= 0 { Posix.close(lockFD) } }

    static func stripe(of key: PartdKey) -> Int { key.cachedHash & (stripeCount - 1) }

    static func mask(of keys: some Sequence<PartdKey>) -> UInt64 {
        var mask: UInt64 = 0
        for key in keys { mask |= 1 << UInt64(stripe(of: key)) }
        return mask
    }

    static let allStripes: UInt64 = .max

    private func lockStripes(_ mask: UInt64) {
        var m = mask
        while m != 0 {
            let i = m.trailingZeroBitCount
            stripes[i].lock()
            m &= m - 1
        }
    }

    private func unlockStripes(_ mask: UInt64) {
        var m = mask
        while m != 0 {
            let i = m.trailingZeroBitCount
            stripes[i].unlock()
            m &= m - 1
        }
    }

    /// Runs `body` holding the stripes in `mask` and the shared directory lock.
    /// `onNewGeneration` runs (under the lock) when another process changed the directory.
    func withShared<R>(
        _ mask: UInt64,
        onNewGeneration: () -> Void,
        _ body: () throws -> R
    ) throws -> R {
        lockStripes(mask)
        defer { unlockStripes(mask) }
        try shared.withLock { (s: inout Shared) throws -> Void in
            if s.closed { throw PartdError.closedStore(path: directory) }
            if s.holders == 0 {
                do throws(Errno) {
                    try Posix.lockFile(lockFD, .shared)
                } catch {
                    throw PartdError.system("lock", key: nil, path: directory + "/.lock", errno: error.rawValue)
                }
                let generation = (try? Posix.readUInt64(lockFD, at: 0)) ?? s.generation
                if generation != s.generation {
                    s.generation = generation
                    onNewGeneration()
                }
            }
            s.holders += 1
        }
        defer {
            shared.withLock { s in
                s.holders -= 1
                if s.holders == 0 { Posix.unlockFile(lockFD) }
            }
        }
        return try body()
    }

    /// Runs `body` holding every stripe and the exclusive directory lock, then
    /// advances the generation (whether or not `body` succeeded, since a failed
    /// delete may have removed some files) so other processes drop stale
    /// descriptors. `onNewGeneration` runs first if another process changed the
    /// directory since this process last looked.
    func withExclusive<R>(onNewGeneration: () -> Void, _ body: () throws -> R) throws -> R {
        lockStripes(Self.allStripes)
        defer { unlockStripes(Self.allStripes) }
        if shared.withLock({ $0.closed }) { throw PartdError.closedStore(path: directory) }
        do {
            try Posix.lockFile(lockFD, .exclusive)
        } catch {
            throw PartdError.system("lock", key: nil, path: directory + "/.lock", errno: error.rawValue)
        }
        defer { Posix.unlockFile(lockFD) }
        let current = (try? Posix.readUInt64(lockFD, at: 0)) ?? 0
        let seen = shared.withLock { $0.generation }
        if current != seen { onNewGeneration() }
        defer {
            let next = current &+ 1
            let stored = (try? Posix.writeUInt64(lockFD, next, at: 0)) != nil
            shared.withLock { $0.generation = stored ? next : current }
        }
        return try body()
    }

    /// Marks the lock closed after in-flight operations finish, runs `body`, and closes the lock file (its
    /// `flock` goes with it); later operations throw. Does nothing (and does not run `body`) if already closed.
    func close(_ body: () -> Void) {
        lockStripes(Self.allStripes)
        defer { unlockStripes(Self.allStripes) }
        guard !shared.withLock({ s in defer { s.closed = true }; return s.closed }) else { return }
        body()
        Posix.close(lockFD)
        lockFD = -1
    }

    var isClosed: Bool { shared.withLock { $0.closed } }

    /// Runs `body` with every stripe held (no operation of the store is running in this process); if it
    /// returns a new lock-file descriptor, that replaces (and closes) the current one, and the next
    /// operation treats the cache as stale.
    func replacingDescriptor(_ body: () -> Int32?) -> Bool {
        lockStripes(Self.allStripes)
        defer { unlockStripes(Self.allStripes) }
        guard !shared.withLock({ $0.closed }), let replacement = body() else { return false }
        Posix.close(lockFD)
        lockFD = replacement
        shared.withLock { $0.generation = .max }
        return true
    }
}
