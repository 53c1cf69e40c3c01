import Foundation
import Sequencer
import SequencerTesting
import Testing

@Suite("InMemoryStore")
struct InMemoryStoreTests {
    @Test("conformance", arguments: StoreConformance.checks)
    func conformance(_ check: StoreConformance.Check) async throws {
        try await check.run(InMemoryStore())
    }

    @Test("ledger conformance", arguments: LedgerConformance.checks)
    func ledger(_ check: LedgerConformance.Check) async throws {
        try await check.run(InMemoryDeliveryLedger())
    }

    @Test("hostile input", .timeLimit(.minutes(1)), arguments: RobustnessChecks.checks)
    func robustness(_ check: RobustnessChecks.Check) async throws {
        try await check.run(InMemoryStore(), ledger: InMemoryDeliveryLedger())
    }

    @Test func expiredLeaseIsClaimedAgainButNotBefore() async throws {
        let store = InMemoryStore()
        _ = try await store.saveDefinition(SequenceDefinition(name: "s", steps: [Step(id: "a", runner: "GoTo", config: ["target": "$end"])]))
        _ = try await store.enroll([Enrollment(sequenceName: "s", sequenceVersion: 1, subject: "u", stepID: "a",
                                                             nextRunAt: t0, stepEnteredAt: t0, createdAt: t0, updatedAt: t0)])
        let first = try await store.claim(ClaimRequest(now: t0, limit: 10, owner: "dies", leaseDuration: .seconds(30)))
        #expect(first.count == 1)
        let early = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(29), limit: 10, owner: "b", leaseDuration: .seconds(30)))
        #expect(early.isEmpty)
        let late = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(31), limit: 10, owner: "b", leaseDuration: .seconds(30)))
        #expect(late.count == 1)
        #expect(late.first.map { $0.fence > first[0].fence } == true)
    }
}
