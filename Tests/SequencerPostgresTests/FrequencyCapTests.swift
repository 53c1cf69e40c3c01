import Foundation
import Sequencer
import SequencerPostgres
import SequencerTesting
import Testing

@Suite("Frequency caps on PostgreSQL")
struct PostgresFrequencyCapTests {
    /// Twenty callers at once each reserve one send to the same subject under a limit of three,
    /// five rounds over: exactly three are reserved each time. Without the per-subject lock the
    /// callers count the same rows and reserve more.
    @Test func concurrentReservationsNeverExceedALimit() async throws {
        try await withStore { store in
            for round in 0..<5 {
                let subject = "subject-\(round)"
                let limit = SendLimit(maximum: 3, period: "day", from: t0, until: t0.addingTimeInterval(86_400))
                let reserved = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            let key = DeliveryKey(enrollmentID: UUID.version7(), step: "mail", visit: 1)
                            let answer = try await store.reserve([DeliveryRequest(key: key, subject: subject, limits: [limit])],
                                                                 channel: "email", now: t0, staleAfter: .seconds(300))
                            return answer[key] == .send
                        }
                    }
                    var count = 0
                    for try await sent in group where sent { count += 1 }
                    return count
                }
                #expect(reserved == 3, "round \(round): \(reserved) reserved under a limit of 3")
            }
        }
    }
}
