import CArbiter
import Glibc
import HTTP1
import Platform

/// A connection of the async worker: the read side (`io`), a bounded output buffer, and the request
/// being served, if any. Loop thread only.
final class AsyncConnection {
    let io: Connection
    unowned let worker: AsyncWorker
    private var output: [UInt8] = []
    private var outputStart = 0
    var exchange: LoopExchange?
    /// Events registered with epoll.
    var interest: UInt32 = 0
    /// Close once the output is flushed.
    var closeAfterFlush = false
    /// What is left of a request body the application did not read, discarded before the next head.
    var discard: BodyDecoder?

    init(io: Connection, worker: AsyncWorker) {
        self.io = io
        self.worker = worker
    }

    var fd: Int32 { io.fd }
    var buffered: Int { output.count - outputStart }

    func queue(_ bytes: [UInt8]) {
        output.append(contentsOf: bytes)
    }

    func queue(_ bytes: UnsafeRawBufferPointer) {
        output.append(contentsOf: bytes)
    }

    /// Writes what the kernel takes now; true unless the connection failed.
    @discardableResult
    func flush() -> Bool {
        while outputStart < output.count {
            let n = output.withUnsafeBytes { raw in
                send(io.fd, raw.baseAddress! + outputStart, raw.count - outputStart, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if n > 0 {
                outputStart += n
                exchange?.madeProgress()
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            if n < 0 && errno == EINTR { continue }
            worker.peerGone(self)
            return false
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 262_144)
            outputStart = 0
        } else if outputStart > 262_144 {
            output.removeSubrange(0..<outputStart)
            outputStart = 0
        }
        updateInterest()
        return true
    }

    /// Read interest: while idle, while the application reads the body, or while the buffer is
    /// small (so a disconnect is noticed); never while more than a window of input is buffered.
    /// Write interest: while output is pending.
    func updateInterest() {
        guard !io.closed else { return }
        var wanted = UInt32(ARBITER_EPOLLRDHUP)
        let window = 65_536 + worker.context.limits.maxHead
        if exchange?.wantsBody == true || io.pending < window { wanted |= Events.readable }
        if buffered > 0 { wanted |= Events.writable }
        if wanted != interest {
            interest = wanted
            try? worker.epoll.modify(io.fd, events: wanted, token: Token.make(Token.connection, io.fd))
        }
    }

    func exchangeEnded(_ exchange: LoopExchange) {
        worker.exchangeEnded(self, exchange)
    }
}

extension Limits {
    /// The largest head the parser accepts.
    var maxHead: Int { max(requestLine, 0) + 2 + fields * (fieldSize + 2) + 2 }
}
