@testable import WebSocket
import Testing

/// The response extension value and parameters for `offer` under `options`, nil when declined.
func negotiate(_ offer: String, _ options: DeflateOptions = DeflateOptions()) -> (String, DeflateParameters)? {
    guard let offers = ExtensionOffer.parse([offer]),
          let (parameters, response) = DeflateNegotiation.negotiate(offers: offers, options: options) else { return nil }
    return (response, parameters)
}

@Suite struct DeflateNegotiationTests {
    @Test func parsesExtensionLists() throws {
        let offers = try #require(ExtensionOffer.parse(["permessage-deflate; client_max_window_bits, x-foo", "Permessage-Deflate;server_max_window_bits=\"10\" ; a=b"]))
        #expect(offers.count == 3)
        #expect(offers[0].name == "permessage-deflate")
        #expect(offers[0].parameters.map(\.name) == ["client_max_window_bits"])
        #expect(offers[0].parameters[0].value == nil)
        #expect(offers[1].name == "x-foo")
        #expect(offers[2].name == "permessage-deflate")
        #expect(offers[2].parameters.map(\.value) == ["10", "b"])
        for broken in ["permessage-deflate;", "permessage-deflate; a=", "; a", "permessage-deflate; a=\"x", "a b", "a; b=c d"] {
            #expect(ExtensionOffer.parse([broken]) == nil, "\(broken)")
        }
    }

    @Test func plainOffer() throws {
        let (response, parameters) = try #require(negotiate("permessage-deflate"))
        #expect(response == "permessage-deflate")
        #expect(parameters == DeflateParameters())
    }

    @Test func acceptsEveryParameter() throws {
        let (response, parameters) = try #require(negotiate(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"))
        #expect(response == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12")
        #expect(parameters.serverNoContextTakeover && parameters.clientNoContextTakeover)
        #expect(parameters.serverMaxWindowBits == 10 && parameters.clientMaxWindowBits == 12)
    }

    @Test func serverWishesApply() throws {
        let options = DeflateOptions(serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 9)
        // client_max_window_bits may only be answered when offered (RFC 7692 §7.1.2.2).
        let (plain, plainParameters) = try #require(negotiate("permessage-deflate", options))
        #expect(plain == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11")
        #expect(plainParameters.clientMaxWindowBits == 15)
        let (limited, limitedParameters) = try #require(negotiate("permessage-deflate; client_max_window_bits; server_max_window_bits=13", options))
        #expect(limited == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=9")
        #expect(limitedParameters.serverMaxWindowBits == 11 && limitedParameters.clientMaxWindowBits == 9)
        // A smaller request than the server's wish wins: the response never exceeds the offer.
        let (smaller, _) = try #require(negotiate("permessage-deflate; server_max_window_bits=9; client_max_window_bits=8", options))
        #expect(smaller.hasSuffix("server_max_window_bits=9; client_max_window_bits=8"))
    }

    @Test func declinesInvalidOffersAndTakesTheNextOne() throws {
        let invalid = [
            "permessage-deflate; server_max_window_bits", // value required
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=0x9",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; unknown_parameter",
            "permessage-deflate; server_max_window_bits=8", // zlib cannot deflate raw with 8 bits
            "x-webkit-deflate-frame",
        ]
        for offer in invalid {
            #expect(negotiate(offer) == nil, "\(offer)")
            let (fallback, _) = try #require(negotiate(offer + ", permessage-deflate; client_max_window_bits=10"))
            #expect(fallback == "permessage-deflate; client_max_window_bits=10", "\(offer)")
        }
    }

    @Test func handshakeNegotiatesOrDeclinesWithoutFailing() throws {
        let offered = upgradeRequest(adding: [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
        let accepted = try #require(acceptance(Handshake.respond(to: offered, policy: HandshakePolicy())))
        #expect(header(accepted, "Sec-WebSocket-Extensions") == "permessage-deflate")
        #expect(accepted.deflate != nil)

        let off = try #require(acceptance(Handshake.respond(to: offered, policy: HandshakePolicy(deflate: nil))))
        #expect(off.deflate == nil && header(off, "Sec-WebSocket-Extensions") == nil)

        let bad = upgradeRequest(adding: [("Sec-WebSocket-Extensions", "permessage-deflate; bogus=1")])
        let declined = try #require(acceptance(Handshake.respond(to: bad, policy: HandshakePolicy())))
        #expect(declined.deflate == nil && header(declined, "Sec-WebSocket-Extensions") == nil)
        #expect(declined.compressionDeclinedReason != nil)

        let malformed = upgradeRequest(adding: [("Sec-WebSocket-Extensions", "permessage-deflate;;")])
        let ignored = try #require(acceptance(Handshake.respond(to: malformed, policy: HandshakePolicy())))
        #expect(ignored.deflate == nil && ignored.compressionDeclinedReason == "malformed Sec-WebSocket-Extensions")
    }
}
