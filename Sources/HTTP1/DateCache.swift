import Glibc
import Synchronization

/// The `Date` header line, formatted once per second and shared by every thread that answers
/// requests (RFC 9110 §6.6.1).
///
/// A sequence lock over atomics instead of a mutex: a reader copies the line and checks that no
/// thread rewrote it meanwhile; the first thread to see a new second formats and publishes it, and
/// a reader that meets a rewrite in progress formats its own copy. No thread ever waits for
/// another, and every shared access is atomic, which ThreadSanitizer sees.
public final class DateCache: Sendable {
    public static let shared = DateCache()

    /// `Date: ` + an IMF-fixdate (always 29 bytes for years 1000–9999) + CRLF.
    static let lineLength = 37

    /// Even while the line is stable, odd while a thread rewrites it.
    private let sequence = Atomic<Int>(0)
    /// The second (since the epoch) the line shows; -1 before the first.
    private let second = Atomic<Int>(-1)
    /// The line's 37 bytes in five words.
    private let word0 = Atomic<UInt64>(0)
    private let word1 = Atomic<UInt64>(0)
    private let word2 = Atomic<UInt64>(0)
    private let word3 = Atomic<UInt64>(0)
    private let word4 = Atomic<UInt64>(0)

    private init() {}

    /// The current `Date` value (`Sun, 06 Nov 1994 08:49:37 GMT`).
    public func current() -> String {
        HTTPDate.format(epochSeconds: time(nil))
    }

    /// Writes `Date: …\r\n` for the current second.
    func writeLine(to out: inout HeadWriter) {
        let now = time(nil)
        let before = sequence.load(ordering: .acquiring)
        if before & 1 == 0 && second.load(ordering: .relaxed) == now {
            var words = (word0.load(ordering: .relaxed), word1.load(ordering: .relaxed), word2.load(ordering: .relaxed),
                         word3.load(ordering: .relaxed), word4.load(ordering: .relaxed))
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == before {
                return withUnsafeBytes(of: &words) { out.write(UnsafeRawBufferPointer(rebasing: $0[..<Self.lineLength])) }
            }
        }
        let line = Array("Date: \(HTTPDate.format(epochSeconds: now))\r\n".utf8)
        publish(line, second: now)
        out.write(line)
    }

    /// Makes `line` the shared one, unless another thread is rewriting it right now.
    private func publish(_ line: [UInt8], second now: Int) {
        guard line.count == Self.lineLength else { return }
        let before = sequence.load(ordering: .relaxed)
        guard before & 1 == 0,
              sequence.compareExchange(expected: before, desired: before + 1, ordering: .acquiring).exchanged
        else { return }
        atomicMemoryFence(ordering: .releasing)
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: line) }
        word0.store(words.0, ordering: .relaxed)
        word1.store(words.1, ordering: .relaxed)
        word2.store(words.2, ordering: .relaxed)
        word3.store(words.3, ordering: .relaxed)
        word4.store(words.4, ordering: .relaxed)
        second.store(now, ordering: .relaxed)
        sequence.store(before + 2, ordering: .releasing)
    }
}
