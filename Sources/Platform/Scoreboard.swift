import CArbiter
import Glibc

/// A page shared by the master and all its workers (a memfd) where each async worker publishes its
/// open connection count, so that workers can take turns accepting: a worker stays off the listeners
/// while it has more connections than the least loaded one (plus a slack), and load spreads evenly
/// whatever the kernel's wake-up order.
///
/// Layout: a 64-byte header (the number of slot indexes in use), then 8-byte slots: bit 63 set while
/// the worker accepts, the low bits its open connections.
public struct Scoreboard: @unchecked Sendable {
    public static let slots = 1024
    static let size = 64 + slots * 8
    static let accepting: UInt64 = 1 << 63

    public let base: UnsafeMutableRawPointer

    /// Creates the page (master side); returns the descriptor to hand to workers.
    public static func create() throws(SystemError) -> (Scoreboard, Int32) {
        let fd = try syscall("memfd_create") { arbiter_memfd("arbiter-scoreboard") }
        do {
            try syscall("ftruncate") { ftruncate(fd, off_t(size)) }
            return (try map(fd: fd), fd)
        } catch {
            Descriptor.close(fd)
            throw error
        }
    }

    public static func map(fd: Int32) throws(SystemError) -> Scoreboard {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw SystemError("mmap(scoreboard)")
        }
        return Scoreboard(base: p)
    }

    private func slot(_ index: Int) -> UnsafeMutableRawPointer { base + 64 + index * 8 }

    /// Slot indexes in use are below this (maintained by the master).
    public var highWater: Int { Int(arbiter_load_u64(base)) }
    public func setHighWater(_ n: Int) { arbiter_store_u64(base, UInt64(n)) }

    public func publish(_ index: Int, connections: Int, accepting: Bool) {
        guard index >= 0, index < Self.slots else { return }
        arbiter_store_u64(slot(index), UInt64(connections) | (accepting ? Self.accepting : 0))
    }

    public func clear(_ index: Int) {
        guard index >= 0, index < Self.slots else { return }
        arbiter_store_u64(slot(index), 0)
    }

    /// The fewest connections among the other workers that accept, or nil if none does.
    public func leastLoaded(excluding index: Int) -> Int? {
        var least: Int?
        for i in 0..<min(highWater, Self.slots) where i != index {
            let value = arbiter_load_u64(slot(i))
            guard value & Self.accepting != 0 else { continue }
            let count = Int(value & ~Self.accepting)
            least = min(least ?? count, count)
        }
        return least
    }
}
