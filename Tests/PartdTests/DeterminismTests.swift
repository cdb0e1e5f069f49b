// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdTestSupport
import PartdTyped
import Testing

/// The first CPU this process may run on (`Cpus_allowed_list` in `/proc/self/status`), if `taskset` is there
/// to pin a child to it; `nil` otherwise (the one-CPU runs then run unpinned).
let firstAllowedCPU: String? = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset"),
          let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
    else { return nil }
    let list = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
    let first = list.prefix { $0.isNumber }
    return first.isEmpty ? nil : String(first)
}()

/// Runs a program with the test's environment minus `SWIFT_DETERMINISTIC_HASHING` (so every process seeds its
/// hashes afresh, as users' processes do), optionally pinned to one CPU (`taskset`, the first this process may
/// use; unpinned without `taskset`), and returns its exit status and standard output (standard error, where the
/// commands report progress and timings, is discarded).
func runFreshlySeeded(_ executable: String, _ arguments: [String], oneCPU: Bool = false) throws -> (status: Int32, output: [UInt8]) {
    let process = Process()
    if oneCPU, let cpu = firstAllowedCPU {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        process.arguments = ["-c", cpu, executable] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
    }
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_DETERMINISTIC_HASHING"] = nil
    process.environment = environment
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, Array(data))
}

/// Every regular file under `root`, by path relative to it, with its bytes.
func filesUnder(_ root: String) throws -> [String: [UInt8]] {
    var files: [String: [UInt8]] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { return files }
    for case let relative as String in walker {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue else {
            continue
        }
        files[relative] = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative)))
    }
    return files
}

/// The names whose bytes differ between two runs' files (or that only one run wrote), sorted.
func differingFiles(_ a: [String: [UInt8]], _ b: [String: [UInt8]]) -> [String] {
    Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
}

/// The same input gives the same bytes and the same output in every process: Swift seeds its hashes (and so
/// the iteration order of dictionaries and sets) per process, and threads interleave differently from run to
/// run, so each check runs a program several times, each a new process, and compares what they wrote.
@Suite("Determinism", .serialized)
struct DeterminismTests {
    let worker = productsDirectory + "/partd-test-worker"
    let partd = productsDirectory + "/partd"

    @Test("encoders write the same bytes in every process: lists with dictionaries and sets, categoricals, Arrow, dataset entries")
    func encodersAcrossProcesses() throws {
        try #require(FileManager.default.isExecutableFile(atPath: worker), "build the package first: \(worker)")
        let root = scratchPath("determinism")
        defer { removeTree(root) }
        var runs: [[String: [UInt8]]] = []
        for run in 0..<3 {
            let result = try runFreshlySeeded(worker, ["determinism", "\(root)/\(run)"])
            try #require(result.status == 0, "\(String(decoding: result.output, as: UTF8.self))")
            var files = try filesUnder("\(root)/\(run)")
            // Lock files are empty and mean nothing; the entry's files are compared.
            files = files.filter { !$0.key.hasSuffix(".lock") }
            runs.append(files)
        }
        #expect(runs[0].count >= 10)
        for run in 1..<runs.count {
            #expect(differingFiles(runs[0], runs[run]) == [], "run \(run) wrote other bytes than run 0")
        }
        // The same bytes in this process too (a third seed).
        for sample in try determinismSamples() {
            let same = runs[0][sample.name] == sample.bytes
            #expect(same, "\(sample.name) differs from what this process writes")
        }
    }

    /// `DeterminismRecord`'s fields, through `Codable` alone.
    struct PlainTwin: Codable {
        var counts: [String: Int]
        var names: [Int: String]
        var tags: Set<String>
    }

    @Test("MessagePack maps of dictionaries and arrays of sets are sorted: ints by value, strings by UTF-8 bytes, else by bytes")
    func sortedMapsAndSets() throws {
        let encoder = MessagePackEncoder()
        // Strings by their bytes ("B" < "a" < "aa" < "b" < "é"), whatever their lengths.
        #expect(try encoder.encode(["b": 1, "aa": 2, "a": 3, "\u{E9}": 4, "B": 5]) == [
            0x85, 0xA1, 0x42, 5, 0xA1, 0x61, 3, 0xA2, 0x61, 0x61, 2, 0xA1, 0x62, 1, 0xA2, 0xC3, 0xA9, 4,
        ])
        // Ints by value, negative ones first, whatever their forms.
        #expect(try encoder.encode([300: true, -1: true, 5: false, -200: true]) == [
            0x84, 0xD1, 0xFF, 0x38, 0xC3, 0xFF, 0xC3, 0x05, 0xC2, 0xCD, 0x01, 0x2C, 0xC3,
        ])
        #expect(try encoder.encode(Set(["b", "a", "c"])) == [0x93, 0xA1, 0x61, 0xA1, 0x62, 0xA1, 0x63])
        #expect(try encoder.encode(Set([3, -2, 1])) == [0x93, 0xFE, 0x01, 0x03])
        // Sets of other values by their encoded bytes.
        #expect(try encoder.encode(Set([[2], [1, 1], [1]])) == [0x93, 0x91, 0x01, 0x91, 0x02, 0x92, 0x01, 0x01])
        // Nested: each dictionary sorted on its own.
        #expect(try encoder.encode(["y": ["b": 1, "a": 2], "x": [:]]) == [
            0x82, 0xA1, 0x78, 0x80, 0xA1, 0x79, 0x82, 0xA1, 0x61, 2, 0xA1, 0x62, 1,
        ])
        // Read back as they were.
        let doc = DeterminismDoc(4)
        #expect(try MessagePackDecoder().decode(DeterminismDoc.self, from: encoder.encode(doc)[...]) == doc)
        #expect(try MessagePackDecoder().decode(DeterminismDoc.self, from: MessagePackEncoder(structEncoding: .array).encode(doc)[...]) == doc)
    }

    @Test("a MessagePackRecord's dictionaries and sets are sorted as Codable's are: the same bytes")
    func recordsSortAsCodable() throws {
        let records = (1...5).map(DeterminismRecord.init)
        let twins = records.map { PlainTwin(counts: $0.counts, names: $0.names, tags: $0.tags) }
        for structs in [MessagePackEncoder.StructEncoding.map, .array] {
            let memory = MemoryStore()
            try ListStore<MemoryStore, DeterminismRecord>(over: memory, encoding: .messagePack(structs)).append([(key: "r", value: records)])
            try ListStore<MemoryStore, PlainTwin>(over: memory, encoding: .messagePack(structs)).append([(key: "p", value: twins)])
            #expect(try memory.get("r") == memory.get("p"))
            #expect(try ListStore<MemoryStore, DeterminismRecord>(over: memory).get("r") == records)
        }
    }

    @Test("JSON lists and dataset entries write object keys sorted")
    func jsonSortedKeys() throws {
        let memory = MemoryStore()
        try ListStore<MemoryStore, [String: Int]>(over: memory, encoding: .json).append([(key: "j", value: [["b": 1, "a": 2, "c": 3]])])
        let payload = try memory.get("j").dropFirst(ValueFrames.headerSize)
        #expect(String(decoding: payload, as: UTF8.self) == #"[{"a":2,"b":1,"c":3}]"#)
    }

    /// A CSV of users, days, amounts (some missing) and categories, with repeated keys: what the commands
    /// shuffle, group, join, sort and deduplicate.
    func writeEvents(_ path: String, rows: Int, seed: Int) throws {
        var text = "user,day,amount,kind\n"
        for i in 0..<rows {
            let amount = i % 9 == 0 ? "" : String(Double((i * 37 + seed) % 1000) / 8)
            text += "u\((i * 7 + seed) % 97),\(i % 5),\(amount),k\((i * 13) % 6)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("the partd commands give the same output and files in every process, on 2 cores or pinned to 1")
    func commandsAcrossProcesses() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let root = scratchPath("determinism-cli")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { removeTree(root) }
        let events = root + "/events.csv"
        let users = root + "/users.csv"
        try writeEvents(events, rows: 6000, seed: 1)
        try "user,name\n".appending((0..<120).map { "u\($0),name \($0 % 11)\n" }.joined()).write(toFile: users, atomically: true, encoding: .utf8)
        let small = ["--memory", "24kB", "--chunk-rows", "500"]
        // Each command's arguments; `OUT` becomes the run's output path.
        let commands: [(name: String, arguments: [String])] = [
            ("shuffle", ["shuffle", events, "--by", "user", "--partitions", "7", "--out", "OUT", "--codec", "zstd"] + small),
            ("groupby", ["groupby", events, "--by", "user,day", "--agg", "sum:amount,mean:amount,count,nunique:kind,first:kind,median:amount"] + small),
            ("groupby-arrow", ["groupby", events, "--by", "kind", "--agg", "count,max:amount", "--format", "arrow", "--out", "OUT"] + small),
            ("join", ["join", events, users, "--on", "user", "--kind", "outer", "--partitions", "5", "--out", "OUT"] + small),
            ("join-arrow", ["join", events, users, "--on", "user", "--partitions", "5", "--format", "arrow", "--out", "OUT"] + small),
            ("sort", ["sort", events, "--by", "day,amount:desc", "--partitions", "6", "--out", "OUT"] + small),
            ("distinct", ["distinct", events, "--by", "user,day", "--keep", "last", "--partitions", "6", "--out", "OUT"] + small),
        ]
        for command in commands {
            var outputs: [(stdout: [UInt8], files: [String: [UInt8]])] = []
            for run in 0..<3 {
                let out = "\(root)/\(command.name)-\(run)"
                let arguments = command.arguments.map { $0 == "OUT" ? out : $0 }
                let result = try runFreshlySeeded(partd, arguments, oneCPU: run == 2)
                try #require(result.status == 0, "\(command.name): \(String(decoding: result.output, as: UTF8.self))")
                var isDirectory: ObjCBool = false
                let files = !FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) ? [:]
                    : isDirectory.boolValue ? try filesUnder(out).filter { $0.key != ".lock" }
                    : ["": Array(try Data(contentsOf: URL(fileURLWithPath: out)))]
                // The summary line names the output path, which differs from run to run.
                outputs.append((Array(String(decoding: result.output, as: UTF8.self).replacingOccurrences(of: out, with: "OUT").utf8), files))
            }
            #expect(!outputs[0].stdout.isEmpty || !outputs[0].files.isEmpty, "\(command.name) wrote nothing")
            for run in 1..<outputs.count {
                #expect(outputs[run].stdout == outputs[0].stdout, "\(command.name): run \(run) printed other output than run 0")
                #expect(differingFiles(outputs[0].files, outputs[run].files) == [], "\(command.name): run \(run) wrote other files")
            }
        }

        // Inspecting a store: ls (both forms), stats, cat of a table, an array and a list of maps, export.
        let store = root + "/store"
        let raw = try DirectoryStore(path: store)
        try ListStore<DirectoryStore, PlainValue>(over: raw).append([
            (key: "maps", value: (0..<4).map { i in .map(Dictionary(uniqueKeysWithValues: (0..<10).map { ("f\($0)", PlainValue.int(Int64(i * $0))) })) }),
        ])
        try ListStore<DirectoryStore, PlainValue>(over: raw, framing: .partd).append([
            (key: "py", value: [.map(["b": .int(1), "a": .array([.string("x")]), "c": .null, "d": .bool(true), "e": .double(0.5)])]),
        ])
        try TableStore(over: CompressedStore(.lz4, over: raw)).append([
            (key: PartdKey(3), value: try Table([Column("id", [3, 1, 2] as [Int64]), Column("kind", categorical: ["b", "a", "b"])])),
        ])
        try ArrayStore(over: raw).append([(key: PartdKey("x"), value: NDArray<Double>([1.5, -2, 3]))])
        let inspections: [(name: String, arguments: [String])] = [
            ("ls", ["ls", store]), ("ls-json", ["ls", store, "--json"]), ("stats", ["stats", store]),
            ("cat-maps", ["cat", store, "maps"]), ("cat-py", ["cat", store, "py"]), ("cat-json", ["cat", store, "maps", "--format", "json"]),
            ("cat-table", ["cat", store, "3", "--format", "json"]), ("cat-array", ["cat", store, "x"]),
            ("export", ["export", store, "--keys", "3", "--out", "OUT"]),
        ]
        for inspection in inspections {
            var outputs: [[UInt8]] = []
            for run in 0..<3 {
                let out = "\(root)/\(inspection.name)-\(run)"
                let result = try runFreshlySeeded(partd, inspection.arguments.map { $0 == "OUT" ? out : $0 })
                try #require(result.status == 0, "\(inspection.name): \(String(decoding: result.output, as: UTF8.self))")
                let file = FileManager.default.fileExists(atPath: out) ? Array(try Data(contentsOf: URL(fileURLWithPath: out))) : []
                outputs.append(Array(String(decoding: result.output, as: UTF8.self).replacingOccurrences(of: out, with: "OUT").utf8) + file)
            }
            #expect(!outputs[0].isEmpty, "\(inspection.name) wrote nothing")
            for run in 1..<outputs.count {
                #expect(outputs[run] == outputs[0], "\(inspection.name): run \(run) printed other output than run 0")
            }
        }
    }
}

