import HTTP1
import Testing

/// Parses one head from `raw` with the given limits.
func parse(_ raw: String, limits: Limits = Limits()) -> HeadParser.Result {
    var parser = HeadParser(limits: limits)
    return parser.parse(Array(raw.utf8))
}

func head(_ raw: String, limits: Limits = Limits()) throws -> RequestHead {
    guard case .complete(let head, _) = parse(raw, limits: limits) else {
        throw ParseFailure(result: "\(parse(raw, limits: limits))")
    }
    return head
}

struct ParseFailure: Error { let result: String }

func status(_ raw: String, limits: Limits = Limits()) -> Int? {
    switch parse(raw, limits: limits) {
    case .failure(let error): error.status
    case .complete: 200
    case .incomplete: nil
    }
}

@Suite struct HeadParserTests {
    @Test func simpleGet() throws {
        let h = try head("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n")
        #expect(h.method == .get)
        #expect(h.target == "/a/b?x=1")
        #expect(h.version == .http11)
        #expect(h.field("host") == "example.com")
        #expect(h.field("USER-AGENT") == "t")
        #expect(h.framing == .none)
        #expect(h.keepAlive)
    }

    /// Raw UTF-8 in a target is taken (as nginx and Gunicorn do); controls and DEL are not.
    @Test func rawUTF8InATargetIsTaken() throws {
        #expect(try head("GET /info?q=€ HTTP/1.1\r\nHost: a\r\n\r\n").target == "/info?q=€")
        #expect(status("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n") == 400)
        #expect(status("GET /a\u{01}b HTTP/1.1\r\nHost: a\r\n\r\n") == 400)
    }

    @Test func consumedStopsAtTheHeadSoPipelinedRequestsRemain() {
        let raw = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
        guard case .complete(_, let consumed) = parse(raw) else { Issue.record("not complete"); return }
        #expect(consumed == "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n".utf8.count)
    }

    @Test func incompleteUntilTheBlankLine() {
        var parser = HeadParser()
        var bytes = Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)
        guard case .incomplete = parser.parse(bytes) else { Issue.record("expected incomplete"); return }
        bytes += Array("\r\n".utf8)
        guard case .complete = parser.parse(bytes) else { Issue.record("expected complete"); return }
    }

    @Test func http10DefaultsToClose() throws {
        #expect(try head("GET / HTTP/1.0\r\n\r\n").keepAlive == false)
        #expect(try head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive == true)
        #expect(try head("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keepAlive == false)
    }

    @Test func framing() throws {
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").framing == .length(12))
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").framing == .chunked)
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").framing == .chunked)
    }

    @Test func expectContinue() throws {
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\n\r\n", 400),  // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /\u{01} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),  // space before colon
        ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),  // obs-fold
        ("GET / HTTP/1.1\r\nHost: a\u{00}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),  // bare CR
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400),  // bare LF
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    ])
    func rejects(raw: String, expected: Int) {
        #expect(status(raw) == expected, "\(raw.debugDescription)")
    }

    @Test func emptyTransferCodingsAreIgnored() throws {
        // RFC 9110 §5.6.1.2: empty list elements do not count.
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n").framing == .chunked)
        #expect(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n").framing == .chunked)
        // A Transfer-Encoding that names no coding at all is refused.
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n") == 400)
    }

    @Test func anAbsoluteFormTargetsAuthorityIsTheHost() throws {
        // RFC 9112 §3.2.2: the Host field's value is ignored for the target's authority.
        let h = try head("GET http://other.example:8080/info?a=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
        #expect(h.field("host") == "other.example:8080")
        #expect(h.field("accept") == "*/*")
        #expect(try head("GET /info HTTP/1.1\r\nHost: x\r\n\r\n").field("host") == "x")
        // HTTP/1.0 may omit Host: the authority is the host all the same.
        let old = try head("GET http://a.example/x HTTP/1.0\r\nAccept: */*\r\n\r\n")
        #expect(old.field("host") == "a.example")
        #expect(old.field("accept") == "*/*")
        #expect(old.target == "http://a.example/x")
    }

    @Test func aHeadSplitAnywhereParsesAsAWhole() {
        // The final CRLF split between reads, leading empty lines split across reads, a CR alone.
        let raw = "\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
        let bytes = Array(raw.utf8)
        for cut1 in 0...bytes.count {
            for cut2 in cut1...bytes.count {
                var parser = HeadParser()
                var buffer: [UInt8] = []
                var result: HeadParser.Result = .incomplete
                for piece in [bytes[..<cut1], bytes[cut1..<cut2], bytes[cut2...]] {
                    buffer += piece
                    result = parser.parse(buffer)
                    if case .failure = result { break }
                }
                guard case .complete(let h, let consumed) = result else {
                    Issue.record("cuts \(cut1), \(cut2): \(result)")
                    return
                }
                #expect(consumed == bytes.count)
                #expect(h.target == "/a" && h.field("accept") == "*/*")
            }
        }
    }

    @Test func aBareLFIsRefusedAtOnceNotAfterATimeout() {
        // RFC 9112 §2.2: a server may refuse a bare LF; the head would otherwise never end.
        #expect(status("GET / HTTP/1.1\nHost: x\n\n") == 400)
        #expect(status("GET / HTTP/1.1\nHost: x") == 400)  // incomplete, refused already
        #expect(status("\nGET / HTTP/1.1\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\n") == 400)
        // Byte by byte, the same.
        var parser = HeadParser()
        var bytes: [UInt8] = []
        var refused: Int?
        for byte in Array("GET / HTTP/1.1\r\nHost: x\nX: y".utf8) {
            bytes.append(byte)
            if case .failure(let error) = parser.parse(bytes) {
                refused = bytes.count
                #expect(error.status == 400)
                break
            }
        }
        #expect(refused == "GET / HTTP/1.1\r\nHost: x\n".utf8.count)
    }

    @Test func aLongFieldLineIsRefusedWhileItArrives() {
        let limits = Limits(fieldSize: 100)
        // Before the head (or even the line) ends: a client cannot make the server hold a line
        // up to the whole head's limit.
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 200), limits: limits) == 431)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 200) + "\r\n", limits: limits) == 431)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 90), limits: limits) == nil)
        // A line at the limit, arriving in pieces up to its CR, is still fine.
        var parser = HeadParser(limits: limits)
        var bytes = Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)
        let line = "X: " + String(repeating: "b", count: 97)
        for piece in [String(line.prefix(50)), String(line.dropFirst(50)), "\r", "\n\r\n"] {
            bytes += Array(piece.utf8)
            if case .failure(let error) = parser.parse(bytes) { Issue.record("refused: \(error)") }
        }
        if case .complete(let head, _) = parser.parse(bytes) {
            #expect(head.field("x")?.count == 97)
        } else {
            Issue.record("incomplete")
        }
    }

    @Test func requestLineLimitGives414() {
        let long = "GET /" + String(repeating: "a", count: 5000) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(status(long) == 414)
        // Also while the line is still arriving.
        #expect(status("GET /" + String(repeating: "a", count: 5000)) == 414)
    }

    @Test func headerLimitsGive431() {
        let many = "GET / HTTP/1.1\r\nHost: a\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(status(many) == 431)
        let big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 9000) + "\r\n\r\n"
        #expect(status(big) == 431)
        #expect(status(big, limits: Limits(fieldSize: 10_000)) == 200)
    }

    @Test func underscoreHeadersAreDroppedByDefault() throws {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: evil\r\n\r\n"
        #expect(try head(raw).field("x_forwarded_for") == nil)
        #expect(status(raw, limits: Limits(underscoreHeaders: .refuse)) == 400)
        #expect(try head(raw, limits: Limits(underscoreHeaders: .allow)).field("x_forwarded_for") == "evil")
    }

    @Test func leadingEmptyLinesAreIgnored() throws {
        #expect(try head("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").target == "/")
    }

    @Test func valuesAreTrimmed() throws {
        #expect(try head("GET / HTTP/1.1\r\nHost: a\r\nX:   spaced value \t\r\n\r\n").field("x") == "spaced value")
    }
}

@Suite struct HTTPDateTests {
    @Test func formatsIMFFixdate() {
        #expect(HTTPDate.format(epochSeconds: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(epochSeconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(epochSeconds: 1_795_219_200) == "Sat, 21 Nov 2026 00:00:00 GMT")
    }
}

/// A response field name is accepted exactly when it is made of tchar (RFC 9110 §5.6.2).
@Test func fieldNameCharactersAreTheRFCsTchar() {
    let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    let value: [UInt8] = [UInt8(ascii: "x")]
    for c in UInt8.min...UInt8.max {
        let name: [UInt8] = [UInt8(ascii: "X"), c]
        #expect(ResponseEncoder.isAcceptableResponseHeader(name: name, value: value) == tchar.contains(c), "byte \(c)")
    }
}

/// A field value, a response's or a request's, is accepted exactly when every byte is a
/// field-vchar, SP, HTAB or obs-text (RFC 9110 §5.5), wherever the byte sits in a long value.
@Test func fieldValueBytesAreTheRFCs() {
    for c in UInt8.min...UInt8.max {
        let allowed = c == 9 || (c >= 0x20 && c != 0x7F)
        for position in [0, 7, 8, 13, 20] {
            var value = [UInt8](repeating: UInt8(ascii: "v"), count: 21)
            value[position] = c
            #expect(ResponseEncoder.isAcceptableResponseHeader(name: Array("X-A".utf8), value: value) == allowed, "byte \(c) at \(position)")
            var parser = HeadParser()
            let parsed: Bool = switch parser.parse(Array("GET / HTTP/1.1\r\nHost: a\r\nX-A: ".utf8) + value + Array("\r\n\r\n".utf8)) {
            case .complete: true
            case .incomplete, .failure: false
            }
            #expect(parsed == allowed, "request: byte \(c) at \(position)")
        }
    }
}
