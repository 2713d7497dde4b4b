import Configuration
import Glibc
import Platform
import Supervision
import TLS

/// A worker's TLS: the context every new TLS connection starts from, and the listeners that stay
/// plain (`insecure_bind`).
///
/// Built once at boot and immutable afterwards; only the session-ticket keys change (rotations
/// from the master, applied by the loop thread), and `TLSContext` guards those itself.
final class WorkerTLS: Sendable {
    let context: TLSContext
    /// Listener descriptors that speak plain HTTP.
    let plainListeners: Set<Int32>
    let handshakeTimeout: Double
    let handshakeOnConnect: Bool

    init(context: TLSContext, plainListeners: Set<Int32>, handshakeTimeout: Double, handshakeOnConnect: Bool) {
        self.context = context
        self.plainListeners = plainListeners
        self.handshakeTimeout = handshakeTimeout
        self.handshakeOnConnect = handshakeOnConnect
    }

    /// Why a worker cannot serve TLS (it then exits as failing to boot, and a reload rolls back).
    struct Failure: Error {
        enum Code {
            /// The TLS settings contradict each other.
            case settings
            /// The master sent no session-ticket keys in time.
            case ticketKeys
            /// OpenSSL, a certificate, a key or the CA file could not be loaded.
            case context
        }

        let code: Code
        let message: String
    }

    /// The worker's TLS from its settings, or nil when none is configured: loads OpenSSL, waits for
    /// the files and session-ticket keys the master writes to the control socket, and builds the
    /// context from the files' bytes as the master checked them (from the disk only for a file the
    /// master did not send).
    static func make(settings: Settings, environment: [String: String], control: ControlChannel) throws(Failure) -> WorkerTLS? {
        let configuration: TLSConfiguration?
        do {
            configuration = try settings.tlsConfiguration()
        } catch {
            throw Failure(code: .settings, message: error.description)
        }
        guard let configuration else { return nil }
        guard let (keys, files) = receiveTicketKeys(control: control, timeout: WorkerLaunch.ticketKeysWait) else {
            throw Failure(code: .ticketKeys, message: "no session-ticket keys from the master within \(Int(WorkerLaunch.ticketKeysWait)) s")
        }
        let context: TLSContext
        do {
            context = try TLSContext(
                configuration: configuration, files: files.contents.isEmpty ? nil : files, ticketKeys: keys,
                library: .configured(environment: environment))
        } catch {
            throw Failure(code: .context, message: error.message)
        }
        let plain = (environment[WorkerLaunch.plainListenersVariable] ?? "").split(separator: ",").compactMap { Int32($0) }
        return WorkerTLS(
            context: context, plainListeners: Set(plain.map { WorkerLaunch.firstListenerFD + $0 }),
            handshakeTimeout: settings.tlsHandshakeTimeout, handshakeOnConnect: settings.doHandshakeOnConnect)
    }

    /// Reads control messages until the ticket keys arrive, with the TLS files the master sent
    /// before them (other messages at boot concern logs just opened, and are dropped); nil when
    /// the master sent no keys in time.
    private static func receiveTicketKeys(control: ControlChannel, timeout: Double) -> (TicketKeys, TLSFiles)? {
        var files: [String: [UInt8]] = [:]
        let deadline = Clock.monotonic() + timeout
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let left = deadline - Clock.monotonic()
            guard left > 0 else { return nil }
            var descriptor = pollfd(fd: control.fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            let n = chunk.withUnsafeMutableBytes { read(control.fd, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { return nil }
            // The last keys of the batch: a rotation may have followed the first ones already.
            var received: TicketKeys?
            for message in control.reader.feed(chunk[0..<n]) {
                switch message {
                case .ticketKeys(let bytes): if let keys = try? TicketKeys(serialized: bytes) { received = keys }
                case .tlsFile(let path, let contents): files[path] = contents
                case .reopenLogs: break
                }
            }
            if let received { return (received, TLSFiles(contents: files)) }
        }
    }
}

/// Connections over TLS.
extension WorkerContext {
    /// The transport for a connection accepted on `listener`: TLS unless TLS is off or the
    /// listener is plain. Nil (the descriptor closed, the reason logged) when OpenSSL cannot make
    /// a session.
    func makeTransport(fd: Int32, listener: Int32, remote: SocketName?) -> (any Transport)? {
        guard let tls, !tls.plainListeners.contains(listener) else { return SocketTransport(fd: fd) }
        do {
            let session = try tls.context.makeSession()
            return TLSTransport(
                fd: fd, session: session, remote: remote, logger: logger,
                handshakeTimeout: tls.handshakeTimeout, now: Clock.monotonic(), serverHeader: owingNothing.configuration.server)
        } catch {
            logger.error("Cannot start TLS for a connection from \(remote?.display ?? "-"): \(error.message)")
            Descriptor.close(fd)
            return nil
        }
    }

    /// `do_handshake_on_connect`: read the ClientHello right after accepting, without waiting for
    /// the poller.
    func startsHandshakeOnAccept(_ transport: any Transport) -> Bool {
        transport.isSecure && tls?.handshakeOnConnect == true
    }

    /// New session-ticket keys from the master (a rotation). Loop thread.
    func rotateTicketKeys(_ bytes: [UInt8]) {
        guard let tls else { return }
        do {
            tls.context.replaceTicketKeys(try TicketKeys(serialized: bytes))
            logger.debug("Session-ticket keys rotated")
        } catch {
            logger.warning("Ignoring session-ticket keys from the master: \(error.message)")
        }
    }
}
