import Configuration
import Testing
import TLS

@Suite struct TLSSettingsTests {
    @Test func noTLSSettingMeansNoTLS() throws {
        let settings = try resolve(["a:b"]).settings
        #expect(!settings.usesTLS)
        #expect(try settings.tlsConfiguration() == nil)
        #expect(settings.tlsMinVersion == .tls12)
        #expect(settings.certReqs == .none)
    }

    @Test func gunicornsNamesBuildTheConfiguration() throws {
        let settings = try resolve([
            "a:b", "--certfile", "/tls/server.pem", "--keyfile", "/tls/server.key", "--ca-certs", "/tls/ca.pem",
            "--cert-reqs", "required", "--ciphers", "ECDHE+AESGCM:TLS_AES_256_GCM_SHA384:ECDHE+CHACHA20",
            "--ssl-version", "TLSv1.3", "--sni-cert", "api.example.com, *.api.example.com:/tls/api.pem:/tls/api.key",
            "--insecure-bind", "unix:/run/health.sock", "--do-handshake-on-connect",
        ]).settings
        let configuration = try #require(try settings.tlsConfiguration())
        #expect(configuration.certfile == "/tls/server.pem")
        #expect(configuration.keyfile == "/tls/server.key")
        #expect(configuration.caCerts == "/tls/ca.pem")
        #expect(configuration.certReqs == .required)
        // TLS 1.3 suite names go to the TLS 1.3 list; the rest is OpenSSL's TLS 1.2 cipher list.
        #expect(configuration.ciphers == "ECDHE+AESGCM:ECDHE+CHACHA20")
        #expect(configuration.cipherSuites == "TLS_AES_256_GCM_SHA384")
        #expect(configuration.minimumVersion == .tls13)
        #expect(configuration.alpnProtocols == ["http/1.1"])
        #expect(configuration.serverCertificates == [
            .init(names: ["api.example.com", "*.api.example.com"], certfile: "/tls/api.pem", keyfile: "/tls/api.key"),
        ])
        #expect(settings.allBinds == ["127.0.0.1:8000", "unix:/run/health.sock"])
        #expect(settings.doHandshakeOnConnect)
    }

    @Test func theConfigFileTakesTheSameKeys() throws {
        let text = """
            certfile = /tls/server.pem
            keyfile = /tls/server.key
            sni_cert = a.example:/tls/a.pem:/tls/a.key
            sni_cert = b.example:/tls/b.pem:/tls/b.key
            tls_min_version = TLSv1.2
            tls_handshake_timeout = 4
            tls_ticket_key_rotation = 600
            """
        let settings = try resolve(["-c", "/app.conf", "a:b"], files: ["/app.conf": text]).settings
        #expect(try settings.tlsConfiguration()?.serverCertificates.map(\.names) == [["a.example"], ["b.example"]])
        #expect(settings.tlsHandshakeTimeout == 4)
        #expect(settings.tlsTicketKeyRotation == 600)
    }

    @Test func contradictionsAreRefused() throws {
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--keyfile", "/k"]).settings.tlsConfiguration() }
        #expect(throws: ConfigError.self) {
            try resolve(["a:b", "--certfile", "/c", "--keyfile", "/k", "--cert-reqs", "required"]).settings.tlsConfiguration()
        }
        #expect(throws: ConfigError.self) {
            try resolve(["a:b", "--certfile", "/c", "--keyfile", "/k", "-b", "127.0.0.1:9000", "--insecure-bind", "127.0.0.1:9000"])
                .settings.tlsConfiguration()
        }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--sni-cert", "/tls/only-a-path.pem"]) }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--sni-cert", ":/c.pem:/k.pem"]) }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--cert-reqs", "sometimes"]) }
        // Gunicorn's values (ssl.CERT_*) are accepted too.
        for (value, expected) in [("0", "none"), ("1", "optional"), ("2", "required"), ("CERT_REQUIRED", "required")] {
            #expect(try resolve(["a:b", "--cert-reqs", value]).settings.certReqs.rawValue == expected)
        }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--cert-reqs", "3"]) }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--tls-min-version", "TLSv1.1"]) }
        do {
            _ = try resolve(["a:b", "--ssl-version", "PROTOCOL_TLS_SERVER"])
            Issue.record("Gunicorn's constant was accepted")
        } catch {
            #expect("\(error)".contains("oldest version accepted: TLSv1.2 (default) or TLSv1.3"))
        }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--tls-ticket-key-rotation", "0"]) }
        #expect(throws: ConfigError.self) { try resolve(["a:b", "--ciphers", "ECDHE::AES"]) }
    }

    @Test func relativePathsAreAnchoredOnce() throws {
        let settings = try resolve(["a:b", "--certfile", "tls/s.pem", "--keyfile", "/abs/s.key", "--sni-cert", "x.example:tls/x.pem:x.key"])
            .settings.anchoringTLSPaths()
        #expect(settings.certfile?.hasPrefix("/") == true)
        #expect(settings.certfile?.hasSuffix("/tls/s.pem") == true)
        #expect(settings.keyfile == "/abs/s.key")
        let sni = try #require(try settings.tlsConfiguration()?.serverCertificates.first)
        #expect(sni.certfile.hasPrefix("/") && sni.keyfile.hasPrefix("/"))
        #expect(sni.names == ["x.example"])
    }
}
