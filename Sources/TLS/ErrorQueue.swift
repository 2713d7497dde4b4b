import COpenSSL

/// The calling thread's OpenSSL error queue.
///
/// The queue is per thread and shared by every session on it, so each operation clears it first
/// (`SSL_get_error` reads a leftover error as a failure of the current call) and drains it right
/// after a failure.
enum ErrorQueue {
    /// Discards errors left by earlier operations on this thread. Looks first: the queue is empty
    /// on almost every call, and `ERR_clear_error` wipes all of its slots each time, which cost a
    /// TLS request several times what looking does.
    static func clear() {
        if cossl_ERR_peek_error() != 0 { cossl_ERR_clear_error() }
    }

    /// Takes every queued error, oldest first, with its `ERR_error_string_n` text.
    static func drain() -> (codes: [UInt], reasons: [String]) {
        var codes: [UInt] = []
        var reasons: [String] = []
        while true {
            let code = cossl_ERR_get_error()
            if code == 0 { break }
            codes.append(code)
            var buffer = [CChar](repeating: 0, count: 256)
            cossl_ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return (codes, reasons)
    }

    /// An error whose message is `message`, followed by the drained OpenSSL reasons.
    static func error(_ code: TLSError.Code, _ message: String) -> TLSError {
        let (codes, reasons) = drain()
        return TLSError(code, message, openSSLErrors: codes, reasons: reasons)
    }
}
