import ArbiterABI
import HTTP1

/// Builds the borrowed C view of a request head for `handle`.
enum RequestView {
    static let http = Array("http".utf8)

    static func with<R>(head: RequestHead, connection: ServerConnection, client: Client, _ body: (UnsafePointer<arbiter_request>) -> R) -> R {
        let remoteHost = client.hostBytes
        let localHost = connection.localHostBytes
        let schemeBytes = client.scheme == "http" ? Self.http : Array(client.scheme.utf8)
        return head.bytes.withUnsafeBufferPointer { bytes in
            let base = bytes.baseAddress!
            func view(_ range: Range<Int>) -> arbiter_bytes { arbiter_bytes(base: base + range.lowerBound, length: range.count) }
            let headers = head.fields.map { arbiter_header(name: view($0.name), value: view($0.value)) }
            let contentLength: Int64 = switch head.framing {
            case .none: 0
            case .length(let n): n
            case .chunked: -1
            }
            return headers.withUnsafeBufferPointer { headerViews in
                remoteHost.withUnsafeBufferPointer { remote in
                    localHost.withUnsafeBufferPointer { local in
                        schemeBytes.withUnsafeBufferPointer { schemeView in
                            var request = arbiter_request(
                                struct_size: MemoryLayout<arbiter_request>.size,
                                method: view(head.methodRange), target: view(head.targetRange),
                                version_major: head.version.major, version_minor: head.version.minor,
                                headers: headerViews.baseAddress, header_count: headerViews.count,
                                remote_host: arbiter_bytes(base: remote.baseAddress, length: remote.count),
                                remote_port: client.port,
                                server_host: arbiter_bytes(base: local.baseAddress, length: local.count),
                                server_port: connection.local?.port ?? 0,
                                scheme: arbiter_bytes(base: schemeView.baseAddress, length: schemeView.count),
                                content_length: contentLength)
                            return withUnsafePointer(to: &request) { body($0) }
                        }
                    }
                }
            }
        }
    }
}
