// swift-tools-version:6.1
// Compiles the README's Vapor snippet against Vapor 4 and Fluent (README "With Vapor"). Not part of
// the main package, so hosts without Vapor never resolve it:
//   swift build --package-path Examples/VaporIntegration
import PackageDescription

let package = Package(
    name: "VaporIntegration",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "sequencer", path: "../.."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
    ],
    targets: [
        .target(
            name: "VaporIntegration",
            dependencies: [
                .product(name: "Sequencer", package: "sequencer"),
                .product(name: "SequencerPostgres", package: "sequencer"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
            ]
        ),
    ]
)
