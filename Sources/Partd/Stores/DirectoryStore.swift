// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A byte store on a directory, one file per key (partd's `File`).
///
/// Each key's bytes are the whole content of one file, with no header, so
/// Python's partd reads a directory this store wrote (and the reverse) for
/// plain keys such as `x`, `part-0` or `a.b`. Other keys are encoded into file
/// names reversibly and without collisions (see ``KeyFileName``), so
/// ``keys()`` lists them back after the directory is reopened.
///
/// ```swift
/// let store = try DirectoryStore(path: "/data/shuffle")   // created if missing, never removed implicitly
/// try store.append(["part-0": rows])
/// let scratch = try DirectoryStore.temporary()            // removed by close() or at deinit
/// ```
///
/// ## Concurrency
/// Threads and processes may share one directory. Appends to different keys
/// run in parallel: there is no global write lock. A key's bytes from one
/// append are written with a single `write` to an `O_APPEND` descriptor and are
/// never interleaved with other writers'. Within a process, a batch holds its
/// keys' lock stripes, so it is atomic with respect to other operations on
/// those keys. Deletes, `drop` and `setOnce` take an exclusive `flock` on
/// `<root>/.lock` (the file Python's partd locks too). The scheme is described
/// in `docs/format.md`.
///
/// ## Descriptors
/// Open descriptors are cached (at most ``Configuration/maxOpenFiles``) and
/// reused across appends, with second-chance eviction.
public final class DirectoryStore: ByteStore {
    /// How a directory store writes.
    public struct Configuration: Sendable, Hashable {
        /// Call `fsync` on each key's file after appending to it (and on the
        /// directory after creating or replacing a file), so an append has
        /// reached stable storage when it returns. The default is `false`.
        public var fsync: Bool = false
        /// The most descriptors kept open for reuse. The default is a quarter of the
        /// process's open-file limit, at most 1,024.
        public var maxOpenFiles: Int = min(1024, max(16, Posix.openFileLimit / 4))

        public init(fsync: Bool = false, maxOpenFiles: Int? = nil) {
            self.fsync = fsync
            if let maxOpenFiles { self.maxOpenFiles = max(1, maxOpenFiles) }
        }
    }

    /// The root directory, as an absolute path.
    public let path: String
    /// Whether this store made its directory and removes it on `close()` or deinit.
    public let isTemporary: Bool
    /// How this store writes.
    public let configuration: Configuration

    /// The open root directory. Replaced only by `reopenIfRecreated`, under every lock stripe, while every
    /// other use holds at least one stripe (all uses are inside `shared` / `exclusive`).
    nonisolated(unsafe) private var rootFD: Int32
    private let lock: DirectoryLock
    private let cache: Locked<DescriptorCache>
    private let setOnceKeys = Locked(Set<PartdKey>())
    private let temporaryCounter = Atomic<Int>(0)
    /// Read buffers `withBytes` reuses, so decoding a key does not fault in fresh memory each time.
    private let scratch = Locked<[[UInt8]]>([])
    /// Run before a failed append is cut back (tests use it to append from another store meanwhile).
    package static let beforeCutBack = Locked<(@Sendable () -> Void)?>(nil)
    private static let scratchKept = 4
    private static let scratchMaxBytes = 256 << 20
    /// The most bytes of small chunks an append joins in a scratch buffer before one write.
    private static let gatherMaxBytes = 4 << 20

    static let lockFileName = ".lock"

    /// Opens the store at `path`, creating the directory (and its parents) if
    /// missing. The directory is never removed implicitly.
    ///
    /// - Throws: ``PartdError`` with `.notADirectory` if `path` is a file,
    ///   `.permissionDenied` if it cannot be created or opened.
    public convenience init(path: String, configuration: Configuration = Configuration()) throws {
        try self.init(path: Posix.absolutePath(path), temporary: false, configuration: configuration)
    }

    /// Makes a store in a new, uniquely named directory under `parent` (the
    /// system temporary directory, `$TMPDIR` or `/tmp`, by default). The
    /// directory is removed by ``close()`` or when the store is deinitialised.
    public static func temporary(
        in parent: String? = nil,
        configuration: Configuration = Configuration()
    ) throws -> DirectoryStore {
        let base = Posix.absolutePath(parent ?? Posix.temporaryDirectory)
        let made: String
        do throws(Errno) {
            try Posix.makeDirectories(base)
            made = try Posix.makeTemporaryDirectory(in: base, prefix: "partd-")
        } catch {
            throw PartdError.system("create a temporary store directory in", key: nil, path: base, errno: error.rawValue)
        }
        do {
            return try DirectoryStore(path: made, temporary: true, configuration: configuration)
        } catch {
            // No store owns the directory just made (out of descriptors, say): remove it again. It is
            // empty, and `rmdir` needs no descriptor, which may be just what ran out.
            if (try? Posix.unlinkAt(AT_FDCWD, made, isDirectory: true)) == nil { try? Posix.removeTree(made) }
            throw error
        }
    }

    private init(path: String, temporary: Bool, configuration: Configuration) throws {
        self.path = path
        self.isTemporary = temporary
        self.configuration = configuration
        do throws(Errno) {
            try Posix.makeDirectories(path)
        } catch {
            throw PartdError.system("create the store directory", key: nil, path: path, errno: error.rawValue)
        }
        let root: Int32
        do throws(Errno) {
            root = try Posix.open(path, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw PartdError.system("open the store directory", key: nil, path: path, errno: error.rawValue)
        }
        let lockFD: Int32
        do throws(Errno) {
            lockFD = try Posix.openAt(root, Self.lockFileName, flags: O_RDWR | O_CREAT)
        } catch let first {
            // A read-only directory can still be read under a shared lock.
            guard first.rawValue == EACCES || first.rawValue == EROFS,
                let readOnly = try? Posix.openAt(root, Self.lockFileName, flags: O_RDONLY)
            else {
                Posix.close(root)
                throw PartdError.system(
                    "open the lock file", key: nil, path: path + "/" + Self.lockFileName, errno: first.rawValue)
            }
            lockFD = readOnly
        }
        self.rootFD = root
        self.lock = DirectoryLock(lockFD: lockFD, directory: path)
        self.cache = Locked(DescriptorCache(capacity: configuration.maxOpenFiles))
    }

    deinit {
        let wasClosed = lock.isClosed
        cache.withLock { $0.removeAll() }
        if rootFD >= 0 { Posix.close(rootFD) }
        if isTemporary && !wasClosed {
            try? Posix.removeTree(path)
        }
    }

    /// Releases every descriptor the store holds (the cached ones, the directory's and the lock file's), so a
    /// closed store still referenced holds none. A temporary store also removes its directory. Later
    /// operations throw ``PartdError/Code/closed``; a second `close()` does nothing (one racing the first
    /// returns once the first is done).
    public func close() throws {
        // No early return on `isClosed`: the lock marks itself closed before its body runs, so a second call
        // that raced the first would return while the first still held the descriptors and the directory.
        var failure: Errno? = nil
        lock.close {
            cache.withLock { $0.removeAll() }
            if isTemporary {
                do throws(Errno) { try Posix.removeTree(path) } catch { failure = error }
            }
            Posix.close(rootFD)
            rootFD = -1
        }
        if let failure {
            throw PartdError.system("remove the temporary store directory", key: nil, path: path, errno: failure.rawValue)
        }
    }

    /// The file that holds `key`'s bytes (which may not exist yet).
    public func filePath(for key: PartdKey) throws -> String {
        path + "/" + (try KeyFileName.encode(key))
    }

    // MARK: - ByteStore

    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws {
        guard !batch.isEmpty else { return try checkOpen() }
        let mask = DirectoryLock.mask(of: batch.lazy.map(\.key))
        try shared(mask) {
            for (key, value) in batch {
                try write(to: key) { fd, progress throws(Errno) in
                    if !value.isEmpty { try Posix.writeAll(fd, value, progress: &progress) }
                }
            }
        }
    }

    /// Appends each entry's chunks with `writev`, without joining them.
    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws {
        // Batches under 1 MiB are written on one core.
        let totalBytes = batch.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + $1.count } }
        try append(keys: batch.map(\.key), totalBytes: totalBytes >= 1 << 20 ? totalBytes : 0) { batch[$0].chunks }
    }

    /// Appends to each of `keys` the chunks `produce(index)` makes for it, as one locked operation. When
    /// the keys are distinct, chunks are made and written on all cores (given `totalBytes` enough), each
    /// key's by the worker that made them, while they are still in its cache. A key that repeats keeps
    /// its entries in order: the chunks are made first, then written in order on one core.
    package func append(keys: [PartdKey], totalBytes: Int, producing produce: (Int) throws -> [[UInt8]]) throws {
        guard !keys.isEmpty else { return }
        try shared(DirectoryLock.mask(of: keys)) {
            if Set(keys).count == keys.count {
                _ = try Parallel.map(Array(keys.indices), totalBytes: totalBytes) { try write(produce($0), to: keys[$0]) }
            } else {
                let made = try Parallel.map(Array(keys.indices), totalBytes: totalBytes, produce)
                for (key, chunks) in zip(keys, made) { try write(chunks, to: key) }
            }
        }
    }

    /// Appends `chunks` to `key`'s file with one `writev`, or, for many small chunks (a spilled key), joined
    /// in a reused buffer with one `write`.
    private func write(_ chunks: [[UInt8]], to key: PartdKey) throws {
        let bytes = chunks.reduce(0) { $0 + $1.count }
        try write(to: key) { fd, progress throws(Errno) in
            if chunks.count > 16 && bytes <= Self.gatherMaxBytes && bytes < chunks.count * 1024 {
                try withScratch { buffer throws(Errno) in
                    try Posix.writeAllGathered(fd, chunks, total: bytes, buffer: &buffer, progress: &progress)
                }
            } else {
                try Posix.writeAllVectored(fd, chunks, bytes: bytes, progress: &progress)
            }
        }
    }

    /// Every append's write to `key`'s file: `body` writes (noting in `progress` what reached the file),
    /// then the file is fsynced if configured. A failed write (disk full, file-size limit) is cut back off
    /// the end of the file, so the key keeps exactly what earlier appends wrote and a caller that keeps the
    /// entry to try again (a spilling store) does not leave its first part twice. If another writer (another
    /// process, or another store instance) appended to the key after or between this append's partial
    /// writes, nothing is cut, since a cut would take that writer's bytes: the error says this append's bytes
    /// were left. (Between the check that its bytes end the file and the cut, microseconds, another
    /// process's append can still land and be cut.)
    private func write(to key: PartdKey, _ body: (Int32, inout Posix.AppendProgress) throws(Errno) -> Void) throws {
        let file = try descriptor(for: key)
        var progress = Posix.AppendProgress()
        func cutBack(_ error: PartdError) -> PartdError {
            guard progress.written > 0 else { return error }
            Self.beforeCutBack.withLock { $0 }?()
            if let own = progress.ownTail(file.fd), (try? Posix.truncate(file.fd, to: own.lowerBound)) != nil { return error }
            var left = error
            left.message += "; \(progress.written) bytes of this append were left in the file (another writer "
                + "appended after them, and cutting them off would cut its bytes too): in a framed store, "
                + "verify reports a torn frame among them and repair removes it, but frames of this append that "
                + "were written whole stay"
            return left
        }
        do throws(Errno) {
            try body(file.fd, &progress)
        } catch {
            throw cutBack(failure("append to", key, error))
        }
        if configuration.fsync {
            // A failed fsync fails the append, so its bytes go too (a caller trying again would write them twice).
            do throws(Errno) { try Posix.sync(file.fd) } catch {
                throw cutBack(failure("fsync", key, error))
            }
        }
    }

    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] {
        guard !keys.isEmpty else {
            try checkOpen()
            return []
        }
        return try shared(DirectoryLock.mask(of: keys)) {
            guard keys.count > 1 else { return [try read(keys[0])] }
            // Open and size a group of files first; large reads then run on every core (filling fresh
            // result pages costs as much as the copy from the page cache). A group holds at most
            // `readGroup` descriptors, fewer if the process runs out of them: the files opened so far
            // are read and closed, and opening goes on.
            var result: [[UInt8]] = []
            result.reserveCapacity(keys.count)
            var files: [(key: PartdKey, file: OpenFile?)] = []
            func readFiles() throws {
                var totalBytes = 0
                for (key, file) in files {
                    guard let file else { continue }
                    do throws(Errno) { totalBytes += try Posix.fileSize(file.fd) } catch { throw failure("read", key, error) }
                }
                result += try Parallel.map(files, totalBytes: totalBytes, minimumBytes: Self.parallelReadBytes) { key, file in
                    guard let file else { return [] }
                    return try readWhole(file.fd, key, extraCapacity: 0)
                }
                files.removeAll(keepingCapacity: true)
            }
            for key in keys {
                if files.count == Self.readGroup { try readFiles() }
                do {
                    files.append((key, try openForReading(key)))
                } catch let error as PartdError where error.code == .tooManyOpenFiles && !files.isEmpty {
                    try readFiles()
                    files.append((key, try openForReading(key)))
                }
            }
            try readFiles()
            return result
        }
    }

    /// The total size from which a multi-key `get` reads its keys on several cores.
    private static let parallelReadBytes = 4 << 20
    /// The most files a multi-key `get` holds open at once (besides the descriptor cache's).
    private static let readGroup = 128

    public func get(_ key: PartdKey, reservingCapacity extraCapacity: Int) throws -> [UInt8] {
        try shared(DirectoryLock.mask(of: CollectionOfOne(key))) {
            try read(key, extraCapacity: extraCapacity)
        }
    }

    /// Reads `key` into a buffer this store reuses and calls `body` with its bytes.
    public func withBytes<R>(of key: PartdKey, _ body: (ArraySlice<UInt8>) throws -> R) throws -> R {
        try withScratch { buffer in
            let count = try shared(DirectoryLock.mask(of: CollectionOfOne(key))) {
                try read(key, into: &buffer)
            }
            return try body(buffer[0..<count])
        }
    }

    /// Lends `body` one of the reused scratch buffers (a new one if none is free) and keeps it
    /// afterwards, unless it grew past `scratchMaxBytes` or enough are kept already.
    private func withScratch<R, E: Error>(_ body: (inout [UInt8]) throws(E) -> R) throws(E) -> R {
        var buffer = scratch.withLock { $0.popLast() } ?? []
        defer {
            if buffer.count <= Self.scratchMaxBytes {
                scratch.withLock { if $0.count < Self.scratchKept { $0.append(buffer) } }
            }
        }
        return try body(&buffer)
    }

    /// Cuts `key`'s value to its first `length` bytes (a no-op if it is shorter),
    /// under the exclusive lock, so no append interleaves. Used to repair a value
    /// whose last frame was torn by a crash.
    public func truncate(_ key: PartdKey, to length: Int) throws {
        let name = try KeyFileName.encode(key)
        try exclusive {
            cache.withLock { $0.remove(key) }
            do throws(Errno) {
                guard let existing = try Posix.statAt(rootFD, name), existing.size > length else { return }
                let fd = try Posix.openAt(rootFD, name, flags: O_WRONLY)
                defer { Posix.close(fd) }
                try Posix.truncate(fd, to: max(0, length))
                if configuration.fsync { try Posix.sync(fd) }
            } catch {
                throw failure("truncate", key, error, name: name)
            }
        }
    }

    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool {
        let name = try KeyFileName.encode(key)
        try checkOpen()
        guard !setOnceKeys.withLock({ $0.contains(key) }) else { return false }
        return try exclusive {
            // Checked again under the exclusive lock: another thread may have set it meanwhile.
            guard !setOnceKeys.withLock({ $0.contains(key) }) else { return false }
            try replaceFile(key, name: name, with: value, operation: "set")
            setOnceKeys.withLock { _ = $0.insert(key) }
            return true
        }
    }

    /// Reads `key`'s value and hands it to `change`; if `change` returns other bytes, they become the value.
    /// All of it runs under the exclusive lock, so no append, read or delete of any thread or process
    /// interleaves, and `change` sees the value as it is when it is replaced. A new value that is a prefix of
    /// the old one is cut in place (`ftruncate`); any other is written to a temporary file that is then
    /// renamed over the key's file, so readers see the old value or the new one, never a mix, and a process
    /// that dies leaves the old value (a machine crash too, with ``Configuration/fsync``). That needs room on
    /// disk, and in memory, for both values at once. `change` runs with every lock held: it must not call
    /// this store. Returns whether the value changed. Used by `StoreIntegrity.repair`.
    @discardableResult
    public func rewrite(_ key: PartdKey, _ change: ([UInt8]) throws -> [UInt8]?) throws -> Bool {
        let name = try KeyFileName.encode(key)
        return try exclusive {
            cache.withLock { $0.remove(key) }
            let old = try read(key)
            guard let new = try change(old), new != old else { return false }
            if new.count < old.count && old.starts(with: new) {
                do throws(Errno) {
                    let fd = try Posix.openAt(rootFD, name, flags: O_WRONLY)
                    defer { Posix.close(fd) }
                    try Posix.truncate(fd, to: new.count)
                    if configuration.fsync { try Posix.sync(fd) }
                } catch {
                    throw failure("truncate", key, error, name: name)
                }
            } else {
                try replaceFile(key, name: name, with: new, operation: "rewrite")
            }
            return true
        }
    }

    /// Writes `value` to a temporary file and renames it over `name`; under the exclusive lock, whose new
    /// generation makes other processes close the descriptors they cached for the old file.
    private func replaceFile(_ key: PartdKey, name: String, with value: [UInt8], operation: String) throws {
        let temporary = ".tmp-\(Posix.processID)-\(temporaryCounter.add(1, ordering: .relaxed).newValue)"
        do throws(Errno) {
            let flags = O_WRONLY | O_CREAT | O_EXCL
            let fd: Int32
            do throws(Errno) {
                fd = try Posix.openAt(rootFD, temporary, flags: flags)
            } catch let error where error.rawValue == EEXIST {
                // Left by a process with this id (ids are reused) that died before its rename. Under the
                // exclusive lock no other process is writing one, so it is stale.
                try Posix.unlinkAt(rootFD, temporary)
                fd = try Posix.openAt(rootFD, temporary, flags: flags)
            }
            defer { Posix.close(fd) }
            try Posix.writeAll(fd, value)
            if configuration.fsync { try Posix.sync(fd) }
            try Posix.renameAt(rootFD, temporary, name)
            if configuration.fsync { try Posix.sync(rootFD) }
        } catch {
            try? Posix.unlinkAt(rootFD, temporary)
            throw failure(operation, key, error, name: name)
        }
        cache.withLock { $0.remove(key) }
    }

    public func delete(_ keys: [PartdKey]) throws {
        guard !keys.isEmpty else { return try checkOpen() }
        let names = try keys.map { try KeyFileName.encode($0) }
        try exclusive {
            for (key, name) in zip(keys, names) {
                cache.withLock { $0.remove(key) }
                do throws(Errno) { try Posix.unlinkAt(rootFD, name) } catch { throw failure("delete", key, error, name: name) }
                // Each key as its file goes: a delete that fails part-way leaves no deleted key unable to be set.
                setOnceKeys.withLock { _ = $0.remove(key) }
            }
        }
    }

    public func drop() throws {
        try exclusive {
            cache.withLock { $0.removeAll() }
            do throws(Errno) {
                try Posix.removeContents(of: rootFD, keeping: [Self.lockFileName])
            } catch {
                throw PartdError.system("drop (remove the files of)", key: nil, path: path, errno: error.rawValue)
            }
        }
        setOnceKeys.withLock { $0.removeAll() }
    }

    /// Every key whose file is in the directory, sorted. Files whose names are
    /// not in the key grammar (written by other programs, or partd's tuple-key
    /// subdirectories) are not listed.
    public func keys() throws -> [PartdKey] {
        try shared(DirectoryLock.allStripes) {
            let entries: [(name: String, isDirectory: Bool)]
            do throws(Errno) { entries = try Posix.listDirectory(rootFD) } catch {
                throw PartdError.system("list", key: nil, path: path, errno: error.rawValue)
            }
            return entries.compactMap { entry in
                guard !entry.isDirectory, !entry.name.hasPrefix(".") else { return nil }
                return KeyFileName.decode(entry.name)
            }.sorted()
        }
    }

    public func contains(_ key: PartdKey) throws -> Bool {
        let name = try KeyFileName.encode(key)
        return try shared(DirectoryLock.mask(of: CollectionOfOne(key))) {
            if cache.withLock({ $0.lookup(key) }) != nil { return true }
            do throws(Errno) { return try Posix.statAt(rootFD, name)?.kind == .regular } catch {
                throw failure("look up", key, error, name: name)
            }
        }
    }

    public func byteCount(of key: PartdKey) throws -> Int {
        let name = try KeyFileName.encode(key)
        return try shared(DirectoryLock.mask(of: CollectionOfOne(key))) {
            do throws(Errno) {
                if let file = cache.withLock({ $0.lookup(key) }) { return try Posix.fileSize(file.fd) }
                guard let entry = try Posix.statAt(rootFD, name), entry.kind == .regular else { return 0 }
                return entry.size
            } catch {
                throw failure("measure", key, error, name: name)
            }
        }
    }

    /// Throws ``PartdError/Code/keyTooLong`` if `key`'s file name would exceed 255 bytes.
    public func validate(_ key: PartdKey) throws {
        if key.encodedLengthBound > KeyFileName.maximumLength { _ = try KeyFileName.encode(key) }
    }

    // MARK: - Internals

    private func invalidateCache() {
        cache.withLock { $0.removeAll() }
    }

    /// Runs `operation`; if it failed because the directory is gone (`notFound`) and a directory has
    /// since been made at `path` again, switches to that directory and runs it once more.
    private func recovering<R>(_ operation: () throws -> R) throws -> R {
        do {
            return try operation()
        } catch let error as PartdError where error.code == .notFound && reopenIfRecreated() {
            return try operation()
        }
    }

    /// Switches to the directory now at `path` if it is not the one this store has open (the old one was
    /// removed and a new one made); with every lock stripe held, so no operation is running meanwhile.
    private func reopenIfRecreated() -> Bool {
        lock.replacingDescriptor {
            guard Posix.isOtherDirectory(path, than: rootFD) else { return nil }
            do throws(Errno) {
                let root = try Posix.open(path, flags: O_RDONLY | O_DIRECTORY)
                guard let lockFD = try? Posix.openAt(root, Self.lockFileName, flags: O_RDWR | O_CREAT) else {
                    Posix.close(root)
                    return nil
                }
                cache.withLock { $0.removeAll() }
                Posix.close(rootFD)
                rootFD = root
                return lockFD
            } catch {
                return nil
            }
        }
    }

    /// Runs `body` holding the lock stripes in `mask` and the shared lock, once the directory is known to
    /// still exist (see `recovering` for what happens when it is gone).
    private func shared<R>(_ mask: UInt64, _ body: () throws -> R) throws -> R {
        try recovering {
            try lock.withShared(mask, onNewGeneration: invalidateCache) {
                try checkDirectoryExists()
                return try body()
            }
        }
    }

    /// Runs `body` holding every stripe and the exclusive lock, once the directory is known to still exist.
    private func exclusive<R>(_ body: () throws -> R) throws -> R {
        try recovering {
            try lock.withExclusive(onNewGeneration: invalidateCache) {
                try checkDirectoryExists()
                return try body()
            }
        }
    }

    /// Throws `notFound` if the store's directory was removed: appends to descriptors already open would
    /// otherwise go to files no longer reachable from any path, and reads would see a directory that is gone.
    private func checkDirectoryExists() throws {
        if Posix.isRemovedDirectory(rootFD) {
            throw PartdError.system("use the store directory", key: nil, path: path, errno: ENOENT)
        }
    }

    /// The cached append descriptor for `key`, opening (and creating) its file on a miss.
    private func descriptor(for key: PartdKey) throws -> OpenFile {
        if let file = cache.withLock({ $0.lookup(key) }) { return file }
        let name = try KeyFileName.encode(key)
        let fd: Int32
        do throws(Errno) {
            fd = try Posix.openAt(rootFD, name, flags: O_RDWR | O_APPEND | O_CREAT)
        } catch let error where error.rawValue == EMFILE || error.rawValue == ENFILE {
            cache.withLock { $0.shrink() }
            do throws(Errno) { fd = try Posix.openAt(rootFD, name, flags: O_RDWR | O_APPEND | O_CREAT) } catch {
                throw failure("open", key, error, name: name)
            }
        } catch {
            throw failure("open", key, error, name: name)
        }
        let file = OpenFile(fd: fd)  // closes the descriptor if the directory's fsync fails
        if configuration.fsync {
            // Make the new file's directory entry durable too.
            do throws(Errno) { try Posix.sync(rootFD) } catch { throw failure("fsync the directory for", key, error, name: name) }
        }
        return cache.withLock { $0.insert(key, file) }
    }

    private func read(_ key: PartdKey, extraCapacity: Int = 0) throws -> [UInt8] {
        guard let file = try openForReading(key) else { return Self.empty(reserving: extraCapacity) }
        return try readWhole(file.fd, key, extraCapacity: extraCapacity)
    }

    /// The key's open file (from the cache, or opened now), or `nil` if it has no file.
    private func openForReading(_ key: PartdKey) throws -> OpenFile? {
        if let file = cache.withLock({ $0.lookup(key) }) { return file }
        let name = try KeyFileName.encode(key)
        var retried = false
        while true {
            switch Result(catching: { () throws(Errno) -> Int32 in try Posix.openAt(rootFD, name, flags: O_RDONLY) }) {
            case .success(let opened): return OpenFile(fd: opened)
            case .failure(let error):
                if error.rawValue == ENOENT { return nil }
                if !retried && (error.rawValue == EMFILE || error.rawValue == ENFILE) {
                    // Out of descriptors: give up some cached ones, as an append does, and try once more.
                    cache.withLock { $0.shrink() }
                    retried = true
                    continue
                }
                if error.rawValue == EMFILE || error.rawValue == ENFILE {
                    // Still none: a key with no file, or an empty one, reads as empty without a descriptor (a
                    // spilling store's read of a key it holds only in memory, such as a server's out of descriptors,
                    // failed with tooManyOpenFiles).
                    if case .success(let entry) = Result(catching: { () throws(Errno) in try Posix.statAt(rootFD, name) }),
                        entry?.size ?? 0 == 0, entry.map({ $0.kind == .regular }) ?? true
                    {
                        return nil
                    }
                }
                throw failure("read", key, error, name: name)
            }
        }
    }

    /// Reads `key` into the start of `buffer`, growing it if needed; returns the byte count.
    private func read(_ key: PartdKey, into buffer: inout [UInt8]) throws -> Int {
        guard let file = try openForReading(key) else { return 0 }
        do throws(Errno) {
            let size = try Posix.fileSize(file.fd)
            if buffer.count < size {
                // Grown once to the largest key read; later reads reuse the pages.
                buffer = [UInt8](repeating: 0, count: max(size, min(2 * buffer.count, Self.scratchMaxBytes)))
            }
            return try Posix.read(file.fd, count: size, into: &buffer)
        } catch {
            throw failure("read", key, error)
        }
    }

    /// No bytes, with room for `extraCapacity` (what a missing or empty key reads as).
    private static func empty(reserving extraCapacity: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        if extraCapacity > 0 { bytes.reserveCapacity(extraCapacity) }
        return bytes
    }

    /// Throws ``PartdError/Code/closed`` if the store was closed (for calls that would otherwise return
    /// before taking a lock, which checks it).
    private func checkOpen() throws {
        if lock.isClosed { throw PartdError.closedStore(path: path) }
    }

    private func readWhole(_ fd: Int32, _ key: PartdKey, extraCapacity: Int) throws -> [UInt8] {
        do throws(Errno) {
            let size = try Posix.fileSize(fd)
            guard size > 0 else { return Self.empty(reserving: extraCapacity) }
            return try Posix.readAll(fd, count: size, extraCapacity: extraCapacity)
        } catch {
            throw failure("read", key, error)
        }
    }

    private func failure(_ operation: String, _ key: PartdKey, _ error: Errno, name: String? = nil) -> PartdError {
        let file = name ?? (try? KeyFileName.encode(key)) ?? "?"
        return PartdError.system(operation, key: key, path: path + "/" + file, errno: error.rawValue)
    }
}
