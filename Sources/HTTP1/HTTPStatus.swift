/// Reason phrases for status lines: RFC 9110 §15's, with 103 (RFC 8297), 428, 429, 431, 511 (RFC 6585)
/// and 451 (RFC 7725).
public enum HTTPStatus {
    /// `HTTP/1.1 200 OK\r\n` for each status with a reason phrase of its own, made once.
    private static let statusLines: [[UInt8]?] = (100..<600).map { status in
        reasonPhrase(status) == "Status \(status)" ? nil : Array(statusLineText(status).utf8)
    }

    /// A status line. Always HTTP/1.1, the highest version the server conforms to, also for
    /// HTTP/1.0 clients (RFC 9110 §2.5); the request's version decides the connection semantics.
    static func statusLineText(_ status: Int) -> String {
        "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
    }

    /// The whole status line of a status that has a reason phrase of its own; nil for any other.
    static func statusLine(_ status: Int) -> [UInt8]? {
        (100..<600).contains(status) ? statusLines[status - 100] : nil
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 103: "Early Hints"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 305: "Use Proxy"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 451: "Unavailable For Legal Reasons"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 511: "Network Authentication Required"
        default: "Status \(status)"
        }
    }

    /// Whether a response with this status to this method carries no body (RFC 9110 §6.4.1).
    public static func forbidsBody(_ status: Int, method: Method) -> Bool {
        method == .head || (100..<200).contains(status) || status == 204 || status == 304
    }
}
