@testable import Arbiter
import Testing

@Suite struct TicketKeyScheduleTests {
    @Test func rotationKeepsThePreviousKeyForOnePeriod() throws {
        var schedule = try TicketKeySchedule(interval: 60, now: 100)
        let first = schedule.keys
        #expect(first.previous == nil)
        #expect(schedule.deadline == 160)
        try schedule.rotate(now: 160)
        #expect(schedule.keys.previous == first.current)
        #expect(schedule.keys.current != first.current)
        #expect(schedule.deadline == 220)
        try schedule.rotate(now: 220)
        #expect(schedule.keys.previous != first.current, "two rotations later the first key is gone")
    }

    @Test func aShorterPeriodTakesEffectAtOnce() throws {
        var schedule = try TicketKeySchedule(interval: 3600, now: 0)
        schedule.reschedule(interval: 10, now: 5)
        #expect(schedule.deadline == 15)
        schedule.reschedule(interval: 7200, now: 6)
        #expect(schedule.deadline == 15, "a longer period starts after the rotation already due")
        #expect(schedule.interval == 7200)
    }
}
