import ArbiterABI
import HTTP1

/// Builds the borrowed C view of a request head for `handle`.
enum RequestView {
    /// - Parameter forwarded: the client trusted forwarding fields named, if any; else the client
    ///   is the connection's peer, whose view is made from the connection's own fields without
    ///   building a `Client` (whose strings a request would retain and release for nothing).
    static func with<R>(head: RequestHead, connection: ServerConnection, forwarded: Client?, _ body: (UnsafePointer<arbiter_request>) -> R) -> R {
        let secure = connection.transport.isSecure
        let certificate = secure ? connection.transport.clientCertificate : ClientCertificateBytes()
        guard let forwarded else {
            return with(head: head, connection: connection, remoteHost: connection.remoteHostBytes,
                        remotePort: connection.remotePort, scheme: view(connection.scheme), certificate: certificate, body)
        }
        return Array(forwarded.scheme.utf8).withUnsafeBufferPointer { scheme in
            with(head: head, connection: connection, remoteHost: forwarded.hostBytes, remotePort: forwarded.port,
                 scheme: arbiter_bytes(base: scheme.baseAddress, length: scheme.count), certificate: certificate, body)
        }
    }

    private static func view(_ string: StaticString) -> arbiter_bytes {
        arbiter_bytes(base: string.utf8Start, length: string.utf8CodeUnitCount)
    }

    private static func with<R>(
        head: RequestHead, connection: ServerConnection, remoteHost: [UInt8], remotePort: UInt16, scheme: arbiter_bytes,
        certificate: ClientCertificateBytes, _ body: (UnsafePointer<arbiter_request>) -> R
    ) -> R {
        head.withBytes { bytes in
            let base = bytes.baseAddress!
            func view(_ range: Range<Int>) -> arbiter_bytes { arbiter_bytes(base: base + range.lowerBound, length: range.count) }
            let contentLength: Int64 = switch head.framing {
            case .none: 0
            case .length(let n): n
            case .chunked: -1
            }
            // The field views live on the stack for the call: no allocation per request.
            return head.withFields { fields in
                withUnsafeTemporaryAllocation(of: arbiter_header.self, capacity: fields.count) { headerViews in
                    for (index, field) in fields.enumerated() {
                        headerViews.initializeElement(at: index, to: arbiter_header(name: view(field.name), value: view(field.value)))
                    }
                    defer { headerViews.deinitialize() }
                    return withBytes(remoteHost, connection.localHostBytes) { remote, local in
                        withBytes(certificate.subject, certificate.issuer, certificate.pem) { subject, issuer, pem in
                            var request = arbiter_request(
                                struct_size: MemoryLayout<arbiter_request>.size,
                                method: view(head.methodRange), target: view(head.targetRange),
                                version_major: head.version.major, version_minor: head.version.minor,
                                headers: UnsafePointer(headerViews.baseAddress), header_count: headerViews.count,
                                remote_host: remote, remote_port: remotePort,
                                server_host: local, server_port: connection.local?.port ?? 0,
                                scheme: scheme, content_length: contentLength,
                                client_cert_subject: subject, client_cert_issuer: issuer, client_cert_pem: pem)
                            return withUnsafePointer(to: &request) { body($0) }
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with C views of two byte arrays, valid during the call.
    private static func withBytes<R>(_ a: [UInt8], _ b: [UInt8], _ body: (arbiter_bytes, arbiter_bytes) -> R) -> R {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                body(arbiter_bytes(base: a.baseAddress, length: a.count), arbiter_bytes(base: b.baseAddress, length: b.count))
            }
        }
    }

    /// Runs `body` with C views of three byte arrays, valid during the call.
    private static func withBytes<R>(
        _ a: [UInt8], _ b: [UInt8], _ c: [UInt8], _ body: (arbiter_bytes, arbiter_bytes, arbiter_bytes) -> R
    ) -> R {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeBufferPointer { c in
                    body(
                        arbiter_bytes(base: a.baseAddress, length: a.count), arbiter_bytes(base: b.baseAddress, length: b.count),
                        arbiter_bytes(base: c.baseAddress, length: c.count))
                }
            }
        }
    }
}
