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
        // A worker process the multi-process tests start several times.
        .executableTarget(
            name: "partd-test-worker",
            dependencies: ["Partd"],
            path: "Tests/Workers/partd-test-worker"
        ),
        .testTarget(
            name: "PartdTests",
            dependencies: ["Partd", "partd-test-worker"]
        ),
    ]
)
