// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdTestSupport
import PartdTyped
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("partd command", .serialized)
struct CLITests {
    let partd = productsDirectory + "/partd"

    /// A CSV of `rows` rows: id in 0..<groups, x (every 7th empty), a name with a comma every 3rd row.
    /// With `nan`, some x are NaN, and every x of the last group is NaN or empty.
    func writeCSV(_ path: String, rows: Int, groups: Int = 50, nan: Bool = false) throws {
        var text = "id,x,name\n"
        for i in 0..<rows {
            let x = i % 7 == 0 ? "" : nan && (i % 11 == 0 || i * 31 % groups == groups - 1) ? "nan" : String(Double(i % 10) / 4)
            let name = i % 3 == 0 ? "\"n,\(i % 5)\"" : "n\(i % 5)"
            text += "\(i * 31 % groups),\(x),\(name)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("ls, cat, stats and verify on a real store, with --json and every --as")
    func inspect() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let path = scratchPath("cli-store")
        defer { removeTree(path) }
        let raw = try DirectoryStore(path: path)
        try raw.append(["plain": bytes("hello"), "empty": []])
        try CompressedStore(.zstd(), over: raw).append(["packed": bytes(String(repeating: "abc", count: 1000))])
        let table = try Table([Column("id", [1, 2] as [Int64]), Column("name", strings: ["a,b", "c"], validity: [true, false])])
        try TableStore(over: raw).append([(key: PartdKey.tuple("t", 1), value: table)])
        try ArrayStore(over: raw).append([(key: PartdKey(7), value: NDArray([1.5, 2.5]))])
        try ListStore<DirectoryStore, PlainValue>(over: raw).append([(key: PartdKey("l"), value: [.int(1), .string("x")])])
        try ListStore<DirectoryStore, PlainValue>(over: raw, framing: .partd).append([(key: "py", value: [.int(2)])])
        try ArrayStore(over: raw).append([(key: PartdKey("ts"), value: NDArray([Timestamp<Milliseconds>(5), Timestamp(-7)]))])
        try TableStore(over: CompressedStore(.lz4, over: raw)).append([(key: PartdKey("zt"), value: table)])

        let ls = try run(partd, ["ls", path])
        #expect(ls.status == 0)
        #expect(ls.output.contains("\"packed\"") && ls.output.contains("compressed") && ls.output.contains("9 keys"))
        let json = try run(partd, ["ls", path, "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 9)
        // What each key holds, compressed or not, as `cat` decodes it by default.
        let holds = Dictionary(uniqueKeysWithValues: (parsed ?? []).map { ($0["key"] as? String ?? "", $0["holds"] as? String ?? "") })
        #expect(holds == [
            "\"plain\"": "bytes", "\"empty\"": "bytes", "\"packed\"": "bytes", "(\"t\", 1)": "table", "\"zt\"": "table",
            "7": "array", "\"ts\"": "array", "\"l\"": "list", "\"py\"": "list",
        ])
        #expect(ls.output.contains("HOLDS"))

        // export --out-dir names a string key's file after the string, %XX for bytes other than [A-Za-z0-9._-].
        try TableStore(over: raw).append([(key: PartdKey("a b/é"), value: table)])
        let files = path + "-files"
        defer { removeTree(files) }
        let exported = try run(partd, ["export", path, "--out-dir", files, "--keys", "\"zt\",\"a b/é\"", "--format", "csv"])
        #expect(exported.status == 0, "\(exported.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: files).sorted() == ["a%20b%2F%C3%A9.csv", "zt.csv"])
        #expect(try String(contentsOfFile: files + "/zt.csv", encoding: .utf8) == "id,name\n1,\"a,b\"\n2,\n")
        try raw.delete(["a b/é"])

        #expect(try run(partd, ["cat", path, "plain"]).output == "hello")
        #expect(try run(partd, ["cat", path, "packed"]).output == String(repeating: "abc", count: 1000))
        #expect(try run(partd, ["cat", path, "(\"t\", 1)", "--as", "table"]).output == "id,name\n1,\"a,b\"\n2,\n")
        let tableJSON = try run(partd, ["cat", path, "(\"t\", 1)", "--as", "table", "--format", "json"]).output
        #expect(tableJSON.contains("{\"id\": 1, \"name\": \"a,b\"}") && tableJSON.contains("\"name\": null"))
        #expect(try run(partd, ["cat", path, "7", "--as", "array"]).output == "1.5\n2.5\n")
        #expect(try run(partd, ["cat", path, "l", "--as", "list"]).output.contains("\"x\""))
        // Without --as, cat decodes what the frames hold (compressed or not), and prints other values as bytes.
        #expect(try run(partd, ["cat", path, "(\"t\", 1)"]).output == "id,name\n1,\"a,b\"\n2,\n")
        #expect(try run(partd, ["cat", path, "zt"]).output == "id,name\n1,\"a,b\"\n2,\n")
        #expect(try run(partd, ["cat", path, "7"]).output == "1.5\n2.5\n")
        #expect(try run(partd, ["cat", path, "ts"]).output == "5\n-7\n")
        #expect(try run(partd, ["cat", path, "l"]).output == "1\n\"x\"\n")
        #expect(try run(partd, ["cat", path, "py"]).output == "2\n")
        #expect(try run(partd, ["cat", path, "empty"]).output == "")
        // Every column type's text, quoting and nulls, as `Column.text(at:)` gives them.
        let edge = try Table([
            Column("i64", [Int64.min, -1, 0, Int64.max], validity: [true, true, false, true]),
            Column("u64", [UInt64.max, 0, 7, 10]),
            Column("i8", [-128, 5, 0, 127] as [Int8]),
            Column("f64", [-0.0, .infinity, .nan, 1e-300]),
            Column("f32", [1.5, -2.25, 0, 3] as [Float]),
            Column("f16", [0.5, -1, 2, 65504] as [Float16]),
            Column("flag", [true, false, true, false], validity: [true, true, true, false]),
            Column("when", [-5, 0, 1, 2].map { Timestamp<Nanoseconds>($0) }),
            Column("s", strings: StringArray(byteStrings: [Array("a\r\nb".utf8), Array("q\"t".utf8), [0x66, 0xFF], Array("é,".utf8)])),
            Column("c", categorical: ["x", "y,z", "x", "é"], validity: [true, true, false, true]),
        ])
        try TableStore(over: raw).append([(key: PartdKey("edge"), value: edge)])
        func quoted(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var expectedCSV = edge.columns.map { quoted($0.name) }.joined(separator: ",") + "\n"
        for row in 0..<edge.rowCount {
            expectedCSV += edge.columns.map { quoted($0.text(at: row) ?? "") }.joined(separator: ",") + "\n"
        }
        #expect(try run(partd, ["cat", path, "edge"]).output == expectedCSV)
        try raw.delete(["edge"])
        // A pickle in partd's framing (what partd.Python falls back to) is named, never printed or loaded.
        let pickleFrame: [UInt8] = [0x80, 0x04, 0x95, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4E, 0x2E]
        try raw.append(["pk": [UInt8(pickleFrame.count), 0, 0, 0, 0, 0, 0, 0] + pickleFrame])
        let pickled = try run(partd, ["cat", path, "pk"])
        #expect(pickled.status != 0 && pickled.output.contains("pickle"))
        try raw.delete(["pk"])

        let stats = try run(partd, ["stats", path])
        #expect(stats.status == 0 && stats.output.contains("zstd") && stats.output.contains("keys:          9"))
        #expect(stats.output.contains("holds:         array (2 keys), bytes (3 keys), list (2 keys), table (2 keys)"))
        let verify = try run(partd, ["verify", path])
        #expect(verify.status == 0 && verify.output.contains("9 keys checked, 0 damaged"))

        // Damage one frame: verify names the key and the offset, and fails.
        let file = try raw.filePath(for: "packed")
        var damaged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        damaged[damaged.count - 3] ^= 0xFF
        try Data(damaged).write(to: URL(fileURLWithPath: file))
        let broken = try run(partd, ["verify", path])
        #expect(broken.status == 1)
        #expect(broken.output.contains("damaged key \"packed\"") && broken.output.contains("offset 0"))
        let catBroken = try run(partd, ["cat", path, "packed"])
        #expect(catBroken.status != 0 && catBroken.output.contains("corrupt"))
        let repair = try run(partd, ["repair", path])
        #expect(repair.status == 0 && repair.output.contains("repaired key \"packed\"") && repair.output.contains("1 keys repaired"))
        #expect(try run(partd, ["verify", path]).status == 0)

        // Bad input: a missing directory, an unknown key.
        let missing = try run(partd, ["ls", path + "-missing"])
        #expect(missing.status != 0 && missing.output.contains("no such directory"))
        let unknown = try run(partd, ["cat", path, "nope"])
        #expect(unknown.status != 0 && unknown.output.contains("no key nope"))
        // A directory that is not a store: refused, and left as it was (no .lock created).
        let plain = scratchPath("not-a-store")
        defer { removeTree(plain) }
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: false)
        try "x".write(toFile: plain + "/notes.txt", atomically: true, encoding: .utf8)
        // (repair opened such a directory, made a .lock, and emptied files that start like frames.)
        try "PDVF, a file that starts like a value frame".write(toFile: plain + "/frames", atomically: true, encoding: .utf8)
        for command in ["ls", "stats", "verify", "repair"] {
            let refused = try run(partd, [command, plain])
            #expect(refused.status != 0 && refused.output.contains("is not a partd store"), "\(command): \(refused.output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: plain).sorted() == ["frames", "notes.txt"])
        #expect(try String(contentsOfFile: plain + "/frames", encoding: .utf8) == "PDVF, a file that starts like a value frame")
    }

    /// A key the store holds at the file-name limit (255 bytes) made an export file name of up to 259 bytes plus
    /// %XX escapes: `export --out-dir` wrote the other keys' files, then failed on it ("File name too long").
    @Test("export --out-dir writes a file for keys at the file-name limit too: a long name is cut and ends in a hash of the whole")
    func exportLongKeys() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let path = scratchPath("cli-export-long")
        let files = path + "-files"
        defer { removeTree(path); removeTree(files) }
        let tables = TableStore(over: try DirectoryStore(path: path))
        // At the store's limit: 255 plain bytes; 2 + 3 × 84 = 254 escaped ones; two long keys that differ at the end
        // only; a tuple.
        let keys: [PartdKey] = [
            PartdKey(String(repeating: "a", count: 255)), PartdKey(String(repeating: "a", count: 254) + "b"),
            PartdKey(String(repeating: "!", count: 84)), .tuple(PartdKey(String(repeating: "t", count: 240)), 7), "short",
        ]
        for (i, key) in keys.enumerated() { try tables.append(key, try Table([Column("id", [Int64(i)])])) }
        for format in ["csv", "arrow"] {
            removeTree(files)
            let exported = try run(partd, ["export", path, "--out-dir", files, "--format", format])
            #expect(exported.status == 0, "\(exported.output)")
            let written = (try? FileManager.default.contentsOfDirectory(atPath: files)) ?? []
            #expect(written.count == keys.count, "\(written)")
            #expect(written.allSatisfy { $0.utf8.count <= 255 && $0.hasSuffix("." + format) })
            #expect(written.contains("short." + format))
            if format == "csv" {
                var ids: [String] = []
                for file in written { ids.append(try String(contentsOfFile: files + "/" + file, encoding: .utf8)) }
                #expect(ids.sorted() == (0..<keys.count).map { "id\n\($0)\n" })
            }
        }
    }

    @Test("export --keys takes tuple keys and string keys with commas, quotes or parentheses, as ls prints them")
    func exportKeysWithCommas() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let path = scratchPath("cli-export-keys")
        let files = path + "-files"
        defer { removeTree(path); removeTree(files) }
        let raw = try DirectoryStore(path: path)
        let tables = TableStore(over: raw)
        func table(_ id: Int64) throws -> Table { try Table([Column("id", [id])]) }
        let keys: [PartdKey] = [.tuple("df", 7), "a,b", "q\"(,", .tuple(.tuple("x,y", 1), "z"), "other", 3]
        try tables.append(keys.enumerated().map { (key: $0.element, value: try table(Int64($0.offset))) })
        let chosen = keys.prefix(4).map(\.description)
        #expect(chosen == ["(\"df\", 7)", "\"a,b\"", "\"q\\\"(,\"", "((\"x,y\", 1), \"z\")"])

        let exported = try run(partd, ["export", path, "--out-dir", files, "--keys", chosen.joined(separator: ","), "--format", "csv"])
        #expect(exported.status == 0, "\(exported.output)")
        let written = try FileManager.default.contentsOfDirectory(atPath: files)
        #expect(written.count == 4, "\(written)")
        var ids: [String] = []
        for file in written { ids.append(try String(contentsOfFile: files + "/" + file, encoding: .utf8)) }
        #expect(ids.sorted() == ["id\n0\n", "id\n1\n", "id\n2\n", "id\n3\n"])
        // One Arrow file, the keys in the order given; a space after a comma between keys is allowed.
        let arrow = path + ".arrow"
        defer { try? FileManager.default.removeItem(atPath: arrow) }
        let one = try run(partd, ["export", path, "--out", arrow, "--keys", "\"a,b\", (\"df\", 7),3"])
        #expect(one.status == 0 && one.output.contains("3 rows from 3 keys"), "\(one.output)")
        let read = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: arrow))))
        #expect(read["id"].map { id in (0..<read.rowCount).map { id.text(at: $0) } } == ["1", "0", "5"])
        // A bare string key (no quotes) still works, and an unknown key is named whole.
        #expect(try run(partd, ["export", path, "--out", arrow, "--keys", "other"]).status == 0)
        let unknown = try run(partd, ["export", path, "--out", arrow, "--keys", "(\"df\", 8)"])
        #expect(unknown.status != 0 && unknown.output.contains("no key (\"df\", 8)"), "\(unknown.output)")
    }

    @Test("shuffle a CSV into partitions readable with cat; groupby prints what an in-memory groupby gives")
    func shuffleAndGroupBy() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("cli.csv")
        let out = scratchPath("cli-parts")
        defer { removeTree(out); try? FileManager.default.removeItem(atPath: csv) }
        try writeCSV(csv, rows: 5000)
        let shuffled = try run(partd, ["shuffle", csv, "--by", "id", "--partitions", "8", "--out", out,
                                       "--memory", "20kB", "--codec", "lz4", "--chunk-rows", "700"])
        #expect(shuffled.status == 0, "\(shuffled.output)")
        #expect(shuffled.output.contains("5000 rows in 8 partitions"))
        #expect(shuffled.output.contains("100%"))  // progress
        var rows = 0
        for p in 0..<8 {
            let part = try run(partd, ["cat", out, String(p), "--as", "table"])
            #expect(part.status == 0)
            rows += part.output.split(separator: "\n").count - 1
        }
        #expect(rows == 5000)  // quoted commas stay inside their field

        let grouped = try run(partd, ["groupby", csv, "--by", "id", "--agg", "sum:x,count,max:x", "--memory", "20kB"])
        #expect(grouped.status == 0, "\(grouped.output)")
        let lines = grouped.output.split(separator: "\n").filter { !$0.hasPrefix("100%") && !$0.contains("% ") }
        #expect(lines.first == "id,x_sum,count,x_max")
        var expected: [Int: (sum: Double, count: Int)] = [:]
        for i in 0..<5000 {
            let key = i * 31 % 50
            expected[key, default: (0, 0)].count += 1
            if i % 7 != 0 { expected[key]!.sum += Double(i % 10) / 4 }
        }
        #expect(lines.count == 51)
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            let e = try #require(expected[Int(fields[0])!])
            #expect(abs(Double(fields[1])! - e.sum) < 1e-9 && Int(fields[2])! == e.count)
        }

        // Several key columns; min and max of strings (by code point: "n4" is after "n,4").
        let byTwo = try run(partd, ["groupby", csv, "--by", "id,name", "--agg", "count,max:name,min:name", "--memory", "20kB"])
        #expect(byTwo.status == 0, "\(byTwo.output)")
        let twoLines = byTwo.output.split(separator: "\n").filter { !$0.contains("% ") }
        #expect(twoLines.first == "id,name,count,name_max,name_min")
        var pairs: [String: Int] = [:]
        for i in 0..<5000 { pairs["\(i * 31 % 50)/\(i % 3 == 0 ? "\"n,\(i % 5)\"" : "n\(i % 5)")", default: 0] += 1 }
        #expect(twoLines.count == pairs.count + 1)
        for line in twoLines.dropFirst() {
            // id,name,count,name,name: the name may be quoted with a comma inside.
            let id = line.prefix { $0 != "," }
            let rest = line.dropFirst(id.count + 1)
            let name = rest.hasPrefix("\"") ? String(rest.prefix(5)) : String(rest.prefix { $0 != "," })
            #expect(pairs["\(id)/\(name)"] != nil, "\(line)")
            #expect(line.hasSuffix(",\(name),\(name)"), "\(line)")
        }
        let names = try run(partd, ["groupby", csv, "--by", "id", "--agg", "max:name,min:name"])
        var extremes: [Int: (max: String, min: String)] = [:]
        for i in 0..<5000 {
            let (key, name) = (i * 31 % 50, i % 3 == 0 ? "n,\(i % 5)" : "n\(i % 5)")
            let current = extremes[key] ?? (name, name)
            extremes[key] = (
                Array(current.max.utf8).lexicographicallyPrecedes(Array(name.utf8)) ? name : current.max,
                Array(name.utf8).lexicographicallyPrecedes(Array(current.min.utf8)) ? name : current.min)
        }
        let nameLines = names.output.split(separator: "\n").filter { !$0.contains("% ") }
        #expect(nameLines.count == 51)
        for line in nameLines.dropFirst() {
            let id = Int(line.prefix { $0 != "," })!
            let e = try #require(extremes[id])
            #expect(line == "\(id),\(e.max),\(csvQuoted(e.min))")
        }

        // An aggregate the columns cannot take stops the command before the file is shuffled.
        let early = try run(partd, ["groupby", csv, "--by", "id", "--agg", "count,sum:name", "--chunk-rows", "100"])
        #expect(early.status != 0 && early.output.contains("cannot sum column \"name\" of type string"))
        #expect(!early.output.contains("%"), "\(early.output)")
        let noAggColumn = try run(partd, ["groupby", csv, "--by", "id", "--agg", "mean:nope"])
        #expect(noAggColumn.status != 0 && noAggColumn.output.contains("no column \"nope\""))

        // Malformed rows are reported with their line number; unknown columns and types too.
        let bad = scratchPath("bad.csv")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try "id,x\n1,2\n2,3\n4\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let malformed = try run(partd, ["shuffle", bad, "--by", "id", "--out", out + "-bad"])
        #expect(malformed.status != 0 && malformed.output.contains("line 4: 1 fields, the header has 2"))
        try "id,x\n1,2\n2,zz\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let typed = try run(partd, ["groupby", bad, "--by", "id", "--types", "x:int", "--agg", "sum:x"])
        #expect(typed.status != 0 && typed.output.contains("line 3: column x: \"zz\" is not an integer"))
        let noColumn = try run(partd, ["groupby", csv, "--by", "nope"])
        #expect(noColumn.status != 0 && noColumn.output.contains("no column nope"))
        let noFile = try run(partd, ["groupby", csv + "-missing", "--by", "id"])
        #expect(noFile.status != 0 && noFile.output.contains("cannot open"))
        #expect(try run(partd, ["--help"]).output.contains("shuffle"))
        #expect(try run(partd, ["groupby", "--help"]).output.contains("--agg"))
    }

    @Test("cat --format json writes NaN and infinities as null, so that any JSON parser reads it")
    func jsonNonFinite() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let path = scratchPath("cli-json-nonfinite")
        defer { removeTree(path) }
        let table = try Table([
            Column("x", [1.5, .nan, .infinity, -.infinity]),
            Column("y", [Float(2.5), .nan, -.infinity, 0]),
        ])
        try TableStore(over: try DirectoryStore(path: path)).append([(key: PartdKey("f"), value: table)])
        let printed = try run(partd, ["cat", path, "f", "--format", "json"])
        #expect(printed.status == 0, "\(printed.output)")
        let rows = try JSONSerialization.jsonObject(with: Data(printed.output.utf8)) as? [[String: Any]]
        #expect(rows?.map { $0["x"] as? Double } == [1.5, nil, nil, nil])
        #expect(rows?.map { $0["y"] as? Double } == [2.5, nil, nil, 0])
        #expect(rows?.map { $0["x"] is NSNull } == [false, true, true, true])
    }

    @Test("groupby var, std, first, last, nunique, median and quantiles print what pandas' groupby gives")
    func aggregatesLikePandas() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        try #require(pythonHas("pandas"), "pandas is not importable; run scripts/test.sh, which installs it")
        let csv = scratchPath("pandas-agg.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        // NaN too (pandas reads it as missing, as it reads an empty field).
        try writeCSV(csv, rows: 4000, groups: 60, nan: true)
        let ours = try run(partd, ["groupby", csv, "--by", "id", "--memory", "20kB", "--format", "json",
                                   "--agg", "var:x,std:x,first:x,last:x,count:x,last:name,first:name,nunique:name,nunique:x,median:x,q0.9:x,q0.05:x"])
        #expect(ours.status == 0, "\(ours.output)")
        let json = String(ours.output[ours.output.firstIndex(of: "[")!...])
        let script = """
            import sys, json, math, pandas as pd
            df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values={'x': ['', 'nan']})
            g = df.groupby('id').agg(x_var=('x', 'var'), x_std=('x', 'std'), x_first=('x', 'first'),
                x_last=('x', 'last'), x_count=('x', 'count'), name_last=('name', 'last'), name_first=('name', 'first'), name_nunique=('name', 'nunique'),
                x_nunique=('x', 'nunique'), x_median=('x', 'median'),
                **{'x_q0.9': ('x', lambda s: s.quantile(0.9)), 'x_q0.05': ('x', lambda s: s.quantile(0.05))})
            ours = {row['id']: row for row in json.loads(sys.stdin.read())}
            assert len(ours) == len(g), (len(ours), len(g))
            for key, expected in g.iterrows():
                row = ours[key]
                for name, value in expected.items():
                    if isinstance(value, float) and math.isnan(value):
                        assert row[name] is None, (key, name, row[name], value)
                    elif isinstance(value, float):
                        assert math.isclose(row[name], value, rel_tol=1e-9, abs_tol=1e-12), (key, name, row[name], value)
                    else:
                        assert row[name] == value, (key, name, row[name], value)
            print('ok', len(g))
            """
        let checked = try run("/usr/bin/env", ["python3", "-c", script, csv], input: json)
        #expect(checked.status == 0 && checked.output.hasPrefix("ok 60"), "\(checked.output)")

        // --sort prints the groups in key order, as pandas does.
        let sorted = try run(partd, ["groupby", csv, "--by", "id", "--memory", "20kB", "--agg", "sum:x", "--sort"])
        let ids = sorted.output.split(separator: "\n").filter { !$0.contains("% ") }.dropFirst().map { Int($0.split(separator: ",")[0])! }
        #expect(sorted.status == 0 && ids == Array(0..<60), "\(sorted.output)")
    }

    /// `--sort` past a quarter of --memory shuffles the groups again by key ranges. Each partition's groups went in
    /// as a chunk of their own, and every chunk costs the range shuffle work per partition: partitions² (4096
    /// partitions of 200,000 groups: 25 s in release, 4 s without --sort; in a debug build, this test at 4096
    /// partitions and 20,000 groups took 42 s, 10 s once fixed). They now go in as chunks of --chunk-rows rows. No
    /// counter pins the cost from outside the command: the test is the run at that scale, with its result checked.
    @Test("groupby --sort into 2048 partitions with groups past its memory prints every group once, in order")
    func groupBySortManyPartitions() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("sort-many.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        var text = "id,x\n"
        for i in 0..<20_000 { text += "\((i * 7_919) % 10_000),\(i % 3)\n" }
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let sorted = try run(partd, [
            "groupby", csv, "--by", "id", "--agg", "count,sum:x", "--sort", "--partitions", "2048", "--memory", "64kB",
            "--chunk-rows", "5000",
        ])
        #expect(sorted.status == 0, "\(sorted.output.suffix(500))")
        let lines = sorted.output.split(separator: "\n").filter { !$0.contains("% ") && !$0.hasPrefix("id,") }
        #expect(lines.map { Int($0.split(separator: ",")[0])! } == Array(0..<10_000))
        #expect(lines.allSatisfy { $0.split(separator: ",")[1] == "2" })
    }

    @Test("inner, left, right, outer, semi and anti joins print the rows pandas gives",
          arguments: ["inner", "left", "right", "outer", "semi", "anti"])
    func joinLikePandas(kind: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        try #require(pythonHas("pandas"), "pandas is not importable; run scripts/test.sh, which installs it")
        let (left, right) = (scratchPath("merge-left-\(kind).csv"), scratchPath("merge-right-\(kind).csv"))
        defer { for path in [left, right] { try? FileManager.default.removeItem(atPath: path) } }
        // Keys 0-39 on the left and 20-69 on the right, repeating on both sides; both sides have a "v" column.
        // (No null keys: pandas matches them with each other, SQL and we do not.)
        var leftText = "k,g,v,a\n"
        for i in 0..<600 { leftText += "\(i * 7 % 40),\(i % 3),\(i),l\(i % 11)\n" }
        var rightText = "k,g,v,b\n"
        for i in 0..<150 { rightText += "\(20 + i * 13 % 50),\(i % 2),\(i * 2),\(Double(i) / 4)\n" }
        try leftText.write(toFile: left, atomically: true, encoding: .utf8)
        try rightText.write(toFile: right, atomically: true, encoding: .utf8)
        let ours = try run(partd, ["join", left, right, "--on", "k,g", "--kind", kind, "--partitions", "5", "--memory", "16kB"])
        #expect(ours.status == 0, "\(ours.output)")
        let csv = ours.output.split(separator: "\n").filter { !$0.contains("% ") }.joined(separator: "\n")
        let script = """
            import io, sys, pandas as pd
            left, right = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
            how = sys.argv[3]
            if how in ('semi', 'anti'):
                found = left.merge(right[['k', 'g']].drop_duplicates(), on=['k', 'g'], how='left', indicator=True)
                theirs = left[((found['_merge'] == 'both') == (how == 'semi')).to_numpy()]
            else:
                theirs = left.merge(right, on=['k', 'g'], how=how, suffixes=('', '_right'))
            ours = pd.read_csv(io.StringIO(sys.stdin.read()))
            assert list(ours.columns) == list(theirs.columns), (list(ours.columns), list(theirs.columns))
            key = list(ours.columns)
            ours = ours.sort_values(key).reset_index(drop=True)
            theirs = theirs.sort_values(key).reset_index(drop=True)
            pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
            print('ok', len(ours))
            """
        let checked = try run("/usr/bin/env", ["python3", "-c", script, left, right, kind], input: csv)
        #expect(checked.status == 0 && checked.output.hasPrefix("ok "), "\(checked.output)")
    }

    @Test("sort prints what pandas' stable sort_values gives, nulls last, several keys either way",
          arguments: ["k,x:desc", "name:desc,k", "x"])
    func sortLikePandas(by: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        try #require(pythonHas("pandas"), "pandas is not importable; run scripts/test.sh, which installs it")
        let csv = scratchPath("sort-\(by).csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        var text = "k,x,name\n"
        var rng = SplitMix64(seed: 12)
        for i in 0..<6_000 {
            let k = i % 89 == 0 ? "" : String(Int.random(in: -300...300, using: &rng))
            let x = i % 13 == 0 ? "" : String(Double(Int.random(in: 0..<4_000, using: &rng)) / 8)
            text += "\(k),\(x),\(["b", "a", "é", "ab", "\"c,d\""][Int.random(in: 0..<5, using: &rng)])\n"
        }
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let ours = try run(partd, ["sort", csv, "--by", by, "--partitions", "9", "--memory", "20kB", "--chunk-rows", "700",
                                   "--sample-rows", "500"])
        #expect(ours.status == 0, "\(ours.output)")
        let sorted = ours.output.split(separator: "\n").filter { !$0.contains("% ") }.joined(separator: "\n")
        let script = """
            import io, sys, pandas as pd
            keys = [item.split(':') for item in sys.argv[2].split(',')]
            df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values={'k': [''], 'x': ['']})
            theirs = df.sort_values([k[0] for k in keys], ascending=[len(k) == 1 for k in keys], kind='stable',
                                    na_position='last').reset_index(drop=True)
            ours = pd.read_csv(io.StringIO(sys.stdin.read()), keep_default_na=False, na_values={'k': [''], 'x': ['']})
            pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
            print('ok', len(ours))
            """
        let checked = try run("/usr/bin/env", ["python3", "-c", script, csv, by], input: sorted)
        #expect(checked.status == 0 && checked.output.hasPrefix("ok 6000"), "\(checked.output)")

        if by == "x" {
            let missing = try run(partd, ["sort", csv, "--by", "nope:desc"])
            #expect(missing.status != 0 && missing.output.contains("no column nope"))
            #expect(try run(partd, ["sort", csv, "--by", "x", "--format", "json"]).status != 0)
            // Arrow output holds the same rows.
            let arrow = scratchPath("sorted.arrow")
            defer { try? FileManager.default.removeItem(atPath: arrow) }
            #expect(try run(partd, ["sort", csv, "--by", "x", "--partitions", "4", "--format", "arrow", "--out", arrow]).status == 0)
            let table = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: arrow))))
            #expect(table.rowCount == 6_000 && table.columns.map(\.name) == ["k", "x", "name"])
            // A key value that fills most of the file fills one partition: the command says so.
            let (skewed, skewedOut) = (scratchPath("skewed.csv"), scratchPath("skewed-out.csv"))
            defer { for path in [skewed, skewedOut] { try? FileManager.default.removeItem(atPath: path) } }
            try ("k\n" + (0..<150_000).map { $0 % 10 == 0 ? "\($0)\n" : "7\n" }.joined()).write(toFile: skewed, atomically: true, encoding: .utf8)
            let warned = try run(partd, ["sort", skewed, "--by", "k", "--partitions", "8", "--out", skewedOut])
            #expect(warned.status == 0 && warned.output.contains("of the 150000 rows (many rows share its keys)"), "\(warned.output)")
        }
    }

    @Test("column names that differ as bytes but are canonically equivalent (NFC and NFD café) are two columns to --by, --on and --types")
    func lookalikeColumnNames() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, only) = (scratchPath("lookalike.csv"), scratchPath("lookalike-nfc.csv"))
        defer { for path in [csv, only] { try? FileManager.default.removeItem(atPath: path) } }
        let (nfc, nfd) = ("caf\u{E9}", "cafe\u{301}")
        try "\(nfc),\(nfd)\n3,10\n1,9\n2,100\n".write(toFile: csv, atomically: true, encoding: .utf8)
        try "\(nfc)\n1\n".write(toFile: only, atomically: true, encoding: .utf8)
        func rows(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
            let result = try run(partd, arguments)
            #expect(result.status == 0, "\(result.output)", sourceLocation: sourceLocation)
            return result.output.split(separator: "\n").filter { !$0.contains("% ") }.map(String.init)
        }
        let header = "\(nfc),\(nfd)"
        #expect(try rows(["sort", csv, "--by", nfd, "--partitions", "2"]) == [header, "1,9", "3,10", "2,100"])
        #expect(try rows(["sort", csv, "--by", nfc, "--partitions", "2"]) == [header, "1,9", "2,100", "3,10"])
        // --types gives the named column its type, not its lookalike.
        #expect(try rows(["sort", csv, "--by", nfd, "--types", "\(nfd):string", "--partitions", "2"]) == [header, "3,10", "2,100", "1,9"])
        #expect(try rows(["sort", csv, "--by", nfd, "--types", "\(nfc):string", "--partitions", "2"]) == [header, "1,9", "3,10", "2,100"])
        // A join on the NFD column keys on it alone (--on found the NFC lookalike too).
        let joined = try rows(["join", csv, csv, "--on", nfd, "--partitions", "2"])
        #expect(joined.first == "\(nfc),\(nfd),\(nfc)_right" && joined.dropFirst().sorted() == ["1,9,1", "2,100,2", "3,10,3"])
        // A file with only the NFC column has no NFD column to sort by or to type.
        let missing = try run(partd, ["sort", only, "--by", nfd])
        #expect(missing.status != 0 && missing.output.contains("no column"), "\(missing.output)")
        let untyped = try run(partd, ["sort", only, "--by", nfc, "--types", "\(nfd):string"])
        #expect(untyped.status != 0 && untyped.output.contains("--types names"), "\(untyped.output)")
    }

    @Test("distinct keeps the rows pandas' drop_duplicates keeps, partition by partition in file order",
          arguments: ["first", "last", "none", "all-columns"])
    func distinctLikePandas(keep: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        try #require(pythonHas("pandas"), "pandas is not importable; run scripts/test.sh, which installs it")
        let csv = scratchPath("distinct-\(keep).csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        // id tells rows apart; k and x repeat, with empty fields (nulls), -0.0 beside 0.0, and quoted names.
        var text = keep == "all-columns" ? "k,x,name\n" : "id,k,x,name\n"
        var rng = SplitMix64(seed: 21)
        for i in 0..<6_000 {
            let k = i % 89 == 0 ? "" : String(Int.random(in: 0...120, using: &rng))
            let x = i % 13 == 0 ? "" : ["0.0", "-0.0", "0.5", "1", "2.25"][Int.random(in: 0..<5, using: &rng)]
            let name = ["a", "é", "\"c,d\""][Int.random(in: 0..<3, using: &rng)]
            text += (keep == "all-columns" ? "" : "\(i),") + "\(k),\(x),\(name)\n"
        }
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let by = keep == "all-columns" ? [] : ["--by", "k,x", "--keep", keep]
        let ours = try run(partd, ["distinct", csv, "--partitions", "5", "--memory", "20kB", "--chunk-rows", "700"] + by)
        #expect(ours.status == 0, "\(ours.output)")
        let lines = ours.output.split(separator: "\n")
        #expect(lines.last?.contains("rows kept,") == true, "\(lines.suffix(2))")
        let script = """
            import io, sys, pandas as pd
            na = {'k': [''], 'x': ['']}
            df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=na)
            keep = sys.argv[2]
            if keep == 'all-columns':
                theirs = df.drop_duplicates()
            else:
                theirs = df.drop_duplicates(['k', 'x'], keep=False if keep == 'none' else keep)
            ours = pd.read_csv(io.StringIO(sys.stdin.read()), keep_default_na=False, na_values=na)
            assert list(ours.columns) == list(df.columns)
            if 'id' in ours:
                # Each partition keeps the file's order: ids rise within runs that restart at most 5 times.
                assert (ours['id'].diff().dropna() < 0).sum() < 5
            key = list(ours.columns)
            ours = ours.sort_values(key).reset_index(drop=True)
            theirs = theirs.sort_values(key).reset_index(drop=True)
            pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
            print('ok', len(ours))
            """
        let kept = lines.filter { !$0.contains("% ") }.joined(separator: "\n")
        let checked = try run("/usr/bin/env", ["python3", "-c", script, csv, keep], input: kept)
        #expect(checked.status == 0 && checked.output.hasPrefix("ok "), "\(checked.output)")

        if keep == "first" {
            let missing = try run(partd, ["distinct", csv, "--by", "k,nope"])
            #expect(missing.status != 0 && missing.output.contains("no column nope"))
            #expect(try run(partd, ["distinct", csv, "--keep", "some"]).status != 0)
            // Arrow output holds the same rows.
            let arrow = scratchPath("distinct.arrow")
            defer { try? FileManager.default.removeItem(atPath: arrow) }
            #expect(try run(partd, ["distinct", csv, "--by", "k,x", "--format", "arrow", "--out", arrow]).status == 0)
            let table = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: arrow))))
            #expect(table.rowCount == kept.split(separator: "\n").count - 1 && table.columns.map(\.name) == ["id", "k", "x", "name"])
        }
    }

    @Test("several input files, gzip-compressed ones and standard input read as the one file they make up")
    func severalInputsGzipAndStandardInput() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (whole, first, second, other, bad, cut) = (scratchPath("in-whole.csv"), scratchPath("in-1.csv"),
            scratchPath("in-2.csv.gz"), scratchPath("in-other.csv"), scratchPath("in-bad.csv"), scratchPath("in-cut.csv.gz"))
        defer { for path in [whole, first, second, other, bad, cut] { try? FileManager.default.removeItem(atPath: path) } }
        try writeCSV(whole, rows: 5000)
        let lines = try String(contentsOfFile: whole, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let header = String(lines[0])
        try (lines[0...2000].joined(separator: "\n") + "\n").write(toFile: first, atomically: true, encoding: .utf8)
        // The second file: the other rows, gzip-compressed as two members one after the other (as `cat a.gz b.gz`).
        let rest = ([header] + lines[2001...].map(String.init)).joined(separator: "\n")
        let gzip = """
            import gzip, sys
            text = sys.stdin.read().encode()
            half = len(text) // 2
            data = gzip.compress(text[:half]) + gzip.compress(text[half:])
            open(sys.argv[1], 'wb').write(data if sys.argv[2] == 'whole' else data[:len(data) // 3])
            """
        #expect(try run("/usr/bin/env", ["python3", "-c", gzip, second, "whole"], input: rest).status == 0)
        #expect(try run("/usr/bin/env", ["python3", "-c", gzip, cut, "cut"], input: rest).status == 0)
        func result(_ arguments: [String], input: String? = nil) throws -> [Substring] {
            let ran = try run(partd, arguments, input: input)
            #expect(ran.status == 0, "\(arguments): \(ran.output)")
            return ran.output.split(separator: "\n").filter { !$0.contains("% ") }
        }
        let options = ["--memory", "20kB", "--chunk-rows", "700", "--partitions", "5"]
        let grouped = try result(["groupby", whole, "--by", "id", "--agg", "sum:x,count,max:name", "--sort"] + options)
        #expect(grouped.count == 51)
        #expect(try result(["groupby", first, second, "--by", "id", "--agg", "sum:x,count,max:name", "--sort"] + options) == grouped)
        let text = try String(contentsOfFile: whole, encoding: .utf8)
        #expect(try result(["groupby", "-", "--by", "id", "--agg", "sum:x,count,max:name", "--sort"] + options, input: text) == grouped)
        #expect(try result(["distinct", first, second, "--by", "id,name"] + options).sorted()
                == result(["distinct", whole, "--by", "id,name"] + options).sorted())
        // --sort with more groups than half of --memory holds shuffles them again by ranges of the keys; with
        // room for all, they are sorted in memory: the same groups in the same order, null keys last.
        var nulls = "k,name,x\n"
        var rng = SplitMix64(seed: 5)
        for i in 0..<3_000 {
            let k = i % 41 == 0 ? "" : String(Int.random(in: -50...50, using: &rng))
            nulls += "\(k),\(["", "b", "a", "é"][Int.random(in: 0..<4, using: &rng)]),\(i % 9)\n"
        }
        try nulls.write(toFile: other, atomically: true, encoding: .utf8)
        let byRanges = try result(["groupby", other, "--by", "k,name", "--agg", "count,sum:x", "--sort"] + options)
        #expect(byRanges.count > 300 && byRanges.last?.hasPrefix(",") == true, "\(byRanges.suffix(2))")
        #expect(try result(["groupby", "-", "--by", "k,name", "--agg", "count,sum:x", "--sort", "--memory", "64MB"], input: nulls)
                == byRanges)
        // The sort is stable, and the files' rows come in their order: the same bytes as sorting the whole.
        #expect(try result(["sort", first, second, "--by", "x"] + options) == result(["sort", whole, "--by", "x"] + options))

        // Refusals, each naming the file.
        try "id,y,name\n1,2,a\n".write(toFile: other, atomically: true, encoding: .utf8)
        let columns = try run(partd, ["groupby", first, other, "--by", "id"])
        #expect(columns.status != 0 && columns.output.contains("\(other): its columns (id, y, name) differ"), "\(columns.output)")
        try (header + "\n1,abc,n1\n").write(toFile: bad, atomically: true, encoding: .utf8)
        // (x, float in the first file, holds text in the second: both are read again with x a string column, which
        // sum refuses.)
        let types = try run(partd, ["groupby", first, bad, "--by", "id", "--agg", "sum:x"])
        #expect(types.status != 0 && types.output.contains("\(bad) line 2: column x holds \"abc\", which is not a number; reading again with x:string")
                && types.output.contains("cannot sum column \"x\" of type string"), "\(types.output)")
        let truncated = try run(partd, ["groupby", first, cut, "--by", "id"])
        #expect(truncated.status != 0 && truncated.output.contains("\(cut): ") && truncated.output.contains("truncated"),
                "\(truncated.output)")
        let missing = try run(partd, ["distinct", first, scratchPath("no-such.csv")])
        #expect(missing.status != 0 && missing.output.contains("cannot open"))
        let piped = try run(partd, ["sort", "-", "--by", "x"], input: text)
        #expect(piped.status != 0 && piped.output.contains("not - (standard input)"))
    }

    /// Runs `partd` with `arguments(fifo)`, where `fifo` is a new FIFO that a shell fills with the bytes of `file`
    /// (gzip-compressed with `gzip`) and then closes. A command that refuses the FIFO without opening it ends the
    /// shell, which waits for a reader.
    func runThroughFIFO(_ arguments: (String) -> [String], feeding file: String, gzip: Bool = false) throws
        -> (status: Int32, output: String)
    {
        let fifo = scratchPath("input.fifo")
        try? FileManager.default.removeItem(atPath: fifo)
        try #require(mkfifo(fifo, 0o600) == 0)
        defer { try? FileManager.default.removeItem(atPath: fifo) }
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", gzip ? "gzip -c < \"$0\" > \"$1\"" : "cat < \"$0\" > \"$1\"", file, fifo]
        try writer.run()
        let ran = try run(partd, arguments(fifo))
        // SIGKILL: the shell may have inherited SIGTERM ignored.
        if writer.isRunning { kill(writer.processIdentifier, SIGKILL) }
        writer.waitUntilExit()
        return ran
    }

    @Test("input through a pipe or FIFO (/dev/stdin, <(…), mkfifo), gzip-compressed or not, reads as the file does; sort refuses it")
    func pipedInputs() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, arrow) = (scratchPath("piped.csv"), scratchPath("piped.arrow"))
        defer { for path in [csv, arrow] { try? FileManager.default.removeItem(atPath: path) } }
        try writeCSV(csv, rows: 3000)
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        /// The output without progress lines, checking the status.
        func rows(_ ran: (status: Int32, output: String), _ what: String) -> [Substring] {
            #expect(ran.status == 0, "\(what): \(ran.output)")
            return ran.output.split(separator: "\n").filter { !$0.contains("% ") }
        }
        let options = ["--memory", "20kB", "--chunk-rows", "700", "--partitions", "5"]
        let groupby = { (input: String) in ["groupby", input, "--by", "id", "--agg", "sum:x,count,max:name", "--sort"] + options }
        let grouped = rows(try run(partd, groupby(csv)), "file")
        #expect(grouped.count == 51 && grouped.first == "id,x_sum,count,name_max", "\(grouped.prefix(2))")
        let distinct = { (input: String) in ["distinct", input, "--by", "id,name"] + options }
        let kept = rows(try run(partd, distinct(csv)), "file").sorted()
        #expect(kept.count > 100)

        // /dev/stdin on a pipe: the header (the first bytes) is read once, not lost to a look at the format.
        #expect(rows(try run(partd, groupby("/dev/stdin"), input: text), "/dev/stdin") == grouped)
        #expect(rows(try run(partd, distinct("/dev/stdin"), input: text), "/dev/stdin").sorted() == kept)
        // A FIFO, plain and gzip-compressed.
        #expect(rows(try runThroughFIFO(groupby, feeding: csv), "FIFO") == grouped)
        #expect(rows(try runThroughFIFO(distinct, feeding: csv), "FIFO").sorted() == kept)
        #expect(rows(try runThroughFIFO(groupby, feeding: csv, gzip: true), "gzip FIFO") == grouped)
        // Process substitution: a pipe named /dev/fd/N.
        let bash = try run("/usr/bin/env", [
            "bash", "-c", "exec \"$0\" groupby <(gzip -c < \"$1\") \"${@:2}\"", partd, csv,
        ] + groupby("-").dropFirst(2))
        #expect(rows(bash, "<(gzip -c …)") == grouped)
        // A join whose left file is a FIFO, the right a file.
        let join = { (left: String) in ["join", left, csv, "--on", "id", "--kind", "semi"] + options }
        #expect(rows(try runThroughFIFO(join, feeding: csv), "join FIFO").sorted() == rows(try run(partd, join(csv)), "join").sorted())

        // sort reads its input twice: a pipe or FIFO is refused, with the reason.
        for ran in [try runThroughFIFO({ ["sort", $0, "--by", "x"] }, feeding: csv),
                    try run(partd, ["sort", "/dev/stdin", "--by", "x"], input: text)] {
            #expect(ran.status != 0 && ran.output.contains("reads its input twice") && ran.output.contains("pipe"), "\(ran.output)")
        }
        // An Arrow file through a pipe: a clear refusal (Arrow input is read by seeking), not CSV garbage.
        #expect(try run(partd, ["distinct", csv, "--format", "arrow", "--out", arrow]).status == 0)
        let piped = try run("/bin/sh", ["-c", "cat \"$1\" | \"$0\" distinct /dev/stdin", partd, arrow])
        #expect(piped.status != 0 && piped.output.contains("Arrow") && piped.output.contains("pipe"), "\(piped.output)")
        // A directory: a clear error (reading it trapped).
        let directory = try run(partd, ["groupby", NSTemporaryDirectory(), "--by", "id"])
        #expect(directory.status == 1 && directory.output.contains("it is a directory"), "\(directory.output)")
    }

    @Test("an interrupted or failing command leaves no scratch files (nor a shuffle's --out it made); a finished one neither")
    func scratchRemoved() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, scratch) = (scratchPath("interrupt.csv"), scratchPath("interrupt-tmp"))
        defer { try? FileManager.default.removeItem(atPath: csv); removeTree(scratch) }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try writeCSV(csv, rows: 400_000, groups: 100_000)
        // (With SIGINT at its default action, also under a runner started with it ignored.)
        func start(_ arguments: [String]) throws -> Process { try startedQuietly(partd, arguments, environment: ["TMPDIR": scratch]) }
        func leftovers() -> [String] { (try? FileManager.default.subpathsOfDirectory(atPath: scratch)) ?? [] }

        /// Sends SIGINT to `process` once `busy` holds (at most 12 s on), and waits for it to end.
        func interrupt(_ process: Process, once busy: () -> Bool) throws {
            var waited = 0
            while !busy() && process.isRunning && waited < 600 {
                usleep(20_000)
                waited += 1
            }
            try #require(process.isRunning, "\(process.arguments?.first ?? "") ended before it could be interrupted")
            process.interrupt()
            process.waitUntilExit()
        }

        // Stopped by SIGINT while it spills: the scratch directory goes, and the status says why.
        // (`scratchPath` names a new path each call: the output's is kept to remove it.)
        let out = scratchPath("interrupt-out.csv")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let sorting = try start(["sort", csv, "--by", "x", "--memory", "100kB", "--out", out])
        try interrupt(sorting) { leftovers().count >= 3 }
        // Killed by SIGINT itself after cleaning up (a shell shows 130 and a loop running it stops).
        #expect(sorting.terminationReason == .uncaughtSignal && sorting.terminationStatus == SIGINT)
        #expect(leftovers().isEmpty, "\(leftovers())")
        // A shuffle into --out stopped while it writes there: the directory it made goes too.
        let parts = scratchPath("interrupt-parts")
        defer { removeTree(parts) }
        let shuffling = try start(["shuffle", csv, "--by", "id", "--partitions", "8", "--out", parts, "--memory", "100kB",
                                   "--chunk-rows", "1000"])
        try interrupt(shuffling) { ((try? FileManager.default.contentsOfDirectory(atPath: parts))?.count ?? 0) >= 3 }
        #expect(shuffling.terminationReason == .uncaughtSignal && shuffling.terminationStatus == SIGINT)
        #expect(!FileManager.default.fileExists(atPath: parts))
        #expect(leftovers().isEmpty, "\(leftovers())")
        // A finished run and a failed one leave nothing either.
        let finished = try start(["groupby", csv, "--by", "id", "--memory", "100kB", "--out", out])
        finished.waitUntilExit()
        #expect(finished.terminationStatus == 0 && leftovers().isEmpty)
        let failed = try start(["groupby", csv, csv + ".missing", "--by", "id"])
        failed.waitUntilExit()
        #expect(failed.terminationStatus != 0 && leftovers().isEmpty)
    }

    @Test("output to a pipe its reader closed (`| head -1`): a quiet exit with status 141; to a full disk: a clear error; no scratch files either way")
    func outputFailures() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, scratch) = (scratchPath("closed-pipe.csv"), scratchPath("closed-pipe-tmp"))
        defer { try? FileManager.default.removeItem(atPath: csv); removeTree(scratch) }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try writeCSV(csv, rows: 200_000, groups: 100_000)  // about 3 MB of output, far more than a pipe holds
        func leftovers() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? [] }
        func start(_ arguments: [String], output: Any) throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: partd)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": scratch]) { $1 }
            process.standardOutput = output
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            return (process, errors)
        }
        let commands = [
            ["sort", csv, "--by", "x", "--memory", "100kB"],
            ["groupby", csv, "--by", "id", "--memory", "100kB"],
        ]
        for arguments in commands {
            // The reader takes the first bytes and goes away, as `head -1` does.
            let out = Pipe()
            let (process, errors) = try start(arguments, output: out)
            #expect(!out.fileHandleForReading.availableData.isEmpty)
            try out.fileHandleForReading.close()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            // Quietly, with the status a shell shows for a command SIGPIPE ended (128 + 13).
            #expect(process.terminationReason == .exit && process.terminationStatus == 141, "\(arguments[0]): \(message)")
            #expect(!message.contains("error"), "\(arguments[0]): \(message)")
            #expect(leftovers().isEmpty, "\(arguments[0]): \(leftovers())")
        }
        // A full disk.
        let full = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        let (process, errors) = try start(commands[0], output: full)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus != 0, "\(message)")
        #expect(message.contains("cannot write standard output: No space left on device"), "\(message)")
        #expect(leftovers().isEmpty, "\(leftovers())")

        // The commands that look at a store: a full disk is an error for them too, not a success with no output.
        let store = scratchPath("full-disk-store")
        defer { removeTree(store) }
        let raw = try DirectoryStore(path: store)
        try ListStore<DirectoryStore, Int>(over: raw).append([(key: PartdKey("list"), value: Array(0..<100_000))])
        try ArrayStore(over: raw).append([(key: PartdKey("array"), value: NDArray((0..<100_000).map(Double.init)))])
        try raw.close()
        for arguments in [["ls", store], ["ls", store, "--json"], ["stats", store], ["verify", store],
                          ["cat", store, "list"], ["cat", store, "array"]] {
            let (process, errors) = try start(arguments, output: full)
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit && process.terminationStatus != 0, "\(arguments): \(message)")
            #expect(message.contains("cannot write standard output: No space left on device"), "\(arguments): \(message)")
        }
    }

    @Test("shuffle --out refuses a store that holds data unless --overwrite; a failed shuffle leaves no partial partitions")
    func shuffleOutput() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, bad, out) = (scratchPath("out.csv"), scratchPath("out-bad.csv"), scratchPath("out-parts"))
        defer { for path in [csv, bad] { try? FileManager.default.removeItem(atPath: path) }; removeTree(out) }
        try writeCSV(csv, rows: 3000)
        // Good rows for many chunks, then a malformed line: the shuffle has spilled by the time it fails.
        try (String(contentsOfFile: csv, encoding: .utf8) + "1,2\n").write(toFile: bad, atomically: true, encoding: .utf8)
        func rows() throws -> Int {
            let store = TableStore(over: try DirectoryStore(path: out))
            return try (0..<4).reduce(0) { $0 + (try store.get(PartdKey($1)).rowCount) }
        }
        let shuffle = ["shuffle", csv, "--by", "id", "--partitions", "4", "--out", out, "--memory", "10kB", "--chunk-rows", "100"]
        let first = try run(partd, shuffle)
        #expect(first.status == 0, "\(first.output)")
        #expect(try rows() == 3000)
        // Again into the same directory: refused, the partitions untouched.
        let again = try run(partd, shuffle)
        #expect(again.status != 0 && again.output.contains("--overwrite"), "\(again.output)")
        #expect(try rows() == 3000)
        // With --overwrite: replaced, not appended to.
        let overwritten = try run(partd, shuffle + ["--overwrite"])
        #expect(overwritten.status == 0, "\(overwritten.output)")
        #expect(try rows() == 3000)
        // A run that fails into a directory it made leaves no directory; into one it overwrote, an empty store.
        removeTree(out)
        let failed = try run(partd, ["shuffle", bad, "--by", "id", "--partitions", "4", "--out", out, "--memory", "10kB", "--chunk-rows", "100"])
        #expect(failed.status != 0 && failed.output.contains("line 3002"), "\(failed.output)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try run(partd, shuffle).status == 0)
        let failedOver = try run(partd, ["shuffle", bad, "--by", "id", "--partitions", "4", "--out", out, "--memory", "10kB",
                                         "--chunk-rows", "100", "--overwrite"])
        #expect(failedOver.status != 0 && failedOver.output.contains("line 3002"), "\(failedOver.output)")
        #expect(try DirectoryStore(path: out).keys().isEmpty)
        // An empty store (only its lock file) is not refused.
        #expect(try run(partd, shuffle).status == 0)
        #expect(try rows() == 3000)
    }

    @Test("CSV numbers read as Int64(String) and Double(String) read them, decimal forms only; beyond Int64 UInt64; strings keep their text")
    func csvNumbers() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, out) = (scratchPath("numbers.csv"), scratchPath("numbers-parts"))
        defer { try? FileManager.default.removeItem(atPath: csv); removeTree(out) }
        let floats = ["1e5", ".5", "5.", "-0.0", "+3", "1E-300", "0.1", "123456789012345678", "1e400", "nan", "inf",
                      "-Infinity", "8", "2.2250738585072014e-308", "9007199254740993", "0.30000000000000004",
                      "1.7976931348623157e308", "4.9e-324", "", "0000.000100", "12345678901234.5", "1e-22", "3e22"]
        let ints = ["+5", "-0", "007", String(Int64.min), String(Int64.max), "", "42"]
        let strings = ["a", "", "\"b,c\"", "\"q\"\"t\"", "é", "x y", " z "]
        var text = "k,f,i,s\n"
        for row in 0..<floats.count {
            text += "1,\(floats[row]),\(ints[row % ints.count]),\(strings[row % strings.count])\n"
        }
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let shuffled = try run(partd, ["shuffle", csv, "--by", "k", "--partitions", "1", "--out", out])
        #expect(shuffled.status == 0, "\(shuffled.output)")
        let lines = try run(partd, ["cat", out, "0"]).output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "k,f,i,s")
        let unquoted = strings.map { $0.hasPrefix("\"") ? String($0.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"") : $0 }
        for row in 0..<floats.count {
            let f = floats[row].isEmpty ? "" : "\(Double(floats[row])!)"
            let i = ints[row % ints.count].isEmpty ? "" : "\(Int64(ints[row % ints.count])!)"
            let string = unquoted[row % strings.count]
            let field = string.contains(",") || string.contains("\"") ? "\"" + string.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : string
            #expect(lines[row + 1] == "1,\(f),\(i),\(field)", "row \(row): \(floats[row])")
        }
        // An integer beyond Int64 makes the column UInt64 when every value is a non-negative integer, a string
        // column otherwise (a float would change it); text that is no number makes it a string; hex is text.
        try "k,n,m,o,h\n1,9223372036854775808,1,9223372036854775808,0x1p3\n2,1,1x,1.5,8\n".write(toFile: csv, atomically: true, encoding: .utf8)
        removeTree(out)
        #expect(try run(partd, ["shuffle", csv, "--by", "k", "--partitions", "1", "--out", out]).status == 0)
        #expect(try run(partd, ["cat", out, "0"]).output == "k,n,m,o,h\n1,9223372036854775808,1,9223372036854775808,0x1p3\n2,1,1x,1.5,8\n")
        // --types float still reads a big integer as the nearest float.
        removeTree(out)
        #expect(try run(partd, ["shuffle", csv, "--by", "k", "--partitions", "1", "--out", out, "--types", "n:float"]).status == 0)
        #expect(try run(partd, ["cat", out, "0"]).output.hasPrefix("k,n,m,o,h\n1,9.223372036854776e+18,1,"))
    }

    @Test("join two CSV files: inner, left, right and outer, several keys, partitions printed in order; bad keys refused early")
    func joinFiles() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (orders, customers, out) = (scratchPath("orders.csv"), scratchPath("customers.csv"), scratchPath("joined.csv"))
        defer { for path in [orders, customers, out] { try? FileManager.default.removeItem(atPath: path) } }
        // 3,000 orders of customers 0-59 in two regions; customers 0-49 of region a and 0-29 of region b
        // exist, one name holding a comma. Customer c's orders are all of region a (c even) or b (c odd), and
        // customer 4's rows have an empty customer: no match.
        var orderText = "customer,region,amount\n"
        for i in 0..<3_000 { orderText += "\(i % 60 == 4 ? "" : String(i % 60)),\(i % 2 == 0 ? "a" : "b"),\(i)\n" }
        var customerText = "customer,region,name\n"
        for c in 0..<50 { customerText += "\(c),a,\(c == 3 ? "\"x,y\"" : "n\(c)")\n" }
        for c in 0..<30 { customerText += "\(c),b,m\(c)\n" }
        try orderText.write(toFile: orders, atomically: true, encoding: .utf8)
        try customerText.write(toFile: customers, atomically: true, encoding: .utf8)
        func expected(left: Bool) -> [String] {
            var rows: [String] = []
            for i in 0..<3_000 {
                let (c, region) = (i % 60, i % 2 == 0 ? "a" : "b")
                let empty = c == 4
                let name: String? = empty ? nil : region == "a" ? (c < 50 ? (c == 3 ? "\"x,y\"" : "n\(c)") : nil) : (c < 30 ? "m\(c)" : nil)
                if let name { rows.append("\(c),\(region),\(i),\(name)") } else if left { rows.append("\(empty ? "" : String(c)),\(region),\(i),") }
            }
            return rows.sorted()
        }
        let arguments = ["join", orders, customers, "--on", "customer,region", "--partitions", "8", "--memory", "20kB", "--chunk-rows", "500"]
        let inner = try run(partd, arguments + ["--out", out])
        #expect(inner.status == 0, "\(inner.output)")
        let innerLines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(innerLines.first == "customer,region,amount,name")
        #expect(innerLines.dropFirst().sorted() == expected(left: false))
        // Right and outer joins add the customers without orders (their keys come from the right file): those of
        // the other region, and customer 4, whose orders lack the customer.
        let lonely = (0..<50).filter { $0 % 2 == 1 || $0 == 4 }.map { "\($0),a,,\($0 == 3 ? "\"x,y\"" : "n\($0)")" }
            + (0..<30).filter { $0 % 2 == 0 }.map { "\($0),b,,m\($0)" }
        for kind in ["right", "outer"] {
            let joined = try run(partd, arguments + ["--kind", kind])
            #expect(joined.status == 0, "\(joined.output)")
            let lines = joined.output.split(separator: "\n").map(String.init).filter { !$0.contains("% ") }
            #expect(lines.first == "customer,region,amount,name")
            #expect(lines.dropFirst().sorted() == (expected(left: kind == "outer") + lonely).sorted(), "\(kind)")
        }
        let leftJoin = try run(partd, arguments + ["--kind", "left"])
        #expect(leftJoin.status == 0)
        let leftLines = leftJoin.output.split(separator: "\n").map(String.init).filter { !$0.contains("% ") }
        #expect(leftLines.first == "customer,region,amount,name")
        #expect(leftLines.dropFirst().sorted() == expected(left: true))
        // The same command prints the same rows in the same order (partition by partition). (Progress lines
        // name the bytes spilled so far, which the spilling thread's timing decides.)
        let again = try run(partd, arguments + ["--kind", "left"]).output.split(separator: "\n").filter { !$0.contains("% ") }
        #expect(again.map(String.init) == leftLines)

        let noKey = try run(partd, ["join", orders, customers, "--on", "amount"])
        #expect(noKey.status != 0 && noKey.output.contains("no column amount") && !noKey.output.contains("%"))
        // --types covers the columns of both files.
        let bothTyped = try run(partd, ["join", orders, customers, "--on", "customer", "--types", "customer:string", "--partitions", "4"])
        #expect(bothTyped.status == 0)
        let clash = try run(partd, ["join", orders, customers, "--on", "customer"])
        #expect(clash.status == 0 && clash.output.contains("customer,region,amount,region_right,name"))
        let onlyLeftString = scratchPath("customers-text.csv")
        defer { try? FileManager.default.removeItem(atPath: onlyLeftString) }
        try "customer,name\nc1,x\n".write(toFile: onlyLeftString, atomically: true, encoding: .utf8)
        let typeClash = try run(partd, ["join", orders, onlyLeftString, "--on", "customer"])
        #expect(typeClash.status != 0 && typeClash.output.contains("join key \"customer\" is <i8 on the left and string on the right"))
        #expect(typeClash.output.contains("--types KEY:TYPE") && !typeClash.output.contains("%"))
        // Category keys join too (the two files' dictionaries differ).
        let categoryKey = try run(partd, ["join", orders, customers, "--on", "customer", "--types", "customer:string,region:category"])
        #expect(categoryKey.status == 0 && categoryKey.output.contains("customer,region,amount,region_right,name"))
    }

    @Test("Arrow files in and out: groupby, shuffle and join read Arrow input as they read the same CSV; cat and groupby write Arrow")
    func arrowFiles() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, arrow, stream, out) = (scratchPath("a.csv"), scratchPath("a.arrow"), scratchPath("a.stream"), scratchPath("a-parts"))
        let (grouped, part) = (scratchPath("grouped.arrow"), scratchPath("part.arrow"))
        defer {
            removeTree(out)
            for path in [csv, arrow, stream, grouped, part] { try? FileManager.default.removeItem(atPath: path) }
        }
        // The same 5,000 rows as writeCSV's, as a table: id, x (every 7th null), name.
        try writeCSV(csv, rows: 5000)
        let rows = 0..<5000
        let table = try Table([
            Column("id", rows.map { Int64($0 * 31 % 50) }),
            Column("x", rows.map { Double($0 % 10) / 4 }, validity: BitArray(rows.map { $0 % 7 != 0 })),
            Column("name", strings: StringArray(rows.map { $0 % 3 == 0 ? "n,\($0 % 5)" : "n\($0 % 5)" })),
        ])
        try Data(table.arrowFile()).write(to: URL(fileURLWithPath: arrow))
        try Data(table.arrowStream()).write(to: URL(fileURLWithPath: stream))
        func lines(_ output: String) -> [String] { output.split(separator: "\n").map(String.init).filter { !$0.contains("% ") }.sorted() }

        let fromCSV = try run(partd, ["groupby", csv, "--by", "id", "--agg", "sum:x,count,max:name", "--memory", "20kB"])
        #expect(fromCSV.status == 0, "\(fromCSV.output)")
        for input in [arrow, stream] {
            let fromArrow = try run(partd, ["groupby", input, "--by", "id", "--agg", "sum:x,count,max:name", "--memory", "20kB"])
            #expect(fromArrow.status == 0, "\(fromArrow.output)")
            #expect(lines(fromArrow.output) == lines(fromCSV.output))
        }
        // Arrow and CSV files as one input: the Arrow file's chunks hold the columns the command reads, as the CSV
        // file's do (groupby reads the key and aggregated columns alone; the Arrow chunks held every column, and
        // the input failed as "columns differ").
        let twiceCSV = try run(partd, ["groupby", csv, csv, "--by", "id", "--agg", "sum:x,count", "--memory", "20kB"])
        #expect(twiceCSV.status == 0, "\(twiceCSV.output)")
        for inputs in [[arrow, csv], [csv, stream]] {
            let mixed = try run(partd, ["groupby"] + inputs + ["--by", "id", "--agg", "sum:x,count", "--memory", "20kB"])
            #expect(mixed.status == 0 && lines(mixed.output) == lines(twiceCSV.output), "\(mixed.output)")
        }
        let joinCSV = try run(partd, ["join", csv, csv, "--on", "id", "--partitions", "4"])
        let joinMixed = try run(partd, ["join", arrow, csv, "--on", "id", "--partitions", "4"])
        #expect(joinMixed.status == 0 && lines(joinMixed.output) == lines(joinCSV.output) && lines(joinCSV.output).count == 500_001)
        // The join as Arrow: partitions as record batches, the same rows.
        for (format, compression) in [("arrow", "zstd"), ("arrow-stream", "lz4")] {
            let joinArrow = try run(partd, ["join", arrow, csv, "--on", "id", "--partitions", "4", "--format", format,
                                            "--arrow-compression", compression, "--out", grouped])
            #expect(joinArrow.status == 0, "\(joinArrow.output)")
            let joined = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: grouped))))
            let rendered = (0..<joined.rowCount).map { row in
                joined.columns.map { $0.text(at: row).map(csvQuoted) ?? "" }.joined(separator: ",")
            }
            #expect(rendered.sorted() == lines(joinCSV.output).filter { !$0.hasPrefix("id,") })
        }

        // groupby --format arrow writes what groupby prints as CSV.
        let written = try run(partd, ["groupby", arrow, "--by", "id", "--agg", "sum:x,count", "--format", "arrow", "--out", grouped])
        #expect(written.status == 0, "\(written.output)")
        let result = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: grouped))))
        #expect(result.schema.fields.map(\.name) == ["id", "x_sum", "count"] && result.rowCount == 50)
        #expect(result["count"]!.values(as: Int64.self)!.reduce(0, +) == 5000)
        // Compressed buffers, and a compressed file as input.
        let zstd = try run(partd, ["groupby", arrow, "--by", "id", "--agg", "sum:x,count", "--format", "arrow",
                                   "--arrow-compression", "zstd", "--out", grouped])
        #expect(zstd.status == 0, "\(zstd.output)")
        #expect(try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: grouped)))) == result)
        var lz4: [UInt8] = []
        try table.writeArrow(.file, compression: .lz4) { lz4.append(contentsOf: $0) }
        try Data(lz4).write(to: URL(fileURLWithPath: part))
        let fromLZ4 = try run(partd, ["groupby", part, "--by", "id", "--agg", "sum:x,count,max:name", "--memory", "20kB"])
        #expect(fromLZ4.status == 0 && lines(fromLZ4.output) == lines(fromCSV.output))

        // A shuffle of the Arrow file; cat --format arrow gives each partition's rows back as Arrow.
        let shuffled = try run(partd, ["shuffle", arrow, "--by", "id", "--partitions", "4", "--out", out])
        #expect(shuffled.status == 0 && shuffled.output.contains("5000 rows in 4 partitions"), "\(shuffled.output)")
        var total = 0
        for p in 0..<4 {
            let cat = try run("/bin/sh", ["-c", "\"$0\" cat \"$1\" \(p) --format arrow > \"$2\"", partd, out, part])
            #expect(cat.status == 0, "\(cat.output)")
            let partition = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: part))))
            #expect(partition.schema == table.schema)
            total += partition.rowCount
        }
        #expect(total == 5000)
        // export: every partition as a batch of one file, in partition order; keys that are not tables refused.
        let exported = try run(partd, ["export", out, "--out", part, "--arrow-compression", "lz4"])
        #expect(exported.status == 0 && exported.output.contains("5000 rows from 4 keys"), "\(exported.output)")
        var batches = try ArrowBatchReader(size: try Data(contentsOf: URL(fileURLWithPath: part)).count) { offset, count in
            let bytes = try! [UInt8](Data(contentsOf: URL(fileURLWithPath: part)))
            return bytes[offset..<(offset + count)]
        }
        var perBatch: [Int] = []
        while let batch = try batches.next() { perBatch.append(batch.rowCount) }
        var perKey: [Int] = []
        for p in 0..<4 {
            let cat = try run(partd, ["cat", out, String(p), "--format", "json"])
            perKey.append(cat.output.split(separator: "\n").count)
        }
        #expect(perBatch == perKey && perBatch.reduce(0, +) == 5000)
        // export --out-dir: a file per partition, CSV or Arrow, each what cat prints.
        let files = out + "-files"
        defer { removeTree(files) }
        let csvFiles = try run(partd, ["export", out, "--out-dir", files, "--format", "csv"])
        #expect(csvFiles.status == 0 && csvFiles.output.contains("5000 rows from 4 keys in \(files)"), "\(csvFiles.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: files).sorted() == (0..<4).map { "part-0000\($0).csv" })
        for p in 0..<4 {
            let text = try String(contentsOfFile: files + "/part-0000\(p).csv", encoding: .utf8)
            #expect(text == (try run(partd, ["cat", out, String(p), "--format", "csv"])).output)
        }
        #expect(try run(partd, ["export", out, "--out-dir", files, "--keys", "2"]).status == 0)
        let second = try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: files + "/part-00002.arrow"))))
        #expect(second.rowCount == perKey[2] && second.schema == table.schema)
        #expect(try run(partd, ["export", out, "--format", "csv", "--out", part]).status != 0)
        #expect(try run(partd, ["export", out]).status != 0)

        // Arrow columns carry their types; damaged input names the file.
        let typed = try run(partd, ["groupby", arrow, "--by", "id", "--types", "x:int"])
        #expect(typed.status != 0 && typed.output.contains("--types cannot change column x of an Arrow file"))
        var damaged = table.arrowFile()
        damaged.removeLast(3)
        try Data(damaged).write(to: URL(fileURLWithPath: part))
        let broken = try run(partd, ["shuffle", part, "--by", "id", "--out", out + "-broken"])
        #expect(broken.status != 0 && broken.output.contains(part) && broken.output.contains("not a well-formed Arrow"), "\(broken.output)")
    }

    @Test("--out writes into the path as a shell's > does: through a symlink, keeping an existing file's mode, into a FIFO")
    func outputInPlace() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, target, link) = (scratchPath("out-in.csv"), scratchPath("out-target.csv"), scratchPath("out-link.csv"))
        defer { for path in [csv, target, link] { try? FileManager.default.removeItem(atPath: path) } }
        try "k,v\n1,2\n1,3\n2,4\n".write(toFile: csv, atomically: false, encoding: .utf8)
        let commands: [(arguments: [String], output: String)] = [
            (["groupby", csv, "--by", "k", "--agg", "sum:v", "--sort"], "k,v_sum\n1,5\n2,4\n"),
            (["groupby", csv, "--by", "k", "--agg", "sum:v", "--partitions", "1"], "k,v_sum\n1,5\n2,4\n"),
            (["sort", csv, "--by", "v:desc"], "k,v\n2,4\n1,3\n1,2\n"),
            (["distinct", csv, "--by", "k", "--partitions", "1"], "k,v\n1,2\n2,4\n"),
            (["join", csv, csv, "--on", "k,v", "--kind", "semi", "--partitions", "1"], "k,v\n1,2\n1,3\n2,4\n"),
        ]
        for (arguments, output) in commands {
            // Through a symlink: the target is written, the link stays a link.
            try? FileManager.default.removeItem(atPath: link)
            try "old".write(toFile: target, atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            let ran = try run(partd, arguments + ["--out", link])
            #expect(ran.status == 0, "\(arguments[0]): \(ran.output)")
            #expect(try String(contentsOfFile: target, encoding: .utf8) == output, "\(arguments[0])")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target, "\(arguments[0])")
            // An existing file keeps its mode.
            try FileManager.default.removeItem(atPath: target)
            try "old, and longer than the output".write(toFile: target, atomically: false, encoding: .utf8)
            #expect(chmod(target, 0o600) == 0)
            #expect(try run(partd, arguments + ["--out", target]).status == 0)
            #expect(try String(contentsOfFile: target, encoding: .utf8) == output, "\(arguments[0])")
            var status = stat()
            #expect(stat(target, &status) == 0 && status.st_mode & 0o777 == 0o600, "\(arguments[0])")
        }
        // export --out, and --out-dir's files, through a symlink too.
        let store = scratchPath("out-store")
        defer { removeTree(store) }
        #expect(try run(partd, ["shuffle", csv, "--by", "k", "--partitions", "2", "--out", store]).status == 0)
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(try run(partd, ["export", store, "--out", link]).status == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
        #expect(try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: target)))).rowCount == 3)

        // A FIFO, read by another thread as the command writes.
        let fifo = scratchPath("out.fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        defer { try? FileManager.default.removeItem(atPath: fifo) }
        let read = Mutex<[UInt8]?>(nil)
        let reader = Thread {
            let bytes = FileHandle(forReadingAtPath: fifo).map { Array($0.readDataToEndOfFile()) }
            read.withLock { $0 = bytes ?? [] }
        }
        reader.start()
        let ran = try run(partd, commands[0].arguments + ["--out", fifo])
        #expect(ran.status == 0, "\(ran.output)")
        for _ in 0..<500 where read.withLock({ $0 == nil }) { usleep(10_000) }
        #expect(read.withLock { $0 } == Array(commands[0].output.utf8))
        var status = stat()
        #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
        // A path that cannot be opened: the reason.
        let missing = try run(partd, commands[0].arguments + ["--out", scratchPath("no-such-dir") + "/x.csv"])
        #expect(missing.status != 0 && missing.output.contains("No such file or directory"), "\(missing.output)")
    }

    /// Runs `partd` with standard output and standard error apart (progress lines go to the latter), with
    /// `environment` added to the test's.
    func runApart(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: partd)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let (out, errors) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = errors
        try process.run()
        // Standard error read on a thread of its own, so that neither pipe fills while the other is read.
        let errorText = Mutex("")
        let done = DispatchSemaphore(value: 0)
        Thread {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            errorText.withLock { $0 = text }
            done.signal()
        }.start()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        done.wait()
        return (process.terminationStatus, output, errorText.withLock { $0 })
    }

    @Test("CSV ids beyond Int64 stay distinct (UInt64, or strings), hex stays text; groupby keeps every id's group")
    func bigIntegerKeys() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("big-ids.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        try "id,v\n18446744073709551001,1\n18446744073709551002,2\n18446744073709551001,3\n"
            .write(toFile: csv, atomically: false, encoding: .utf8)
        let grouped = try runApart(["groupby", csv, "--by", "id", "--agg", "sum:v", "--sort"])
        #expect(grouped.status == 0 && grouped.output == "id,v_sum\n18446744073709551001,4\n18446744073709551002,2\n",
                "\(grouped.output)")
        try "id,v\n0x1A,1\n26,2\n".write(toFile: csv, atomically: false, encoding: .utf8)
        let hex = try runApart(["groupby", csv, "--by", "id", "--agg", "sum:v", "--sort"])
        #expect(hex.status == 0 && hex.output == "id,v_sum\n0x1A,1\n26,2\n", "\(hex.output)")
    }

    @Test("bytes that are not UTF-8 go through groupby, sort, distinct and shuffle as they are (Latin-1 café and cafè: two keys)")
    func latin1Bytes() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, out, store) = (scratchPath("latin1.csv"), scratchPath("latin1-out.csv"), scratchPath("latin1-store"))
        defer { try? FileManager.default.removeItem(atPath: csv); try? FileManager.default.removeItem(atPath: out); removeTree(store) }
        let (e, è) = (Array("caf".utf8) + [0xE9], Array("caf".utf8) + [0xE8])
        let newline = Array("\n".utf8)
        try Data(Array("k,v\n".utf8) + e + Array(",1".utf8) + newline + è + Array(",2".utf8) + newline + e + Array(",3".utf8) + newline)
            .write(to: URL(fileURLWithPath: csv))
        func output(_ arguments: [String]) throws -> [UInt8] {
            let ran = try run(partd, arguments + ["--out", out])
            #expect(ran.status == 0, "\(arguments[0]): \(ran.output)")
            return Array(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        let grouped = try output(["groupby", csv, "--by", "k", "--agg", "sum:v", "--sort"])
        #expect(grouped == Array("k,v_sum\n".utf8) + è + Array(",2".utf8) + newline + e + Array(",4".utf8) + newline)
        for category in [false, true] {
            let types = category ? ["--types", "k:category"] : []
            let unsorted = try output(["groupby", csv, "--by", "k", "--agg", "sum:v", "--partitions", "1"] + types)
            #expect(unsorted == Array("k,v_sum\n".utf8) + e + Array(",4".utf8) + newline + è + Array(",2".utf8) + newline)
        }
        let sorted = try output(["sort", csv, "--by", "k,v"])
        #expect(sorted == Array("k,v\n".utf8) + è + Array(",2".utf8) + newline + e + Array(",1".utf8) + newline + e + Array(",3".utf8) + newline)
        let distinct = try output(["distinct", csv, "--by", "k", "--partitions", "1"])
        #expect(distinct == Array("k,v\n".utf8) + e + Array(",1".utf8) + newline + è + Array(",2".utf8) + newline)
        // JSON cannot hold such bytes: an error naming the column and row, not a repaired value.
        let json = try runApart(["groupby", csv, "--by", "k", "--format", "json"])
        #expect(json.status != 0 && json.errors.contains("column k, row 1: bytes that are not UTF-8"), "\(json.errors)")
        #expect(try run(partd, ["shuffle", csv, "--by", "k", "--partitions", "1", "--out", store]).status == 0)
        #expect(try run(partd, ["export", store, "--out-dir", store + "-csv", "--format", "csv"]).status == 0)
        defer { removeTree(store + "-csv") }
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: store + "-csv/part-00000.csv")))
                == Array(try Data(contentsOf: URL(fileURLWithPath: csv))))

        // Arrow output of input holding such bytes declares its string columns binary from the start: partitions
        // of UTF-8 strings printed first no longer fix the schema as utf8, which the Latin-1 ones then broke.
        var mixed = Array("k,v\n".utf8)
        for i in 0..<20 { mixed += Array("a\(i),\(i)\n".utf8) }
        mixed += e + Array(",1".utf8) + newline + è + Array(",2".utf8) + newline
        try Data(mixed).write(to: URL(fileURLWithPath: csv))
        for arguments in [
            ["sort", csv, "--by", "k", "--partitions", "4"], ["distinct", csv, "--by", "k", "--partitions", "4"],
            ["groupby", csv, "--by", "k", "--agg", "sum:v", "--partitions", "4"],
            ["join", csv, csv, "--on", "k", "--partitions", "4"],
        ] {
            let table = try Table(arrow: try output(arguments + ["--format", "arrow"]))
            let keys = try #require(table["k"]?.strings, "\(arguments[0])")
            #expect(Set(keys.indices.map { Array(keys.bytes(at: $0)) }).isSuperset(of: [e, è]), "\(arguments[0])")
            #expect(table.rowCount >= 22, "\(arguments[0])")
        }
        // A groupby reads the key and aggregated columns alone: Latin-1 text in another column leaves the keys
        // utf8 (pyarrow reads them as str). So does Latin-1 text on the right side of a semi join.
        if pythonHas("pyarrow") {
            let (notes, ascii) = (csv + "-notes", csv + "-ascii")
            defer { for path in [notes, ascii] { try? FileManager.default.removeItem(atPath: path) } }
            try Data(Array("k,note,v\nParis,".utf8) + e + Array(",1\nOslo,x,2\n".utf8)).write(to: URL(fileURLWithPath: notes))
            try "k\nParis\n".write(toFile: ascii, atomically: false, encoding: .utf8)
            for arguments in [["groupby", notes, "--by", "k", "--agg", "sum:v"], ["join", ascii, notes, "--on", "k", "--kind", "semi"]] {
                _ = try output(arguments + ["--format", "arrow"])
                let types = try run("/usr/bin/env", [
                    "python3", "-c", "import sys, pyarrow.feather as f; print(f.read_table(sys.argv[1]).schema.field('k').type)", out,
                ])
                #expect(types.output.contains("large_string"), "\(arguments[0]): \(types.output)")
            }
        }
        // export reads keys one at a time: --binary-strings declares them binary, and without it the error says so.
        removeTree(store)
        #expect(try run(partd, ["shuffle", csv, "--by", "k", "--partitions", "4", "--out", store]).status == 0)
        #expect(try run(partd, ["export", store, "--out", out, "--binary-strings"]).status == 0)
        #expect(try Table(arrow: Array(try Data(contentsOf: URL(fileURLWithPath: out)))).rowCount == 22)
    }

    @Test("CR-only line ends read as pandas reads them (a lone CR ends a line)")
    func carriageReturnLines() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("cr.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        try "k,v\r1,2\r1,3\r".write(toFile: csv, atomically: false, encoding: .utf8)
        let cr = try runApart(["groupby", csv, "--by", "k", "--agg", "sum:v"])
        #expect(cr.status == 0 && cr.output == "k,v_sum\n1,5\n", "\(cr.output)")
    }

    /// Found by Tests/Interop/differential_pandas.py: a plain running sum lost the -1 beside 2^53 (mean 0, not -0.2).
    @Test("groupby sum and mean add with Kahan compensation, as pandas' groupby does, so low bits are not lost")
    func compensatedSums() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("kahan.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        // pandas: groupby("k").agg(v_mean=("v", "mean"), x_sum=("x", "sum"), x_mean=("x", "mean")) gives
        // -0.09090909090909091 (a plain sum of v: 0), 1.000000000000001 (a plain sum of x: 1.0) and
        // 0.09090909090909101; inf stays inf, inf and -inf make NaN (which pandas prints as an empty field).
        let v = ["-9007199254740993", "-1", "9007199254740991", "9007199254740993", "-9007199254740991", "0", "0", "0", "0", "0", "0"]
        let x = ["1.0"] + Array(repeating: "1e-16", count: 10)
        var text = "k,v,x\n"
        for (a, b) in zip(v, x) { text += "1,\(a),\(b)\n" }
        text += "2,1,inf\n2,2,1.5\n3,1,inf\n3,2,-inf\n"
        try text.write(toFile: csv, atomically: false, encoding: .utf8)
        let grouped = try runApart(["groupby", csv, "--by", "k", "--agg", "mean:v,sum:x,mean:x", "--sort"])
        #expect(grouped.status == 0 && grouped.output == """
            k,v_mean,x_sum,x_mean
            1,-0.09090909090909091,1.000000000000001,0.09090909090909101
            2,1.5,inf,inf
            3,1.5,nan,nan

            """, "\(grouped.output)")
    }

    /// Found by Tests/Interop/differential_pandas.py: the variance of two values at Double's greatest was inf
    /// (their mean overflowed), where pandas gives 0.
    @Test("groupby var and std update the mean and the squared deviations row by row (Welford), as pandas' groupby does")
    func welfordVariance() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("welford.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        try "k,x\n1,1.7976931348623157e308\n1,1.7976931348623157e308\n2,0.1\n2,0.2\n2,0.3\n2,100000000.1\n3,5\n"
            .write(toFile: csv, atomically: false, encoding: .utf8)
        // pandas: groupby("k").agg(x_var=("x", "var"), x_std=("x", "std")), to_csv.
        let grouped = try runApart(["groupby", csv, "--by", "k", "--agg", "var:x,std:x", "--sort"])
        #expect(grouped.status == 0 && grouped.output == """
            k,x_var,x_std
            1,0.0,0.0
            2,2499999994999999.5,49999999.949999996
            3,,

            """, "\(grouped.output)")
    }

    /// Found by Tests/Interop/differential_pandas.py: the key types were compared on the first chunks alone, so a
    /// key that a later chunk widens to strings stopped the join that pandas (and the widening) would run.
    @Test("a join key that is text in one file and numbers in the other's first chunk joins when a later chunk makes it text (as pandas reads it)")
    func joinKeyWidenedLater() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (left, right) = (scratchPath("late-key-left.csv"), scratchPath("late-key-right.csv"))
        defer { for path in [left, right] { try? FileManager.default.removeItem(atPath: path) } }
        // pandas: both k columns are str; merge(on="k") gives oops,1,9 and 2,5,2.
        try "k,a\noops,1\n2,5\n".write(toFile: left, atomically: false, encoding: .utf8)
        try "k,b\n1,1\n2,2\n3,3\noops,9\n".write(toFile: right, atomically: false, encoding: .utf8)
        let joined = try runApart(["join", left, right, "--on", "k", "--chunk-rows", "2", "--partitions", "3"])
        let rows = joined.output.split(separator: "\n")
        #expect(joined.status == 0 && rows.first == "k,a,b" && rows.dropFirst().sorted() == ["2,5,2", "oops,1,9"], "\(joined.output) \(joined.errors)")
        // Keys that never come to compare are still refused, naming --types (after both files are read).
        try "k,b\n1,1\n2,2\n3,3\n".write(toFile: right, atomically: false, encoding: .utf8)
        let refused = try runApart(["join", left, right, "--on", "k", "--chunk-rows", "2"])
        #expect(refused.status != 0 && refused.errors.contains("--types KEY:TYPE"), "\(refused.errors)")
    }

    /// Found by Tests/Interop/differential_pandas.py: `2` and `2 ` were two groups, and ` 3` sorted before `1`.
    @Test("numbers with spaces or tabs around them read as numbers, as pandas reads them (inf and nan only as spelled)")
    func numbersWithSpacesAround() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("spaced-numbers.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        // pandas: read_csv gives k int64 [2, 2, 2, 3, 1] and v float64; groupby("k").sum() gives 1: 0.25, 2: 4.5, 3: 4.0.
        try "k,v\n2,1.5\n2 , 2.5\n\t2,0.5\t\n\" 3\",4\n1,0.25\n".write(toFile: csv, atomically: false, encoding: .utf8)
        let grouped = try runApart(["groupby", csv, "--by", "k", "--agg", "sum:v", "--sort"])
        #expect(grouped.status == 0 && grouped.output == "k,v_sum\n1,0.25\n2,4.5\n3,4.0\n", "\(grouped.output)")
        let sorted = try runApart(["sort", csv, "--by", "k:desc", "--partitions", "2"])
        #expect(sorted.status == 0 && sorted.output == "k,v\n3,4.0\n2,1.5\n2,2.5\n2,0.5\n1,0.25\n", "\(sorted.output)")
        // Only decimal numbers: pandas reads " inf" and " nan" as text, and so a column of them stays strings.
        try "k\n inf\n1\n".write(toFile: csv, atomically: false, encoding: .utf8)
        let text = try runApart(["sort", csv, "--by", "k"])
        #expect(text.status == 0 && text.output == "k\n inf\n1\n", "\(text.output)")
    }

    @Test("a file of a header alone: --agg is checked against the header; groupby, sort and distinct print the result's header")
    func headerOnlyOutput() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (empty, arrow) = (scratchPath("header-only.csv"), scratchPath("header-only.arrow"))
        defer { for path in [empty, arrow] { try? FileManager.default.removeItem(atPath: path) } }
        try "k,v\n".write(toFile: empty, atomically: false, encoding: .utf8)
        let missing = try runApart(["groupby", empty, "--by", "k", "--agg", "sum:nope"])
        #expect(missing.status != 0 && missing.errors.contains("nope"), "\(missing.errors)")
        let wrongType = try runApart(["groupby", empty, "--by", "k", "--agg", "sum:v", "--types", "v:string"])
        #expect(wrongType.status != 0, "\(wrongType.output)")
        for arguments in [["groupby", empty, "--by", "k", "--agg", "sum:v,count"], ["groupby", empty, "--by", "k", "--agg", "sum:v,count", "--sort"]] {
            let ran = try runApart(arguments)
            #expect(ran.status == 0 && ran.output == "k,v_sum,count\n", "\(arguments): \(ran.output)")
        }
        // JSON: an empty array, sorted or not (sorting the result of no rows threw "no sort key column").
        for sort in [[], ["--sort"]] {
            let ran = try runApart(["groupby", empty, "--by", "k", "--agg", "sum:v", "--format", "json"] + sort)
            #expect(ran.status == 0 && ran.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(sort): \(ran.output) \(ran.errors)")
        }
        for arguments in [["sort", empty, "--by", "v"], ["distinct", empty, "--by", "k"]] {
            let ran = try runApart(arguments)
            #expect(ran.status == 0 && ran.output == "k,v\n", "\(arguments): \(ran.output)")
        }
        // Arrow output: a file of no batches with the result's columns.
        for arguments in [["groupby", empty, "--by", "k", "--agg", "count", "--types", "k:int"], ["sort", empty, "--by", "v"]] {
            let ran = try runApart(arguments + ["--format", "arrow", "--out", arrow])
            #expect(ran.status == 0, "\(arguments): \(ran.errors)")
            let table = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: arrow))))
            #expect(table.rowCount == 0 && table.columns.map(\.name) == (arguments[0] == "sort" ? ["k", "v"] : ["k", "count"]))
        }
    }

    @Test("a join with a side of a header alone has that side's columns too (as pandas prints them), CSV or Arrow")
    func joinHeaderOnly() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, empty, arrow) = (scratchPath("join-rows.csv"), scratchPath("join-header-only.csv"), scratchPath("join-header-only.arrow"))
        defer { for path in [csv, empty, arrow] { try? FileManager.default.removeItem(atPath: path) } }
        try "k,a\n1,x\n2,y\n".write(toFile: csv, atomically: false, encoding: .utf8)
        try "k,b\n".write(toFile: empty, atomically: false, encoding: .utf8)
        let left = try runApart(["join", csv, empty, "--on", "k", "--kind", "left", "--partitions", "1"])
        #expect(left.status == 0 && left.output == "k,a,b\n1,x,\n2,y,\n", "\(left.output)")
        let outer = try runApart(["join", empty, csv, "--on", "k", "--kind", "outer", "--partitions", "1"])
        #expect(outer.status == 0 && outer.output == "k,b,a\n1,,x\n2,,y\n", "\(outer.output)")
        let inner = try runApart(["join", csv, empty, "--on", "k"])
        #expect(inner.status == 0 && inner.output == "k,a,b\n", "\(inner.output)")
        let arrowJoin = try runApart(["join", csv, empty, "--on", "k", "--kind", "left", "--format", "arrow", "--out", arrow])
        #expect(arrowJoin.status == 0, "\(arrowJoin.errors)")
        let joined = try Table(arrow: Array(Data(contentsOf: URL(fileURLWithPath: arrow))))
        #expect(joined.rowCount == 2 && joined.columns.map(\.name) == ["k", "a", "b"])
    }

    @Test("--types takes a column whose name has a colon (the type follows the last colon)")
    func typesNameWithColon() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let csv = scratchPath("colon.csv")
        defer { try? FileManager.default.removeItem(atPath: csv) }
        try "time:utc,v\n5,1\n".write(toFile: csv, atomically: false, encoding: .utf8)
        let typed = try runApart(["groupby", csv, "--by", "time:utc", "--types", "time:utc:string", "--agg", "sum:v"])
        #expect(typed.status == 0 && typed.output == "time:utc,v_sum\n5,1\n", "\(typed.output)")
    }

    @Test("--na reads missing-value spellings as nulls in shuffle, groupby, sort, distinct and join (and each of several inputs); without it they are values")
    func missingValueSpellings() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, second, left, right, out) = (
            scratchPath("na.csv"), scratchPath("na-2.csv"), scratchPath("na-left.csv"), scratchPath("na-right.csv"), scratchPath("na-parts"))
        defer {
            for path in [csv, second, left, right] { try? FileManager.default.removeItem(atPath: path) }
            removeTree(out)
        }
        try "k,v,s\na,1,x\na,NA,NA\nb,nan,y\nb,4,NULL\n".write(toFile: csv, atomically: false, encoding: .utf8)
        // pandas: read_csv(csv).groupby("k").agg(v_sum=("v", "sum"), s_max=("s", "max")) gives a: 1.0, x; b: 4.0, y
        // (v float64 for its NaN, where v stays Int64 with nulls here).
        let grouped = try runApart(["groupby", csv, "--by", "k", "--agg", "sum:v,max:s", "--na", "pandas", "--sort"])
        #expect(grouped.status == 0 && grouped.output == "k,v_sum,s_max\na,1,x\nb,4,y\n", "\(grouped.output) \(grouped.errors)")
        // Without --na, v holds text: the sum is refused before the file is shuffled, as before.
        let plain = try runApart(["groupby", csv, "--by", "k", "--agg", "sum:v"])
        #expect(plain.status != 0 && plain.errors.contains("cannot sum column \"v\" of type string"), "\(plain.errors)")
        // --types v:int reads NA as a null rather than failing; a list of one's own.
        let typed = try runApart(["groupby", csv, "--by", "k", "--agg", "sum:v,count", "--types", "v:float", "--na", "NA,NULL", "--sort"])
        #expect(typed.status == 0 && typed.output == "k,v_sum,count\na,1.0,2\nb,4.0,2\n", "\(typed.output) \(typed.errors)")
        let intTyped = try runApart(["groupby", csv, "--by", "k", "--agg", "sum:v", "--types", "v:int", "--na", "NA,nan", "--sort"])
        #expect(intTyped.status == 0 && intTyped.output == "k,v_sum\na,1\nb,4\n", "\(intTyped.output) \(intTyped.errors)")
        // sort: missing strings print as empty fields, nulls last (pandas: sort_values("v").to_csv(index=False) with
        // na_values=["NA"] gives "v,s\n1.0,b\n2.0,\n,c\n").
        try "v,s\n2,NA\n1,b\nNA,c\n".write(toFile: second, atomically: false, encoding: .utf8)
        let sorted = try runApart(["sort", second, "--by", "v", "--na", "NA", "--partitions", "2"])
        #expect(sorted.status == 0 && sorted.output == "v,s\n1,b\n2,\n,c\n", "\(sorted.output) \(sorted.errors)")
        // distinct: NA and NULL are the one null.
        try "s\nNA\nx\nNULL\n\nx\n".write(toFile: second, atomically: false, encoding: .utf8)
        let distinct = try runApart(["distinct", second, "--by", "s", "--na", "pandas", "--partitions", "1"])
        #expect(distinct.status == 0 && distinct.output == "s\n\"\"\nx\n", "\(distinct.output) \(distinct.errors)")
        // shuffle, of two files: the second file's spellings are nulls too.
        try "k,v,s\nc,NA,z\n".write(toFile: second, atomically: false, encoding: .utf8)
        let shuffled = try runApart(["shuffle", csv, second, "--by", "k", "--partitions", "1", "--out", out, "--na", "pandas"])
        #expect(shuffled.status == 0, "\(shuffled.errors)")
        let part = try runApart(["cat", out, "0"])
        #expect(part.output == "k,v,s\na,1,x\na,,\nb,,y\nb,4,\nc,,z\n", "\(part.output)")
        // join: both files.
        try "k,a\n1,NA\n2,x\n".write(toFile: left, atomically: false, encoding: .utf8)
        try "k,b\n1,NULL\n2,3\n".write(toFile: right, atomically: false, encoding: .utf8)
        // pandas: read_csv(left).merge(read_csv(right), on="k").to_csv(index=False) gives "k,a,b\n1,,\n2,x,3.0\n".
        let joined = try runApart(["join", left, right, "--on", "k", "--na", "pandas", "--partitions", "1"])
        #expect(joined.status == 0 && joined.output == "k,a,b\n1,,\n2,x,3\n", "\(joined.output) \(joined.errors)")
        for command in ["shuffle", "groupby", "sort", "distinct", "join"] {
            #expect(try runApart([command, "--help"]).output.contains("--na"), "\(command)")
        }
    }

    @Test("a later chunk that does not fit the inferred types: a file is read again with the column widened (int to float, to uint, then to string), as pandas reads it; standard input, a pipe and --types keep the error")
    func widenedTypes() throws {
        try #require(FileManager.default.isExecutableFile(atPath: partd), "build the package first: \(partd)")
        let (csv, first, second, chain) = (scratchPath("widen.csv"), scratchPath("widen-1.csv"), scratchPath("widen-2.csv"), scratchPath("widen-chain.csv"))
        let (left, right, scratch, parts) = (scratchPath("widen-left.csv"), scratchPath("widen-right.csv"), scratchPath("widen-tmp"), scratchPath("widen-parts"))
        defer {
            for path in [csv, first, second, chain, left, right] { try? FileManager.default.removeItem(atPath: path) }
            removeTree(scratch)
            removeTree(parts)
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        // x holds integers in the first chunk (two rows), then 1.5 on line 5.
        let text = "k,x,s\na,1,p\nb,2,q\na,3,r\nb,1.5,s\na,4,t\nb,2,q\n"
        try text.write(toFile: csv, atomically: false, encoding: .utf8)
        let small = ["--chunk-rows", "2", "--partitions", "1", "--memory", "1kB"]
        let note = "partd: \(csv) line 5: column x holds \"1.5\", which is not an integer; reading again with x:float\n"
        /// Runs `partd` with TMPDIR set to `scratch`, checks that it succeeded after the note, and that it left
        /// nothing in `scratch`.
        func widened(_ arguments: [String], note: String = note) throws -> String {
            let ran = try runApart(arguments, environment: ["TMPDIR": scratch])
            #expect(ran.status == 0 && ran.errors.contains(note), "\(arguments): \(ran.output) \(ran.errors)")
            #expect(!ran.errors.contains("give --types"), "\(arguments): \(ran.errors)")
            let leftovers = (try? FileManager.default.subpathsOfDirectory(atPath: scratch)) ?? []
            #expect(leftovers.isEmpty, "\(arguments): \(leftovers)")
            return ran.output
        }
        // pandas (read_csv reads the whole file, x float64):
        // df.groupby("k").agg(x_sum=("x", "sum"), count=("x", "size")).to_csv() gives "k,x_sum,count\na,8.0,3\nb,5.5,3\n".
        #expect(try widened(["groupby", csv, "--by", "k", "--agg", "sum:x,count", "--sort"] + small) == "k,x_sum,count\na,8.0,3\nb,5.5,3\n")
        // df.sort_values("x", kind="stable").to_csv(index=False): x is a sort key (read again after the sampling pass) …
        #expect(try widened(["sort", csv, "--by", "x"] + small) == "k,x,s\na,1.0,p\nb,1.5,s\nb,2.0,q\nb,2.0,q\na,3.0,r\na,4.0,t\n")
        // … or not (read again after the second pass; sort_values("k", kind="stable")).
        #expect(try widened(["sort", csv, "--by", "k"] + small) == "k,x,s\na,1.0,p\na,3.0,r\na,4.0,t\nb,2.0,q\nb,1.5,s\nb,2.0,q\n")
        // df.drop_duplicates().to_csv(index=False).
        #expect(try widened(["distinct", csv] + small) == "k,x,s\na,1.0,p\nb,2.0,q\na,3.0,r\nb,1.5,s\na,4.0,t\n")
        // shuffle --out: the partitions the failed attempt wrote go (its rows are not there twice), into a directory it
        // made and into one it overwrote.
        let part = "k,x,s\na,1.0,p\nb,2.0,q\na,3.0,r\nb,1.5,s\na,4.0,t\nb,2.0,q\n"
        #expect(try widened(["shuffle", csv, "--by", "k", "--out", parts] + small) == "6 rows in 1 partitions in \(parts)\n")
        #expect(try runApart(["cat", parts, "0"]).output == part)
        #expect(try widened(["shuffle", csv, "--by", "k", "--out", parts, "--overwrite"] + small) == "6 rows in 1 partitions in \(parts)\n")
        #expect(try runApart(["cat", parts, "0"]).output == part)
        // Several files: the second one's 1.5 (its line 3) makes x float in both.
        try "k,x,s\na,1,p\nb,2,q\n".write(toFile: first, atomically: false, encoding: .utf8)
        try "k,x,s\na,3,r\nb,1.5,s\na,4,t\nb,2,q\n".write(toFile: second, atomically: false, encoding: .utf8)
        #expect(try widened(["groupby", first, second, "--by", "k", "--agg", "sum:x,count", "--sort"] + small,
                            note: "partd: \(second) line 3: column x holds \"1.5\"") == "k,x_sum,count\na,8.0,3\nb,5.5,3\n")

        // join: --types applies to both files, and so does a widened key, whichever file held the value. pandas:
        // read_csv(left).merge(read_csv(right), on="k") gives "k,v,w\n1.0,a,x\n3.0,c,y\n" (k float64 and int64).
        try "k,v\n1,a\n2,b\n3,c\n1.5,d\n".write(toFile: left, atomically: false, encoding: .utf8)
        try "k,w\n1,x\n3,y\n4,z\n".write(toFile: right, atomically: false, encoding: .utf8)
        let keyNote = "partd: \(left) line 5: column k holds \"1.5\", which is not an integer; reading again with k:float\n"
        #expect(try widened(["join", left, right, "--on", "k"] + small, note: keyNote) == "k,v,w\n1.0,a,x\n3.0,c,y\n")
        #expect(try widened(["join", right, left, "--on", "k"] + small, note: keyNote) == "k,w,v\n1.0,x,a\n3.0,y,c\n")

        // int, then uint for an integer beyond Int64 (line 4), then string for a negative one (line 6): read three
        // times. pandas reads n as strings (str), and read_csv(chain, dtype={"n": str}).sort_values("n", kind="stable")
        // gives the rows below; groupby("k").n.max() gives a: 18446744073709551615, b: 7.
        try "k,n\na,1\nb,2\na,18446744073709551615\nb,5\na,-3\nb,7\n".write(toFile: chain, atomically: false, encoding: .utf8)
        let toUint = "partd: \(chain) line 4: column n holds \"18446744073709551615\", which is not an integer; reading again with n:uint\n"
        let toString = "partd: \(chain) line 6: column n holds \"-3\", which is not a non-negative integer; reading again with n:string\n"
        let sorted = try runApart(["sort", chain, "--by", "n"] + small)
        #expect(sorted.status == 0 && sorted.output == "k,n\na,-3\na,1\na,18446744073709551615\nb,2\nb,5\nb,7\n", "\(sorted.output) \(sorted.errors)")
        #expect(sorted.errors.contains(toUint) && sorted.errors.contains(toString), "\(sorted.errors)")
        let grouped = try runApart(["groupby", chain, "--by", "k", "--agg", "max:n", "--sort"] + small)
        #expect(grouped.status == 0 && grouped.output == "k,n_max\na,18446744073709551615\nb,7\n", "\(grouped.output) \(grouped.errors)")
        #expect(grouped.errors.contains(toUint) && grouped.errors.contains(toString), "\(grouped.errors)")

        // Input that can be read once (standard input, a pipe, a FIFO) keeps the error and its advice; so does a
        // column whose type --types gives.
        let advice = "line 5: column x: \"1.5\" is not an integer; give --types x:float"
        let groupby = { (input: String) in ["groupby", input, "--by", "k", "--agg", "sum:x"] + small }
        for (what, ran) in [("-", try run(partd, groupby("-"), input: text)),
                            ("/dev/stdin", try run(partd, groupby("/dev/stdin"), input: text)),
                            ("FIFO", try runThroughFIFO(groupby, feeding: csv)),
                            ("--types", try run(partd, groupby(csv) + ["--types", "x:int"]))] {
            #expect(ran.status != 0 && ran.output.contains(advice) && !ran.output.contains("reading again"), "\(what): \(ran.output)")
        }
        let joinPiped = try run(partd, ["join", "-", right, "--on", "k"] + small, input: "k,v\n1,a\n2,b\n3,c\n1.5,d\n")
        #expect(joinPiped.status != 0 && joinPiped.output.contains("give --types k:float") && !joinPiped.output.contains("reading again"),
                "\(joinPiped.output)")
    }
}

/// A CSV field as `partd` prints it: quoted when it holds a comma.
private func csvQuoted(_ text: String) -> String { text.contains(",") ? "\"\(text)\"" : text }
