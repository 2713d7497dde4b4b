import Glibc
import Synchronization

/// A throwaway PKI made with the `openssl` command line once per test process, removed at exit:
/// a CA, two server certificates (for SNI), a renewed `alpha` certificate (for reloads), a client
/// certificate, and a client certificate from another CA.
public struct Certificates: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let directory: String

    /// The file `name` (e.g. "alpha.crt") in the fixture directory.
    public func path(_ name: String) -> String { directory + "/" + name }

    /// The contents of `name`.
    public func contents(_ name: String) throws -> String {
        guard let file = fopen(path(name), "r") else { throw Failure(description: "cannot open \(name)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static let shared: Result<Certificates, Failure> = Result { () throws(Failure) in try make() }

    /// The fixtures, made on first use.
    public static func get() throws -> Certificates { try shared.get() }

    private static let script = """
        set -e
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
        root() { key "$1"; openssl req -x509 -new -key "$1.key" -subj "$2" -days 2 -out "$1.crt"; }
        sign() {
            key "$1"
            openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
            printf '%s\\n' "$3" > "$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$4.crt" -CAkey "$4.key" -CAcreateserial -days 2 \\
                -extfile "$1.ext" -out "$1.crt" 2>/dev/null
        }
        root ca "/O=Arbiter Tests/CN=Arbiter Test CA"
        root other-ca "/O=Elsewhere/CN=Other CA"
        sign alpha "/CN=alpha.test" "subjectAltName=DNS:alpha.test" ca
        sign beta "/CN=beta.test" "subjectAltName=DNS:beta.test,DNS:*.beta.test" ca
        sign alpha-renewed "/CN=alpha.test renewed" "subjectAltName=DNS:alpha.test" ca
        sign client "/O=Arbiter Tests/CN=client.test" "extendedKeyUsage=clientAuth" ca
        sign intruder "/O=Elsewhere/CN=intruder.test" "extendedKeyUsage=clientAuth" other-ca
        """

    private static func make() throws(Failure) -> Certificates {
        var template = Array("/tmp/arbiter-tls-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw Failure(description: "mkdtemp failed") }
        let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        fixtureDirectory.withLock { $0 = directory }
        atexit { removeFixtureDirectory() }
        let process: ChildProcess
        do {
            process = try ChildProcess(["/bin/sh", "-c", "cd '\(directory)' && " + script])
        } catch {
            throw Failure(description: "cannot run /bin/sh: \(error)")
        }
        guard process.wait(timeout: 60) == 0 else {
            throw Failure(description: "openssl failed making the test certificates:\n\(process.output)")
        }
        return Certificates(directory: directory)
    }
}

private let fixtureDirectory = Mutex<String?>(nil)

/// Deletes the fixture directory (its files are flat).
private func removeFixtureDirectory() {
    guard let directory = fixtureDirectory.withLock({ $0 }), let dir = opendir(directory) else { return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { unlink(directory + "/" + name) }
    }
    closedir(dir)
    rmdir(directory)
}
