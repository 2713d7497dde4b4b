import Platform

/// The bytes of every file a TLS configuration names, read at one moment.
///
/// The master reads them when it checks the configuration (at start and on HUP) and gives them to
/// every worker it starts, which builds its context from them instead of the disk: a worker started
/// later (after a crash, `max_requests`, a timeout) serves what the master checked, whatever the
/// files hold by then — a renewal half written, a key a reload refused.
public struct TLSFiles: Sendable, Equatable {
    /// Contents by path, as the configuration names the files.
    public private(set) var contents: [String: [UInt8]]

    public init(contents: [String: [UInt8]] = [:]) {
        self.contents = contents
    }

    /// Reads every file `configuration` names.
    public static func read(for configuration: TLSConfiguration) throws(TLSError) -> TLSFiles {
        var contents: [String: [UInt8]] = [:]
        for (path, code) in configuration.files where contents[path] == nil {
            do {
                contents[path] = try Files.read(path)
            } catch {
                throw TLSError(code, "cannot read \(path): \(error)")
            }
        }
        return TLSFiles(contents: contents)
    }

    /// Calls `body` with `configuration` naming in-memory copies of these files (closed when it
    /// returns), and with a function that turns those names back into the configured paths (for
    /// messages). Files the snapshot lacks keep their paths.
    func materialized<R>(
        _ configuration: TLSConfiguration, _ body: (TLSConfiguration, (String) -> String) throws(TLSError) -> R
    ) throws(TLSError) -> R {
        var descriptors: [Int32] = []
        defer { for fd in descriptors { Descriptor.close(fd) } }
        var memoryPaths: [String: String] = [:]
        for (path, bytes) in contents {
            do {
                let fd = try Files.inMemory("arbiter-tls", contents: bytes)
                descriptors.append(fd)
                memoryPaths[path] = "/proc/self/fd/\(fd)"
            } catch {
                throw TLSError(.resources, "cannot hold \(path) in memory: \(error)")
            }
        }
        // Longest first: /proc/self/fd/12 before /proc/self/fd/1.
        let back = memoryPaths.sorted { $0.value.count > $1.value.count }
        return try body(configuration.mappingFiles { memoryPaths[$0] ?? $0 }) { text in
            var text = text
            for (path, memory) in back { text = text.replacing(memory, with: path) }
            return text
        }
    }
}

extension TLSConfiguration {
    /// Every file the configuration names, with the error code a failure to load it has.
    var files: [(path: String, code: TLSError.Code)] {
        var files: [(String, TLSError.Code)] = [(certfile, .certificate), (keyfile, .privateKey)]
        if let caCerts, !caCerts.isEmpty { files.append((caCerts, .caCertificates)) }
        for entry in serverCertificates {
            files.append((entry.certfile, .certificate))
            files.append((entry.keyfile, .privateKey))
        }
        return files
    }

    /// The configuration with every file path passed through `transform`.
    func mappingFiles(_ transform: (String) -> String) -> TLSConfiguration {
        var mapped = self
        mapped.certfile = transform(certfile)
        mapped.keyfile = transform(keyfile)
        mapped.caCerts = caCerts.map(transform)
        mapped.serverCertificates = serverCertificates.map {
            ServerCertificate(names: $0.names, certfile: transform($0.certfile), keyfile: transform($0.keyfile))
        }
        return mapped
    }
}
