/// Input a transport holds above the socket.
extension ServerConnection {
    /// Reads input the transport buffered itself (a TLS session's decrypted records), which no
    /// poller reports, while the machine has room for it; true when the machine has news.
    func readBuffered() -> Bool {
        guard transport.hasBufferedInput, wantsRead else { return false }
        return readAvailable()
    }
}
