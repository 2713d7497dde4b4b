import CArbiter
import Glibc

/// A worker's counters, on a page shared with the master (a memfd, like the heartbeat): requests by
/// method, status class and code, a duration histogram, connections, bytes, event-loop blocks and
/// the synchronous-code pool. The worker counts without locks (each counting thread owns a stripe);
/// the master reads the page whenever it likes, so a scrape never waits for a worker, and keeps the
/// last counts of a worker that exited.
///
/// Layout: a 64-byte header, then `stripes` stripes of `Field.stripeFields` 64-bit counters.
/// Stripe 0 takes atomic adds from threads without a stripe; stripe 1 is the worker's loop thread,
/// stripes 2… the sync worker's request threads. Owned by the threads that write them (see
/// `arbiter_counters.h`); the master only reads.
public struct WorkerCounters: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let stripes: Int

    /// Bytes of a page with `stripes` stripes.
    public static func size(stripes: Int) -> Int {
        Int(ARBITER_COUNTER_HEADER) + max(1, stripes) * Field.stripeFields * 8
    }

    /// Stripes a worker needs: the shared one, its loop thread, and each request thread.
    public static func stripes(requestThreads: Int) -> Int { 2 + requestThreads }

    /// Creates the page (master side). Returns the descriptor to hand to the worker.
    public static func create(stripes: Int) throws(SystemError) -> (WorkerCounters, Int32) {
        let fd = try syscall("memfd_create") { arbiter_memfd("arbiter-counters") }
        let size = size(stripes: stripes)
        do {
            try syscall("ftruncate") { ftruncate(fd, off_t(size)) }
            return (try map(fd: fd, size: size), fd)
        } catch {
            Descriptor.close(fd)
            throw error
        }
    }

    /// Maps an inherited page (worker side).
    public static func map(fd: Int32, size: Int) throws(SystemError) -> WorkerCounters {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw SystemError("mmap(counters)")
        }
        let stripes = (size - Int(ARBITER_COUNTER_HEADER)) / (Field.stripeFields * 8)
        return WorkerCounters(base: p, size: size, stripes: stripes)
    }

    /// A private page (the master's own counts: its log lines).
    public static func local(stripes: Int = 1) -> WorkerCounters {
        let size = size(stripes: stripes)
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return WorkerCounters(base: p, size: size, stripes: stripes)
    }

    public func unmap() { munmap(base, size) }

    /// This process counts into this page from now on (once, before other threads start).
    public func install() { arbiter_counters_install(base, Int32(stripes)) }

    /// The sum of every stripe, read without stopping the writers (each counter is read atomically;
    /// counters written meanwhile may be a few counts apart).
    public func read() -> CounterValues {
        var values = CounterValues()
        values.values.withUnsafeMutableBufferPointer { out in
            for stripe in 0..<stripes {
                for field in 0..<Field.stripeFields {
                    out[field] &+= arbiter_counters_read(base, Int32(stripe), Int32(field))
                }
            }
        }
        return values
    }
}

/// Counting from the worker's threads, into the page the process installed (nothing without one).
extension WorkerCounters {
    /// The calling thread counts into its own stripe from now on (1: the loop thread; 2…: request
    /// threads).
    public static func adopt(stripe: Int) { arbiter_counters_adopt(Int32(stripe)) }

    /// Whether this process counts (a page is installed): callers skip preparing a count otherwise.
    @inline(__always)
    public static var isActive: Bool { arbiter_counters_active() != 0 }

    @inline(__always)
    public static func add(_ field: Int32, _ n: Int = 1) { arbiter_counters_add(field, UInt64(truncatingIfNeeded: n)) }

    /// A request completed with `status` (0: no response) after `seconds`.
    @inline(__always)
    public static func requestCompleted(method: UnsafeRawBufferPointer, status: Int, seconds: Double) {
        let micros = seconds > 0 ? UInt64(seconds * 1_000_000) : 0
        let code = status >= 0 && status < Int(ARBITER_COUNTER_STATUS_CODE_COUNT) ? status : 0
        let statusClass = status >= 100 && status < 600 ? status / 100 : 0
        let methodClass = Field.methodIndex(method) * Int(ARBITER_COUNTER_CLASSES) + statusClass
        arbiter_counters_request(Int32(methodClass), Int32(code), Int32(Field.bucket(micros: micros)), micros)
    }
}
