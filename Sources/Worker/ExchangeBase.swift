import ArbiterABI
import HTTP1

/// The server side of one request, reached from the application through `arbiter_exchange`.
/// Each worker class subclasses it with its own I/O.
class ExchangeBase: @unchecked Sendable {
    /// The C handle given to the application; `server_data` points back here (unretained: the
    /// request's owner keeps this object alive until the exchange ends).
    let raw: UnsafeMutablePointer<arbiter_exchange>

    init() {
        raw = .allocate(capacity: 1)
        raw.initialize(to: arbiter_exchange(calls: ExchangeBase.callTable, server_data: nil))
        raw.pointee.server_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        raw.deallocate()
    }

    func read(max: Int, context: UnsafeMutableRawPointer?, callback: arbiter_read_cb) {
        callback(context, nil, 0, Status.invalidState)
    }

    func sendHead(status: Int, headers: UnsafeBufferPointer<arbiter_header>, contentLength: Int64) -> Int32 {
        Status.invalidState
    }

    func write(_ bytes: UnsafeRawBufferPointer, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        callback(context, Status.invalidState)
    }

    func finish(trailers: UnsafeBufferPointer<arbiter_header>) {}

    func abort() {}

    static func from(_ ex: UnsafeMutablePointer<arbiter_exchange>?) -> ExchangeBase {
        Unmanaged<ExchangeBase>.fromOpaque(ex!.pointee.server_data!).takeUnretainedValue()
    }

    nonisolated(unsafe) static let callTable: UnsafePointer<arbiter_exchange_calls> = {
        let table = UnsafeMutablePointer<arbiter_exchange_calls>.allocate(capacity: 1)
        table.initialize(to: arbiter_exchange_calls(
            struct_size: MemoryLayout<arbiter_exchange_calls>.size,
            read: { ex, max, ctx, cb in ExchangeBase.from(ex).read(max: max, context: ctx, callback: cb!) },
            send_head: { ex, status, headers, count, length in
                ExchangeBase.from(ex).sendHead(
                    status: Int(status), headers: UnsafeBufferPointer(start: headers, count: count), contentLength: length)
            },
            write: { ex, data, length, ctx, cb in
                ExchangeBase.from(ex).write(UnsafeRawBufferPointer(start: data, count: length), context: ctx, callback: cb!)
            },
            finish: { ex, trailers, count in ExchangeBase.from(ex).finish(trailers: UnsafeBufferPointer(start: trailers, count: count)) },
            abort: { ex in ExchangeBase.from(ex).abort() }))
        return UnsafePointer(table)
    }()

    /// Trailer fields as encoder input, dropping invalid ones.
    static func trailerFields(_ views: UnsafeBufferPointer<arbiter_header>) -> [(name: [UInt8], value: [UInt8])] {
        views.compactMap { view in
            let name = view.name.base.map { Array(UnsafeBufferPointer(start: $0, count: view.name.length)) } ?? []
            let value = view.value.base.map { Array(UnsafeBufferPointer(start: $0, count: view.value.length)) } ?? []
            return ResponseEncoder.isAcceptableResponseHeader(name: name, value: value) ? (name, value) : nil
        }
    }
}

/// The ABI's status values as the `Int32` the C callbacks take.
enum Status {
    static let ok = Int32(ARBITER_OK)
    static let end = Int32(ARBITER_END)
    static let disconnected = Int32(ARBITER_ERR_DISCONNECTED)
    static let badBody = Int32(ARBITER_ERR_BAD_BODY)
    static let invalidState = Int32(ARBITER_ERR_STATE)
}
