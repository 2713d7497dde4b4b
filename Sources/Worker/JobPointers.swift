/// The task jobs of one request, usually one (the request's task; a job of a task is the task
/// itself): the first is kept inline, so a request's list allocates nothing unless the application
/// starts tasks of its own while the loop calls its `handle`.
///
/// Owner: the loop thread.
struct JobPointers: Sequence {
    private var first: UnsafeMutableRawPointer?
    private var more: [UnsafeMutableRawPointer] = []

    mutating func append(_ job: UnsafeMutableRawPointer) {
        if first == nil { first = job } else { more.append(job) }
    }

    mutating func removeAll() {
        first = nil
        more = []
    }

    func makeIterator() -> Iterator { Iterator(list: self) }

    struct Iterator: IteratorProtocol {
        let list: JobPointers
        /// -1: the inline one next; then indices into `more`.
        var index = -1

        mutating func next() -> UnsafeMutableRawPointer? {
            if index < 0 {
                index = 0
                if let first = list.first { return first }
                return nil  // nothing inline: `more` is empty too
            }
            guard index < list.more.count else { return nil }
            defer { index += 1 }
            return list.more[index]
        }
    }
}
