import Glibc
import Platform
import Testing
import TestSupport

/// The README's Swift code: every ```swift block names, in a `// PATH` comment on one of its first two
/// lines, the file of `Tests/Fixtures/Readme` it is, and the newcomer's package made of those files
/// builds and serves the JSON API the README describes.
enum Readme {
    static let fixture = Products.packageRoot + "/Tests/Fixtures/Readme"
    static let files = ["Package.swift", "Sources/shop/shop.swift", "Sources/shop/Live.swift"]

    static func swiftBlocks() throws -> [String] {
        let text = try Files.readString(Products.packageRoot + "/README.md")
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The fixture file a block names, e.g. `Sources/shop/shop.swift`.
    static func path(of block: String) -> String? {
        for line in block.split(separator: "\n").prefix(2) where line.hasPrefix("// ") {
            let words = line.dropFirst(3).split(separator: " ")
            if let first = words.first, first.hasSuffix(".swift") { return String(first) }
        }
        return nil
    }
}

extension Integration {
    @Suite struct ReadmeCode {
        @Test func everySwiftBlockIsAFileTheTestsBuild() throws {
            let blocks = try Readme.swiftBlocks()
            var named: [String] = []
            for block in blocks {
                let path = Readme.path(of: block)
                #expect(path != nil, "a README swift block names no file:\n\(block)")
                guard let path else { continue }
                named.append(path)
                let file = try Files.readString(Readme.fixture + "/" + path)
                #expect(file == block, "README and Tests/Fixtures/Readme/\(path) differ: copy the README block into the file")
            }
            #expect(named.sorted() == Readme.files.sorted())
        }

        /// The README followed literally: the package beside an `arbiter` checkout, `swift build`,
        /// `arbiter shop:application --chdir …`, then the requests it shows.
        @Test func theReadmeApplicationBuildsAndServesItsJSONAPI() throws {
            let directory = try TemporaryDirectory()
            defer { _ = try? ChildProcess(["/bin/rm", "-rf", directory.path]).wait(timeout: 60) }
            let shop = directory.path + "/shop"
            _ = mkdir(shop, 0o755)
            _ = mkdir(shop + "/Sources", 0o755)
            _ = mkdir(shop + "/Sources/shop", 0o755)
            for file in Readme.files {
                let bytes = try Files.read(Readme.fixture + "/" + file)
                let fd = try syscall("open") { open(shop + "/" + file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
                try bytes.withUnsafeBytes { try Descriptor.writeAll(fd, $0) }
                Descriptor.close(fd)
            }
            #expect(symlink(Products.packageRoot, directory.path + "/arbiter") == 0)
            let build = try ChildProcess(["/usr/bin/env", "swift", "build", "--package-path", shop])
            let status = build.wait(timeout: 900)
            #expect(status == 0, "building the README's package failed:\n\(build.output)")
            guard status == 0 else { return }
            #expect(!build.output.contains("warning:"), "the README's package builds with warnings:\n\(build.output)")
            try withServer(["shop:application", "--chdir", shop, "-k", "async", "--reload"]) { server in
                let c = try HTTPConnection(port: server.port)
                #expect(try c.request("GET", "/").text == "Hello")
                let json = ["Content-Type: application/json"]
                let created = try c.request("POST", "/items", headers: json, body: #"{"name": "pen", "price": 1.5}"#)
                #expect(created.status == 201)
                #expect(created.header("Location") == "/items/1")
                #expect(created.header("Content-Type") == "application/json")
                #expect(created.text == #"{"name":"pen","price":1.5}"#)
                let fetched = try c.request("GET", "/items/1")
                #expect(fetched.status == 200)
                #expect(fetched.text.contains(#""price":1.5"#))
                let missing = try c.request("GET", "/items/9")
                #expect(missing.status == 404)
                #expect(missing.text == "no item 9\n")
                #expect(try c.request("GET", "/items/x").status == 400)
                let invalid = try c.request("POST", "/items", headers: json, body: #"{"name": "", "price": 1}"#)
                #expect(invalid.status == 422)
                let incomplete = try c.request("POST", "/items", headers: json, body: #"{"name": "cup"}"#)
                #expect(incomplete.status == 400)
                #expect(incomplete.text == "invalid JSON body: missing field \"price\"\n")
                let form = try c.request("POST", "/items", headers: ["Content-Type: application/x-www-form-urlencoded"], body: "a=1")
                #expect(form.status == 415)
                // The server may close a connection whose body the application left unread.
                let fresh = try HTTPConnection(port: server.port)
                let wrongMethod = try fresh.request("DELETE", "/items/1")
                #expect(wrongMethod.status == 405)
                #expect(wrongMethod.header("Allow") == "GET, HEAD")
                let export = try fresh.request("GET", "/items/export")
                #expect(export.status == 200)
                #expect(export.text == "{\"name\":\"pen\",\"price\":1.5}\n")
                try server.waitForLog("POST /items -> 201")

                // The edit-build-serve loop: edit, `swift build`, and `--reload` serves the new code.
                let source = shop + "/Sources/shop/shop.swift"
                let edited = try Files.readString(source).replacingFirst(#".text("Hello")"#, with: #".text("Hello again")"#)
                let fd = try syscall("open") { open(source, O_WRONLY | O_TRUNC | O_CLOEXEC) }
                try Descriptor.writeAll(fd, edited)
                Descriptor.close(fd)
                let rebuild = try ChildProcess(["/usr/bin/env", "swift", "build", "--package-path", shop])
                #expect(rebuild.wait(timeout: 900) == 0, "rebuilding failed:\n\(rebuild.output)")
                try server.waitForLog("Reload complete: generation 1", timeout: 60)
                try waitUntil { try httpGet(port: server.port, "/").text == "Hello again" }
            }
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }
}
