import HTTP1
import Testing

/// Decodes all of `raw`, returning the body and how many bytes were consumed.
func decodeAll(_ raw: String, framing: BodyFraming, limit: Int64 = 0) throws(HTTPError) -> (body: String, consumed: Int, complete: Bool) {
    var decoder = BodyDecoder(framing: framing, limit: limit)
    let bytes = Array(raw.utf8)
    var offset = 0
    var body: [UInt8] = []
    while offset < bytes.count || decoder.isComplete {
        let step = try decoder.decode(Array(bytes[offset...]))
        if let data = step.data { body += bytes[(offset + data.lowerBound)..<(offset + data.upperBound)] }
        offset += step.consumed
        if step.consumed == 0 || decoder.isComplete { break }
    }
    return (String(decoding: body, as: UTF8.self), offset, decoder.isComplete)
}

func decodeStatus(_ raw: String) -> Int? {
    do {
        _ = try decodeAll(raw, framing: .chunked)
        return nil
    } catch {
        return error.status
    }
}

@Suite struct BodyDecoderTests {
    @Test func contentLength() throws {
        let r = try decodeAll("helloEXTRA", framing: .length(5))
        #expect(r.body == "hello")
        #expect(r.consumed == 5)
        #expect(r.complete)
    }

    @Test func chunkExtensionsAreBoundedInAll() throws {
        // RFC 9112 §7.1.1: extensions are not body data, so the body limit does not see them; a
        // client could otherwise send any amount under a small limit (900 one-byte chunks with
        // 1000 bytes of extension each under a 1000-byte limit).
        let padded = String(repeating: "1;" + String(repeating: "x", count: 1000) + "\r\na\r\n", count: 900) + "0\r\n\r\n"
        #expect(throws: HTTPError.self) { try decodeAll(padded, framing: .chunked, limit: 1000) }
        #expect(decodeStatus(padded) == 400)
        // Ordinary extensions pass.
        let modest = String(repeating: "1;name=value\r\na\r\n", count: 100) + "0\r\n\r\n"
        #expect(try decodeAll(modest, framing: .chunked, limit: 1000).body == String(repeating: "a", count: 100))
    }

    @Test func chunked() throws {
        let r = try decodeAll("5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: ok\r\n\r\nNEXT", framing: .chunked)
        #expect(r.body == "hello, world")
        #expect(r.complete)
        #expect(r.consumed == "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: ok\r\n\r\n".utf8.count)
    }

    @Test func chunkedByteByByte() throws {
        let raw = Array("3\r\nabc\r\n0\r\n\r\n".utf8)
        var decoder = BodyDecoder(framing: .chunked)
        var buffer: [UInt8] = []
        var body: [UInt8] = []
        for byte in raw {
            buffer.append(byte)
            while true {
                let step = try decoder.decode(buffer)
                if let data = step.data { body += buffer[data] }
                buffer.removeFirst(step.consumed)
                if step.consumed == 0 || decoder.isComplete { break }
            }
        }
        #expect(String(decoding: body, as: UTF8.self) == "abc")
        #expect(decoder.isComplete)
    }

    @Test func maxDataSplitsAChunk() throws {
        var decoder = BodyDecoder(framing: .chunked)
        let bytes = Array("6\r\nabcdef\r\n0\r\n\r\n".utf8)
        let step = try decoder.decode(bytes, maxData: 4)
        #expect(step.data.map { String(decoding: bytes[$0], as: UTF8.self) } == "abcd")
    }

    @Test(arguments: [
        "-5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "zz\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5 junk\r\nhello\r\n0\r\n\r\n",
        "5 \r\nhello\r\n0\r\n\r\n",
        "0\r\nContent-Length: 5\r\n\r\n",
        "0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "0\r\nHost: x\r\n\r\n",
        "0\r\nBad Name: x\r\n\r\n",
    ])
    func rejectsBadFraming(raw: String) {
        #expect(decodeStatus(raw) == 400, "\(raw.debugDescription)")
    }

    @Test func overLongSizeLine() {
        #expect(decodeStatus("1;" + String(repeating: "x", count: 2000) + "\r\n") == 400)
    }

    @Test func limitAppliesToChunkedBodies() {
        #expect(throws: HTTPError.self) { try decodeAll("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", framing: .chunked, limit: 8) }
        do {
            _ = try decodeAll("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", framing: .chunked, limit: 8)
        } catch {
            #expect(error.status == 413)
        }
    }
}

@Suite struct ResponseEncoderTests {
    @Test func headWithLength() {
        let head = ResponseEncoder.head(
            status: 200, version: .http11, headers: [(Array("X-A".utf8), Array("1".utf8))], contentLength: 5,
            chunked: false, keepAlive: true, date: "D", server: "arbiter")
        #expect(String(decoding: head, as: UTF8.self) == "HTTP/1.1 200 OK\r\nX-A: 1\r\nServer: arbiter\r\nDate: D\r\nContent-Length: 5\r\n\r\n")
    }

    @Test func chunkedAndClose() {
        let head = ResponseEncoder.head(
            status: 404, version: .http11, headers: [], contentLength: nil, chunked: true, keepAlive: false, date: "D", server: nil)
        #expect(String(decoding: head, as: UTF8.self) == "HTTP/1.1 404 Not Found\r\nDate: D\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    }

    @Test func refusesResponseSplitting() {
        #expect(!ResponseEncoder.isAcceptableResponseHeader(name: Array("X".utf8), value: Array("a\r\nSet-Cookie: x".utf8)))
        #expect(!ResponseEncoder.isAcceptableResponseHeader(name: Array("X Y".utf8), value: Array("a".utf8)))
        #expect(ResponseEncoder.isAcceptableResponseHeader(name: Array("X-Y".utf8), value: Array("a b".utf8)))
    }
}
