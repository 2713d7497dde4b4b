/// The server's half of permessage-deflate negotiation (RFC 7692 §5, §7.1).
///
/// The client lists offers in order of preference; the server accepts the first it can honour and
/// declines the rest. An offer that is malformed or asks for what the server cannot do is declined
/// (the extension is simply not used), never a reason to fail the handshake (§5.1, §7.1).
enum DeflateNegotiation {
    static let extensionName = "permessage-deflate"

    /// The agreed parameters and the `Sec-WebSocket-Extensions` response value, or nil to decline.
    static func negotiate(offers: [ExtensionOffer], options: DeflateOptions) -> (parameters: DeflateParameters, response: String)? {
        for offer in offers where offer.name == extensionName {
            if let accepted = accept(offer, options: options) { return accepted }
        }
        return nil
    }

    private static func accept(_ offer: ExtensionOffer, options: DeflateOptions) -> (parameters: DeflateParameters, response: String)? {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var serverMaxWindowBits: Int?
        var clientMaxWindowBits: Int?? // .some(nil): offered without a value
        var seen = Set<String>()
        for (name, value) in offer.parameters {
            // §7.1: decline an offer with a parameter repeated, unknown, or with an invalid value.
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
                serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                // §7.1.2.1: the value is required, 8–15, written without leading zeros.
                guard let value, let bits = windowBits(value) else { return nil }
                serverMaxWindowBits = bits
            case "client_max_window_bits":
                // §7.1.2.2: the value is optional; when present, the same syntax.
                if let value {
                    guard let bits = windowBits(value) else { return nil }
                    clientMaxWindowBits = .some(bits)
                } else {
                    clientMaxWindowBits = .some(nil)
                }
            default:
                return nil
            }
        }

        var response = [extensionName]
        var parameters = DeflateParameters(compressionLevel: options.compressionLevel, minimumSizeToCompress: options.minimumSizeToCompress)
        // §7.1.1.1: accepting an offer with server_no_context_takeover means including it.
        if serverNoContextTakeover || options.serverNoContextTakeover {
            parameters.serverNoContextTakeover = true
            response.append("server_no_context_takeover")
        }
        // §7.1.1.2: the server may include client_no_context_takeover whether or not it was offered.
        if clientNoContextTakeover || options.clientNoContextTakeover {
            parameters.clientNoContextTakeover = true
            response.append("client_no_context_takeover")
        }
        // §7.1.2.1: a requested server window must be answered with a value no larger; the server
        // may also limit its window unasked. zlib's raw deflate cannot use 8 bits, so an offer
        // that demands 8 is one the server does not support, and is declined.
        let serverBits = min(serverMaxWindowBits ?? 15, options.serverMaxWindowBits)
        if serverBits < 9 { return nil }
        parameters.serverMaxWindowBits = serverBits
        if serverMaxWindowBits != nil || serverBits < 15 { response.append("server_max_window_bits=\(serverBits)") }
        // §7.1.2.2: client_max_window_bits may be answered only when offered; the value must not
        // exceed the offered one. Without it in the offer the client may use a 15-bit window.
        if let offered = clientMaxWindowBits {
            let clientBits = min(offered ?? 15, options.clientMaxWindowBits)
            parameters.clientMaxWindowBits = clientBits
            if clientBits < 15 { response.append("client_max_window_bits=\(clientBits)") }
        }
        return (parameters, response.joined(separator: "; "))
    }

    /// A window size value: 1*DIGIT without a leading zero, in 8–15 (§7.1.2.1).
    private static func windowBits(_ text: String) -> Int? {
        guard let first = text.utf8.first, first != UInt8(ascii: "0"), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text.utf8.count <= 2, let bits = Int(text), (8...15).contains(bits) else { return nil }
        return bits
    }
}
