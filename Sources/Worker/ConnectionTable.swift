/// A worker's open connections by descriptor. Descriptors are small integers that the kernel hands
/// out lowest first, so an array indexed by them finds a connection without hashing (several
/// look-ups per request); it grows to the highest descriptor in use and keeps that size.
///
/// Owner: the worker's loop thread.
struct ConnectionTable {
    private var slots: [ServerConnection?] = []
    /// Open connections.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    subscript(fd: Int32) -> ServerConnection? {
        get {
            let index = Int(fd)
            return index >= 0 && index < slots.count ? slots[index] : nil
        }
        set {
            let index = Int(fd)
            precondition(index >= 0, "ConnectionTable: negative descriptor")
            if index >= slots.count {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(nil, count: Swift.max(index + 1, slots.count * 2) - slots.count))
            }
            count += (newValue != nil ? 1 : 0) - (slots[index] != nil ? 1 : 0)
            slots[index] = newValue
        }
    }

    /// One more than the highest descriptor the table has room for: every open connection's
    /// descriptor is below it. Walking `0..<end` through the subscript visits them without a copy
    /// (closing one meanwhile only empties its slot).
    var end: Int32 { Int32(slots.count) }

    /// The open connections (a copy: the caller may close them while it iterates).
    var values: [ServerConnection] { slots.compactMap { $0 } }
}
