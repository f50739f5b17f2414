// swift-tools-version:6.0
// Session Error Ledger: an OICP 2.3 charging-notification system of record.
// Dependencies point inward: error-ledger -> API -> HTTPServer (which knows nothing of the ledger) and
// API -> Ingestion/Projections/Forwarding -> EventStore -> Postgres -> CLibPQ,
// and Ingestion/Projections/Forwarding/EventStore -> Ledger -> OICP. OICP and Ledger do no I/O.
// Each target declares exactly the modules it imports. Only EventStore (and db/) touches ledger.events.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "error-ledger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "error-ledger", targets: ["error-ledger"]),
        .executable(name: "error-ledger-bench", targets: ["error-ledger-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // <sys/epoll.h> and <sys/eventfd.h>, which Glibc's overlay does not export.
        .target(name: "CEpoll"),
        // libcurl (apt libcurl4-openssl-dev) behind a few non-variadic C functions.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        // Forwarding to Hubject: the mutual-TLS transport, outcome rules, pacing, the forwarder,
        // and the delivery queries the API and CLI share.
        .target(
            name: "Forwarding",
            dependencies: [
                "CCurl", "JSON", "OICP", "Ledger", "EventStore", "Postgres", .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // The HTTP/1.1 server: sockets, event loop, parser, limits. Knows nothing of the ledger.
        .target(
            name: "HTTPServer",
            dependencies: ["CEpoll", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "Postgres",
            dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // A strict JSON parser (duplicate keys, depth and size limits, exact number text) and JSON values.
        .target(name: "JSON", swiftSettings: strict),
        .target(name: "OICP", dependencies: ["JSON"], swiftSettings: strict),
        // SplitMix64: generated archives and randomized tests, the same every run.
        .target(name: "SeededRandom", swiftSettings: strict),
        // What the CLI and the benchmark binary share: database options, LEDGER_* variables.
        .target(
            name: "CLISupport",
            dependencies: [
                "JSON", "Postgres", .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Ledger",
            dependencies: ["JSON", "OICP", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "EventStore",
            dependencies: [
                "Postgres", "Ledger", "JSON", "OICP", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Projections",
            dependencies: ["EventStore", "Postgres", "Ledger", "JSON", "OICP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The REST API: OICP ingest, /v1 reads, exports, live feed, health, metrics, bearer tokens.
        .target(
            name: "API",
            dependencies: [
                "Forwarding",
                "HTTPServer", "Postgres", "EventStore", "Projections", "Ingestion", "Ledger", "JSON", "OICP",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Ingestion",
            dependencies: ["EventStore", "Postgres", "Ledger", "JSON", "OICP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "error-ledger",
            dependencies: [
                "CLISupport", "CEpoll", "Postgres", "JSON", "OICP", "Ledger", "EventStore", "Ingestion", "Projections", "HTTPServer", "API", "Forwarding",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The benchmark commands, out of the production binary (deploy/bench-* run them).
        .executableTarget(
            name: "error-ledger-bench",
            dependencies: [
                "CLISupport", "SeededRandom", "EventStore", "Ingestion", "Ledger", "Postgres", "Projections",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Test-only helpers: a fresh database per suite, cloned from the migrated template.
        .target(name: "TestSupport", dependencies: ["Postgres", "HTTPServer", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport", swiftSettings: strict),
        // The fake Hubject (mutual TLS), apart, so test targets that do not forward do not link libcurl.
        .target(name: "HubjectTestSupport", dependencies: ["Forwarding", "TestSupport"], path: "Tests/HubjectTestSupport", swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "OICPTests", dependencies: ["JSON", "OICP"], swiftSettings: strict),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "APITests",
            dependencies: [
                "API", "Forwarding", "HTTPServer", "Ingestion", "Projections", "EventStore", "Postgres", "JSON", "OICP", "TestSupport",
                "HubjectTestSupport",
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "JSON", "OICP", "SeededRandom"], swiftSettings: strict),
        .testTarget(
            name: "ForwardingTests",
            dependencies: ["Forwarding", "OICP", "Ingestion", "EventStore", "Postgres", "Ledger", "TestSupport", "HubjectTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EventStoreTests",
            dependencies: ["EventStore", "Postgres", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: ["Projections", "JSON", "Ingestion", "EventStore", "Postgres", "Ledger", "OICP", "SeededRandom", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IngestionTests",
            dependencies: ["Ingestion", "EventStore", "Postgres", "Ledger", "JSON", "OICP", "TestSupport"],
            swiftSettings: strict
        ),
        // libFuzzer targets, run by deploy/fuzz (built with the fuzzer and address sanitizers and -DFUZZING).
        // In a normal build each is a tool that replays input files through the same checks.
        .target(name: "FuzzSupport", dependencies: ["SeededRandom"], swiftSettings: strict),
        .executableTarget(name: "FuzzHTTPRequestParser", dependencies: ["FuzzSupport", "HTTPServer"], swiftSettings: strict),
        .executableTarget(name: "FuzzNotificationValidator", dependencies: ["FuzzSupport", "JSON", "OICP"], swiftSettings: strict),
        .executableTarget(
            name: "FuzzQueryParameters",
            dependencies: ["FuzzSupport", "API", "EventStore", "Forwarding", "HTTPServer", "JSON", "OICP", "Projections"],
            swiftSettings: strict
        ),
        .executableTarget(name: "FuzzReadCursor", dependencies: ["FuzzSupport", "EventStore", "HTTPServer"], swiftSettings: strict),
    ]
)
