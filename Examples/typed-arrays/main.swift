// SPDX-License-Identifier: Apache-2.0
//
// Appending typed arrays per partition and reading each partition back whole,
// as an ML or pipeline job does: every step appends a Float32 feature matrix
// (rows × 4) and Int64 labels to its partition, compressed with Blosc; at the
// end each partition reads back as one matrix, its shape and type checked.
//
//   typed-arrays [--partitions P] [--steps S] [--rows-per-step N] [--dir PATH]

import Partd
import PartdCompression
import PartdTyped

#if canImport(Glibc)
import Glibc
#endif

var partitions = 8, steps = 50, rowsPerStep = 2_000
var directory: String? = nil
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--partitions": partitions = Int(arguments.next() ?? "") ?? partitions
    case "--steps": steps = Int(arguments.next() ?? "") ?? steps
    case "--rows-per-step": rowsPerStep = Int(arguments.next() ?? "") ?? rowsPerStep
    case "--dir": directory = arguments.next()
    default:
        print("usage: typed-arrays [--partitions P] [--steps S] [--rows-per-step N] [--dir PATH]")
        exit(argument == "--help" || argument == "-h" ? 0 : 2)
    }
}

do {
    let disk = try directory.map { try DirectoryStore(path: $0) } ?? DirectoryStore.temporary()
    // Blosc with a 4-byte type size shuffles Float32 bytes before LZ4: features compress well.
    let store = ArrayStore(over: CompressedStore(.blosc(BloscSettings(typeSize: 4)), over: disk))
    var state: UInt64 = 42
    func random() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 33
    }
    var expectedRows = [Int](repeating: 0, count: partitions)
    for step in 0..<steps {
        var batch: [(key: PartdKey, value: NDArray<Float>)] = []
        var labels: [(key: PartdKey, value: NDArray<Int64>)] = []
        for p in 0..<partitions {
            let rows = rowsPerStep / partitions
            let features = (0..<(rows * 4)).map { i in Float(i % 4) + Float(random() % 100) / 100 }
            batch.append((PartdKey.tuple("features", PartdKey(p)), try NDArray(features, shape: [rows, 4])))
            labels.append((PartdKey.tuple("labels", PartdKey(p)), NDArray((0..<rows).map { _ in Int64(step) })))
            expectedRows[p] += rows
        }
        try store.append(batch)
        try store.append(labels)
    }
    var ok = true
    for p in 0..<partitions {
        let features = try store.get(.tuple("features", PartdKey(p)), as: NDArray<Float>.self)
        let labels = try store.get(.tuple("labels", PartdKey(p)), as: NDArray<Int64>.self)
        let good = features.shape == [expectedRows[p], 4] && labels.count == expectedRows[p]
        ok = ok && good
        print("partition \(p): features \(features.shape) \(features.dtype.numpy), labels \(labels.count) \(labels.dtype.numpy)\(good ? "" : "  MISMATCH")")
    }
    // Appending a different element type or row shape to a partition is refused, naming both.
    do {
        try store.append([(key: PartdKey.tuple("features", 0), value: try NDArray([1.0, 2.0], shape: [1, 2]))])
        ok = false
    } catch let error as PartdError {
        print("refused as expected: \(error.message)")
    }
    let bytes = try disk.keys().reduce(0) { $0 + (try disk.byteCount(of: $1)) }
    print("\(partitions * 2) keys, \(ByteCount(bytes: bytes)) on disk in \(disk.path): \(ok ? "OK" : "MISMATCH")")
    if directory == nil { try disk.close() }
    exit(ok ? 0 : 1)
} catch {
    print("typed-arrays: \(error)")
    exit(1)
}
