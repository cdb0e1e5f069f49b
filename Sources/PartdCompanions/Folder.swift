// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdTyped

/// How a companion store turns values into bytes.
public enum ValueEncoding: Sendable, Hashable {
    /// Our binary `Codable` encoding (MessagePack, `docs/format.md` §6.4), the default.
    case messagePack
    /// JSON (UTF-8), readable by anything.
    case json

    func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        switch self {
        case .messagePack: return try MessagePackEncoder().encode(value)
        case .json: return Array(try JSONEncoder.sortingKeys.encode(value))
        }
    }

    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        switch self {
        case .messagePack: return try MessagePackDecoder().decode(type, from: bytes[...])
        case .json: return try JSONDecoder().decode(type, from: Data(bytes))
        }
    }
}

/// An open directory, with the few file operations the companions need, all
/// relative to its descriptor and all failing with a ``PartdError`` naming the file.
final class Folder: Sendable {
    let path: String
    /// How ``write(_:_:)`` replaces a file.
    enum Writes {
        /// A temporary file is written and fsynced, renamed over the file, and the directory fsynced: a
        /// crash of the process or the machine leaves the old or the new contents.
        case synced
        /// As `synced` without the fsyncs: readers and a process crash see the old or the new contents,
        /// a machine crash may lose the write.
        case renamed
        /// The file is truncated and written in place (a failed write removes it): for a directory only
        /// this process reads, whose contents nothing needs after a crash.
        case inPlace
    }

    let writes: Writes
    private let fd: Int32

    init(path: String, create: Bool, writes: Writes = .synced) throws {
        let absolute = Posix.absolutePath(path)
        self.path = absolute
        self.writes = writes
        do throws(Errno) {
            if create { try Posix.makeDirectories(absolute) }
            fd = try Posix.open(absolute, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw PartdError.system("open the directory", key: nil, path: absolute, errno: error.rawValue)
        }
    }

    deinit { Posix.close(fd) }

    func file(_ name: String) -> String { path + "/" + name }

    /// The whole file, or `nil` if it does not exist.
    func read(_ name: String) throws -> [UInt8]? {
        do throws(Errno) {
            let file: Int32
            do throws(Errno) {
                file = try Posix.openAt(fd, name, flags: O_RDONLY)
            } catch where error.rawValue == ENOENT {
                return nil
            }
            defer { Posix.close(file) }
            return try Posix.readAll(file, count: try Posix.fileSize(file))
        } catch {
            throw PartdError.system("read", key: nil, path: self.file(name), errno: error.rawValue)
        }
    }

    /// Replaces `name` with `bytes` as ``writes`` says.
    func write(_ name: String, _ bytes: [UInt8]) throws {
        do throws(Errno) {
            if writes == .inPlace {
                let file = try Posix.openAt(fd, name, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
                defer { Posix.close(file) }
                do throws(Errno) {
                    try Posix.writeAll(file, bytes)
                } catch {
                    try? Posix.unlinkAt(fd, name)
                    throw error
                }
                return
            }
            let temporary = ".\(name).tmp-\(UInt64.random(in: 0...UInt64.max))"
            let file = try Posix.openAt(fd, temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, mode: 0o644)
            do throws(Errno) {
                try Posix.writeAll(file, bytes)
                if writes == .synced { try Posix.sync(file) }
                Posix.close(file)
            } catch {
                Posix.close(file)
                try? Posix.unlinkAt(fd, temporary)
                throw error
            }
            do throws(Errno) {
                try Posix.renameAt(fd, temporary, name)
            } catch {
                // The rename failed (`name` is a directory, say): the temporary file would be left behind.
                try? Posix.unlinkAt(fd, temporary)
                throw error
            }
            if writes == .synced { try Posix.sync(fd) }
        } catch {
            throw PartdError.system("write", key: nil, path: self.file(name), errno: error.rawValue)
        }
    }

    /// Removes `name` if it exists.
    func remove(_ name: String) throws {
        do throws(Errno) {
            try Posix.unlinkAt(fd, name)
        } catch where error.rawValue == ENOENT {
        } catch {
            throw PartdError.system("remove", key: nil, path: file(name), errno: error.rawValue)
        }
    }

    func list() throws -> [(name: String, isDirectory: Bool)] {
        do throws(Errno) {
            return try Posix.listDirectory(fd)
        } catch {
            throw PartdError.system("list", key: nil, path: path, errno: error.rawValue)
        }
    }

    /// The identity of `name`'s current version (`nil` if it does not exist), and whether it is *settled*:
    /// changed long enough before this call that any later version of the file (written after this call) has
    /// another status-change time. An identity that is not settled may be shared by a version written in the same
    /// tick of the file system's clock (same inode reused, same size), so it must not be taken to mean
    /// "unchanged" (as git's racy index entries). Long enough is 100 ms where file times carry nanoseconds
    /// (ext4, XFS, Btrfs, tmpfs: a tick of a few milliseconds at most), and 2 s where both times fall on whole
    /// seconds, as on file systems that keep only seconds (ext4 with 128-byte inodes, ext3, HFS+) or two (FAT).
    func identity(_ name: String) throws -> (identity: Posix.FileIdentity, settled: Bool)? {
        let now = Posix.wallClockNanoseconds()
        do throws(Errno) {
            guard let identity = try Posix.identityAt(fd, name) else { return nil }
            let second: Int64 = 1_000_000_000
            let coarse = identity.changed % second == 0 && identity.modified % second == 0
            return (identity, identity.changed < now - (coarse ? 2 * second : second / 10))
        } catch {
            throw PartdError.system("open", key: nil, path: file(name), errno: error.rawValue)
        }
    }

    /// Size and modification time of `name`, or `nil` if it does not exist.
    func stat(_ name: String) throws -> (bytes: Int, modified: Date)? {
        do throws(Errno) {
            guard let entry = try Posix.statAt(fd, name), let time = try Posix.modificationTime(fd, name) else { return nil }
            return (entry.size, Date(timeIntervalSince1970: time))
        } catch {
            throw PartdError.system("stat", key: nil, path: file(name), errno: error.rawValue)
        }
    }

    /// Runs `body` holding an inter-process lock (`flock`) on the file `name`
    /// (created if missing). Each call opens its own descriptor, so threads of
    /// one process exclude each other too.
    func withLock<R>(_ name: String, exclusive: Bool = true, _ body: () throws -> R) throws -> R {
        let lock: Int32
        do throws(Errno) {
            lock = try Posix.openAt(fd, name, flags: O_RDWR | O_CREAT, mode: 0o644)
        } catch {
            throw PartdError.system("lock", key: nil, path: file(name), errno: error.rawValue)
        }
        do throws(Errno) {
            try Posix.lockFile(lock, exclusive ? .exclusive : .shared)
        } catch {
            Posix.close(lock)
            throw PartdError.system("lock", key: nil, path: file(name), errno: error.rawValue)
        }
        defer {
            Posix.unlockFile(lock)
            Posix.close(lock)
        }
        return try body()
    }

    func removeAll() throws {
        do throws(Errno) {
            try Posix.removeTree(path)
        } catch {
            throw PartdError.system("remove the directory", key: nil, path: path, errno: error.rawValue)
        }
    }

    static func temporary(prefix: String) throws -> String {
        do throws(Errno) {
            return try Posix.makeTemporaryDirectory(in: Posix.temporaryDirectory, prefix: prefix)
        } catch {
            throw PartdError.system("create a temporary directory in", key: nil, path: Posix.temporaryDirectory, errno: error.rawValue)
        }
    }
}
