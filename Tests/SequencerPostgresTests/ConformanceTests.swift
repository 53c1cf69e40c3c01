import SequencerTesting
import Testing

/// The shared store conformance suite, each check against a fresh PostgresStore (its own schema).
@Suite("PostgresStore conformance")
struct ConformanceTests {
    @Test("conformance", arguments: StoreConformance.checks)
    func conformance(_ check: StoreConformance.Check) async throws {
        try await withStore { store in try await check.run(store) }
    }

    /// The same checks with every enroll, even of one subject, streamed through `COPY` and the
    /// staging table (by default only calls of 1,000 or more are).
    @Test("conformance, every enroll through COPY", arguments: StoreConformance.checks)
    func conformanceEnrollingThroughCopy(_ check: StoreConformance.Check) async throws {
        try await withStore(configure: EnrollPath.copy.configure) { store in try await check.run(store) }
    }
}

/// The shared delivery-ledger suite against PostgresStore's `deliveries` table.
@Suite("PostgresStore deliveries ledger")
struct LedgerConformanceTests {
    @Test("ledger conformance", arguments: LedgerConformance.checks)
    func ledger(_ check: LedgerConformance.Check) async throws {
        try await withStore { store in try await check.run(store) }
    }
}

/// Hostile input through the engine against PostgresStore (which is also its own ledger).
@Suite("PostgresStore against hostile input")
struct RobustnessTests {
    @Test("hostile input", .timeLimit(.minutes(1)), arguments: RobustnessChecks.checks)
    func robustness(_ check: RobustnessChecks.Check) async throws {
        try await withStore { store in try await check.run(store, ledger: store) }
    }

    @Test("hostile input, every enroll through COPY", .timeLimit(.minutes(1)), arguments: RobustnessChecks.checks)
    func robustnessEnrollingThroughCopy(_ check: RobustnessChecks.Check) async throws {
        try await withStore(configure: EnrollPath.copy.configure) { store in try await check.run(store, ledger: store) }
    }
}
