// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
import Glibc
#endif
import Partd
import PartdTestSupport
import Testing

/// A fresh, unique directory path (not created) under the system temp directory.
func scratchPath(_ name: String) -> String {
    let base = String(cString: getenv("TMPDIR") ?? strdup("/tmp"))
    return "\(base)/partd-test-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))"
}

func exists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return out
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let f = fopen(path, "wb")!
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

func removeTree(_ path: String) { try? PartdPath.destroy(path) }

@Suite("DirectoryStore")
struct DirectoryStoreTests {
    @Test("one file per key, named as partd names plain keys")
    func filePerKey() throws {
        let store = try DirectoryStore.temporary()
        try store.append(["x": bytes("Hello"), "part-0.data": bytes("p"), "a!": bytes("bang"), "a?": bytes("q")])
        #expect(try store.filePath(for: "x") == store.path + "/x")
        #expect(readFile(store.path + "/x") == bytes("Hello"))
        #expect(readFile(store.path + "/part-0.data") == bytes("p"))
        #expect(readFile(store.path + "/%sa%21") == bytes("bang"))
        #expect(readFile(store.path + "/%sa%3F") == bytes("q"))
        #expect(readFile(store.path + "/a") == nil)
    }

    @Test("tuple keys get a file of their own (no subdirectories, no clash with string keys)")
    func tupleKeyFile() throws {
        let store = try DirectoryStore.temporary()
        try store.append([PartdKey.tuple("x", "y"): bytes("t"), "x": bytes("s")])
        #expect(readFile(store.path + "/%t(x,y)") == bytes("t"))
        #expect(readFile(store.path + "/x") == bytes("s"))
    }

    @Test("a temporary store is removed by close and at deinit; under the given parent")
    func temporaryLifecycle() throws {
        let parent = scratchPath("parent")
        defer { removeTree(parent) }
        var path = ""
        do {
            let store = try DirectoryStore.temporary(in: parent)
            path = store.path
            #expect(path.hasPrefix(parent + "/partd-"))
            try store.append(["x": bytes("1")])
            #expect(isDirectory(path))
        }
        #expect(!exists(path))
        let closed = try DirectoryStore.temporary(in: parent)
        try closed.append(["x": bytes("1")])
        try closed.close()
        #expect(!exists(closed.path))
        #expect(throws: PartdError.self) { try closed.append(["x": bytes("2")]) }
        do {
            try closed.append(["x": bytes("2")])
        } catch PartdError.closed {
        } catch {
            Issue.record("expected .closed, got \(error)")
        }
        // The error names the store's directory.
        #expect(expectPartdError(.closed) { try closed.get("x") }?.path == closed.path)
    }

    @Test("an explicit path is never removed implicitly, and reopening lists keys and data")
    func explicitPathSurvives() throws {
        let path = scratchPath("explicit")
        defer { removeTree(path) }
        let keys: [PartdKey] = ["x", 3, .tuple("a", 1), "a!", ""]
        do {
            let store = try DirectoryStore(path: path)
            for (i, key) in keys.enumerated() { try store.append(key, bytes("v\(i)")) }
            try store.close()
        }
        #expect(isDirectory(path))
        let again = try DirectoryStore(path: path)
        #expect(try again.keys() == keys.sorted())
        for (i, key) in keys.enumerated() { #expect(try again.get(key) == bytes("v\(i)")) }
    }

    @Test("keys that differ only in Unicode normalisation keep their own files, also through the descriptor cache")
    func unicodeNormalisation() throws {
        let path = scratchPath("unicode")
        defer { removeTree(path) }
        let composed = PartdKey("caf\u{E9}")
        let decomposed = PartdKey("cafe\u{301}")
        do {
            let store = try DirectoryStore(path: path)
            try store.append(composed, bytes("NFC"))
            // The composed key's descriptor is cached now; the decomposed key must not reuse it.
            try store.append(decomposed, bytes("NFD"))
            try store.close()
        }
        #expect(readFile(path + "/%scaf%C3%A9") == bytes("NFC"))
        #expect(readFile(path + "/%scafe%CC%81") == bytes("NFD"))
        let again = try DirectoryStore(path: path)
        #expect(try again.get(composed) == bytes("NFC"))
        #expect(try again.get(decomposed) == bytes("NFD"))
        #expect(try again.keys() == [composed, decomposed].sorted())
    }

    @Test("setOnce writes over a temporary file a crashed process of the same id left behind")
    func staleTemporaryFile() throws {
        let store = try DirectoryStore.temporary()
        // A process with this id (ids are reused: a container's main process is often pid 1 every time)
        // was killed between creating its first temporary file and renaming it.
        let stale = store.path + "/.tmp-\(getpid())-1"
        writeFile(stale, bytes("half a value"))
        #expect(try store.setOnce("k", bytes("value")))
        #expect(try store.get("k") == bytes("value"))
        #expect(!exists(stale))
        #expect(try store.keys() == ["k"])
    }

    @Test("foreign files are ignored by keys() but plain partd names are read")
    func foreignFiles() throws {
        let store = try DirectoryStore.temporary()
        writeFile(store.path + "/plain", bytes("from partd"))
        writeFile(store.path + "/with space", bytes("?"))
        writeFile(store.path + "/%sabc", bytes("non-canonical"))
        mkdir(store.path + "/sub", 0o755)
        #expect(try store.keys() == ["plain"])
        #expect(try store.get("plain") == bytes("from partd"))
    }

    @Test("a path that is a file gives a typed notADirectory error naming it")
    func pathIsAFile() throws {
        let path = scratchPath("file")
        writeFile(path, bytes("x"))
        defer { unlink(path) }
        do {
            _ = try DirectoryStore(path: path)
            Issue.record("expected an error")
        } catch let error as PartdError {
            #expect(error.code == .notADirectory)
            #expect(error.path == path)
            #expect(error.errno == ENOTDIR || error.errno == EEXIST)
            #expect(error.description.contains(path))
        }
    }

    @Test("a key whose file name would be too long throws keyTooLong naming the key")
    func keyTooLong() throws {
        let store = try DirectoryStore.temporary()
        let key = PartdKey(String(repeating: "é", count: 100))
        do {
            try store.append(key, bytes("x"))
            Issue.record("expected an error")
        } catch let error as PartdError {
            #expect(error.code == .keyTooLong)
            #expect(error.key == key)
        }
        try store.append(PartdKey(String(repeating: "a", count: 255)), bytes("ok"))
    }

    @Test("fsync mode appends and reads the same")
    func fsyncMode() throws {
        let store = try DirectoryStore.temporary(configuration: .init(fsync: true))
        try store.append(["x": bytes("a")])
        try store.append(["x": bytes("b")])
        try store.setOnce("y", bytes("c"))
        #expect(try store.get(["x", "y"]) == [bytes("ab"), bytes("c")])
    }

    @Test("a delete through one instance is seen by another instance's cached descriptors")
    func crossInstanceInvalidation() throws {
        let a = try DirectoryStore.temporary()
        let b = try DirectoryStore(path: a.path)
        try a.append(["x": bytes("old")])
        try b.append(["x": bytes("-b")])
        #expect(try a.get("x") == bytes("old-b"))
        try b.delete("x")
        try a.append(["x": bytes("new")])  // must not land in the removed file
        #expect(try b.get("x") == bytes("new"))
        try b.drop()
        try a.append(["x": bytes("after drop")])
        #expect(try b.get("x") == bytes("after drop"))
        try b.close()
    }

    @Test("an exclusive operation notices another instance's delete before reusing descriptors")
    func exclusiveSeesOtherGeneration() throws {
        let a = try DirectoryStore.temporary()
        let b = try DirectoryStore(path: a.path)
        try a.append(["y": bytes("old"), "z": bytes("z")])  // a caches descriptors for y and z
        try b.delete("y")
        try a.delete("z")  // exclusive in a: must drop a's stale descriptor for y
        try a.append(["y": bytes("new")])
        #expect(try b.get("y") == bytes("new"))
        try b.close()
    }

    @Test("a small descriptor cache still gives correct results")
    func smallCache() throws {
        let store = try DirectoryStore.temporary(configuration: .init(maxOpenFiles: 3))
        for round in 0..<5 {
            for k in 0..<20 { try store.append(PartdKey(k), [UInt8(round)]) }
        }
        for k in 0..<20 { #expect(try store.get(PartdKey(k)) == [0, 1, 2, 3, 4]) }
    }

    @Test("functional API of partd 0.1: create, put, get, destroy")
    func functionalAPI() throws {
        let path = scratchPath("functional")
        try PartdPath.create(path)
        try PartdPath.put(path, ["x": bytes("Hello"), "y": bytes("1")])
        try PartdPath.put(path, ["x": bytes(" world")])
        #expect(try PartdPath.get(path, ["x", "y", "z"]) == [bytes("Hello world"), bytes("1"), []])
        #expect(throws: PartdError.self) { try PartdPath.create(path) }
        try PartdPath.destroy(path)
        #expect(!exists(path))
        try PartdPath.destroy(path)
    }
}

@Suite("Key file names")
struct KeyFileNameTests {
    @Test("the file name of each kind of key", arguments: [
        (PartdKey("x"), "x"),
        ("part-0.data_1", "part-0.data_1"),
        ("a!", "%sa%21"),
        ("", "%s"),
        (".", "%s."),
        ("..", "%s.."),
        (".lock", "%s.lock"),
        ("../x", "%s..%2Fx"),
        ("a b", "%sa%20b"),
        ("é", "%s%C3%A9"),
        ("a\u{0}", "%sa%00"),
        (7, "%i7"),
        (-12, "%i-12"),
        (.tuple("a", 1), "%t(a,%i1)"),
        (.tuple("a", .tuple("b,", "")), "%t(a,%t(%sb%2C,%s))"),
        (.tuple(), "%t()"),
    ] as [(PartdKey, String)])
    func encoding(key: PartdKey, name: String) throws {
        #expect(try KeyFileName.encode(key) == name)
        #expect(KeyFileName.decode(name) == key)
    }

    @Test("names outside the grammar do not decode", arguments: [
        "", ".lock", ".tmp-1", "%", "%x", "%sabc", "%s%zz", "%i", "%i01", "%i-0", "%t(", "%t(a", "%t(a,)", "a b", "a/b",
        "%sa%2f",
    ])
    func rejects(name: String) {
        #expect(KeyFileName.decode(name) == nil)
    }

    @Test("random keys round-trip through file names")
    func randomRoundTrip() throws {
        var rng = SplitMix64(seed: 11)
        let alphabet: [Character] = ["a", "Z", "0", ".", "-", "_", "%", "(", ")", ",", "/", " ", "é", "\u{0}", "😀"]
        func randomKey(_ depth: Int) -> PartdKey {
            switch Int.random(in: 0..<(depth < 2 ? 3 : 2), using: &rng) {
            case 0:
                let n = Int.random(in: 0...8, using: &rng)
                return PartdKey(String((0..<n).map { _ in alphabet.randomElement(using: &rng)! }))
            case 1: return PartdKey(Int.random(in: -1000...1000, using: &rng))
            default: return .tuple((0..<Int.random(in: 0...3, using: &rng)).map { _ in randomKey(depth + 1) })
            }
        }
        var names: [String: PartdKey] = [:]
        for _ in 0..<2000 {
            let key = randomKey(0)
            let name = try KeyFileName.encode(key)
            #expect(!name.contains("/"))
            #expect(!name.hasPrefix("."))
            #expect(KeyFileName.decode(name) == key)
            if let other = names[name] { #expect(other == key) }
            names[name] = key
        }
    }
}
