// swift-tools-version: 6.0
// An application in its own package, as a user writes one: it depends on arbiter for AppProtocol
// only and builds a dynamic library that `arbiter external:application` loads.
import PackageDescription

let package = Package(
    name: "external",
    products: [
        .library(name: "external", type: .dynamic, targets: ["external"]),
    ],
    dependencies: [
        .package(name: "arbiter", path: "../../.."),
    ],
    targets: [
        .target(name: "external", dependencies: [.product(name: "AppProtocol", package: "arbiter")]),
    ],
    swiftLanguageModes: [.v6]
)
