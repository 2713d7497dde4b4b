import HTTP1
import Platform

/// The heartbeat slots an event-loop worker lists its in-flight requests in (slot 0 stays the
/// loop's current job), so that `arbiter ctl workers` and the master's exit line can name them.
/// Owned by the loop thread. When every slot is taken a request is simply not listed.
struct RequestSlots {
    private var free: [Int]

    init(heartbeat: Heartbeat) {
        free = heartbeat.slots > 1 ? Array((1..<heartbeat.slots).reversed()) : []
    }

    /// Lists the request in a free slot; the slot, or -1 when none is free.
    mutating func begin(_ head: RequestHead, on heartbeat: Heartbeat) -> Int {
        guard let slot = free.popLast() else { return -1 }
        let label = head.methodRange.lowerBound..<head.targetRange.upperBound
        head.withBytes { heartbeat.begin(slot: slot, label: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[label]))) }
        return slot
    }

    /// The request ended (or its connection closed): its slot is free again.
    mutating func end(_ slot: Int, on heartbeat: Heartbeat) {
        guard slot > 0 else { return }
        heartbeat.end(slot: slot)
        free.append(slot)
    }
}
