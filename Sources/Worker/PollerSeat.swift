import Glibc
import Synchronization

/// The right to wait in the sync worker's epoll set for the next connection with news: one request
/// thread holds it at a time; the others sleep on a bench, where arriving requests do not wake them.
///
/// Why one: the kernel wakes a waiting thread for every event. When every request thread waited in
/// epoll, each request woke one (1.3 context switches per request, measured under load), although the
/// thread that had just served a request was about to ask for the next one. With one waiter, that
/// thread takes the seat again and finds the next event without sleeping, as an event loop does.
///
/// Requests that take long must not make the other connections wait for them, so the seat passes on:
/// - within a few `grace`: one benched thread, the standby, checks every `grace` and takes the seat
///   when two checks in a row find it free and either no thread took it in between (one request
///   has held its holder since the first check) or the last three requests served were not quick
///   (`slowInARow`: their threads may wait on something, and more threads would serve more). Free
///   at both checks but taken and left in between for quick requests, it stays with its holder: a
///   run of quick requests served one after another is an event loop's work, and a second thread
///   would only add context switches (a standby that took over then cost 0.07 switches per request
///   and 10 % of the requests per second under load, measured). Checks that do not find a vacancy
///   come less often (2, then 4 × `grace`), so a slow request holds the others back for 2 × `grace`
///   (8 ms) while the standby checks often, and up to about 8 × `grace` after a quiet or busy
///   spell; after `dormantAfter` of them (an idle worker whose holder sleeps in epoll, or a busy
///   one) the standby sleeps until the next thread to leave the seat wakes it;
/// - at once during a slow spell: from such a takeover until a thread serves a request in less than
///   half of `grace`, a thread that leaves the seat wakes a benched one to take it (the application
///   holds its threads, as a blocking one does, and more of them are needed now).
///
/// Events taken from epoll in one wait and not yet served belong to the seat: each holder takes the
/// next before it waits again.
final class PollerSeat: @unchecked Sendable {
    /// Odd while taken, even while free; taken by compare-exchange and left by its holder, each
    /// adding one. Taking it (acquiring) and leaving it (releasing) hand over the event buffers below.
    private let generation = Atomic<UInt64>(0)
    /// Set by the standby (under `mutex`) before it sleeps without a timeout; read by `leave`.
    private let standbyDormant = Atomic<Bool>(false)
    /// Whether a thread is the standby: `none`, `summoned` (a benched thread was woken to be it) or
    /// `present` (written under `mutex`, read by `leave` without it).
    private let standby = Atomic<Int>(Standby.none)
    private enum Standby {
        static let none = 0
        static let summoned = 1
        static let present = 2
    }
    /// Threads asleep on the bench, not counting the standby (written under `mutex`, read by `leave`).
    private let benched = Atomic<Int>(0)
    /// A slow spell (set by the standby as it takes the seat, cleared by any thread that served a
    /// request quickly, read by `leave`).
    private let slow = Atomic<Bool>(false)
    /// How many requests in a row took `quickRequest` or more, up to `slowRun` (written by any
    /// thread that served one, only when it changes; read by the standby). One alone may have
    /// waited for a CPU.
    private let slowInARow = Atomic<Int>(0)
    /// Slow requests in a row that let the standby take the seat from a busy holder.
    static let slowRun = 3
    /// Seconds under which a request counts as quick: about ten times a small request's own work.
    static let quickRequest = 0.0001
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let benchCondition: UnsafeMutablePointer<pthread_cond_t>
    private let standbyCondition: UnsafeMutablePointer<pthread_cond_t>
    private let grace: Double
    private let dormantAfter: Int

    /// The seat holder's: events from the last wait; those from `next` on are not served yet.
    private var events: [UInt32]
    private var tokens: [UInt64]
    private var next = 0
    private var count = 0

    /// - Parameters:
    ///   - batch: how many events one wait in epoll may take.
    ///   - grace: seconds between the standby's checks. Each check wakes a thread: at 1 ms, the
    ///     checks cost 10–20 % of the requests per second of a sync worker under a hello load
    ///     (against 1 % at 4 ms, both against a standby that never checks; measured on 2 cores).
    ///   - dormantAfter: checks that find the seat taken before the standby sleeps until woken.
    init(batch: Int = 16, grace: Double = 0.004, dormantAfter: Int = 10) {
        events = [UInt32](repeating: 0, count: batch)
        tokens = [UInt64](repeating: 0, count: batch)
        self.grace = grace
        self.dormantAfter = dormantAfter
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        benchCondition = .allocate(capacity: 1)
        benchCondition.initialize(to: pthread_cond_t())
        pthread_cond_init(benchCondition, &attributes)
        standbyCondition = .allocate(capacity: 1)
        standbyCondition.initialize(to: pthread_cond_t())
        pthread_cond_init(standbyCondition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(benchCondition)
        pthread_cond_destroy(standbyCondition)
        pthread_mutex_destroy(mutex)
        benchCondition.deallocate()
        standbyCondition.deallocate()
        mutex.deallocate()
    }

    /// Returns once the calling thread holds the seat: at once when it is free, else after sleeping
    /// on the bench (or as the standby) until it is.
    func take() {
        if tryTake() { return }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var isStandby = false
        var mayTake = true  // false after a standby's check that does not call for taking the seat
        var quietChecks = 0  // the standby's consecutive checks that found no vacancy
        var vacancy: UInt64? = nil  // the generation the standby's last check found the seat free at
        var takingOver = false  // the next take is the standby's, from a holder away on a slow request
        while true {
            if mayTake && tryTake() {
                if isStandby { standby.store(Standby.none, ordering: .sequentiallyConsistent) }
                if takingOver { slow.store(true, ordering: .relaxed) }
                return
            }
            mayTake = true
            takingOver = false
            if !isStandby && standby.load(ordering: .relaxed) != Standby.present {
                isStandby = true
                standby.store(Standby.present, ordering: .sequentiallyConsistent)
            }
            guard isStandby else {
                benched.add(1, ordering: .relaxed)
                pthread_cond_wait(benchCondition, mutex)
                benched.subtract(1, ordering: .relaxed)
                // Woken to be the standby (or by chance while one is wanted): it is this thread.
                if standby.load(ordering: .relaxed) == Standby.summoned {
                    isStandby = true
                    standby.store(Standby.present, ordering: .sequentiallyConsistent)
                }
                continue
            }
            guard quietChecks >= dormantAfter else {
                // Every `grace` while it finds a vacancy (or just stopped finding one), then less
                // often: 2 and 4 × `grace`.
                let interval = grace * Double(1 << min(quietChecks, 2))
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                let nanoseconds = Int(deadline.tv_nsec) + Int(interval * 1e9)
                deadline.tv_sec += nanoseconds / 1_000_000_000
                deadline.tv_nsec = nanoseconds % 1_000_000_000
                // Woken by a leave: in a slow spell, take the seat if it is free; else it was a
                // wake for a dormant standby that did not sleep after all (it found the seat free),
                // and it checks on. On a timeout, take it only as the type comment says.
                if pthread_cond_timedwait(standbyCondition, mutex, &deadline) == 0 {
                    vacancy = nil
                    mayTake = slow.load(ordering: .relaxed)
                    continue
                }
                let now = generation.load(ordering: .relaxed)
                if now & 1 == 1 {
                    // A holder waits in epoll.
                    quietChecks += 1
                    vacancy = nil
                    mayTake = false
                } else if let last = vacancy, last == now || slowInARow.load(ordering: .relaxed) >= Self.slowRun {
                    takingOver = true
                    mayTake = true
                } else {
                    // A first vacancy, or one between quick requests of a busy holder.
                    quietChecks = vacancy == nil ? 0 : quietChecks + 1
                    vacancy = now
                    mayTake = false
                }
                continue
            }
            // Dekker with `leave`: it frees the seat, then reads this flag; this sets the flag, then
            // reads the seat. One of the two sees the other's write.
            // Woken, it checks again after `grace` like any standby (the seat's holder, back from a
            // quick request, has most likely taken it again by then).
            standbyDormant.store(true, ordering: .sequentiallyConsistent)
            if generation.load(ordering: .sequentiallyConsistent) & 1 == 1 { pthread_cond_wait(standbyCondition, mutex) }
            standbyDormant.store(false, ordering: .relaxed)
            quietChecks = 0
            vacancy = nil
            mayTake = slow.load(ordering: .relaxed)
        }
    }

    /// The seat holder: the next event (mask, token), from the last wait's batch or a new wait in `set`.
    func nextEvent(in set: Epoll) -> (events: UInt32, token: UInt64) {
        while next == count {
            count = set.wait(into: &events, &tokens, timeout: -1)
            next = 0
        }
        defer { next += 1 }
        return (events[next], tokens[next])
    }

    /// Any thread, having served a request it left the seat for: how long that took. One under
    /// `grace / 2` ends a slow spell. (Only the standby starts one: a request can look slow here
    /// because its thread waited for a CPU, and threads woken for that would only wait for one too.)
    func served(seconds: Double) {
        let run = slowInARow.load(ordering: .relaxed)
        if seconds >= Self.quickRequest {
            if run < Self.slowRun { slowInARow.store(run + 1, ordering: .relaxed) }
        } else if run != 0 {
            slowInARow.store(0, ordering: .relaxed)
        }
        if seconds < grace / 2 && slow.load(ordering: .relaxed) { slow.store(false, ordering: .relaxed) }
    }

    /// The holder gives the seat up, to serve what it took. When requests are slow, the one taken
    /// now may be too: a benched thread is woken to take the seat at once.
    func leave() {
        let promoting = slow.load(ordering: .relaxed)
        generation.store(generation.load(ordering: .relaxed) + 1, ordering: .sequentiallyConsistent)
        let needsStandby = standby.load(ordering: .sequentiallyConsistent) == Standby.none && benched.load(ordering: .relaxed) > 0
        let dormant = standbyDormant.load(ordering: .sequentiallyConsistent)
        guard promoting || needsStandby || dormant else { return }
        pthread_mutex_lock(mutex)
        if dormant || (promoting && benched.load(ordering: .relaxed) == 0) { pthread_cond_signal(standbyCondition) }
        if needsStandby && standby.load(ordering: .relaxed) == Standby.none && benched.load(ordering: .relaxed) > 0 {
            // One summons: until the woken thread runs, later leaves do not wake more.
            standby.store(Standby.summoned, ordering: .relaxed)
            pthread_cond_signal(benchCondition)
        } else if promoting {
            pthread_cond_signal(benchCondition)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The standby sleeps until a holder leaves the seat (for tests).
    var standbyIsDormant: Bool { standbyDormant.load(ordering: .relaxed) }

    private func tryTake() -> Bool {
        let current = generation.load(ordering: .relaxed)
        return current & 1 == 0 && generation.compareExchange(expected: current, desired: current + 1, ordering: .acquiring).exchanged
    }
}
