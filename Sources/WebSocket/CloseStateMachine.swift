/// The closing handshake (RFC 6455 §5.5.1, §7.1): open → close sent or received → closed.
///
/// It decides which close frame to send and when the transport may be closed; the deadline for a
/// peer's answer is the caller's to watch (it passes `now` to `tick`). As a server, after
/// answering a peer's close the connection closes at once: the server closes TCP first (§7.1.1).
public struct CloseStateMachine: Sendable, Hashable {
    /// Where the closing handshake stands.
    public enum State: Sendable, Hashable {
        /// No close frame sent or received.
        case open
        /// A close frame went out; waiting for the peer's until `deadline`.
        case closeSent(deadline: Double)
        /// The handshake finished, failed, or timed out; the transport should be (or is) closed.
        case closed
    }

    /// What to do next.
    public enum Decision: Sendable, Hashable {
        /// Nothing to send; keep the transport open.
        case none
        /// Send this close frame payload and keep reading until the peer answers or the deadline.
        case sendClose([UInt8])
        /// Send this close frame payload, then close the transport.
        case sendCloseAndFinish([UInt8])
        /// Close the transport.
        case finish
    }

    /// The current state.
    public private(set) var state: State = .open
    /// Seconds to wait for the peer's close frame after sending ours.
    public let timeout: Double

    /// An open connection whose close frames wait `timeout` seconds for the answer.
    public init(timeout: Double) {
        self.timeout = timeout
    }

    /// When the transport must be closed if the peer has not answered.
    public var deadline: Double? {
        if case .closeSent(let deadline) = state { return deadline }
        return nil
    }

    /// Whether data frames may still be sent (§5.5.1: none after our close frame).
    public var canSend: Bool { state == .open }

    /// This side starts the close with `frame`.
    public mutating func close(_ frame: CloseFrame, now: Double) -> Decision {
        guard state == .open else { return .none }
        state = .closeSent(deadline: now + timeout)
        return .sendClose(frame.payload)
    }

    /// The peer's close frame arrived.
    public mutating func received(_ frame: CloseFrame) -> Decision {
        switch state {
        case .open:
            state = .closed
            // §5.5.1: answer with a close frame, typically echoing the code; with none, send none.
            return .sendCloseAndFinish(CloseFrame(code: frame.code).payload)
        case .closeSent:
            state = .closed
            return .finish
        case .closed:
            return .none
        }
    }

    /// The connection must fail (§7.1.7): send a close with the error's code unless one went out.
    public mutating func fail(_ error: ProtocolError) -> Decision {
        switch state {
        case .open:
            state = .closed
            return .sendCloseAndFinish(CloseFrame(code: error.code, reason: error.reason).payload)
        case .closeSent:
            state = .closed
            return .finish
        case .closed:
            return .none
        }
    }

    /// The transport closed under us.
    public mutating func transportClosed() {
        state = .closed
    }

    /// Checks the deadline: `.finish` when the peer did not answer in time.
    public mutating func tick(now: Double) -> Decision {
        guard case .closeSent(let deadline) = state, now >= deadline else { return .none }
        state = .closed
        return .finish
    }
}
