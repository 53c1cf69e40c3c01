import Synchronization

/// Where concurrent tasks leave results for one consumer that takes everything that has
/// arrived at once: a transport's connections leave outcomes, and the transport reports them
/// as one group.
final class Outbox<Item: Sendable>: Sendable {
    private struct State: Sendable {
        var items: [Item] = []
        var waiter: CheckedContinuation<[Item], Never>?
    }

    private let state = Mutex(State())

    /// Leaves `item`, waking the consumer if it waits.
    func put(_ item: Item) {
        let waiter = state.withLock { state -> CheckedContinuation<[Item], Never>? in
            guard let waiter = state.waiter else {
                state.items.append(item)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: [item])
    }

    /// Everything left so far, waiting for the first item when there is none. One consumer only.
    func takeAll() async -> [Item] {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [Item]? in
                if state.items.isEmpty {
                    precondition(state.waiter == nil, "Outbox has one consumer")
                    state.waiter = continuation
                    return nil
                }
                defer { state.items = [] }
                return state.items
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
