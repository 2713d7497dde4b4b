/// The request body, read from the connection as the application asks for it (one read at a time,
/// so a slow application slows the client down instead of buffering).
///
/// Async code iterates it (`for try await chunk in request.body`) or calls `collect(upTo:)`;
/// synchronous code calls `read(upTo:)`.
public struct RequestBody: Sendable, AsyncSequence {
    public typealias Element = [UInt8]

    enum Source: Sendable {
        case empty
        case bytes([UInt8])
        case exchange(Exchange)
    }

    let source: Source
    /// The declared length, or nil when chunked.
    public let declaredLength: Int?

    init(source: Source, declaredLength: Int?) {
        self.source = source
        self.declaredLength = declaredLength
    }

    public static let empty = RequestBody(source: .empty, declaredLength: 0)

    /// A body from bytes (for tests and in-process calls).
    public static func bytes(_ bytes: [UInt8]) -> RequestBody {
        RequestBody(source: .bytes(bytes), declaredLength: bytes.count)
    }

    static let chunkSize = 65_536

    /// Reads the whole body; throws `ExchangeError.bodyTooLarge` past `limit` bytes.
    public func collect(upTo limit: Int = 1 << 20) async throws -> [UInt8] {
        if let declaredLength, declaredLength > limit { throw ExchangeError.bodyTooLarge(limit: limit) }
        var out: [UInt8] = []
        for try await chunk in self {
            out.append(contentsOf: chunk)
            if out.count > limit { throw ExchangeError.bodyTooLarge(limit: limit) }
        }
        return out
    }

    /// Reads the whole body, blocking the calling thread (synchronous applications).
    public func read(upTo limit: Int = 1 << 20) throws -> [UInt8] {
        if let declaredLength, declaredLength > limit { throw ExchangeError.bodyTooLarge(limit: limit) }
        switch source {
        case .empty: return []
        case .bytes(let bytes): return bytes
        case .exchange(let exchange):
            var out: [UInt8] = []
            while let chunk = try exchange.readBlocking(max: Self.chunkSize) {
                out.append(contentsOf: chunk)
                if out.count > limit { throw ExchangeError.bodyTooLarge(limit: limit) }
            }
            return out
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var source: Source
        var finished = false

        public mutating func next() async throws -> [UInt8]? {
            guard !finished else { return nil }
            switch source {
            case .empty:
                finished = true
                return nil
            case .bytes(let bytes):
                finished = true
                return bytes.isEmpty ? nil : bytes
            case .exchange(let exchange):
                let chunk = try await exchange.read(max: RequestBody.chunkSize)
                if chunk == nil { finished = true }
                return chunk
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }
}
