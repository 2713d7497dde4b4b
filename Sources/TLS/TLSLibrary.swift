import COpenSSL

/// The OpenSSL 3 shared libraries, opened with `dlopen` the first time TLS is configured.
///
/// The binary does not link OpenSSL, so a server without TLS runs on a machine without it. The first
/// successful `load()` in a process wins; later loads check their names but keep the loaded library.
public struct TLSLibrary: Sendable, Equatable {
    /// The libssl file name, searched like any `dlopen` name.
    public var ssl: String
    /// The libcrypto file name.
    public var crypto: String

    /// The system's OpenSSL 3 (Debian package `libssl3`).
    public static let system = TLSLibrary(ssl: "libssl.so.3", crypto: "libcrypto.so.3")

    /// The variable that replaces the libssl file name, so tests can make loading fail; never set in
    /// production (the default is `system`).
    public static let overrideVariable = "ARBITER_TLS_LIBSSL_NAME"

    /// `system`, or `system` with the libssl name `overrideVariable` gives.
    public static func configured(environment: [String: String]) -> TLSLibrary {
        guard let name = environment[overrideVariable], !name.isEmpty else { return .system }
        return TLSLibrary(ssl: name, crypto: system.crypto)
    }

    /// The Debian package that provides both libraries.
    public static let debianPackage = "libssl3"

    public init(ssl: String, crypto: String) {
        self.ssl = ssl
        self.crypto = crypto
    }

    /// Opens both libraries and resolves every function the TLS layer uses.
    public func load() throws(TLSError) {
        var detail = [CChar](repeating: 0, count: 512)
        let outcome = cossl_load(ssl, crypto, &detail, detail.count)
        let text = String(decoding: detail.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let hint = "TLS needs OpenSSL 3; on Debian and Ubuntu install the package \(Self.debianPackage)"
        switch Int(outcome) {
        case COSSL_LOAD_OK:
            return
        case COSSL_LOAD_NO_CRYPTO:
            throw TLSError(.libraryUnavailable, "cannot load \(crypto) (\(hint)): \(text)")
        case COSSL_LOAD_NO_SSL:
            throw TLSError(.libraryUnavailable, "cannot load \(ssl) (\(hint)): \(text)")
        case COSSL_LOAD_NO_SYMBOL:
            throw TLSError(.libraryUnavailable, "\(ssl) or \(crypto) lacks the function \(text) (\(hint))")
        default:
            throw TLSError(.libraryUnavailable, "\(crypto) is OpenSSL version \(text), older than 3.0 (\(hint))")
        }
    }
}
