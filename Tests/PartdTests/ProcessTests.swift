// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdTestSupport
import Testing

/// Runs a program and returns its exit status and standard output.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    let inPipe = Pipe()
    if input != nil { process.standardInput = inPipe }
    try process.run()
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The directory holding the test bundle and the package's other built products.
var productsDirectory: String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().path
}

@Suite("Processes", .serialized)
struct ProcessTests {
    @Test("4 processes append concurrently to one directory; every batch lands once and unmixed")
    func multiProcessAppends() throws {
        let worker = productsDirectory + "/partd-test-worker"
        #expect(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let path = scratchPath("multiprocess")
        defer { removeTree(path) }
        let writers = 4
        let batches = 2500
        let maxLength = 6000
        var processes: [Process] = []
        for writer in 0..<writers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: worker)
            process.arguments = [path, String(writer), String(batches), String(maxLength)]
            try process.run()
            processes.append(process)
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let store = try DirectoryStore(path: path)
        try verifyWorkerRecords(in: store, writers: writers, batches: batches, maxLength: maxLength)
        #expect(try store.keys().count == 10 + writers)
    }
}

@Suite("Examples")
struct ExampleTests {
    @Test("every example runs on a small input and checks its result (shuffle/groupby demo, typed arrays, server workers)")
    func shuffleGroupbyDemo() throws {
        let demo = productsDirectory + "/shuffle-groupby-demo"
        try #require(FileManager.default.isExecutableFile(atPath: demo), "build the package first: \(demo)")
        let result = try run(demo, ["--rows", "300000", "--memory", "512kB", "--partitions", "8", "--chunk-rows", "50000", "--groups", "5000"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("check:    count 300000 of 300000"))
        #expect(result.output.contains("OK"))
        #expect(result.output.contains("5000 groups"))
        #expect(!result.output.contains("spilled 0 B"))
        let plain = try run(demo, ["--rows", "100000", "--memory", "256kB", "--strings", "plain", "--compression", "lz4", "--json"])
        #expect(plain.status == 0, "\(plain.output)")
        #expect(plain.output.contains("\"ok\": true"))
        let arrays = try run(productsDirectory + "/typed-arrays", ["--partitions", "4", "--steps", "6", "--rows-per-step", "400"])
        #expect(arrays.status == 0, "\(arrays.output)")
        #expect(arrays.output.contains("features [600, 4] <f4") && arrays.output.contains("refused as expected") && arrays.output.contains("OK"))
        let workers = try run(productsDirectory + "/server-workers", ["--workers", "3", "--batches", "300"])
        #expect(workers.status == 0, "\(workers.output)")
        #expect(workers.output.contains("900 batches") && workers.output.contains("once and in order: OK"))
        let bad = try run(demo, ["--rows", "many"])
        #expect(bad.status == 2)
        #expect(bad.output.contains("--rows needs a positive whole number"))
    }
}

@Suite("The format document")
struct FormatDocumentTests {
    @Test("readers and writers written in Python from docs/format.md alone agree with ours both ways (Tests/Interop)")
    func cleanRoom() throws {
        let modules = "import numpy, msgpack, xxhash, cramjam, blosc, pyarrow"
        try #require(
            (try? run("/usr/bin/env", ["python3", "-c", modules]).status) == 0,
            "python3 cannot \(modules); run scripts/test.sh, which installs them")
        let interop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Interop")
        for tool in ["format-samples", "partd"] {
            try #require(FileManager.default.isExecutableFile(atPath: productsDirectory + "/" + tool), "build the package first: \(tool)")
        }
        let out = scratchPath("format-document")
        defer { try? FileManager.default.removeItem(atPath: out) }
        // Samples we write, read by format_from_docs.py; frames it writes from the document, read by us; Arrow
        // both ways against pyarrow; the wire protocol against `partd serve`.
        let result = try run("/bin/bash", [interop.appendingPathComponent("run_all.sh").path, productsDirectory, out + "/samples"])
        #expect(result.status == 0, "\(result.output)")
        let tallies = result.output.split(separator: "\n").filter { $0.hasSuffix(" failed") }
        #expect(tallies.count == 5, "\(result.output)")
        #expect(tallies.allSatisfy { $0.hasSuffix(" 0 failed") }, "\(result.output)")
    }
}

@Suite("Python partd interoperability", .serialized)
struct PythonInteropTests {
    static let python = "/usr/bin/env"

    static func pythonHasPartd() -> Bool {
        (try? run(python, ["python3", "-c", "import partd"]).status) == 0
    }

    @Test("a directory written by Python's partd.File reads back here, for plain keys")
    func readsPythonDirectory() throws {
        try #require(Self.pythonHasPartd(), "Python's partd is not importable; run scripts/test.sh, which installs it")
        let path = scratchPath("from-python")
        defer { removeTree(path) }
        let script = """
            import partd, sys
            p = partd.File(sys.argv[1])
            p.append({'x': b'Hello', 'part-0': bytes(range(256)), 'a.b_c-d': b'', 1: b'int key'})
            p.append({'x': b' world'})
            p.iset('y', b'set')
            """
        let result = try run(Self.python, ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let store = try DirectoryStore(path: path)
        #expect(try store.get("x") == bytes("Hello world"))
        #expect(try store.get("part-0") == (0..<256).map { UInt8($0) })
        #expect(try store.get("a.b_c-d") == [])
        #expect(try store.get("y") == bytes("set"))
        // partd names the integer key 1 file "1": here that is the plain string key "1".
        #expect(try store.get("1") == bytes("int key"))
        #expect(try store.keys() == ["1", "a.b_c-d", "part-0", "x", "y"])
        try store.append(["x": bytes("!")])
        #expect(try store.get("x") == bytes("Hello world!"))
    }

    @Test("a directory written here is read by Python's partd.File, for plain keys")
    func pythonReadsOurDirectory() throws {
        try #require(Self.pythonHasPartd(), "Python's partd is not importable; run scripts/test.sh, which installs it")
        let path = scratchPath("to-python")
        defer { removeTree(path) }
        let store = try DirectoryStore(path: path)
        let values: [PartdKey: [UInt8]] = [
            "x": bytes("Hello"), "part-0": (0..<256).map { UInt8($0) }, "a.b_c-d": [], "big": [UInt8](repeating: 7, count: 100_000),
        ]
        try store.append(values)
        try store.append(["x": bytes(" world")])
        try store.setOnce("y", bytes("set"))
        let script = """
            import partd, sys
            p = partd.File(sys.argv[1])
            for k in ['x', 'part-0', 'a.b_c-d', 'big', 'y', 'missing']:
                v = p.get(k)
                print(k, len(v), sum(i * b for i, b in enumerate(v)), v[:16].hex())
            """
        let result = try run(Self.python, ["python3", "-c", script, path])
        try #require(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        let expected: [(String, [UInt8])] = [
            ("x", bytes("Hello world")), ("part-0", values["part-0"]!), ("a.b_c-d", []), ("big", values["big"]!),
            ("y", bytes("set")), ("missing", []),
        ]
        #expect(lines.count == expected.count)
        for (line, (key, value)) in zip(lines, expected) {
            let weighted = value.enumerated().reduce(0) { $0 + $1.offset * Int($1.element) }
            let head = value.prefix(16).map { String(format: "%02x", $0) }.joined()
            #expect(line == "\(key) \(value.count) \(weighted) \(head)")
        }
    }
}
