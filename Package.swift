// swift-tools-version: 6.0
import PackageDescription

// Dependencies point one way:
//   ArbiterABI (C), HTTP1 (pure) ← AppProtocol ← apps (Examples/*, your package)
//   CArbiter (C) ← Platform ← Configuration, AppLoader, HTTP1 (pure) ← Worker, Arbiter ← ArbiterCLI (`arbiter`)
//   Supervision (the master↔worker contract, no dependencies) ← Configuration, Worker, Arbiter, ArbiterCLI
//   COpenSSL (C, OpenSSL 3 by dlopen) ← TLS (I/O-free sessions over memory BIOs) ← Configuration, Worker, Arbiter
//   CZlib (C, loads libz.so.1 at run time) ← WebSocket (pure protocol layer, no I/O) ← Worker
// Arbiter (the master) never imports Worker; only the executable links both.
let package = Package(
    name: "arbiter",
    products: [
        .executable(name: "arbiter", targets: ["ArbiterCLI"]),
        .library(name: "AppProtocol", targets: ["AppProtocol"]),
        .library(name: "hello", type: .dynamic, targets: ["hello"]),
        .library(name: "hellosync", type: .dynamic, targets: ["hellosync"]),
        .library(name: "todos", type: .dynamic, targets: ["todos"]),
        .library(name: "chat", type: .dynamic, targets: ["chat"]),
        .library(name: "fixtures", type: .dynamic, targets: ["fixtures"]),
    ],
    targets: [
        .target(name: "ArbiterABI"),
        .target(name: "CArbiter"),
        .target(name: "AppProtocol", dependencies: ["ArbiterABI", "HTTP1"]),
        .target(name: "HTTP1"),
        .target(name: "COpenSSL"),
        .target(name: "TLS", dependencies: ["COpenSSL", "Platform"]),
        .target(name: "CZlib"),
        .target(name: "WebSocket", dependencies: ["CZlib"]),
        .target(name: "Platform", dependencies: ["CArbiter"]),
        .target(name: "Supervision"),
        .target(name: "Configuration", dependencies: ["Platform", "HTTP1", "Supervision", "TLS"]),
        .target(name: "AppLoader", dependencies: ["ArbiterABI", "Platform"]),
        .target(
            name: "Worker", dependencies: ["ArbiterABI", "CArbiter", "Platform", "Configuration", "AppLoader", "HTTP1", "Supervision", "TLS", "WebSocket"],
            // Each connection is owned by one thread (docs/connection-core.md), so the run-time
            // exclusivity checks on its class properties only cost time on every request.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .target(name: "Arbiter", dependencies: ["CArbiter", "Platform", "Configuration", "AppLoader", "Supervision", "TLS"]),
        .executableTarget(name: "ArbiterCLI", dependencies: ["Arbiter", "Worker", "Configuration", "Platform", "Supervision"]),
        .target(name: "hello", dependencies: ["AppProtocol"], path: "Examples/hello"),
        .target(name: "hellosync", dependencies: ["AppProtocol"], path: "Examples/hellosync"),
        .target(name: "todos", dependencies: ["AppProtocol"], path: "Examples/todos"),
        .target(name: "chat", dependencies: ["AppProtocol"], path: "Examples/chat"),
        .target(name: "fixtures", dependencies: ["AppProtocol", "ArbiterABI"], path: "Tests/Fixtures/fixtures"),
        .target(name: "TestSupport", dependencies: ["Platform", "CArbiter"], path: "Tests/TestSupport"),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "COpenSSL", "TestSupport"]),
        .testTarget(name: "WebSocketTests", dependencies: ["WebSocket", "TestSupport"]),
        .testTarget(name: "AppProtocolTests", dependencies: ["AppProtocol", "TestSupport"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration", "Platform", "TLS"]),
        .testTarget(name: "SupervisionTests", dependencies: ["Supervision"]),
        .testTarget(name: "ArbiterTests", dependencies: ["Arbiter", "AppLoader", "Supervision"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "AppLoader", "AppProtocol", "ArbiterABI", "CArbiter", "Configuration", "HTTP1", "Platform"]),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport", "Platform"]),
    ],
    swiftLanguageModes: [.v6]
)
