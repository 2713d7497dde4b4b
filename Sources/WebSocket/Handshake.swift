/// The server side of the opening handshake (RFC 6455 §4.2): a pure function of the request.
public enum Handshake {
    /// The GUID every `Sec-WebSocket-Accept` is derived with (RFC 6455 §1.3).
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4).
    public static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }

    /// Checks `request` against every server-side rule of RFC 6455 §4.2.1, asks `policy` about the
    /// origin and subprotocol, negotiates permessage-deflate, and returns the response to send.
    public static func respond(to request: HandshakeRequest, policy: HandshakePolicy) -> HandshakeResult {
        // §4.2.1 item 1: an HTTP/1.1 or higher GET request.
        guard request.method == "GET" else {
            return .refuse(HandshakeRefusal(status: 405, headers: ["Allow": "GET"], reason: "WebSocket handshake must be a GET request"))
        }
        guard request.versionMajor > 1 || (request.versionMajor == 1 && request.versionMinor >= 1) else {
            return .refuse(HandshakeRefusal(status: 400, reason: "WebSocket handshake needs HTTP/1.1 or later"))
        }
        // RFC 9110 §7.8: the client speaks the new protocol only once its request is complete, and
        // a handshake has no content: a body's bytes would be read as frames.
        let lengths = request.values("Content-Length")
        guard request.values("Transfer-Encoding").isEmpty, lengths.allSatisfy({ Int($0) == 0 }) else {
            return .refuse(HandshakeRefusal(status: 400, reason: "WebSocket handshake with a request body"))
        }
        // §4.2.1 item 2: a Host field (exactly one, RFC 9112 §3.2).
        guard request.values("Host").count == 1 else {
            return .refuse(HandshakeRefusal(status: 400, reason: "missing or repeated Host field"))
        }
        // §4.2.1 item 3: Upgrade includes "websocket", ASCII case-insensitively.
        guard fieldList(request.values("Upgrade")).contains(where: { $0.lowercased() == "websocket" }) else {
            return .refuse(HandshakeRefusal(status: 400, reason: "Upgrade field lacks websocket"))
        }
        // §4.2.1 item 4: Connection includes the "Upgrade" token, case-insensitively.
        guard fieldList(request.values("Connection")).contains(where: { $0.lowercased() == "upgrade" }) else {
            return .refuse(HandshakeRefusal(status: 400, reason: "Connection field lacks upgrade"))
        }
        // §4.2.1 item 5: Sec-WebSocket-Key, once (§11.3.1), base64 of 16 bytes.
        let keys = request.values("Sec-WebSocket-Key")
        guard keys.count == 1 else {
            return .refuse(HandshakeRefusal(status: 400, reason: "missing or repeated Sec-WebSocket-Key"))
        }
        let key = Substring(keys[0]).trimmingWhitespace()
        guard let nonce = Base64.decode(key), nonce.count == 16 else {
            return .refuse(HandshakeRefusal(status: 400, reason: "Sec-WebSocket-Key is not base64 of 16 bytes"))
        }
        // §4.2.1 item 6 and §4.4: version 13, else 426 naming the version the server speaks.
        let versions = fieldList(request.values("Sec-WebSocket-Version"))
        guard versions == ["13"] else {
            // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to (the server adds the
            // Connection field's `upgrade` option, §7.8).
            return .refuse(HandshakeRefusal(status: 426, headers: ["Sec-WebSocket-Version": "13", "Upgrade": "websocket"],
                                            reason: "unsupported Sec-WebSocket-Version \(versions.joined(separator: ","))"))
        }
        // §4.2.1 item 7 and §10.2: the origin is the application's to judge; 403 when refused.
        let origins = request.values("Origin")
        guard origins.count <= 1, policy.checkOrigin(origins.first) else {
            return .refuse(HandshakeRefusal(status: 403, reason: "origin \(origins.joined(separator: ", ")) refused"))
        }

        var headers: [(name: String, value: String)] = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", acceptValue(forKey: key)),
        ]
        // §4.2.2 /subprotocol/: one of the client's values, or none.
        let offered = fieldList(request.values("Sec-WebSocket-Protocol"))
        let subprotocol = policy.selectSubprotocol(offered)
        if let subprotocol {
            guard offered.contains(subprotocol) else {
                return .refuse(HandshakeRefusal(status: 500, reason: "the application chose subprotocol \(subprotocol), which the client did not offer"))
            }
            headers.append(("Sec-WebSocket-Protocol", subprotocol))
        }
        // §4.2.2 /extensions/ and RFC 7692 §5: a bad Sec-WebSocket-Extensions declines compression.
        var deflate: DeflateParameters?
        var declined: String?
        let extensionValues = request.values("Sec-WebSocket-Extensions")
        if let options = policy.deflate, !extensionValues.isEmpty {
            if let offers = ExtensionOffer.parse(extensionValues) {
                if offers.contains(where: { $0.name == DeflateNegotiation.extensionName }) {
                    if let reason = Zlib.unavailableReason {
                        declined = "zlib unavailable: \(reason)"
                    } else if let (parameters, response) = DeflateNegotiation.negotiate(offers: offers, options: options) {
                        deflate = parameters
                        headers.append(("Sec-WebSocket-Extensions", response))
                    } else {
                        declined = "no acceptable permessage-deflate offer"
                    }
                }
            } else {
                declined = "malformed Sec-WebSocket-Extensions"
            }
        }
        return .accept(HandshakeAcceptance(headers: headers, subprotocol: subprotocol, deflate: deflate, compressionDeclinedReason: declined))
    }
}
