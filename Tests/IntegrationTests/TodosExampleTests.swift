import Testing
import TestSupport

extension Integration {
    /// `Examples/todos` through the real server: routing, JSON in and out, errors as statuses.
    @Suite struct TodosExample {
        @Test(arguments: ["async", "sync"])
        func aJSONAPIWithValidationErrorsAndAStream(worker: String) throws {
            try withServer(["todos:application", "-k", worker]) { server in
                let json = ["Content-Type: application/json"]
                var c = try HTTPConnection(port: server.port)
                let created = try c.request("POST", "/todos", headers: json, body: #"{"title": "  write   docs "}"#)
                #expect(created.status == 201)
                #expect(created.header("Location") == "/todos/1")
                #expect(created.header("Server-Timing")?.hasPrefix("app;dur=") == true)
                #expect(created.text == #"{"done":false,"id":1,"title":"write docs"}"#)
                let changed = try c.request("PATCH", "/todos/1", headers: json, body: #"{"done": true}"#)
                #expect(changed.status == 200)
                #expect(changed.text.contains(#""done":true"#))
                #expect(try c.request("POST", "/todos", headers: json, body: #"{"title": " "}"#).text == "title must not be empty\n")
                let wrongType = try c.request("POST", "/todos", headers: json, body: #"{"title": 5}"#)
                #expect(wrongType.status == 400)
                #expect(wrongType.text == "invalid JSON body: field \"title\": expected a string\n")
                let tooLarge = try c.request("POST", "/todos", headers: json, body: "{\"title\": \"\(String(repeating: "x", count: 20_000))\"}")
                #expect(tooLarge.status == 413)
                c = try HTTPConnection(port: server.port)
                #expect(try c.request("GET", "/todos/abc").status == 400)
                let head = try c.request("HEAD", "/todos/1")
                #expect(head.status == 200)
                #expect(head.body.isEmpty)
                let notAllowed = try c.request("PUT", "/todos/1", body: "")
                #expect(notAllowed.status == 405)
                #expect(notAllowed.header("Allow") == "DELETE, GET, HEAD, PATCH")
                c = try HTTPConnection(port: server.port)
                #expect(try c.request("GET", "/nowhere").status == 404)
                let export = try c.request("GET", "/todos/export")
                #expect(export.header("Transfer-Encoding") == "chunked")
                #expect(export.text.split(separator: "\n").count == 1)
                #expect(try c.request("DELETE", "/todos/1").status == 204)
                #expect(try c.request("DELETE", "/todos/1").text == "no todo 1\n")
                // Client errors are answers, not application failures: nothing is logged as an error.
                #expect(!server.log.contains("Error handling request"))
            }
        }
    }
}
