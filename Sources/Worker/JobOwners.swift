/// Which request each queued task job belongs to, by the job's address: looked up for every job
/// the loop runs, so it is an open-addressing table with a multiplicative hash of the address
/// (objects are 16-byte aligned) instead of a `Dictionary`, which hashes with SipHash.
///
/// Owner: the async worker's loop thread.
struct JobOwners<Owner: AnyObject> {
    /// Keys are addresses; 0 marks an empty slot and 1 a removed one (no object lives at either).
    private var keys: [UInt]
    private var owners: [Owner?]
    private var used = 0  // live entries plus removed ones (both end a probe only when empty)
    private(set) var count = 0

    private static var empty: UInt { 0 }
    private static var removed: UInt { 1 }

    init(capacity: Int = 64) {
        let size = max(8, 1 << (Int.bitWidth - (max(capacity, 2) * 2 - 1).leadingZeroBitCount))
        keys = Array(repeating: Self.empty, count: size)
        owners = Array(repeating: nil, count: size)
    }

    private func start(_ key: UInt) -> Int {
        // Fibonacci hashing of the address without its always-zero low bits.
        Int(truncatingIfNeeded: ((key >> 4) &* 0x9E37_79B9_7F4A_7C15) >> UInt(UInt.bitWidth - keys.count.trailingZeroBitCount))
    }

    private func slot(of key: UInt) -> Int? {
        let mask = keys.count - 1
        var index = start(key)
        while keys[index] != Self.empty {
            if keys[index] == key { return index }
            index = (index + 1) & mask
        }
        return nil
    }

    subscript(job: UnsafeMutableRawPointer) -> Owner? {
        get { slot(of: UInt(bitPattern: job)).flatMap { owners[$0] } }
        set {
            let key = UInt(bitPattern: job)
            if let index = slot(of: key) {
                if let newValue {
                    owners[index] = newValue
                } else {
                    keys[index] = Self.removed
                    owners[index] = nil
                    count -= 1
                }
                return
            }
            guard let newValue else { return }
            if (used + 1) * 4 > keys.count * 3 { rebuild() }
            let mask = keys.count - 1
            var index = start(key)
            while keys[index] > Self.removed { index = (index + 1) & mask }
            if keys[index] == Self.empty { used += 1 }
            keys[index] = key
            owners[index] = newValue
            count += 1
        }
    }

    /// Drops removed slots, doubling the table when it is more than half full of live entries.
    private mutating func rebuild() {
        let old = zip(keys, owners).filter { $0.0 > Self.removed }
        var size = keys.count
        if count * 2 > size { size *= 2 }
        keys = Array(repeating: Self.empty, count: size)
        owners = Array(repeating: nil, count: size)
        used = 0
        count = 0
        for (key, owner) in old {
            self[UnsafeMutableRawPointer(bitPattern: key)!] = owner
        }
    }
}
