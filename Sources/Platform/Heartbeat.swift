import CArbiter
import Glibc

/// A page of memory shared by the master and one worker (a memfd: no file on disk, no syscall per
/// beat). The worker stamps it; the master reads it to find a stuck worker and name what it was doing.
///
/// Layout: a 64-byte header (`beat` µs, `served` count, `kind`, `slots`), then `slots` records of
/// 256 bytes: `busy_since` µs (0 when idle), `progress` µs, a sequence number (odd while the label is
/// written) and the label (`GET /path`) of what the slot is busy with.
public struct Heartbeat: @unchecked Sendable {
    public enum Kind: UInt32, Sendable {
        /// Each slot is a request thread; a busy slot without progress for `timeout` is stuck.
        case requestThreads = 1
        /// Slot 0 is the event loop's current job; a silent loop is stuck.
        case eventLoop = 2
    }

    /// An event-loop worker lists up to this many in-flight requests in slots 1… (slot 0 is its
    /// loop's current job).
    public static let eventLoopRequestSlots = 32

    static let headerSize = 64
    static let slotSize = 256
    static let labelCapacity = slotSize - 24

    public let base: UnsafeMutableRawPointer
    public let size: Int

    public static func size(slots: Int) -> Int { headerSize + max(1, slots) * slotSize }

    /// Creates the shared page (master side). Returns the descriptor to hand to the worker.
    public static func create(slots: Int) throws(SystemError) -> (Heartbeat, Int32) {
        let fd = try syscall("memfd_create") { arbiter_memfd("arbiter-heartbeat") }
        let size = size(slots: slots)
        do {
            try syscall("ftruncate") { ftruncate(fd, off_t(size)) }
            let heartbeat = try map(fd: fd, size: size)
            heartbeat.setSlots(slots)
            return (heartbeat, fd)
        } catch {
            Descriptor.close(fd)
            throw error
        }
    }

    /// Maps an inherited page (worker side).
    public static func map(fd: Int32, size: Int) throws(SystemError) -> Heartbeat {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw SystemError("mmap(heartbeat)")
        }
        return Heartbeat(base: p, size: size)
    }

    public func unmap() { munmap(base, size) }

    public static var now: UInt64 { Clock.monotonicMicroseconds() }

    public func beat(_ time: UInt64 = Heartbeat.now) { arbiter_store_u64(base, time) }
    public var lastBeat: UInt64 { arbiter_load_u64(base) }

    public func countServed(_ n: UInt64) { arbiter_store_u64(base + 8, n) }
    public var served: UInt64 { arbiter_load_u64(base + 8) }

    public var kind: Kind? { Kind(rawValue: arbiter_load_u32(base + 16)) }
    public func setKind(_ kind: Kind) { arbiter_store_u32(base + 16, kind.rawValue) }

    public var slots: Int { Int(arbiter_load_u32(base + 20)) }
    func setSlots(_ n: Int) { arbiter_store_u32(base + 20, UInt32(n)) }

    private func slot(_ i: Int) -> UnsafeMutableRawPointer { base + Self.headerSize + i * Self.slotSize }

    /// Marks slot `i` busy with `label` since `time`.
    public func begin(slot i: Int, label: UnsafeRawBufferPointer, at time: UInt64 = Heartbeat.now) {
        guard i < slots else { return }
        let p = slot(i)
        let seq = arbiter_load_u32(p + 16)
        arbiter_store_u32(p + 16, seq | 1)
        let n = min(label.count, Self.labelCapacity)
        if n > 0 { (p + 24).copyMemory(from: label.baseAddress!, byteCount: n) }
        arbiter_store_u32(p + 20, UInt32(n))
        arbiter_store_u32(p + 16, (seq | 1) &+ 1)
        arbiter_store_u64(p + 8, time)
        arbiter_store_u64(p, time)
    }

    public func progress(slot i: Int, at time: UInt64 = Heartbeat.now) {
        guard i < slots else { return }
        arbiter_store_u64(slot(i) + 8, time)
    }

    public func end(slot i: Int) {
        guard i < slots else { return }
        arbiter_store_u64(slot(i), 0)
    }

    public struct SlotState: Sendable, Equatable {
        public let busySince: UInt64
        public let progress: UInt64
        public let label: String
    }

    /// A consistent read of slot `i` (nil when idle).
    public func read(slot i: Int) -> SlotState? {
        guard i < slots else { return nil }
        let p = slot(i)
        for _ in 0..<8 {
            let before = arbiter_load_u32(p + 16)
            let busy = arbiter_load_u64(p)
            if busy == 0 { return nil }
            let progress = arbiter_load_u64(p + 8)
            let n = min(Int(arbiter_load_u32(p + 20)), Self.labelCapacity)
            let label = String(decoding: UnsafeRawBufferPointer(start: p + 24, count: n), as: UTF8.self)
            if before & 1 == 0 && arbiter_load_u32(p + 16) == before {
                return SlotState(busySince: busy, progress: progress, label: label)
            }
        }
        return nil
    }
}
