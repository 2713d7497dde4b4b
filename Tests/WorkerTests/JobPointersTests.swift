import Testing
@testable import Worker

@Suite struct JobPointersTests {
    @Test func listsEveryJobInOrderAndEmptiesAgain() {
        let pointers = (1...4).map { UnsafeMutableRawPointer(bitPattern: $0 * 16)! }
        var jobs = JobPointers()
        #expect(Array(jobs).isEmpty)
        jobs.append(pointers[0])
        #expect(Array(jobs) == [pointers[0]])
        for pointer in pointers.dropFirst() { jobs.append(pointer) }
        #expect(Array(jobs) == pointers)
        jobs.removeAll()
        #expect(Array(jobs).isEmpty)
        jobs.append(pointers[2])
        #expect(Array(jobs) == [pointers[2]])
    }
}
