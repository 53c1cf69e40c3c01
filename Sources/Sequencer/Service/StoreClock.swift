import Foundation
import Synchronization

/// The time a ``SequencerService`` ticks with when the host does not give one: the store's clock
/// (``SequenceStore/storeTime()``: PostgreSQL's), read at most once every ``resyncInterval`` and
/// carried forward between reads on the monotonic clock.
///
/// So what is due is decided by one clock for every process that shares the store: a host clock
/// minutes off, or one that jumps (an NTP step, a VM resumed), changes nothing, because the host's
/// wall clock is never read while the store answers. A resync takes the shortest of three reads
/// and half its round trip as its error (well under a millisecond on a LAN). Stores without a
/// clock (in-memory) give `nil`, and the host's wall clock is used.
final class StoreClock: Sendable {
    private struct Anchor {
        var storeTime: Date
        var at: ContinuousClock.Instant

        /// The store's time at `instant`, carried forward on the monotonic clock.
        func storeTime(at instant: ContinuousClock.Instant) -> Date {
            storeTime.addingTimeInterval((instant - at).timeInterval)
        }
    }

    /// How often the store's clock is read again (the monotonic clock drifts by parts per million).
    let resyncInterval: Duration
    private let store: any SequenceStore
    private let anchor = Mutex<Anchor?>(nil)
    /// `false` once the store said it has no clock: the host's clock is used from then on.
    private let storeHasClock = Mutex(true)

    init(store: any SequenceStore, resyncInterval: Duration = .seconds(60)) {
        self.store = store
        self.resyncInterval = resyncInterval
    }

    /// The store's time now: carried forward from the last read while it is fresh, read again
    /// otherwise. When a read fails (the database is down), the last read is carried forward; with
    /// none yet, the error is thrown (the tick fails and is retried): falling back to the host's
    /// clock would fire early on a host whose clock is ahead.
    func now() async throws -> Date {
        guard storeHasClock.withLock({ $0 }) else { return Date() }
        let clock = ContinuousClock()
        if let anchor = anchor.withLock({ $0 }), clock.now - anchor.at < resyncInterval {
            return anchor.storeTime(at: clock.now)
        }
        do {
            // The server reads its clock somewhere in the round trip: take the middle of the
            // shortest of three reads (a read delayed by load would carry its delay forward).
            guard var best = try await read(clock) else { return Date() }
            for _ in 1..<3 {
                guard let next = try await read(clock) else { return Date() }
                if next.roundTrip < best.roundTrip { best = next }
            }
            anchor.withLock { $0 = best.anchor }
            return best.anchor.storeTime(at: clock.now)
        } catch {
            guard let anchor = anchor.withLock({ $0 }) else { throw error }
            return anchor.storeTime(at: clock.now)
        }
    }

    /// One read of the store's clock, placed at the middle of its round trip; `nil` when the
    /// store has none (remembered: the host's clock is used from then on).
    private func read(_ clock: ContinuousClock) async throws -> (anchor: Anchor, roundTrip: Duration)? {
        let sent = clock.now
        guard let time = try await store.storeTime() else {
            storeHasClock.withLock { $0 = false }
            return nil
        }
        let roundTrip = clock.now - sent
        return (Anchor(storeTime: time, at: sent + roundTrip / 2), roundTrip)
    }
}
