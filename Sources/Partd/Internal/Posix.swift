// SPDX-License-Identifier: Apache-2.0
//
// Every C call and unsafe pointer of the core lives in this file. The rest of
// the module sees safe Swift functions that throw `Errno`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An `errno` value from a failed system call.
package struct Errno: Error, Equatable {
    package var rawValue: Int32
    static var current: Errno { Errno(rawValue: errno) }
}

package enum Posix {
    // MARK: Descriptors

    package static func openAt(_ directory: Int32, _ name: String, flags: Int32, mode: mode_t = 0o644) throws(Errno) -> Int32 {
        while true {
            let fd = name.withCString { openat(directory, $0, flags | O_CLOEXEC, mode) }
            if fd >= 0 { return fd }
            if errno != EINTR { throw .current }
        }
    }

    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(Errno) -> Int32 {
        while true {
            let fd = path.withCString { Glibc.open($0, flags | O_CLOEXEC, mode) }
            if fd >= 0 { return fd }
            if errno != EINTR { throw .current }
        }
    }

    package static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Where one append's bytes went in an `O_APPEND` file, so that a failed append can be cut back off
    /// without cutting another writer's bytes. An append that takes one `write` (the usual case) costs
    /// nothing more; after each `write` that leaves bytes to go (a partial write, the way to a full disk or
    /// a file-size limit), the file offset, which `O_APPEND` leaves at the end of that write, is noted.
    package struct AppendProgress {
        /// The bytes that reached the file.
        package var written = 0
        /// The file offset where the first noted write began, and where the last noted one ended.
        var start: Int?
        var end: Int?
        /// `written` when `end` was noted.
        var writtenAtEnd = 0
        /// False once a write did not begin where the previous one ended (another writer appended between).
        var contiguous = true

        package init() {}

        /// After a `write` of `count` bytes that left more to write.
        mutating func noteWrite(_ fd: Int32, count: Int) {
            let offset = Int(lseek(fd, 0, SEEK_CUR))
            guard offset >= 0 else { contiguous = false; return }
            if let end { if offset - count != end { contiguous = false } } else { start = offset - count }
            end = offset
            writtenAtEnd = written
        }

        /// The byte range of the file that holds exactly this append's bytes and ends at the end of the
        /// file (so cutting it off cuts nothing else), or `nil` if nothing was written or another writer's
        /// bytes lie between or after them. Called with the key's lock stripe still held, so no other
        /// thread of this store wrote to `fd` since.
        package func ownTail(_ fd: Int32) -> Range<Int>? {
            guard written > 0, contiguous else { return nil }
            let offset = Int(lseek(fd, 0, SEEK_CUR))
            guard offset >= 0, let size = try? Posix.fileSize(fd), size == offset else { return nil }
            let last = written - writtenAtEnd
            if let end, last > 0, offset - last != end { return nil }
            let begin = start ?? (offset - written)
            guard begin >= 0, offset - begin == written else { return nil }
            return begin..<offset
        }
    }

    /// Writes all of `bytes` with as few `write` calls as the kernel allows
    /// (one, for a regular file, unless the disk fills or a signal interrupts).
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var progress = AppendProgress()
        try writeAll(fd, bytes, progress: &progress)
    }

    /// As ``writeAll(_:_:)``, noting in `progress` what reached the file
    /// (so a caller can cut a partial write back off after a failure).
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], progress: inout AppendProgress) throws(Errno) {
        var failure: Errno? = nil
        bytes.withUnsafeBytes { raw in
            failure = writeAll(fd, raw, progress: &progress)
        }
        if let failure { throw failure }
    }

    /// Writes all of `raw` with `write`, retrying after a signal; notes in `progress` what
    /// reached the file and returns the error that stopped it, if any.
    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, progress: inout AppendProgress) -> Errno? {
        var written = 0
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            if n > 0 {
                written += n
                progress.written += n
                if written < raw.count { progress.noteWrite(fd, count: n) }
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return n < 0 ? .current : Errno(rawValue: EIO)
            }
        }
        return nil
    }

    /// Writes the chunks with one `write` of their bytes joined in `buffer` (grown as
    /// needed and kept for reuse): for many small chunks this costs less than
    /// `writev`, whose kernel copy pays per vector. Notes in `progress` what reached the file.
    static func writeAllGathered(
        _ fd: Int32, _ chunks: [[UInt8]], total: Int, buffer: inout [UInt8], progress: inout AppendProgress
    ) throws(Errno) {
        if buffer.count < total { buffer = [UInt8](repeating: 0, count: Swift.max(total, 2 * buffer.count)) }
        var failure: Errno? = nil
        buffer.withUnsafeMutableBytes { target in
            var offset = 0
            let arrays = chunks.span
            for i in arrays.indices {
                arrays[i].span.withUnsafeBytes { source in
                    guard source.count > 0 else { return }
                    (target.baseAddress! + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    offset += source.count
                }
            }
            failure = writeAll(fd, UnsafeRawBufferPointer(rebasing: target[0..<total]), progress: &progress)
        }
        if let failure { throw failure }
    }

    /// Writes the chunks one after another with `writev`, up to 1,024 chunks per
    /// call, so no joined copy is made. On a regular file each call is one
    /// atomic append unless the disk fills or a signal interrupts. Notes in `progress` what reached the file.
    /// `bytes` is the chunks' total size.
    static func writeAllVectored(_ fd: Int32, _ chunks: [[UInt8]], bytes: Int, progress: inout AppendProgress) throws(Errno) {
        var total = 0
        let maxVectors = 1024
        var vectors: [iovec] = []
        vectors.reserveCapacity(min(chunks.count, maxVectors))
        var failure: Errno? = nil
        // The arrays in `chunks` are alive and unmodified for the whole call, so
        // the addresses of their contiguous storage stay valid while we write.
        withExtendedLifetime(chunks) {
            var start = 0
            while start < chunks.count && failure == nil {
                let end = min(chunks.count, start + maxVectors)
                vectors.removeAll(keepingCapacity: true)
                // Borrowed through spans: no reference count is taken per chunk (another
                // thread may be counting references to the same arrays).
                let arrays = chunks.span
                for i in start..<end where !arrays[i].isEmpty {
                    arrays[i].span.withUnsafeBytes { raw in
                        vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
                    }
                }
                start = end
                var first = 0
                while first < vectors.count {
                    let n = vectors.withUnsafeBufferPointer { buffer in
                        writev(fd, buffer.baseAddress! + first, Int32(buffer.count - first))
                    }
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = .current
                        return
                    }
                    if n == 0 {
                        failure = Errno(rawValue: EIO)
                        return
                    }
                    // Skip what was written, possibly part of one vector.
                    total += n
                    progress.written += n
                    if total < bytes { progress.noteWrite(fd, count: n) }
                    var written = n
                    while first < vectors.count && written >= vectors[first].iov_len {
                        written -= vectors[first].iov_len
                        first += 1
                    }
                    if written > 0 {
                        vectors[first].iov_base = vectors[first].iov_base! + written
                        vectors[first].iov_len -= written
                    }
                }
            }
        }
        if let failure { throw failure }
    }

    /// Reads up to `count` bytes from offset 0 into the start of `buffer` (which
    /// must hold at least `count` bytes) with `pread`; returns how many were read.
    static func read(_ fd: Int32, count: Int, into buffer: inout [UInt8]) throws(Errno) -> Int {
        precondition(buffer.count >= count)
        let (read, failure) = buffer.withUnsafeMutableBytes { preadFully(fd, $0.baseAddress!, count: count) }
        if let failure { throw failure }
        return read
    }

    /// Reads up to `count` bytes from offset 0 with `pread`; stops early at end of file.
    /// The array has room for `extraCapacity` more bytes.
    package static func readAll(_ fd: Int32, count: Int, extraCapacity: Int = 0) throws(Errno) -> [UInt8] {
        guard count > 0 else { return [] }
        var failure: Errno? = nil
        let result = [UInt8](unsafeUninitializedCapacity: count + max(0, extraCapacity)) { buffer, initialized in
            adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            (initialized, failure) = preadFully(fd, buffer.baseAddress!, count: count)
        }
        if let failure { throw failure }
        return result
    }

    /// `pread` from offset 0 until `count` bytes, end of file or an error (EINTR is retried).
    private static func preadFully(_ fd: Int32, _ base: UnsafeMutableRawPointer, count: Int) -> (read: Int, failure: Errno?) {
        var offset = 0
        while offset < count {
            let n = pread(fd, base + offset, count - offset, off_t(offset))
            if n > 0 {
                offset += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                return (offset, .current)
            }
        }
        return (offset, nil)
    }

    /// Asks the kernel to back the 2 MiB-aligned interior of a large, untouched
    /// buffer with transparent huge pages (where THP is in `madvise` mode), so
    /// filling it costs a few page faults instead of one per 4 KiB. Package-visible
    /// so the other modules of this package use it too.
    package static func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
        let huge = 2 << 20
        guard buffer.count >= huge, let base = buffer.baseAddress else { return }
        let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: base) + buffer.count) & ~(huge - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, MADV_HUGEPAGE)
    }

    /// Faults in the whole pages of a large, untouched buffer with one call
    /// (`MADV_POPULATE_WRITE`, Linux 5.14+; ignored where unsupported), which costs
    /// a fraction of taking one page fault per 4 KiB while filling it.
    package static func prefault(_ buffer: UnsafeMutableRawBufferPointer) {
        let page = 4096
        guard buffer.count >= 16 * page, let base = buffer.baseAddress else { return }
        let start = (Int(bitPattern: base) + page - 1) & ~(page - 1)
        let end = (Int(bitPattern: base) + buffer.count) & ~(page - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, 23 /* MADV_POPULATE_WRITE */)
    }

    /// Returns the free memory of the allocator's heaps to the system (glibc's
    /// `malloc_trim`), so memory freed by one phase of work does not stay
    /// resident into the next. Package-visible for the shuffle driver.
    package static func releaseFreeMemory() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }

    static func readUInt64(_ fd: Int32, at offset: Int) throws(Errno) -> UInt64 {
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress!, 8, off_t(offset)) }
        if n < 0 { throw .current }
        return n == 8 ? UInt64(littleEndian: value) : 0
    }

    static func writeUInt64(_ fd: Int32, _ value: UInt64, at offset: Int) throws(Errno) {
        var le = value.littleEndian
        let n = withUnsafeBytes(of: &le) { pwrite(fd, $0.baseAddress!, 8, off_t(offset)) }
        if n < 0 { throw .current }
        if n != 8 { throw Errno(rawValue: EIO) }
    }

    package static func fileSize(_ fd: Int32) throws(Errno) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .current }
        return Int(st.st_size)
    }

    package static func sync(_ fd: Int32) throws(Errno) {
        guard fsync(fd) == 0 else { throw .current }
    }

    static func truncate(_ fd: Int32, to size: Int) throws(Errno) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .current }
    }

    // MARK: Names in a directory

    package enum EntryKind { case regular, directory, other }

    /// The kind and size of `name` in `directory`, or `nil` if it does not exist.
    package static func statAt(_ directory: Int32, _ name: String) throws(Errno) -> (kind: EntryKind, size: Int)? {
        var st = stat()
        let rc = name.withCString { fstatat(directory, $0, &st, AT_SYMLINK_NOFOLLOW) }
        if rc != 0 {
            if errno == ENOENT { return nil }
            throw .current
        }
        let type = st.st_mode & S_IFMT
        let kind: EntryKind = type == S_IFREG ? .regular : (type == S_IFDIR ? .directory : .other)
        return (kind, Int(st.st_size))
    }

    /// Whether `path` is now a directory other than the one `fd` has open (it was removed and made
    /// again, or replaced); `false` if it is the same directory, missing, or not a directory.
    package static func isOtherDirectory(_ path: String, than fd: Int32) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(fd, &open) == 0, stat(path, &named) == 0, named.st_mode & S_IFMT == S_IFDIR else { return false }
        return named.st_dev != open.st_dev || named.st_ino != open.st_ino
    }

    /// Whether the directory `fd` has open was removed (it has no links left).
    package static func isRemovedDirectory(_ fd: Int32) -> Bool {
        var open = stat()
        return fstat(fd, &open) == 0 && open.st_nlink == 0
    }

    /// What tells one version of a file from another without reading it: device, inode, size, and modification
    /// and status-change times in nanoseconds.
    package struct FileIdentity: Hashable, Sendable {
        package var device: UInt64
        package var inode: UInt64
        package var size: Int
        package var modified: Int64
        /// The last status change (`st_ctim`), in nanoseconds since 1970: set by the kernel on every write and
        /// rename, so no caller can set it back.
        package var changed: Int64
    }

    /// The identity of `name` in `directory`, or `nil` if it does not exist.
    /// The file is opened and its descriptor asked (`fstat`), not its name (`fstatat`): on NFS an open revalidates
    /// the name against the server (close-to-open consistency), where a `stat` of the name may be answered from
    /// attributes cached for up to a minute, the old file's after another host replaced it.
    package static func identityAt(_ directory: Int32, _ name: String) throws(Errno) -> FileIdentity? {
        let fd: Int32
        do throws(Errno) {
            fd = try openAt(directory, name, flags: O_RDONLY | O_NOFOLLOW)
        } catch {
            if error.rawValue == ENOENT { return nil }
            throw error
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .current }
        return FileIdentity(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int(st.st_size),
            modified: Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec),
            changed: Int64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_ctim.tv_nsec))
    }

    /// Now, by the clock file times are taken from, in nanoseconds since 1970.
    package static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
    }

    /// The last modification time of `name` in seconds since 1970, or `nil` if it does not exist.
    package static func modificationTime(_ directory: Int32, _ name: String) throws(Errno) -> Double? {
        var st = stat()
        let rc = name.withCString { fstatat(directory, $0, &st, AT_SYMLINK_NOFOLLOW) }
        if rc != 0 {
            if errno == ENOENT { return nil }
            throw .current
        }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
    }

    package static func unlinkAt(_ directory: Int32, _ name: String, isDirectory: Bool = false) throws(Errno) {
        let rc = name.withCString { unlinkat(directory, $0, isDirectory ? AT_REMOVEDIR : 0) }
        if rc != 0 && errno != ENOENT { throw .current }
    }

    package static func renameAt(_ directory: Int32, _ from: String, _ to: String) throws(Errno) {
        let rc = from.withCString { f in to.withCString { t in renameat(directory, f, directory, t) } }
        if rc != 0 { throw .current }
    }

    /// The names in the directory open as `fd` (without `.` and `..`).
    ///
    /// Each listing reads through its own open file description (not a `dup` of `fd`, which
    /// would share one read position with every concurrent listing of the directory).
    package static func listDirectory(_ fd: Int32) throws(Errno) -> [(name: String, isDirectory: Bool)] {
        let listFD = try openAt(fd, ".", flags: O_RDONLY | O_DIRECTORY)
        guard let dir = fdopendir(listFD) else {
            let e = Errno.current
            Glibc.close(listFD)
            throw e
        }
        defer { closedir(dir) }
        var names: [(String, Bool)] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .current }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let bytes = raw.bindMemory(to: UInt8.self)
                let length = bytes.firstIndex(of: 0) ?? bytes.count
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<length]), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                isDirectory = (try? statAt(fd, name))??.kind == .directory
            }
            names.append((name, isDirectory))
        }
        return names
    }

    /// Removes everything inside the directory open as `fd`, except names in `keep`.
    static func removeContents(of fd: Int32, keeping keep: Set<String> = []) throws(Errno) {
        for (name, isDirectory) in try listDirectory(fd) where !keep.contains(name) {
            if isDirectory {
                let child = try openAt(fd, name, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                defer { close(child) }
                try removeContents(of: child)
                try unlinkAt(fd, name, isDirectory: true)
            } else {
                try unlinkAt(fd, name)
            }
        }
    }

    /// Removes `path` and everything below it; a missing path is fine.
    package static func removeTree(_ path: String) throws(Errno) {
        let fd: Int32
        do throws(Errno) {
            fd = try open(path, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        } catch {
            if error.rawValue == ENOENT { return }
            if error.rawValue == ENOTDIR || error.rawValue == ELOOP {
                if path.withCString({ unlink($0) }) != 0 && errno != ENOENT { throw .current }
                return
            }
            throw error
        }
        do throws(Errno) {
            try removeContents(of: fd)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        if path.withCString({ rmdir($0) }) != 0 && errno != ENOENT { throw .current }
    }

    /// Creates `path` and any missing parents (mode 0755); an existing directory is fine.
    package static func makeDirectories(_ path: String) throws(Errno) {
        if path.isEmpty { return }
        if path.withCString({ mkdir($0, 0o755) }) == 0 { return }
        let e = errno
        if e == EEXIST {
            var st = stat()
            if path.withCString({ stat($0, &st) }) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw Errno(rawValue: ENOTDIR)
        }
        guard e == ENOENT else { throw Errno(rawValue: e) }
        let parent = parentDirectory(of: path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent) }
        if path.withCString({ mkdir($0, 0o755) }) != 0 && errno != EEXIST { throw .current }
    }

    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    /// Makes a new, empty directory `parent/prefixXXXXXXsuffix` (mode 0700) and returns its path.
    package static func makeTemporaryDirectory(in parent: String, prefix: String) throws(Errno) -> String {
        var template = Array((parent.hasSuffix("/") ? parent : parent + "/").utf8) + Array(prefix.utf8)
            + Array("XXXXXX".utf8) + [0]
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { mkdtemp($0) != nil }
        }
        guard made else { throw .current }
        return String(decoding: template.dropLast(), as: UTF8.self)
    }

    package static var temporaryDirectory: String {
        if let value = getenv("TMPDIR"), value.pointee != 0 { return String(cString: value) }
        return "/tmp"
    }

    static var processID: Int32 { getpid() }

    /// Whether anything (a file, directory or link) is at `path`; `true` unless `lstat` says it does not exist.
    package static func pathExists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 || errno != ENOENT
    }

    package static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd == "/" ? "/" + path : cwd + "/" + path
    }

    /// The soft limit on open file descriptors.
    /// The number of online processors (`sysconf`).
    static let onlineProcessorCount = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    static var openFileLimit: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur > UInt(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    // MARK: Locks

    package enum FileLockMode { case shared, exclusive }

    /// `flock` on `fd`; blocks until granted.
    package static func lockFile(_ fd: Int32, _ mode: FileLockMode) throws(Errno) {
        while flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) != 0 {
            if errno != EINTR { throw .current }
        }
    }

    package static func unlockFile(_ fd: Int32) {
        _ = flock(fd, LOCK_UN)
    }
}

/// A plain mutex with explicit `lock()`/`unlock()`, for locking a varying set
/// of stripes in order (which `Mutex.withLock` cannot express).
final class PosixMutex: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        handle = .allocate(capacity: 1)
        handle.initialize(to: pthread_mutex_t())
        pthread_mutex_init(handle, nil)
    }

    deinit {
        pthread_mutex_destroy(handle)
        handle.deallocate()
    }

    func lock() { pthread_mutex_lock(handle) }
    func unlock() { pthread_mutex_unlock(handle) }
}

/// A mutex with a condition variable, for state that threads wait on.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a broadcast; call with the mutex held.
    func wait() { pthread_cond_wait(condition, mutex) }
    func broadcast() { pthread_cond_broadcast(condition) }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A value guarded by a pthread mutex. Used instead of `Synchronization.Mutex`
/// because ThreadSanitizer understands pthread locks (on Linux `Mutex` is a raw
/// futex it cannot see), so `swift test --sanitize=thread` checks our locking.
/// Package-visible so every module of the package uses the same lock.
package final class Locked<Value>: @unchecked Sendable {
    private let mutex = PosixMutex()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}

#if canImport(Glibc)
/// glibc's `malloc_trim` (declared in `<malloc.h>`, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
