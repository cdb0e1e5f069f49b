// swift-tools-version: 6.1
import CompilerPluginSupport
import PackageDescription

// scripts/sanitize.sh sets PARTD_WITHOUT_MACROS=1: the tests it runs under a sanitizer need neither the
// @MessagePackRecord macro nor swift-syntax, whose build would cost CI minutes a second time.
let withoutMacros = Context.environment["PARTD_WITHOUT_MACROS"] == "1"

let package = Package(
    name: "swift-partd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Partd", targets: ["Partd"]),
        .library(name: "PartdCompression", targets: ["PartdCompression"]),
        .library(name: "PartdTyped", targets: ["PartdTyped"]),
        .library(name: "PartdRecords", targets: ["PartdRecords"]),
        .library(name: "PartdShuffle", targets: ["PartdShuffle"]),
        .library(name: "PartdServer", targets: ["PartdServer"]),
        .library(name: "PartdCompanions", targets: ["PartdCompanions"]),
        .library(name: "PartdRedis", targets: ["PartdRedis"]),
        .executable(name: "partd", targets: ["partd"]),
        .executable(name: "shuffle-groupby-demo", targets: ["shuffle-groupby-demo"]),
        .executable(name: "typed-arrays", targets: ["typed-arrays"]),
        .executable(name: "server-workers", targets: ["server-workers"]),
        .executable(name: "redis-shuffle", targets: ["redis-shuffle"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ] + (withoutMacros ? [] : [
        .package(url: "https://github.com/swiftlang/swift-syntax", "602.0.0"..<"604.0.0"),
    ]),
    targets: [
        // The byte-store core: toolchain only (Swift stdlib, Synchronization, Glibc).
        .target(name: "Partd"),
        // C codec libraries from Debian's -dev packages (scripts/setup.sh installs them); never vendored.
        .systemLibrary(name: "CPartdZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPartdSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CPartdBlosc", pkgConfig: "blosc", providers: [.apt(["libblosc-dev"])]),
        .systemLibrary(name: "CPartdBZip2", providers: [.apt(["libbz2-dev"])]),
        .systemLibrary(name: "CPartdZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CPartdLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CPartdXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        // Compression codecs and the generic encoding layer: one file of C calls per library.
        .target(
            name: "PartdCompression",
            dependencies: [
                "Partd", "CPartdZlib", "CPartdSnappy", "CPartdBlosc", "CPartdBZip2", "CPartdZstd", "CPartdLZ4",
                "CPartdXXHash",
            ]
        ),
        // Typed encoders: numeric and string arrays, columnar tables, lists of Codable values.
        .target(name: "PartdTyped", dependencies: ["Partd", "PartdCompression"]),
        // @MessagePackRecord, which writes a Codable struct's MessagePackRecord members. A module of its own, so
        // that only code using the macro builds swift-syntax (minutes in release mode).
        .macro(
            name: "PartdRecordMacros",
            dependencies: [
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftDiagnostics", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            ]
        ),
        .target(name: "PartdRecords", dependencies: ["PartdTyped", "PartdRecordMacros"]),
        // The shuffle driver: stable partition hash, parallel hash partitioning, out-of-core groupby.
        .target(name: "PartdShuffle", dependencies: ["Partd", "PartdCompression", "PartdTyped"]),
        // Server and client over SwiftNIO: one store shared by many processes.
        .target(
            name: "PartdServer",
            dependencies: [
                "Partd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A store on Redis Cluster (hiredis from Debian's libhiredis-dev) and the multi-host shuffle's coordinator.
        .systemLibrary(name: "CPartdHiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "PartdRedis", dependencies: ["Partd", "PartdShuffle", "CPartdHiredis"]),
        // Companions: a dictionary that spills to disk (chest) and a directory of named datasets (dirdb).
        .target(name: "PartdCompanions", dependencies: ["Partd", "PartdCompression", "PartdTyped"]),
        // The `partd` command's CSV reading and writing (a module of its own so that the tests reach them).
        .target(name: "PartdCSV", dependencies: ["Partd", "PartdCompression", "PartdTyped"]),
        // The `partd` command.
        .executableTarget(
            name: "partd",
            dependencies: [
                "Partd", "PartdCompression", "PartdTyped", "PartdShuffle", "PartdServer", "PartdCSV",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "shuffle-groupby-demo",
            dependencies: ["Partd", "PartdCompression", "PartdTyped", "PartdShuffle"],
            path: "Examples/shuffle-groupby-demo",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "typed-arrays",
            dependencies: ["Partd", "PartdCompression", "PartdTyped"],
            path: "Examples/typed-arrays",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "server-workers",
            dependencies: ["Partd", "PartdServer"],
            path: "Examples/server-workers",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "format-samples",
            dependencies: ["Partd", "PartdCompression", "PartdTyped", "PartdShuffle"],
            path: "Tests/Interop/format-samples"
        ),
        .executableTarget(
            name: "redis-shuffle",
            dependencies: ["Partd", "PartdTyped", "PartdShuffle", "PartdRedis"],
            path: "Examples/redis-shuffle",
            exclude: ["README.md"]
        ),
        // Record format and helpers shared by the tests and the worker process.
        .target(
            name: "PartdTestSupport",
            dependencies: ["Partd", "PartdCompression", "PartdTyped"],
            path: "Tests/PartdTestSupport"
        ),
        // Benchmarks (run with Benchmarks/run-w1.sh and run-w2.sh, which build them in release mode).
        .target(name: "BenchmarkSupport", path: "Benchmarks/Support"),
        .executableTarget(
            name: "partd-bench-w1",
            dependencies: ["Partd", "BenchmarkSupport"],
            path: "Benchmarks/W1"
        ),
        .executableTarget(
            name: "partd-bench-w2",
            dependencies: ["Partd", "PartdCompression", "BenchmarkSupport"],
            path: "Benchmarks/W2"
        ),
        .executableTarget(
            name: "partd-bench-typed",
            dependencies: ["Partd", "PartdCompression", "PartdTyped", "PartdRecords", "BenchmarkSupport"],
            path: "Benchmarks/Typed"
        ),
        .executableTarget(
            name: "partd-bench-join",
            dependencies: ["Partd", "PartdTyped", "PartdShuffle", "BenchmarkSupport"],
            path: "Benchmarks/Join"
        ),
        .executableTarget(
            name: "partd-bench-arrow",
            dependencies: ["PartdTyped", "BenchmarkSupport"],
            path: "Benchmarks/Arrow"
        ),
        .executableTarget(
            name: "partd-bench-spill",
            dependencies: ["Partd", "PartdCompanions", "BenchmarkSupport"],
            path: "Benchmarks/Spill"
        ),
        .executableTarget(
            name: "partd-bench-server",
            dependencies: ["Partd", "PartdServer", "BenchmarkSupport"],
            path: "Benchmarks/Server"
        ),
        .executableTarget(
            name: "partd-bench-redis",
            dependencies: ["Partd", "PartdTyped", "PartdShuffle", "PartdRedis", "BenchmarkSupport"],
            path: "Benchmarks/Redis"
        ),
        .executableTarget(
            name: "partd-bench-scaling",
            dependencies: [
                "Partd", "PartdCompression", "PartdTyped", "PartdShuffle", "PartdServer", "PartdCompanions",
                "BenchmarkSupport",
            ],
            path: "Benchmarks/Scaling"
        ),
        // Heap allocations per unit of work on the hot paths (Benchmarks/run-allocs.sh runs it under DHAT).
        .executableTarget(
            name: "partd-bench-allocs",
            dependencies: ["Partd", "PartdCompression", "PartdTyped", "PartdShuffle", "PartdServer", "BenchmarkSupport"],
            path: "Benchmarks/Allocs"
        ),
        // A worker process the multi-process tests start several times.
        .executableTarget(
            name: "partd-test-worker",
            dependencies: ["Partd", "PartdServer", "PartdCompanions", "PartdShuffle", "PartdTyped", "PartdRedis", "PartdTestSupport"],
            path: "Tests/Workers/partd-test-worker"
        ),
        .testTarget(
            name: "PartdRecordsTests",
            dependencies: [
                "PartdRecords", "PartdRecordMacros",
                .product(name: "SwiftSyntax", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacroExpansion", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacrosGenericTestSupport", package: "swift-syntax"),
            ]
        ),
        .testTarget(
            name: "PartdTests",
            dependencies: ["Partd", "PartdCompression", "PartdTyped", "PartdShuffle", "PartdServer", "PartdCompanions", "PartdRedis", "PartdTestSupport", "PartdCSV", "partd", "partd-test-worker", "shuffle-groupby-demo", "typed-arrays", "server-workers", "redis-shuffle", "format-samples"],
            // Files written by earlier versions, which every later version must read (Golden/README.md).
            resources: [.copy("Golden")]
        ),
    ]
)

if withoutMacros {
    let macroTargets: Set = ["PartdRecordMacros", "PartdRecords", "PartdRecordsTests", "partd-bench-typed"]
    package.targets.removeAll { macroTargets.contains($0.name) }
    package.products.removeAll { $0.name == "PartdRecords" }
}
