import ArbiterABI
import Dispatch
import Synchronization
import Glibc

/// Errors the server reports about an exchange.
public enum ExchangeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The client went away; stop working on this request.
    case disconnected
    /// The request body broke its framing or a size limit (the server answers 400/413 itself).
    case badBody
    /// The request body is larger than the limit the application asked for.
    case bodyTooLarge(limit: Int)
    /// An exchange call came in the wrong order.
    case invalidState

    init(status: Int32) {
        switch status {
        case Int32(ARBITER_ERR_DISCONNECTED): self = .disconnected
        case Int32(ARBITER_ERR_BAD_BODY): self = .badBody
        default: self = .invalidState
        }
    }

    public var description: String {
        switch self {
        case .disconnected: "client disconnected"
        case .badBody: "malformed request body"
        case .bodyTooLarge(let limit): "request body larger than \(limit) bytes"
        case .invalidState: "exchange used out of order"
        }
    }
}

/// The application side of one `arbiter_exchange`: each C call with a completion callback is offered
/// both as `async` (for async code) and blocking (for synchronous code on a thread that may block).
///
/// A value of one pointer (no allocation per request): the server keeps the `arbiter_exchange`
/// alive until the application releases it, and its calls may come from any thread.
struct Exchange: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<arbiter_exchange>

    init(_ pointer: UnsafeMutablePointer<arbiter_exchange>) {
        self.pointer = pointer
    }

    private var calls: arbiter_exchange_calls { pointer.pointee.calls.pointee }

    /// The next body chunk, or nil at the end. No suspension when the server answers inline.
    func read(max: Int) async throws -> [UInt8]? {
        let completion = Completion<[UInt8]?>()
        calls.read(pointer, max, Unmanaged.passRetained(completion).toOpaque()) { ctx, data, length, status in
            let completion = Unmanaged<Completion<[UInt8]?>>.fromOpaque(ctx!).takeRetainedValue()
            switch Int32(status) {
            case Int32(ARBITER_OK): completion.complete(.success(data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []))
            case Int32(ARBITER_END): completion.complete(.success(nil))
            default: completion.complete(.failure(ExchangeError(status: status)))
            }
        }
        return try await completion.value()
    }

    func readBlocking(max: Int) throws -> [UInt8]? {
        try Runtime.checkMayBlock("request.body.read(upTo:)")
        return try blocking { done in startRead(max: max, done) }
    }

    private func startRead(max: Int, _ done: @escaping @Sendable (Result<[UInt8]?, Error>) -> Void) {
        let box = Unmanaged.passRetained(Callback(done)).toOpaque()
        calls.read(pointer, max, box) { ctx, data, length, status in
            let callback = Unmanaged<Callback<[UInt8]?>>.fromOpaque(ctx!).takeRetainedValue()
            switch Int32(status) {
            case Int32(ARBITER_OK): callback.done(.success(data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []))
            case Int32(ARBITER_END): callback.done(.success(nil))
            default: callback.done(.failure(ExchangeError(status: status)))
            }
        }
    }

    func sendHead(status: Int, headers: Headers, contentLength: Int?) throws {
        let rc = headers.withCHeaders { views in
            calls.send_head(pointer, UInt16(clamping: status), views.baseAddress, views.count, Int64(contentLength ?? -1))
        }
        if rc != ARBITER_OK { throw ExchangeError(status: rc) }
    }

    /// Hands bytes to the server; suspends only while the client is slow to read (backpressure).
    func write(_ bytes: [UInt8]) async throws {
        let completion = Completion<Void>()
        let context = Unmanaged.passRetained(completion).toOpaque()
        bytes.withUnsafeBufferPointer { buffer in
            calls.write(pointer, buffer.baseAddress, buffer.count, context) { ctx, status in
                let completion = Unmanaged<Completion<Void>>.fromOpaque(ctx!).takeRetainedValue()
                completion.complete(status == ARBITER_OK ? .success(()) : .failure(ExchangeError(status: status)))
            }
        }
        try await completion.value()
    }

    func writeBlocking(_ bytes: [UInt8]) throws {
        try Runtime.checkMayBlock("A blocking write of the response body")
        try blocking { done in startWrite(bytes, done) }
    }

    private func startWrite(_ bytes: [UInt8], _ done: @escaping @Sendable (Result<Void, Error>) -> Void) {
        let box = Unmanaged.passRetained(Callback(done)).toOpaque()
        bytes.withUnsafeBufferPointer { buffer in
            calls.write(pointer, buffer.baseAddress, buffer.count, box) { ctx, status in
                let callback = Unmanaged<Callback<Void>>.fromOpaque(ctx!).takeRetainedValue()
                callback.done(status == ARBITER_OK ? .success(()) : .failure(ExchangeError(status: status)))
            }
        }
    }

    /// The server takes a whole response in one call (ABI field `respond`): on the thread that owns
    /// the connection it completes within the call, with nothing to wait for.
    var offersWholeResponses: Bool {
        guard let table = pointer.pointee.calls else { return false }
        return table.pointee.struct_size >= MemoryLayout<arbiter_exchange_calls>.size && table.pointee.respond != nil
    }

    /// Sends head, body and end in one call when the server offers it (ABI field `respond`); false
    /// when it does not, and the caller sends them one by one.
    func respond(status: Int, headers: Headers, body: [UInt8]) throws -> Bool {
        guard offersWholeResponses, let respond = pointer.pointee.calls.pointee.respond else { return false }
        let rc = headers.withCHeaders { views in
            body.withUnsafeBufferPointer { bytes in
                respond(pointer, UInt16(clamping: status), views.baseAddress, views.count, bytes.baseAddress, bytes.count)
            }
        }
        if rc != ARBITER_OK { throw ExchangeError(status: rc) }
        return true
    }

    func finish(trailers: Headers) {
        trailers.withCHeaders { views in calls.finish(pointer, views.baseAddress, views.count) }
    }

    func abort() {
        calls.abort(pointer)
    }

    /// Starts an operation and waits for its callback, which may run inline or on another thread.
    private func blocking<T>(_ start: (@escaping @Sendable (Result<T, Error>) -> Void) -> Void) throws -> T {
        let waiter = Waiter<T>()
        start { waiter.resume($0) }
        return try waiter.wait()
    }
}

/// The result of a C call with a completion callback, which may come inline (then awaiting it does
/// not suspend) or later from another thread.
final class Completion<T: Sendable>: Sendable {
    private enum State: Sendable {
        case pending
        case done(Result<T, Error>)
        case waiting(UnsafeContinuation<T, Error>)
    }

    private let state = Mutex(State.pending)

    func complete(_ result: Result<T, Error>) {
        let waiter: UnsafeContinuation<T, Error>? = state.withLock { state in
            defer { state = .done(result) }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> T {
        let ready: Result<T, Error>? = state.withLock { state in
            if case .done(let result) = state { return result }
            return nil
        }
        if let ready { return try ready.get() }
        return try await withUnsafeThrowingContinuation { continuation in
            let ready: Result<T, Error>? = state.withLock { state in
                if case .done(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// A completion handler carried through a C `void *` context.
final class Callback<T>: @unchecked Sendable {
    let done: @Sendable (Result<T, Error>) -> Void
    init(_ done: @escaping @Sendable (Result<T, Error>) -> Void) { self.done = done }
}

/// A one-shot result a blocking thread waits for.
final class Waiter<T>: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?

    func resume(_ result: Result<T, Error>) {
        self.result = result
        semaphore.signal()
    }

    func wait() throws -> T {
        semaphore.wait()
        return try result!.get()
    }
}
