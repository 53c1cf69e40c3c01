extension AsyncStream where Element: Sendable {
    /// The first element that `matches` accepts within `timeout`, or `nil` when none arrives in
    /// time (or the stream ends first). For tests that wait for an event of a running service:
    ///
    /// ```swift
    /// let (events, continuation) = AsyncStream.makeStream(of: Int.self)
    /// continuation.yield(3)
    /// let three = try await events.first(within: .seconds(10)) { $0 == 3 }
    /// ```
    public func first(within timeout: Duration, where matches: @escaping @Sendable (Element) -> Bool) async throws
        -> Element?
    {
        try await withThrowingTaskGroup(of: Element?.self) { group in
            group.addTask {
                for await element in self where matches(element) { return element }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
