// SPDX-License-Identifier: Apache-2.0
//
// The Arrow IPC workload (`Benchmarks/run-arrow.sh` runs it beside pyarrow): W4's table, 10 million rows of
// id Int64, x Float64 and name (one of 1,000 strings, plain or categorical), written as one Arrow IPC file
// to disk and read back into a Table, --repeat times; the best write and the best read are kept.
//
//   write: Table.writeArrow(.file), each piece written to the file with write(2) as it comes
//   read:  the file read into memory with read(2), then Table(arrow:)
//
//   partd-bench-arrow [--rows N] [--strings plain|categorical] [--compression none|lz4|zstd] [--repeat R] [--dir DIR]
//
// Prints one JSON object: the workload, the file's size, the seconds of each phase and MB/s of file bytes.

import BenchmarkSupport
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

var rows = 10_000_000
var categorical = false
var repeats = 3
var directory = "/tmp"
var compression: Table.ArrowCompression?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rows": rows = Int(arguments.next() ?? "") ?? rows
    case "--strings": categorical = arguments.next() == "categorical"
    case "--repeat": repeats = max(1, Int(arguments.next() ?? "") ?? repeats)
    case "--dir": directory = arguments.next() ?? directory
    case "--compression":
        let name = arguments.next()
        compression = name == "lz4" ? .lz4 : name == "zstd" ? .zstd : nil
    default:
        print("usage: partd-bench-arrow [--rows N] [--strings plain|categorical] [--compression none|lz4|zstd] [--repeat R] [--dir DIR]")
        exit(2)
    }
}

var rng = SplitMix64(state: 42)
let names = (0..<1000).map { "name-\($0)" }
var picks: [String] = []
picks.reserveCapacity(rows)
for _ in 0..<rows { picks.append(names[Int(rng.next() % 1000)]) }
let table = try Table([
    Column("id", (0..<rows).map { Int64($0) }),
    Column("x", (0..<rows).map { _ in Double(rng.next() % 1_000_000) / 1000 }),
    categorical ? Column("name", categorical: CategoricalArray(picks)) : Column("name", strings: StringArray(picks)),
])
picks = []
let path = "\(directory)/partd-bench-arrow-\(getpid()).arrow"
defer { unlink(path) }

/// Writes the table to the file piece by piece as `writeArrow` hands the pieces over; returns the file's size.
@MainActor func writeFile() throws -> Int {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    defer { close(fd) }
    var size = 0
    try table.writeArrow(.file, compression: compression) { piece in
        piece.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                precondition(n > 0, "write failed")
                done += n
            }
        }
        size += piece.count
    }
    return size
}

func readFile() -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "cannot open \(path)")
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    let size = Int(st.st_size)
    return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        var done = 0
        while done < size {
            let n = read(fd, buffer.baseAddress! + done, size - done)
            precondition(n > 0, "read failed")
            done += n
        }
        count = size
    }
}

var bestWrite = Double.infinity
var bestRead = Double.infinity
var size = 0
for _ in 0..<repeats {
    var start = now()
    size = try writeFile()
    bestWrite = min(bestWrite, now() - start)
    start = now()
    let back = try Table(arrow: readFile())
    bestRead = min(bestRead, now() - start)
    precondition(back.rowCount == rows && back == table, "the table read back differs")
}
let mb = Double(size) / 1e6
print("""
    {"impl": "swift-partd", "workload": "arrow-ipc", "strings": "\(categorical ? "categorical" : "plain")", \
    "compression": "\(compression.map { $0 == .lz4 ? "lz4" : "zstd" } ?? "none")", \
    "rows": \(rows), "file_mb": \(mb), "write_s": \(bestWrite), "read_s": \(bestRead), \
    "write_mb_s": \(mb / bestWrite), "read_mb_s": \(mb / bestRead)}
    """)
