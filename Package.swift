// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Logbook",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "logbook", targets: ["logbook"]),
        .library(name: "EventStore", targets: ["EventStore"]),
        .library(name: "Events", targets: ["Events"]),
        .library(name: "Projections", targets: ["Projections"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // C libraries from Debian's -dev packages. Only EventStore imports these.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CHashing", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // The generic append-only log. Deliberately free of NIO/HTTP so it builds and tests in seconds.
        .target(name: "EventStore", dependencies: ["CLMDB", "CZstd", "CHashing"]),

        // The domain vocabulary: one type per event kind, binary payloads, JSON at the edges.
        .target(name: "Events", dependencies: ["EventStore"]),

        // Read models: pure folds of the log, with checkpoints, time travel and indexed audit queries.
        .target(name: "Projections", dependencies: ["EventStore", "Events"]),

        // A seeded generator of realistic domain activity, for tests and `logbook bench projections`.
        .target(name: "EventsWorkload", dependencies: ["Events"]),

        // The event generator of ../shared/bench/limits/limits.c, so `logbook bench store` measures the same bytes.
        .target(name: "CWorkload"),

        .executableTarget(
            name: "logbook",
            dependencies: [
                "EventStore", "CWorkload", "Events", "EventsWorkload", "Projections",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Appends under load and prints each acknowledgement; the crash tests SIGKILL it.
        .executableTarget(name: "StoreCrashHelper", dependencies: ["EventStore"]),
        // Catches projections up with frequent checkpoints; the restart test SIGKILLs it mid-way.
        .executableTarget(name: "ProjectionCrashHelper", dependencies: ["Projections"]),

        .testTarget(name: "EventStoreTests", dependencies: ["EventStore", "StoreCrashHelper"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "EventsWorkload"]),
        .testTarget(name: "ProjectionsTests", dependencies: ["Projections", "EventsWorkload", "ProjectionCrashHelper"]),
    ]
)
