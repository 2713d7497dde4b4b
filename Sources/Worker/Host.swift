import ArbiterABI
import Dispatch
import Platform

/// The `arbiter_host` table a worker hands its application.
final class Host: @unchecked Sendable {
    let raw: UnsafeMutablePointer<arbiter_host>
    private let workerClass: UnsafeMutablePointer<CChar>

    init(workerClass: String, logger: Logger, offload: ThreadPool?, loop: Loop? = nil) {
        self.workerClass = strdupSwift(workerClass)
        raw = .allocate(capacity: 1)
        raw.initialize(to: arbiter_host())
        raw.pointee.struct_size = MemoryLayout<arbiter_host>.size
        raw.pointee.abi_version = UInt32(ARBITER_ABI_VERSION)
        raw.pointee.worker_class = UnsafePointer(self.workerClass)
        raw.pointee.worker_pid = ProcessControl.pid
        raw.pointee.log_ctx = Unmanaged.passRetained(logger).toOpaque()
        raw.pointee.log = { context, level, message, length in
            let logger = Unmanaged<Logger>.fromOpaque(context!).takeUnretainedValue()
            let text = message.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self) } ?? ""
            logger.log(Logger.Level(rawValue: Int(level)) ?? .info, text)
        }
        if let loop {
            raw.pointee.executor_ctx = Unmanaged.passRetained(loop).toOpaque()
            raw.pointee.enqueue = { context, job, app, run in
                Unmanaged<Loop>.fromOpaque(context!).takeUnretainedValue().enqueue(Loop.Job(job: job, context: app, run: run!))
            }
            raw.pointee.enqueue_after = { context, job, app, run, delay in
                Unmanaged<Loop>.fromOpaque(context!).takeUnretainedValue()
                    .enqueue(Loop.Job(job: job, context: app, run: run!), after: Double(delay) / 1e9)
            }
            raw.pointee.on_executor = { context in
                Unmanaged<Loop>.fromOpaque(context!).takeUnretainedValue().isCurrent ? 1 : 0
            }
        }
        if let offload {
            raw.pointee.offload_ctx = Unmanaged.passRetained(offload).toOpaque()
            raw.pointee.offload_limit = Int32(offload.size)
            raw.pointee.offload = { context, job, run in
                let pool = Unmanaged<ThreadPool>.fromOpaque(context!).takeUnretainedValue()
                let work = UnsafeJob(job: job, run: run!)
                pool.submit { work.run(work.job) }
            }
        }
    }
}

/// A C job pointer and its function, moved to a pool thread.
struct UnsafeJob: @unchecked Sendable {
    let job: UnsafeMutableRawPointer?
    let run: @convention(c) (UnsafeMutableRawPointer?) -> Void
}

func strdupSwift(_ text: String) -> UnsafeMutablePointer<CChar> {
    let bytes = Array(text.utf8CString)
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    copy.initialize(from: bytes, count: bytes.count)
    return copy
}

/// Runs the application's lifespan hook and waits for its completion.
enum Lifespan {
    /// nil on success, else the application's error message.
    static func run(_ call: (UnsafeMutableRawPointer, arbiter_message_cb) -> Void) -> String? {
        final class Outcome: @unchecked Sendable {
            let semaphore = DispatchSemaphore(value: 0)
            var error: String?
        }
        let outcome = Outcome()
        call(Unmanaged.passUnretained(outcome).toOpaque()) { context, message in
            let outcome = Unmanaged<Outcome>.fromOpaque(context!).takeUnretainedValue()
            outcome.error = message.map { String(cString: $0) }
            outcome.semaphore.signal()
        }
        outcome.semaphore.wait()
        return outcome.error
    }
}
