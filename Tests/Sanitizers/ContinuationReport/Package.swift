// swift-tools-version: 6.0
// The evidence for the one ThreadSanitizer suppression (../tsan.supp): a correct program, using only
// the standard library's continuations and pthread mutexes (which ThreadSanitizer sees), that
// ThreadSanitizer reports anyway. Run by ../tsan.sh before it trusts the suppression.
import PackageDescription

let package = Package(
    name: "ContinuationReport",
    targets: [.executableTarget(name: "ContinuationReport")],
    swiftLanguageModes: [.v6]
)
