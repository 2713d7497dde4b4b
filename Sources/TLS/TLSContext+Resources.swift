import COpenSSL

extension TLSContext {
    /// Everything a context allocates, freed together (also when building fails halfway).
    final class Resources {
        var contexts: [OpaquePointer] = []
        var alpnList: UnsafeMutablePointer<UInt8>?
        var ticketKeys: UnsafeMutablePointer<cossl_ticket_keys>?
        var router: ServerNameRouter?
        /// The same for every SSL_CTX of one context (see `sessionContext(for:loading:)`); a
        /// connection with a server name gets one of its own from `router`.
        var sessionContext: [UInt8] = []

        deinit {
            for context in contexts { cossl_SSL_CTX_free(context) }
            alpnList?.deallocate()
            if let ticketKeys {
                cossl_cleanse(ticketKeys, MemoryLayout<cossl_ticket_keys>.size)
                ticketKeys.deallocate()
            }
        }
    }
}
