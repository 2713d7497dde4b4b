import Foundation
import Glibc
import Platform
import Testing
@testable import Worker

/// JSON log lines: escaping (RFC 8259 §7) so that client text cannot forge fields or lines.
@Suite struct JSONLogTests {
    /// Parses one line as a JSON object with Foundation's independent parser.
    func parse(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }

    @Test func stringsAreEscaped() {
        #expect(JSONValue.string("plain").rendered == #""plain""#)
        #expect(JSONValue.string(#"a"b\c"#).rendered == #""a\"b\\c""#)
        #expect(JSONValue.string("line\nbreak\r\ttab").rendered == #""line\nbreak\r\ttab""#)
        #expect(JSONValue.string("\u{0}\u{1}\u{1F}\u{7F}").rendered == #""\u0000\u0001\u001f\u007f""#)
        #expect(JSONValue.string("\u{8}\u{C}").rendered == #""\b\f""#)
        #expect(JSONValue.string("sep\u{2028}\u{2029}").rendered == #""sep\u2028\u2029""#)
        #expect(JSONValue.string("é ✓ 😀").rendered == "\"é ✓ 😀\"")
    }

    @Test func valuesRenderOnOneLine() throws {
        let value = JSONValue.object([
            ("n", .integer(-3)), ("x", .number(0.25)), ("inf", .number(.infinity)), ("t", .bool(true)), ("z", .null),
            ("list", .array([.string("a"), .integer(1)])), ("key\"with\nquote", .string("v")),
        ])
        let line = value.rendered
        #expect(line == #"{"n":-3,"x":0.25,"inf":null,"t":true,"z":null,"list":["a",1],"key\"with\nquote":"v"}"#)
        let parsed = try parse(line)
        #expect(parsed["key\"with\nquote"] as? String == "v")
        #expect(value["n"] == .integer(-3))
    }

    @Test func aForgedFieldStaysInsideItsString() throws {
        let evil = "x\", \"status\": 999, \"y\": \"\n{\"forged\": true}"
        let line = JSONValue.object([("status", .integer(200)), ("ua", .string(evil))]).rendered
        #expect(!line.contains("\n"))
        let parsed = try parse(line)
        #expect(parsed.count == 2)
        #expect(parsed["status"] as? Int == 200)
        #expect(parsed["ua"] as? String == evil)
    }

    @Test func errorLogLinesAreJSON() throws {
        var template = Array("/tmp/arbiter-jsonlog-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        Descriptor.close(fd)
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        let logger = Logger(sink: try LogSink(path: path), level: .info, format: .json)
        logger.info("first \"quoted\"\nsecond line")
        logger.debug("below the level")
        logger.error("plain")
        let lines = try Files.readString(path).split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        try #require(lines.count == 2)
        let first = try parse(String(lines[0]))
        #expect(first["message"] as? String == "first \"quoted\"\nsecond line")
        #expect(first["level"] as? String == "info")
        #expect(first["pid"] as? Int == Int(getpid()))
        let time = try #require(first["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z") && time.contains("T"))
        #expect(try parse(String(lines[1]))["level"] as? String == "error")
    }

    @Test func accessLogJSONHasEveryAtomAndTheHeadersTheFormatNames() throws {
        let sink = try LogSink(path: "-")
        let log = AccessLog(format: #"%(h)s "%(r)s" %({x-evil}i)s %({content-type}o)s"#, sink: sink, style: .json, slot: 3)
        let evil = "a\"b\\c\td\u{7F}\nforged"
        let record = AccessRecord(
            remote: "192.0.2.1", method: "GET", target: "/p?q=1", version: "HTTP/1.1", status: 201, bytes: 5, seconds: 0.0123456,
            requestHeader: { $0.lowercased() == "x-evil" ? evil : $0.lowercased() == "user-agent" ? "ua \"1\"" : nil },
            responseHeader: { $0.lowercased() == "content-type" ? "text/plain" : nil })
        let line = log.renderJSON(record)
        // With Basic auth, `user` is its user name (`%(u)s`).
        let authorized = AccessRecord(
            remote: "192.0.2.1", method: "GET", target: "/", version: "HTTP/1.1", status: 200, bytes: 0, seconds: 0,
            requestHeader: { $0.lowercased() == "authorization" ? "Basic YWxpY2U6eA==" : nil }, responseHeader: { _ in nil })
        #expect(try parse(log.renderJSON(authorized))["user"] as? String == "alice")
        #expect(!line.contains("\n"))
        let parsed = try parse(line)
        #expect(parsed["remote_addr"] as? String == "192.0.2.1")
        #expect(parsed["request"] as? String == "GET /p?q=1 HTTP/1.1")
        #expect(parsed["method"] as? String == "GET")
        #expect(parsed["path"] as? String == "/p")
        #expect(parsed["query"] as? String == "q=1")
        #expect(parsed["protocol"] as? String == "HTTP/1.1")
        #expect(parsed["status"] as? Int == 201)
        #expect(parsed["bytes"] as? Int == 5)
        #expect(parsed["referer"] as? String == "-")
        #expect(parsed["user_agent"] as? String == "ua \"1\"")
        #expect(parsed["user"] is NSNull, "no Basic auth: null")
        #expect(parsed["duration"] as? Double == 0.012345)
        #expect(parsed["worker_slot"] as? Int == 3)
        #expect(parsed["pid"] as? Int == Int(getpid()))
        #expect((parsed["request_headers"] as? [String: Any])?["x-evil"] as? String == evil)
        #expect((parsed["response_headers"] as? [String: Any])?["content-type"] as? String == "text/plain")
        #expect(parsed["time"] is String)
    }

    @Test func accessLogUserPercentAndEnviron() throws {
        let sink = try LogSink(path: "-")
        let log = AccessLog(format: "%(u)s 100%% %({HTTP_USER_AGENT}e)s %({PATH_INFO}e)s %({QUERY_STRING}e)s %({HOME}e)s", sink: sink)
        // Authorization: Basic alice:secret (Gunicorn's %(u)s is the Basic user).
        let record = AccessRecord(
            remote: "192.0.2.1", method: "GET", target: "/p?q=1", version: "HTTP/1.1", status: 200, bytes: 0, seconds: 0,
            requestHeader: { name in
                switch name.lowercased() {
                case "authorization": "Basic YWxpY2U6c2VjcmV0"
                case "user-agent": "curl/8"
                default: nil
                }
            },
            responseHeader: { _ in nil })
        // `%%` is a percent sign; `{NAME}e` is the request's environ, never the process's ($HOME).
        #expect(log.render(record) == "alice 100% curl/8 /p q=1 -")
        let anonymous = AccessRecord(
            remote: "-", method: "GET", target: "/", version: "HTTP/1.1", status: 200, bytes: 0, seconds: 0,
            requestHeader: { $0.lowercased() == "authorization" ? "Bearer abc" : nil }, responseHeader: { _ in nil })
        #expect(AccessLog(format: "%(u)s", sink: sink).render(anonymous) == "-")
    }
}
