import SequencerTesting
import Testing

/// The shared store conformance suite, each check against a fresh PostgresStore (its own schema).
@Suite("PostgresStore conformance")
struct ConformanceTests {
    @Test("conformance", arguments: StoreConformance.checks)
    func conformance(_ check: StoreConformance.Check) async throws {
        try await withStore { store in try await check.run(store) }
    }

    /// The same checks with every enroll that can use `COPY` (no key, no one-per-subject
    /// sequence, the store's own connection) using it, even for one subject (by default only
    /// calls of 1,000 or more do).
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
///
/// The time limit catches a hang, not slowness: alone the checks take about 10 s, but in the
/// full suite they share two cores with some 260 tests and took 54 s before the COPY suites
/// were added, too close to a one-minute limit.
@Suite("PostgresStore against hostile input")
struct RobustnessTests {
    @Test("hostile input", .timeLimit(.minutes(3)), arguments: RobustnessChecks.checks)
    func robustness(_ check: RobustnessChecks.Check) async throws {
        try await withStore { store in try await check.run(store, ledger: store) }
    }

    /// The hostile-input checks that enroll hostile values (long subjects and keys, deep
    /// contexts), with every enroll through COPY (the others do not depend on how enroll writes).
    @Test("hostile input, every enroll through COPY", .timeLimit(.minutes(3)),
          arguments: RobustnessChecks.checks.filter { $0.name.contains("subjects") || $0.name.contains("nested") })
    func robustnessEnrollingThroughCopy(_ check: RobustnessChecks.Check) async throws {
        try await withStore(configure: EnrollPath.copy.configure) { store in try await check.run(store, ledger: store) }
    }
}
