import Sequencer

/// Repeated runs of one scenario, reported as one line: the median run's figures (by `seconds`),
/// plus `runs`, every run's `seconds` (`seconds_runs`, in run order) and `verified` only when
/// every run verified.
struct Runs {
    private(set) var figures: [Figures] = []
    private(set) var error: (any Error)?

    /// Runs `body` once more, unless an earlier run failed.
    mutating func add(_ body: () async throws -> Figures) async {
        guard error == nil else { return }
        do { figures.append(try await body()) } catch { self.error = error }
    }

    /// The median run with the repetition figures, or the first error.
    func result() -> Result<Figures, any Error> {
        if let error { return .failure(error) }
        guard !figures.isEmpty else { return .failure(BenchError("no run")) }
        if figures.count == 1 { return .success(figures[0]) }
        let seconds = figures.map { $0["seconds"]?.numberValue ?? .infinity }
        let middle = figures.indices.sorted { seconds[$0] < seconds[$1] }[figures.count / 2]
        var median = figures[middle]
        median["runs"] = .int(figures.count)
        median["seconds_runs"] = .array(seconds.map { .rounded($0) })
        median["verified"] = .bool(figures.allSatisfy { $0["verified"] == true })
        return .success(median)
    }

    /// Runs `body` `count` times and returns ``result()``'s figures (or throws its error).
    static func repeated(_ count: Int, _ body: () async throws -> Figures) async throws -> Figures {
        var runs = Runs()
        for _ in 0..<max(1, count) { await runs.add(body) }
        return try runs.result().get()
    }
}

/// An untimed drain and SQL floor of 2,000 enrollments in a throwaway schema, so the first timed
/// scenario does not pay for cold code paths, plans and server caches.
func warmUpServer(_ database: BenchDatabase) async throws {
    progress("warming up (untimed)")
    _ = try await DrainScenario(n: 2_000).run(database)
    _ = try await SQLFloorScenario(n: 2_000).run(database)
}
