/// Input a transport holds above the socket.
extension ServerConnection {
    /// Reads input that no poller reports, while the machine has room for it: what the transport
    /// buffered itself (a TLS session's decrypted records), and, on an edge-triggered
    /// registration, what the socket still held when reading last stopped at the read-ahead bound
    /// (no new edge reports it). True when the machine has news.
    func readUnreported(edgeTriggered: Bool = false) -> Bool {
        guard transport.hasBufferedInput || (edgeTriggered && !inputDrained), wantsRead else { return false }
        return readAvailable()
    }
}
