// swift-tools-version: 6.0
// Package.swift of your application, in a directory beside your arbiter checkout
import PackageDescription

let package = Package(
    name: "shop",
    products: [.library(name: "shop", type: .dynamic, targets: ["shop"])],
    dependencies: [.package(name: "arbiter", path: "../arbiter")],
    targets: [.target(name: "shop", dependencies: [.product(name: "AppProtocol", package: "arbiter")])]
)
