// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "sequencer",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Sequencer", targets: ["Sequencer"]),
        .library(name: "SequencerTesting", targets: ["SequencerTesting"]),
        .library(name: "SequencerTransports", targets: ["SequencerTransports"]),
        .library(name: "SequencerPostgres", targets: ["SequencerPostgres"]),
        .library(name: "SequencerPostgresTesting", targets: ["SequencerPostgresTesting"]),
        .library(name: "SequencerDashboard", targets: ["SequencerDashboard"]),
        .executable(name: "sequencer", targets: ["SequencerCommandLineMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already in the graph through PostgresNIO; the core uses its HMAC for callback tokens.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // Tests only: generated hostile input (Tests/SequencerTests/HostileInputPropertyTests.swift).
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        // Already in the graph through Hummingbird; the dashboard names HTTP statuses and fields.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        // Documentation only: `swift package generate-documentation --target Sequencer` (README "Documentation").
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "Sequencer",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SequencerTransports",
            dependencies: [
                "Sequencer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SequencerTesting",
            dependencies: ["Sequencer"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SequencerPostgres",
            dependencies: [
                "Sequencer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SequencerPostgresTesting",
            dependencies: [
                "SequencerPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The operators' web dashboard (README "Dashboard"): Hummingbird routes a host mounts, pages
        // rendered from the Mustache templates in Resources/.
        .target(
            name: "SequencerDashboard",
            dependencies: [
                "Sequencer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
        // The `sequencer` command: every command in a library (tested by running the built binary), a thin main.
        .target(
            name: "SequencerCommandLine",
            dependencies: [
                "Sequencer", "SequencerPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SequencerCommandLineMain",
            dependencies: ["SequencerCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // Not a product: the multi-process test launches it (Tests/SequencerPostgresTests/MultiProcessTests.swift).
        .executableTarget(
            name: "SequencerStressTicker",
            dependencies: [
                "Sequencer",
                "SequencerPostgres",
                "SequencerPostgresTesting",
                // --smtp and --callback-url: the Email and HTTPTask steps, for the zombie and chaos tests.
                "SequencerTransports",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Not a product: `swift run -c release sequencer-bench all` (Benchmarks/; README "Performance").
        .executableTarget(
            name: "sequencer-bench",
            dependencies: [
                "Sequencer",
                "SequencerPostgres",
                "SequencerPostgresTesting",
                // The send scenarios run the Email step through SMTPTransport against aiosmtpd.
                "SequencerTransports",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // The dashboard scenario requests its pages through Hummingbird's router test client.
                "SequencerDashboard",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Benchmarks/sequencer-bench",
            swiftSettings: swiftSettings
        ),
        // The service example (README "Running in a service"): a library, so tests drive its routes, and a thin main.
        .target(
            name: "SignupServiceApp",
            dependencies: [
                "Sequencer", "SequencerPostgres", "SequencerTransports", "SequencerDashboard",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/SignupService/App",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SignupService",
            dependencies: [
                "SignupServiceApp", "SequencerPostgres", "SequencerPostgresTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/SignupService/Main",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "OnboardingDrip",
            dependencies: ["Sequencer", "SequencerTransports", .product(name: "Logging", package: "swift-log")],
            path: "Examples/OnboardingDrip",
            swiftSettings: swiftSettings
        ),
        // "Tell me when it's done" (README "Callbacks and notifications"): runs a command, then mails and texts its result.
        .executableTarget(
            name: "TellMeWhenDone",
            dependencies: [
                "Sequencer", "SequencerPostgres", "SequencerTransports",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/TellMeWhenDone",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SequencerTests",
            dependencies: [
                "Sequencer", "SequencerTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SequencerCommandLineTests",
            dependencies: [
                // They run the `sequencer` binary, which `swift build` and `swift test` build beside them.
                "Sequencer", "SequencerPostgres", "SequencerPostgresTesting",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SequencerPostgresTests",
            dependencies: [
                "Sequencer", "SequencerTesting", "SequencerPostgres", "SequencerPostgresTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SequencerTransportsTests",
            dependencies: [
                "Sequencer", "SequencerTesting", "SequencerTransports", "SequencerPostgres", "SequencerPostgresTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // The host's callback route in the HTTPTask test.
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            exclude: ["Servers"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                // TellMeWhenDone: its tests run the built binary.
                "SignupServiceApp", "Sequencer", "SequencerPostgresTesting", "TellMeWhenDone",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SequencerDashboardTests",
            dependencies: [
                "SequencerDashboard", "Sequencer", "SequencerPostgres", "SequencerPostgresTesting", "SignupServiceApp",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Every Swift example of the README, the DocC articles and the doc comments, compiled
        // (Snippets/), and a test that checks each example has its compiled copy.
        .testTarget(
            name: "DocumentationTests",
            dependencies: [
                "Sequencer", "SequencerTesting", "SequencerTransports", "SequencerPostgres", "SequencerPostgresTesting", "SequencerDashboard",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
