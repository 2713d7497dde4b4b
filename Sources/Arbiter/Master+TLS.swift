import Configuration
import Platform
import Supervision
import TLS

/// TLS in the master: it reads and checks certificates and keys before any worker needs them,
/// hands every worker the bytes it checked, and owns the session-ticket keys every worker shares.
extension Master {
    /// Reads every file the TLS settings name and checks them by building, from those bytes, the
    /// context a worker will build: the files (nil when TLS is off), or the problem. Loads OpenSSL
    /// the first time.
    static func loadTLS(_ settings: Settings, environment: [String: String]) -> Result<TLSFiles?, TLSProblem> {
        do {
            guard let configuration = try settings.tlsConfiguration() else { return .success(nil) }
            do {
                let files = try TLSFiles.read(for: configuration)
                _ = try TLSContext(configuration: configuration, files: files, library: .configured(environment: environment))
                return .success(files)
            } catch {
                return .failure(TLSProblem(description: "TLS: \(error.message)"))
            }
        } catch {
            return .failure(TLSProblem(description: "TLS: \(error.description)"))
        }
    }

    struct TLSProblem: Error, CustomStringConvertible {
        let description: String
    }

    /// Writes the TLS files the master checked to a new worker's control socket, before its
    /// ticket keys: the worker builds its TLS from them, whatever the disk holds by now.
    func sendTLSFiles(to pid: Int32) {
        guard let files = tlsFiles, let worker = workers[pid] else { return }
        for (path, contents) in files.contents.sorted(by: { $0.key < $1.key }) {
            MasterMessage.tlsFile(path: path, contents: contents).encoded.withUnsafeBytes { _ = try? Descriptor.writeAll(worker.fd, $0) }
        }
    }

    /// Says which listeners speak TLS, with which certificates.
    func announceTLS() {
        guard settings.usesTLS, let certfile = settings.certfile else { return }
        let plain = plainListenerPositions().split(separator: ",").compactMap { Int($0) }
        let secure = listeners.enumerated().filter { !plain.contains($0.offset) }.map { settings.shown($0.element) }
        let sni = settings.sniCerts.isEmpty ? "" : " and \(settings.sniCerts.count) SNI certificate(s)"
        logger.info("TLS (\(settings.tlsMinVersion.rawValue) and newer) on \(secure.joined(separator: ", ")) with \(certfile)\(sni)")
    }

    /// Draws the ticket keys when TLS is (newly) configured, and follows a changed rotation period.
    func prepareTicketKeys() {
        announceTLS()
        guard settings.usesTLS else { return }
        let now = Clock.monotonic()
        if ticketKeys != nil {
            ticketKeys!.reschedule(interval: settings.tlsTicketKeyRotation, now: now)
            return
        }
        do {
            ticketKeys = try TicketKeySchedule(interval: settings.tlsTicketKeyRotation, now: now)
        } catch {
            logger.error("Cannot draw TLS session-ticket keys: \(error.message); workers cannot start TLS")
        }
    }

    /// Rotates the ticket keys when due and hands them to every worker, old generation included
    /// (its connections resume under the same keys as the new one's).
    func rotateTicketKeysIfDue() {
        guard var schedule = ticketKeys, Clock.monotonic() >= schedule.deadline else { return }
        do {
            try schedule.rotate(now: Clock.monotonic())
        } catch {
            logger.error("Cannot rotate TLS session-ticket keys: \(error.message); keeping the current ones")
            return
        }
        ticketKeys = schedule
        logger.debug("Rotated TLS session-ticket keys; the next rotation in \(Int(schedule.interval)) s")
        for pid in workers.keys { sendTicketKeys(to: pid) }
    }

    /// Writes the current ticket keys to a worker's control socket (a new worker reads them
    /// before it serves).
    func sendTicketKeys(to pid: Int32) {
        guard let keys = ticketKeys?.keys, let worker = workers[pid] else { return }
        MasterMessage.ticketKeys(keys.serialized).encoded.withUnsafeBytes { _ = try? Descriptor.writeAll(worker.fd, $0) }
    }

    /// The positions of the plain listeners (`insecure_bind`) among `listeners`, for a worker's
    /// environment; empty without TLS (every listener is then plain anyway).
    func plainListenerPositions() -> String {
        guard settings.usesTLS else { return "" }
        let plain = Set(settings.insecureBind.compactMap { try? BindAddress.parse($0) })
        return listeners.enumerated().filter { plain.contains($0.element.address) }.map { String($0.offset) }.joined(separator: ",")
    }
}

extension Settings {
    /// How a listener is shown in the log: `https://…` when it speaks TLS.
    func shown(_ listener: Listener) -> String {
        guard usesTLS, listener.name.hasPrefix("http://"),
              !insecureBind.contains(where: { (try? BindAddress.parse($0)) == listener.address })
        else { return listener.name }
        return "https://" + listener.name.dropFirst("http://".count)
    }
}
