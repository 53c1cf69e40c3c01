import Synchronization

/// Hands each published element to every current subscriber's `AsyncStream`: what
/// ``SequencerService/events()`` and ``Sequencer/lifecycleEvents()`` are made of.
final class Broadcast<Element: Sendable>: Sendable {
    private struct Subscribers {
        var next = 0
        var continuations: [Int: AsyncStream<Element>.Continuation] = [:]
    }

    private let subscribers = Mutex(Subscribers())

    /// A new stream of what is published from now on, keeping the newest `buffer` elements a slow
    /// reader has not taken yet.
    func subscribe(buffer: Int = 1_000) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(buffer))
        let id = subscribers.withLock { subscribers in
            subscribers.next += 1
            subscribers.continuations[subscribers.next] = continuation
            return subscribers.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    /// Whether anyone listens (so a publisher can skip building what nobody reads).
    var hasSubscribers: Bool { subscribers.withLock { !$0.continuations.isEmpty } }

    func publish(_ element: Element) {
        for continuation in subscribers.withLock({ Array($0.continuations.values) }) { continuation.yield(element) }
    }

    /// Ends every current stream.
    func finishAll() {
        let finished = subscribers.withLock { subscribers in
            defer { subscribers.continuations.removeAll() }
            return Array(subscribers.continuations.values)
        }
        for continuation in finished { continuation.finish() }
    }
}
