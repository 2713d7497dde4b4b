@testable import AppProtocol
import ArbiterABI
import Testing

/// `Request(copying:)`: a request's C view becomes one object holding its line, peer and body
/// and, after them, its header fields (`Headers.Received`).
@Suite struct RequestCopyingTests {
    /// Runs `body` with a C view of a request whose fields are `spans` of `head` (offsets and
    /// lengths of name and value), from 10.0.0.7:4242 to 127.0.0.1:8000 over https.
    static func withView<R>(_ head: String, _ spans: [(Int, Int, Int, Int)], certificate: String = "",
                            _ body: (arbiter_request) -> R) -> R {
        let bytes = Array(head.utf8), remote = Array("10.0.0.7".utf8), local = Array("127.0.0.1".utf8)
        let scheme = Array("https".utf8), subject = Array(certificate.utf8), issuer = Array("CN=Test CA".utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            func view(_ start: Int, _ count: Int) -> arbiter_bytes { arbiter_bytes(base: buffer.baseAddress! + start, length: count) }
            let fields = spans.map { arbiter_header(name: view($0.0, $0.1), value: view($0.2, $0.3)) }
            return fields.withUnsafeBufferPointer { fields in
                remote.withUnsafeBufferPointer { remote in
                    local.withUnsafeBufferPointer { local in
                        scheme.withUnsafeBufferPointer { scheme in
                            subject.withUnsafeBufferPointer { subject in
                                issuer.withUnsafeBufferPointer { issuer in
                                    func bytes(_ b: UnsafeBufferPointer<UInt8>) -> arbiter_bytes { arbiter_bytes(base: b.baseAddress, length: b.count) }
                                    var request = arbiter_request()
                                    request.struct_size = MemoryLayout<arbiter_request>.size
                                    request.method = view(0, 4)
                                    request.target = view(5, 10)
                                    request.version_major = 1
                                    request.version_minor = 1
                                    request.headers = fields.baseAddress
                                    request.header_count = fields.count
                                    request.remote_host = bytes(remote)
                                    request.remote_port = 4242
                                    request.server_host = bytes(local)
                                    request.server_port = 8000
                                    request.scheme = bytes(scheme)
                                    request.client_cert_subject = bytes(subject)
                                    request.client_cert_issuer = bytes(issuer)
                                    return body(request)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static let head = "POST /items?a=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"

    @Test func everyPartOfTheViewIsCopied() {
        // The view's bytes are gone after the call: the request must not point into them.
        let request = Self.withView(Self.head, [(26, 4, 32, 1), (35, 6, 43, 3)], certificate: "CN=client") {
            Request(copying: $0, body: .empty)
        }
        #expect(request.method == "POST")
        #expect(request.target == "/items?a=1")
        #expect(request.path == "/items" && request.query["a"] == "1")
        #expect(request.version == HTTPVersion(major: 1, minor: 1))
        #expect(request.remoteAddress == "10.0.0.7" && request.remotePort == 4242)
        #expect(request.serverAddress == "127.0.0.1" && request.serverPort == 8000)
        #expect(request.scheme == "https")
        #expect(request.clientCertificate?.subject == "CN=client" && request.clientCertificate?.issuer == "CN=Test CA")
        #expect(request.headers.map { "\($0.name)=\($0.value)" } == ["Host=a", "Accept=*/*"])
        // The fields follow the rest in the request's one object.
        #expect(request.headers.received?.storage === Self.storage(of: request))
    }

    @Test func fieldsApartAreCopiedIntoHeadersOfTheirOwn() {
        // The second field's value before its name: not one span in order.
        let request = Self.withView(Self.head, [(26, 4, 32, 1), (35, 6, 32, 1)]) { Request(copying: $0, body: .empty) }
        #expect(request.headers.map { "\($0.name)=\($0.value)" } == ["Host=a", "Accept=a"])
        #expect(request.headers.received == nil)
        #expect(request.clientCertificate == nil)
        // The addresses are kept as bytes after the fields, also when the fields are apart.
        #expect(request.remoteAddress == "10.0.0.7" && request.serverAddress == "127.0.0.1")
        #expect(request.target == "/items?a=1")
    }

    @Test func headersOutliveTheirRequestAndChangeOnlyTheirCopy() {
        var headers = Self.withView(Self.head, [(26, 4, 32, 1), (35, 6, 43, 3)]) { Request(copying: $0, body: .empty) }.headers
        #expect(headers["accept"] == "*/*")
        headers["accept"] = "text/plain"
        #expect(headers.map { "\($0.name)=\($0.value)" } == ["Host=a", "accept=text/plain"])
    }

    @Test func aRequestMadeInCodeKeepsItsHeaders() {
        let request = Request(method: "GET", target: "/", headers: ["X-One": "1"], remoteAddress: "::1")
        #expect(request.headers["x-one"] == "1" && request.headers.received == nil)
        #expect(request.remoteAddress == "::1" && request.scheme == "http" && request.serverPort == 8000)
    }

    static func storage(of request: Request) -> AnyObject {
        Mirror(reflecting: request).children.first { $0.label == "shared" }.map { ($0.value as! Headers.Received).storage }!
    }
}
