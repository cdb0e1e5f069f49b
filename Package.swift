// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-partd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Partd", targets: ["Partd"]),
        .executable(name: "shuffle-groupby-demo", targets: ["shuffle-groupby-demo"]),
    ],
    targets: [
        // The byte-store core: toolchain only (Swift stdlib, Synchronization, Glibc).
        .target(name: "Partd"),
        .executableTarget(
            name: "shuffle-groupby-demo",
            dependencies: ["Partd"],
            path: "Examples/shuffle-groupby-demo"
        ),
        // Record format and helpers shared by the tests and the worker process.
        .target(
            name: "PartdTestSupport",
            dependencies: ["Partd"],
            path: "Tests/PartdTestSupport"
        ),
        // Benchmarks (run with Benchmarks/run-w1.sh, which builds them in release mode).
        .executableTarget(
            name: "partd-bench-w1",
            dependencies: ["Partd"],
            path: "Benchmarks/W1"
        ),
        // A worker process the multi-process tests start several times.
        .executableTarget(
            name: "partd-test-worker",
            dependencies: ["Partd", "PartdTestSupport"],
            path: "Tests/Workers/partd-test-worker"
        ),
        .testTarget(
            name: "PartdTests",
            dependencies: ["Partd", "PartdTestSupport", "partd-test-worker", "shuffle-groupby-demo"]
        ),
    ]
)
