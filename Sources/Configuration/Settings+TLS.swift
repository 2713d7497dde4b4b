import Platform
import TLS

extension Registry {
    static let tls: [Setting] = [
        .string("certfile", ["--certfile"], section: "TLS",
                help: "PEM certificate chain (leaf first) of the default certificate. With it, every `bind` listener speaks TLS (HTTPS); `insecure_bind` adds plain ones. Needs `keyfile`. Checked when the master starts (exit 1) and on HUP (a bad file rolls the reload back). OpenSSL 3 (`libssl.so.3`, Debian package `libssl3`) is loaded only when TLS is configured.",
                \.certfile),
        .string("keyfile", ["--keyfile"], section: "TLS",
                help: "PEM private key of `certfile`, unencrypted (never prompted for). It must match the certificate.",
                \.keyfile),
        .string("ca_certs", ["--ca-certs"], section: "TLS",
                help: "PEM file of the CAs that client certificates must chain to (mutual TLS, with `cert_reqs`).",
                \.caCerts),
        .choice("cert_reqs", ["--cert-reqs"], section: "TLS",
                help: "Client certificates: `none` (not asked for), `optional` (asked for; one that is sent must verify against `ca_certs`), `required` (mutual TLS: the handshake fails without a verified certificate). Gunicorn's values are accepted too: `0`/`CERT_NONE`, `1`/`CERT_OPTIONAL`, `2`/`CERT_REQUIRED`. The application sees the verified certificate's subject, issuer and PEM (`request.clientCertificate`).",
                \.certReqs, aliases: [
                    "0": .none, "1": .optional, "2": .required,
                    "CERT_NONE": .none, "CERT_OPTIONAL": .optional, "CERT_REQUIRED": .required,
                ]),
        .string("ciphers", ["--ciphers"], section: "TLS",
                help: "OpenSSL cipher list for TLS 1.2 (`ECDHE+AESGCM:ECDHE+CHACHA20`); entries starting with `TLS_` set the TLS 1.3 suites (`TLS_AES_128_GCM_SHA256`). Default: OpenSSL's.",
                \.ciphers).validated(cipherListProblem),
        .choice("tls_min_version", ["--tls-min-version", "--ssl-version"], section: "TLS",
                help: "The oldest TLS version accepted: `TLSv1.2` (default) or `TLSv1.3`. Older versions are never accepted. (Gunicorn's `ssl_version` chose one protocol constant; here it is the minimum.)",
                \.tlsMinVersion).validated(gunicornSSLVersionHint),
        .boolean("do_handshake_on_connect", ["--do-handshake-on-connect"], section: "TLS",
                 help: "Start the TLS handshake as soon as a connection is accepted, with a read that does not wait for the poller (saving a round through it when the ClientHello came with the connection). Off (Gunicorn's default): the handshake starts when the poller reports the first bytes. Either way the handshake never blocks a worker and is bounded by `tls_handshake_timeout`.",
                 \.doHandshakeOnConnect),
        .list("sni_cert", ["--sni-cert"], section: "TLS",
              help: "Another certificate, chosen by the server name the client asks for (SNI), repeatable: `NAMES:CERTFILE:KEYFILE`, NAMES comma-separated host names, exact or `*.domain` (one label), e.g. `api.example.com,*.api.example.com:/etc/tls/api.pem:/etc/tls/api.key` (paths must not contain `:`). An exact name wins over a wildcard, earlier entries over later ones; other names get `certfile`. Shares `ca_certs`, `cert_reqs`, `ciphers` and `tls_min_version`.",
              validate: { text in
                  do throws(Settings.ServerCertificateProblem) {
                      _ = try Settings.parseServerCertificate(text)
                      return nil
                  } catch {
                      return error.message
                  }
              },
              \.sniCerts),
        .list("insecure_bind", ["--insecure-bind"], section: "TLS",
              help: "A plain-HTTP listener beside the TLS ones (repeatable, same forms as `bind`), e.g. `unix:/run/app/health.sock` for a local health checker. Without `certfile` it is simply one more listener. Under systemd socket activation it names which of systemd's sockets stay plain, as `fd://N` (systemd passes them from 3, in the order of the socket unit's `Listen…` lines).",
              validate: { text in
                  do { _ = try BindAddress.parse(text); return nil } catch { return "\(error)" }
              },
              \.insecureBind),
        .seconds("tls_handshake_timeout", ["--tls-handshake-timeout"], section: "TLS",
                 help: "Seconds a client has to complete the TLS handshake; then the connection is closed. A handshaking connection costs a descriptor, a timer and its TLS buffers, never a request thread.",
                 \.tlsHandshakeTimeout),
        .seconds("tls_ticket_key_rotation", ["--tls-ticket-key-rotation"], section: "TLS",
                 help: "Seconds between rotations of the session-ticket keys. The master draws them at random (they are never written to disk) and hands them to every worker, so a client resumes its session on any worker; after a rotation new tickets use the new key and tickets under the previous one still resume (and are renewed), so a ticket lives between one and two periods.",
                 \.tlsTicketKeyRotation).validated { Double($0).map { $0 >= 1 } == true ? nil : "must be at least 1 second" },
    ]
}

/// Gunicorn's `ssl_version` values (Python `ssl` protocol constants), answered with what to give here.
@Sendable func gunicornSSLVersionHint(_ text: String) -> String? {
    let upper = text.uppercased()
    guard upper.hasPrefix("PROTOCOL_") || upper.hasPrefix("TLSV1_") || upper == "TLS" || upper == "TLS_SERVER" || Int(text) != nil else {
        return nil
    }
    return "Gunicorn's ssl_version constants choose one protocol; here the setting is the oldest version accepted: TLSv1.2 (default) or TLSv1.3"
}

/// The problem with a `ciphers` value, or nil.
@Sendable func cipherListProblem(_ text: String) -> String? {
    text.split(separator: ":", omittingEmptySubsequences: false).contains(where: \.isEmpty) ? "an empty entry in the cipher list" : nil
}

extension Settings {
    /// Whether any setting asks for TLS (then OpenSSL must load and the files must be good).
    public var usesTLS: Bool {
        certfile != nil || keyfile != nil || caCerts != nil || !sniCerts.isEmpty || certReqs != .none || ciphers != nil
    }

    /// The TLS configuration the settings describe, or nil when no TLS setting is given.
    ///
    /// - Throws: when the TLS settings contradict each other (a key without a certificate, mutual
    ///   TLS without CAs, a listener both plain and TLS). Files are checked by building a `TLSContext`.
    public func tlsConfiguration() throws(ConfigError) -> TLSConfiguration? {
        guard usesTLS else { return nil }
        guard let certfile, let keyfile else {
            throw ConfigError(origin: "", "TLS needs both certfile and keyfile (certfile: \(certfile ?? "none"), keyfile: \(keyfile ?? "none"))")
        }
        if certReqs != .none && caCerts == nil {
            throw ConfigError(origin: "", "cert_reqs = \(certReqs.rawValue) needs ca_certs, the CAs client certificates must chain to")
        }
        let plain = Set(insecureBind.compactMap { try? BindAddress.parse($0) })
        if let both = bind.first(where: { (try? BindAddress.parse($0)).map(plain.contains) == true }) {
            throw ConfigError(origin: "", "\(both) is in both bind (TLS) and insecure_bind (plain)")
        }
        var serverCertificates: [TLSConfiguration.ServerCertificate] = []
        for entry in sniCerts {
            do {
                serverCertificates.append(try Self.parseServerCertificate(entry))
            } catch {
                throw ConfigError(origin: "", "sni_cert = '\(entry)': \(error.message)")
            }
        }
        let entries = (ciphers ?? "").split(separator: ":").map(String.init)
        let suites = entries.filter { $0.hasPrefix("TLS_") }
        let list = entries.filter { !$0.hasPrefix("TLS_") }
        return TLSConfiguration(
            certfile: certfile, keyfile: keyfile, caCerts: caCerts, certReqs: certReqs,
            ciphers: list.isEmpty ? nil : list.joined(separator: ":"),
            cipherSuites: suites.isEmpty ? nil : suites.joined(separator: ":"),
            minimumVersion: tlsMinVersion, alpnProtocols: ["http/1.1"], serverCertificates: serverCertificates)
    }

    /// A problem with one `sni_cert` value.
    public struct ServerCertificateProblem: Error {
        public let message: String
    }

    /// `NAMES:CERTFILE:KEYFILE`.
    static func parseServerCertificate(_ text: String) throws(ServerCertificateProblem) -> TLSConfiguration.ServerCertificate {
        let parts = text.trimmingSpaces.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw ServerCertificateProblem(message: "expected NAMES:CERTFILE:KEYFILE (e.g. api.example.com,*.example.com:/etc/tls/api.pem:/etc/tls/api.key)")
        }
        let names = parts[0].split(separator: ",").map { String($0).trimmingSpaces }
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }) else {
            throw ServerCertificateProblem(message: "no server names before the first ':'")
        }
        return TLSConfiguration.ServerCertificate(names: names, certfile: parts[1], keyfile: parts[2])
    }

    /// The settings with every TLS file path made absolute against the current directory, as the
    /// master resolves them once (workers and reloads then read the same files).
    public func anchoringTLSPaths() -> Settings {
        var settings = self
        settings.certfile = certfile.map { Files.absolute($0) }
        settings.keyfile = keyfile.map { Files.absolute($0) }
        settings.caCerts = caCerts.map { Files.absolute($0) }
        settings.sniCerts = sniCerts.map { entry in
            guard let parsed = try? Self.parseServerCertificate(entry) else { return entry }
            return "\(parsed.names.joined(separator: ",")):\(Files.absolute(parsed.certfile)):\(Files.absolute(parsed.keyfile))"
        }
        return settings
    }

    /// Every listener: `bind` (TLS when configured), then `insecure_bind` (always plain).
    public var allBinds: [String] { bind + insecureBind }
}
