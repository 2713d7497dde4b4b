/// Work due at a time: a binary min-heap by deadline, first in first out among equal deadlines.
///
/// The event loop keeps its delayed jobs here (a task's `Task.sleep`): the loop's own `epoll_wait`
/// timeout wakes it for the earliest one, so a sleeping task costs one entry and no timer thread,
/// no wake-up write and no second queue hop when it is due.
///
/// Owner: the loop thread (a value type without locks).
struct TimerQueue<Element> {
    private struct Entry {
        let deadline: Double
        /// Insertion order, which breaks ties between equal deadlines.
        let sequence: UInt64
        let element: Element

        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
        }
    }

    private var heap: [Entry] = []
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    /// The earliest deadline, nil when nothing is scheduled.
    var nextDeadline: Double? { heap.first?.deadline }

    /// Schedules `element` for `deadline` (seconds on the monotonic clock).
    mutating func schedule(_ element: Element, at deadline: Double) {
        heap.append(Entry(deadline: deadline, sequence: nextSequence, element: element))
        nextSequence &+= 1
        siftUp(heap.count - 1)
    }

    /// Removes and returns the earliest element due at `now`, nil when none is.
    mutating func popDue(now: Double) -> Element? {
        guard let first = heap.first, first.deadline <= now else { return nil }
        return removeFirst().element
    }

    /// Removes everything, earliest first (with its deadline).
    mutating func drain() -> [(deadline: Double, element: Element)] {
        var out: [(deadline: Double, element: Element)] = []
        out.reserveCapacity(heap.count)
        while !heap.isEmpty {
            let entry = removeFirst()
            out.append((entry.deadline, entry.element))
        }
        return out
    }

    private mutating func removeFirst() -> Entry {
        let first = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        // A burst of timers (10,000 sleeping requests) leaves a large buffer behind: give it back
        // once the queue is mostly empty.
        if heap.capacity > 1024 && heap.count < heap.capacity / 8 {
            var smaller: [Entry] = []
            smaller.reserveCapacity(heap.count * 2)
            smaller.append(contentsOf: heap)
            heap = smaller
        }
        return first
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            let right = left + 1
            var smallest = left
            if right < heap.count && heap[right].precedes(heap[left]) { smallest = right }
            guard heap[smallest].precedes(heap[parent]) else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
