// SPDX-License-Identifier: Apache-2.0

/// The functional interface of partd 0.1: every call names the store by its
/// directory, opens it, does one thing and closes it.
///
/// ```swift
/// try PartdPath.create("/tmp/p")
/// try PartdPath.put("/tmp/p", ["x": [1, 2], "y": [3]])
/// try PartdPath.get("/tmp/p", ["x", "y"])      // [[1, 2], [3]]
/// try PartdPath.destroy("/tmp/p")
/// ```
///
/// Opening a ``DirectoryStore`` once and keeping it is much faster for many
/// calls: it reuses descriptors.
public enum PartdPath {
    /// Creates an empty store directory at `path`.
    ///
    /// - Throws: ``PartdError/Code/alreadyExists`` if `path` already holds keys,
    ///   `.notADirectory` if it is a file.
    public static func create(_ path: String) throws {
        let store = try DirectoryStore(path: path)
        defer { try? store.close() }
        if try !store.keys().isEmpty {
            throw PartdError(
                code: .alreadyExists, message: "a store with keys already exists there; destroy it first or use another path",
                path: store.path)
        }
    }

    /// Appends a batch to the store at `path` (created if missing).
    public static func put(_ path: String, _ batch: [PartdKey: [UInt8]]) throws {
        let store = try DirectoryStore(path: path)
        defer { try? store.close() }
        try store.append(batch)
    }

    /// Reads keys from the store at `path`; missing keys read as `[]`, and so does every key of a path that does
    /// not exist (nothing is created there).
    public static func get(_ path: String, _ keys: [PartdKey]) throws -> [[UInt8]] {
        if !Posix.pathExists(path) {
            for key in keys { _ = try KeyFileName.encode(key) }  // an invalid key is still refused
            return keys.map { _ in [] }
        }
        let store = try DirectoryStore(path: path)
        defer { try? store.close() }
        return try store.get(keys)
    }

    /// Removes the store directory at `path` and everything in it. A missing path is fine.
    public static func destroy(_ path: String) throws {
        let absolute = Posix.absolutePath(path)
        do throws(Errno) { try Posix.removeTree(absolute) } catch {
            throw PartdError.system("destroy the store", key: nil, path: absolute, errno: error.rawValue)
        }
    }
}
