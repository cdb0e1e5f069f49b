// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type of the byte-store core.
///
/// Every failure carries a ``Code`` to match on, a message that says what
/// went wrong and what to do about it, and where known the key, the file
/// path and the operating system's `errno`.
///
/// ```swift
/// do {
///     try store.append(["x": bytes])
/// } catch PartdError.diskFull {
///     // free space, or move the store
/// }
/// ```
public struct PartdError: Error, Sendable {
    /// What kind of failure this is. New codes may be added in later versions,
    /// so a `switch` over codes needs a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case notFound, permissionDenied, diskFull, notADirectory, isADirectory, tooManyOpenFiles
            case readOnlyFileSystem, fileTooLarge, invalidKey, keyTooLong, corruptData, closed
            case invalidArgument, alreadyExists, spillFailed, compressionFailed, typeMismatch, io
            case connectionFailed, protocolViolation, unauthorized
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A file or directory the store needs does not exist.
        public static let notFound = Code(.notFound)
        /// The operating system refused access (`EACCES`, `EPERM`).
        public static let permissionDenied = Code(.permissionDenied)
        /// No space left on the device, or a quota was exceeded (`ENOSPC`, `EDQUOT`).
        public static let diskFull = Code(.diskFull)
        /// A path that must be a directory is something else (`ENOTDIR`).
        public static let notADirectory = Code(.notADirectory)
        /// A path that must be a file is a directory (`EISDIR`).
        public static let isADirectory = Code(.isADirectory)
        /// The process ran out of file descriptors (`EMFILE`, `ENFILE`).
        public static let tooManyOpenFiles = Code(.tooManyOpenFiles)
        /// The file system is mounted read-only (`EROFS`).
        public static let readOnlyFileSystem = Code(.readOnlyFileSystem)
        /// A file grew past a size limit (`EFBIG`, `RLIMIT_FSIZE`).
        public static let fileTooLarge = Code(.fileTooLarge)
        /// A key that cannot be stored.
        public static let invalidKey = Code(.invalidKey)
        /// A key whose file name would exceed the file system's 255-byte limit.
        public static let keyTooLong = Code(.keyTooLong)
        /// Stored bytes are damaged or not in the expected format.
        public static let corruptData = Code(.corruptData)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// An argument is out of range.
        public static let invalidArgument = Code(.invalidArgument)
        /// Something already exists where the operation must create it.
        public static let alreadyExists = Code(.alreadyExists)
        /// A spilling store appended the data to its memory buffer but could not move
        /// buffered bytes to its slow store. The data is kept in memory; do not retry the write.
        public static let spillFailed = Code(.spillFailed)
        /// A codec could not compress a value (it rejected the input or its settings).
        public static let compressionFailed = Code(.compressionFailed)
        /// A typed value does not match what the key already holds (element type, trailing
        /// shape or table schema); the message names both.
        public static let typeMismatch = Code(.typeMismatch)
        /// Any other input/output failure; see ``PartdError/errno``.
        public static let io = Code(.io)
        /// A remote store could not connect, or its connection was lost.
        public static let connectionFailed = Code(.connectionFailed)
        /// A peer sent bytes that break the wire protocol (a malformed or oversized
        /// frame, an unknown request, a version this side does not speak).
        public static let protocolViolation = Code(.protocolViolation)
        /// A server refused a client's token.
        public static let unauthorized = Code(.unauthorized)

        /// Every code, in the order of their wire numbers (`docs/format.md` §8).
        package static let all: [Code] = [
            .notFound, .permissionDenied, .diskFull, .notADirectory, .isADirectory, .tooManyOpenFiles,
            .readOnlyFileSystem, .fileTooLarge, .invalidKey, .keyTooLong, .corruptData, .closed,
            .invalidArgument, .alreadyExists, .spillFailed, .compressionFailed, .typeMismatch, .io,
            .connectionFailed, .protocolViolation, .unauthorized,
        ]

        public var description: String {
            switch base {
            case .notFound: return "not found"
            case .permissionDenied: return "permission denied"
            case .diskFull: return "disk full"
            case .notADirectory: return "not a directory"
            case .isADirectory: return "is a directory"
            case .tooManyOpenFiles: return "too many open files"
            case .readOnlyFileSystem: return "read-only file system"
            case .fileTooLarge: return "file too large"
            case .invalidKey: return "invalid key"
            case .keyTooLong: return "key too long"
            case .corruptData: return "corrupt data"
            case .closed: return "store closed"
            case .invalidArgument: return "invalid argument"
            case .alreadyExists: return "already exists"
            case .spillFailed: return "spill failed"
            case .compressionFailed: return "compression failed"
            case .typeMismatch: return "type mismatch"
            case .io: return "I/O error"
            case .connectionFailed: return "connection failed"
            case .protocolViolation: return "protocol violation"
            case .unauthorized: return "unauthorized"
            }
        }

        /// The code for an `errno` value.
        public static func forErrno(_ value: Int32) -> Code {
            switch value {
            case ENOENT: return .notFound
            case EACCES, EPERM: return .permissionDenied
            case ENOSPC, EDQUOT: return .diskFull
            case ENOTDIR: return .notADirectory
            case EISDIR: return .isADirectory
            case EMFILE, ENFILE: return .tooManyOpenFiles
            case EROFS: return .readOnlyFileSystem
            case EFBIG: return .fileTooLarge
            case ENAMETOOLONG: return .keyTooLong
            case EEXIST, ENOTEMPTY: return .alreadyExists
            case EINVAL: return .invalidArgument
            default: return .io
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What went wrong and, where there is one, what to do about it.
    public var message: String
    /// The key being read or written, if the failure concerns one.
    public var key: PartdKey?
    /// The file or directory involved, if any.
    public var path: String?
    /// The operating system's error number, if a system call failed.
    public var errno: Int32?

    public init(code: Code, message: String, key: PartdKey? = nil, path: String? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.key = key
        self.path = path
        self.errno = errno
    }


    public static let notFound = Code.notFound
    public static let permissionDenied = Code.permissionDenied
    public static let diskFull = Code.diskFull
    public static let notADirectory = Code.notADirectory
    public static let isADirectory = Code.isADirectory
    public static let tooManyOpenFiles = Code.tooManyOpenFiles
    public static let readOnlyFileSystem = Code.readOnlyFileSystem
    public static let fileTooLarge = Code.fileTooLarge
    public static let invalidKey = Code.invalidKey
    public static let keyTooLong = Code.keyTooLong
    public static let corruptData = Code.corruptData
    public static let closed = Code.closed
    public static let invalidArgument = Code.invalidArgument
    public static let alreadyExists = Code.alreadyExists
    public static let spillFailed = Code.spillFailed
    public static let compressionFailed = Code.compressionFailed
    public static let typeMismatch = Code.typeMismatch
    public static let io = Code.io
    public static let connectionFailed = Code.connectionFailed
    public static let protocolViolation = Code.protocolViolation
    public static let unauthorized = Code.unauthorized
}

extension PartdError.Code {
    /// Lets `catch PartdError.diskFull` match any error with that code.
    public static func ~= (pattern: PartdError.Code, error: any Error) -> Bool {
        (error as? PartdError)?.code == pattern
    }
}

extension PartdError: CustomStringConvertible {
    /// One line: `disk full: append to key "x" failed: … (path /tmp/s/x, errno 28 ENOSPC)`.
    public var description: String {
        var details: [String] = []
        if let path { details.append("path \(path)") }
        if let errno { details.append("errno \(errno) \(PartdError.errnoName(errno))") }
        let tail = details.isEmpty ? "" : " (" + details.joined(separator: ", ") + ")"
        return "\(code): \(message)\(tail)"
    }

    static func errnoName(_ value: Int32) -> String {
        switch value {
        case ENOENT: return "ENOENT"
        case EACCES: return "EACCES"
        case EPERM: return "EPERM"
        case ENOSPC: return "ENOSPC"
        case EDQUOT: return "EDQUOT"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EMFILE: return "EMFILE"
        case ENFILE: return "ENFILE"
        case EROFS: return "EROFS"
        case EFBIG: return "EFBIG"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case EEXIST: return "EEXIST"
        case ENOTEMPTY: return "ENOTEMPTY"
        case EINVAL: return "EINVAL"
        case EIO: return "EIO"
        case EBADF: return "EBADF"
        default: return "errno"
        }
    }
}

extension PartdError {
    /// The error for a failed system call, with an actionable message.
    ///
    /// - Parameters:
    ///   - operation: what the store was doing, e.g. `"append to"`.
    ///   - errno: the `errno` the call left.
    package static func system(_ operation: String, key: PartdKey?, path: String?, errno value: Int32) -> PartdError {
        let code = Code.forErrno(value)
        var message = operation
        if let key { message += " key \(key)" }
        message += " failed: " + String(cString: strerror(value))
        switch code {
        case .permissionDenied:
            message += "; check the permissions of the store directory or choose another one"
        case .diskFull:
            message += "; free space on that file system or put the store on another one"
        case .notADirectory:
            message += "; the store's root must be a directory"
        case .tooManyOpenFiles:
            message += "; raise the open-file limit (ulimit -n) or lower maxOpenFiles"
        case .readOnlyFileSystem:
            message += "; the store's file system is mounted read-only"
        case .fileTooLarge:
            message += "; a file-size limit (ulimit -f) or the file system's maximum was reached"
        case .notFound:
            message += "; the store directory may have been removed while in use"
        default:
            break
        }
        return PartdError(code: code, message: message, key: key, path: path, errno: value)
    }

    static func closedStore(path: String?) -> PartdError {
        PartdError(code: .closed, message: "the store was closed; open a new one", path: path)
    }
}
