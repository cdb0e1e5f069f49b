// SPDX-License-Identifier: Apache-2.0
//
// The scaling benchmark: each workload timed at N, 4N and 16N items, one line per size with the time per
// item, and the growth ratio (time at 16N / time at N; ~16 means linear, ~256 quadratic). It finds
// operations whose cost grows faster than their input where a user would expect it to grow with it.
//
//   swift build -c release --product partd-bench-scaling
//   .build/release/partd-bench-scaling [--only NAME] [--scale S]
//
// `--scale` multiplies every N (default 1); `--only` runs the workloads whose name contains NAME.

import BenchmarkSupport
import Partd
import PartdCompanions
import PartdCompression
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

struct Workload {
    var name: String
    /// What one item is.
    var unit: String
    var n: Int
    /// Runs the workload on `n` items and returns the seconds spent in the timed part.
    var run: (Int) throws -> Double
}

func check(_ ok: Bool) { precondition(ok) }

func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return now() - start
}

let workloads: [Workload] = [
    // 1. Many appends to one key, then one read: AppendLog block list, one join.
    Workload(name: "memory: appends of 16 B to one key + get", unit: "append", n: 50_000) { n in
        let store = MemoryStore()
        let value = [UInt8](repeating: 7, count: 16)
        let key: PartdKey = "k"
        return try timed {
            for _ in 0..<n { try store.append(key, value) }
            try check(store.get(key).count == 16 * n)
        }
    },
    // 2. Many keys in a small spilling budget: every spill round chooses among all buffered keys.
    Workload(name: "spilling: keys × 8 appends of 64 B, 256 KB budget, sync spill", unit: "key", n: 2_000) { n in
        let store = SpillingStore(
            spillingTo: MemoryStore(),
            configuration: .init(availableMemory: .kilobytes(256), backgroundSpill: false))
        let keys = (0..<n).map { PartdKey($0) }
        let value = [UInt8](repeating: 1, count: 64)
        return try timed {
            for _ in 0..<8 {
                try store.append(keys.map { (key: $0, value: value) })
            }
            try check(store.byteCount(of: keys[0]) == 8 * 64)
        }
    },
    Workload(name: "spilling: keys × 8 appends of 64 B, 256 KB budget, background", unit: "key", n: 2_000) { n in
        let store = SpillingStore(spillingTo: MemoryStore(), availableMemory: .kilobytes(256))
        let keys = (0..<n).map { PartdKey($0) }
        let value = [UInt8](repeating: 1, count: 64)
        return try timed {
            for _ in 0..<8 {
                for chunk in stride(from: 0, to: n, by: 256) {
                    try store.append(keys[chunk..<min(n, chunk + 256)].map { (key: $0, value: value) })
                }
            }
            try store.flush()
            try check(store.byteCount(of: keys[0]) == 8 * 64)
        }
    },
    Workload(name: "spilling: keys × 8 appends of 64 B, one key per call, sync", unit: "key", n: 1_000) { n in
        let store = SpillingStore(
            spillingTo: MemoryStore(),
            configuration: .init(availableMemory: .kilobytes(64), backgroundSpill: false))
        let keys = (0..<n).map { PartdKey($0) }
        let value = [UInt8](repeating: 1, count: 64)
        return try timed {
            for _ in 0..<8 {
                for key in keys { try store.append(key, value) }
            }
            try check(store.byteCount(of: keys[0]) == 8 * 64)
        }
    },
    // 3. Many keys on disk: one file each, then list them.
    Workload(name: "directory: keys, one append of 64 B each + keys()", unit: "key", n: 1_000) { n in
        let store = try DirectoryStore.temporary()
        defer { try? store.close() }
        let value = [UInt8](repeating: 1, count: 64)
        return try timed {
            try store.append((0..<n).map { (key: PartdKey("key-\($0)"), value: value) })
            try check(store.keys().count == n)
        }
    },
    // 4. Many frames under one key through compression.
    Workload(name: "compressed(lz4): appends of 100 B to one key + get", unit: "append", n: 10_000) { n in
        let store = CompressedStore(.lz4, over: MemoryStore())
        let value = [UInt8](repeating: 3, count: 100)
        return try timed {
            for _ in 0..<n { try store.append("k", value) }
            try check(store.get("k").count == 100 * n)
        }
    },
    // 5. Typed stores: many small frames under one key, read back as one value.
    Workload(name: "arrays: appends of 10 Float64 to one key + get", unit: "append", n: 10_000) { n in
        let store = ArrayStore(over: MemoryStore())
        let value = NDArray<Double>([Double](repeating: 1, count: 10))
        return try timed {
            for _ in 0..<n { try store.append("k", value) }
            try check(store.get("k", as: NDArray<Double>.self).count == 10 * n)
        }
    },
    Workload(name: "lists: appends of 10 Int to one key + get", unit: "append", n: 10_000) { n in
        let store = ListStore<MemoryStore, Int>(over: MemoryStore())
        let value = Array(0..<10)
        return try timed {
            for _ in 0..<n { try store.append("k", value) }
            try check(store.get("k").count == 10 * n)
        }
    },
    Workload(name: "tables: appends of 10 rows, 1,000 categories (rotated), + get", unit: "append", n: 2_000) { n in
        let store = TableStore(over: MemoryStore())
        let categories = (0..<1_000).map { "category-\($0)" }
        // Each frame has its own dictionary order, so every frame is remapped on read.
        let tables = try (0..<16).map { r in
            let rotated = Array(categories[(r * 61)...] + categories[..<(r * 61)])
            return try Table([
                Column("id", (0..<10).map { Int64($0) }),
                Column("c", categorical: CategoricalArray(codes: (0..<10).map { Int32($0) }, categories: StringArray(rotated))!),
            ])
        }
        return try timed {
            for i in 0..<n { try store.append("k", tables[i % 16]) }
            try check(store.get("k").rowCount == 10 * n)
        }
    },
    Workload(name: "tables: 1 row × columns, append + get", unit: "column", n: 100) { n in
        let store = TableStore(over: MemoryStore())
        let table = try Table((0..<n).map { Column("column-\($0)", [Int64($0)]) })
        return try timed {
            for _ in 0..<20 { try store.append("k", table) }
            try check(store.get("k").columns.count == n)
            let names = (0..<n).reversed().map { "column-\($0)" }
            try check(store.get("k", columns: names).columns.count == n)
        }
    },
    Workload(name: "tables: 1 row × columns, get selecting every column", unit: "column", n: 250) { n in
        let store = TableStore(over: MemoryStore())
        try store.append("k", try Table((0..<n).map { Column("column-\($0)", [Int64($0)]) }))
        let names = (0..<n).reversed().map { "column-\($0)" }
        return try timed {
            for _ in 0..<20 { try check(store.get("k", columns: names).columns.count == n) }
        }
    },
    Workload(name: "Table.selecting every column of a 1-row table", unit: "column", n: 250) { n in
        let table = try Table((0..<n).map { Column("column-\($0)", [Int64($0)]) })
        let names = (0..<n).reversed().map { "column-\($0)" }
        return try timed {
            for _ in 0..<20 { try check(table.selecting(names).columns.count == n) }
        }
    },
    // 6. SpillDictionary: many keys in a small budget, and the usual "if absent, set" loop.
    Workload(name: "spill dictionary: set keys (Int → 64 B), 64 KB budget, read all", unit: "key", n: 1_000) { n in
        try SpillDictionary<Int, [UInt8]>.withTemporary(memoryBudget: .kilobytes(64)) { d in
            let value = [UInt8](repeating: 9, count: 64)
            return try timed {
                for k in 0..<n { try d.set(value, for: k) }
                for k in 0..<n { try check(d.value(for: k) != nil) }
            }
        }
    },
    Workload(name: "spill dictionary: n keys flushed, then if !contains(k) { set(k) } n more", unit: "key", n: 1_000) { n in
        try SpillDictionary<Int, Int>.withTemporary { d in
            for k in 0..<n { try d.set(k, for: k) }
            try d.flush()
            usleep(200_000)  // the index settles (SpillDictionary reads it again while it is under 100 ms old)
            return try timed {
                for k in n..<(2 * n) where try !d.contains(k) { try d.set(k, for: k) }
                try check(d.keys().count == 2 * n)
            }
        }
    },
    // 7. DatasetDirectory: many entries with metadata (written untimed: each write is two fsynced renames),
    // then listed, each one's metadata and data size read, and each deleted.
    Workload(name: "dataset directory: names(), metadata() + stat() each, delete each", unit: "entry", n: 625) { n in
        let path = String(cString: getenv("TMPDIR") ?? strdup("/tmp")) + "/partd-bench-dirdb-\(getpid())-\(n)"
        defer { try? PartdPath.destroy(path) }
        let db = try DatasetDirectory(path: path)
        for i in 0..<n { try db.entry("run-\(i)").write([i], metadata: ["i": .integer(Int64(i))]) }
        return try timed {
            try check(db.names().count == n)
            for entry in try db.entries() { try check(entry.metadata()["i"] != nil && entry.stat() != nil) }
            for entry in try db.entries() { try entry.delete() }
            try check(db.names().isEmpty)
        }
    },
    Workload(name: "spill dictionary: if !contains(k) { set(k) }, 1 GB budget", unit: "key", n: 1_000) { n in
        try SpillDictionary<Int, Int>.withTemporary { d in
            try timed {
                for k in 0..<n where try !d.contains(k) { try d.set(k, for: k) }
                try check(d.keys().count == n)
            }
        }
    },
]

var only: String?
var scale = 1.0
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--only": only = arguments.next()
    case "--scale": scale = Double(arguments.next() ?? "") ?? 1
    default:
        print("usage: partd-bench-scaling [--only NAME] [--scale S]")
        exit(2)
    }
}

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? fill + s : s + fill
}

func format(_ x: Double, _ digits: Int) -> String {
    var out = String(Int((x * pow(10, Double(digits))).rounded()))
    if digits > 0 {
        while out.count <= digits { out = "0" + out }
        out.insert(".", at: out.index(out.endIndex, offsetBy: -digits))
    }
    return out
}

print("partd-bench-scaling: each workload at N, 4N, 16N; ratio = time(16N) / time(N), 16 is linear, 256 quadratic")
print("machine: \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores")
print(pad("workload", 66) + pad("N", 9, left: true) + pad("seconds", 10, left: true) + pad("per item", 14, left: true) + "  ratio")
let start = now()
for workload in workloads where only.map({ workload.name.contains($0) }) ?? true {
    let base = max(1, Int(Double(workload.n) * scale))
    var times: [Double] = []
    for n in [base, 4 * base, 16 * base] {
        let seconds = try workload.run(n)
        times.append(seconds)
        let perItem = seconds / Double(n) * 1e6
        var line = pad(workload.name, 66) + pad(String(n), 9, left: true) + pad(format(seconds, 3), 10, left: true)
        line += pad(format(perItem, 2) + " µs/" + workload.unit, 14 + workload.unit.count + 1, left: true)
        if n == 16 * base { line += "  " + format(times[2] / times[0], 1) }
        print(line)
        fflush(nil)
    }
}
print("total \(format(now() - start, 1)) s")
