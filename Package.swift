// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Logbook",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "logbook", targets: ["logbook"]),
        .library(name: "EventStore", targets: ["EventStore"]),
        .library(name: "Events", targets: ["Events"]),
        .library(name: "Projections", targets: ["Projections"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Server", targets: ["Server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", exact: "1.1.4"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        // Traces: the API the engine and the server instrument with, and the OTLP/HTTP exporter `serve` sends them
        // through (only its HTTP trait: the gRPC one would build gRPC and HTTP/2 for nothing).
        .package(url: "https://github.com/apple/swift-distributed-tracing", exact: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel", exact: "1.6.0", traits: ["OTLPHTTP"]),
        // `/metrics`: the Prometheus exposition of a registry whose collectors implement swift-metrics' handlers.
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // Ed25519 for signed checkpoints (already built for postgres-nio, so it costs the build nothing more).
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
    ],
    targets: [
        // C libraries from Debian's -dev packages. Only EventStore imports these.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CHashing", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // The generic append-only log. Deliberately free of NIO/HTTP so it builds and tests in seconds.
        .target(name: "EventStore", dependencies: ["CLMDB", "CZstd", "CHashing"]),

        // The same log shared by several servers on PostgreSQL: appends serialized on the log's head row, each server's
        // own LMDB copy following it. The only target with postgres-nio.
        .target(
            name: "PostgresLog",
            dependencies: [
                "EventStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The domain vocabulary: one type per event kind, binary payloads, JSON at the edges.
        .target(name: "Events", dependencies: ["EventStore"]),

        // The OpenAI Chat Completions JSON, for the engine's client, the server's compatible endpoint, the demo and the
        // benchmarks alike.
        .target(name: "OpenAIWire", dependencies: ["Events"]),

        // Read models: pure folds of the log, with checkpoints, time travel and indexed audit queries.
        .target(name: "Projections", dependencies: ["EventStore", "Events"]),

        // Signed checkpoints of the log's head: C2SP signed notes with Ed25519, the signing job, and the check that a log
        // still extends a checkpoint.
        .target(
            name: "Checkpoints",
            dependencies: ["EventStore", "Events", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // Signature checks for JWT (HMAC, RSA, ECDSA) over libcrypto, which the event store already links.
        .target(name: "CCrypto", linkerSettings: [.linkedLibrary("crypto")]),

        // The agent runtime: LLM providers, MCP tools, authorization; everything it does is appended to the log.
        // The only target with HTTP (AsyncHTTPClient, NIO): the store, events and projections build without it.
        .target(
            name: "Engine",
            dependencies: [
                "EventStore", "Events", "Projections", "CCrypto", "OpenAIWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The spans of runs (`GenAISpans`): the API only; `serve` plugs in the exporter.
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The HTTP API (Hummingbird): chat with streaming, threads and events, health; one buildApplication for the
        // CLI and the tests.
        .target(
            name: "Server",
            dependencies: [
                "Engine", "EventStore", "Events", "Projections", "OpenAIWire", "Checkpoints",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                // AsyncChannel: streamed answers written with back-pressure (a run waits for its slow reader).
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The web page's HTML, CSS and JavaScript modules, compiled into the binary (`WebAssets`).
            resources: [.embedInCode("Web/page")]
        ),

        // An OpenAI-compatible model on loopback that answers as scripted (NIO, real SSE): the tests' model server, the
        // benchmarks' and the demo's.
        .target(
            name: "LoopbackModel",
            dependencies: [
                "OpenAIWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // A seeded generator of realistic domain activity, for tests and `logbook bench projections`.
        .target(name: "EventsWorkload", dependencies: ["Events"]),

        // The event generator of ../shared/bench/limits/limits.c, so `logbook bench store` measures the same bytes.
        .target(name: "CWorkload"),

        // What the CLI's commands share with the benchmarks' (options, failures, a progress line).
        .target(
            name: "CommandSupport",
            dependencies: [
                "EventStore", "Events", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // The OTLP exporter `serve`, `traces` and `bench http` install (`Telemetry`).
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // `logbook bench`: the benchmarks, apart from the production commands; the only user of the C workload.
        .target(
            name: "LogbookBench",
            dependencies: [
                "CommandSupport", "EventStore", "CWorkload", "Events", "EventsWorkload", "Projections", "Engine",
                "Server", "OpenAIWire", "LoopbackModel", "PostgresLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .executableTarget(
            name: "logbook",
            dependencies: [
                "CommandSupport", "LogbookBench", "EventStore", "Events", "Projections", "Engine", "Server",
                "OpenAIWire", "LoopbackModel", "PostgresLog", "Checkpoints",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // The OTLP exporter of `serve --otlp-endpoint` (only here: the libraries use the tracing API).
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),

        // Appends under load and prints each acknowledgement; the crash tests SIGKILL it.
        .executableTarget(name: "StoreCrashHelper", dependencies: ["EventStore"]),
        // Catches projections up with frequent checkpoints; the restart test SIGKILLs it mid-way.
        .executableTarget(name: "ProjectionCrashHelper", dependencies: ["Projections"]),

        .testTarget(
            name: "EventStoreTests", dependencies: ["EventStore", "PostgresLog", "LogbookTestSupport", "StoreCrashHelper"]
        ),
        .testTarget(name: "EventsTests", dependencies: ["Events", "EventsWorkload"]),
        .testTarget(
            name: "ProjectionsTests", dependencies: ["Projections", "EventsWorkload", "ProjectionCrashHelper"]),
        // Test helpers shared by the engine's and the server's tests: the wire bodies a real server sends, built
        // independently of the product's wire types (a test peer sharing the client's types could not catch a mistake
        // both make), and the loopback model server.
        .target(
            name: "LogbookTestSupport",
            dependencies: [
                "LoopbackModel", "EventStore", "PostgresLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/LogbookTestSupport"
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Engine", "EventStore", "Events", "LogbookTestSupport", "PostgresLog", "Checkpoints",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Fixtures"]  // the official `openai` client the live test runs, found by #filePath
        ),
        // Talks to real peers: an OpenAI-compatible server written for the tests (NIO, real SSE), real MCP servers.
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "Engine", "EventsWorkload", "EventStore", "Events", "Projections", "CHashing", "LogbookTestSupport",
                "OpenAIWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Fixtures"]  // scripts the tests run (misbehaving MCP servers, token minting), found by #filePath
        ),
    ]
)
