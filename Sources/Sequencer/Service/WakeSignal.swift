import Synchronization

/// A latch the service sleeps on: ``signal()`` wakes the one waiter, or is remembered for the
/// next ``wait()`` when nobody waits. Many signals before a wait count as one.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterID = 0
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or leaves the signal pending.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Whether a signal arrived that no wait has consumed yet.
    var isPending: Bool { state.withLock { $0.pending } }

    /// Forgets a pending signal (after a tick that has already seen everything due).
    func clear() {
        state.withLock { $0.pending = false }
    }

    /// Returns at once if a signal is pending (consuming it), else when one arrives or the task
    /// is cancelled.
    func wait() async {
        let id = state.withLock { state -> Int in
            state.waiterID += 1
            return state.waiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard state.waiterID == id, let waiter = state.waiter else { return nil }
                state.waiter = nil
                return waiter
            }
            waiter?.resume()
        }
    }
}
