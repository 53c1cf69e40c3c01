import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdTesting
import Sequencer
import SequencerDashboard
import SequencerPostgres

/// `sequencer-bench dashboard`: how long the dashboard's pages take over a large schema.
struct Dashboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enroll N subjects, then time the dashboard's overview, funnel, list and enrollment pages.")

    @Option(help: "Enrollments in the schema.") var n = 1_000_000
    @Option(help: "Requests per page (after one untimed warm-up).") var requests = 15
    @Option(help: "Percent of the enrollments due now (the rest wait an hour); 100: a whole backlog due.")
    var duePercent = 1

    func validate() throws {
        guard n > 0, requests > 0, (1...100).contains(duePercent) else {
            throw ValidationError("n and requests must be positive, due-percent within 1…100")
        }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await DashboardScenario(n: n, requests: requests, duePercent: duePercent).run(database))
    }
}

/// N enrollments of the three-step sequence through `Sequencer.enroll` (so the funnel's counters
/// and `enrolled` events are the engine's own): 99% enrolled an hour ahead (waiting, not due) and
/// 1% now (due; `duePercent` changes the share). Then every page is requested through Hummingbird's router (the dashboard's
/// whole path: access check, store reads, Mustache rendering; no sockets), one untimed warm-up
/// and `requests` timed requests each. Figures: each page's median and slowest time in ms.
/// Verified: every answer is 200 and the overview and funnel show N enrolled.
struct DashboardScenario {
    var n = 1_000_000
    var requests = 15
    var duePercent = 1

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("dashboard") { store in
            let sequencer = Sequencer(store: store, logger: benchLogger)
            let name = BenchSequence.definition.name
            try await sequencer.register(BenchSequence.definition)
            let due = max(1, n * duePercent / 100)
            progress("dashboard: enrolling \(n) (\(due) due now)")
            let later = Date().addingTimeInterval(3600)
            var enrolled = 0
            while enrolled < n - due {
                let count = min(100_000, n - due - enrolled)
                _ = try await sequencer.enroll(BenchSequence.requests(count, prefix: "waiting-\(enrolled)"), in: name, now: later)
                enrolled += count
            }
            let ids = try await sequencer.enroll(BenchSequence.requests(due, prefix: "due"), in: name, now: Date())
            _ = try await store.foldStatistics()
            try await store.analyze()

            let router = Router()
            try SequencerDashboard<BasicRequestContext>(sequencer: sequencer, access: .authorized { _, _ in "bench" },
                                                        logger: benchLogger).addRoutes(to: router)
            let app = Application(router: router, logger: benchLogger)
            let pages = [
                ("overview", "/sequencer"), ("funnel", "/sequencer/funnel?sequence=\(name)"),
                ("list", "/sequencer/enrollments?sequence=\(name)"), ("enrollment", "/sequencer/enrollments/\(ids[0])"),
            ]
            let total = DashboardFormat.count(n)
            let clock = ContinuousClock()
            let start = clock.now
            let requests = self.requests
            var (figures, verified) = try await app.test(.router) { client in
                var figures: Figures = ["scenario": "dashboard", "n": .int(n), "requests_per_page": .int(requests), "due": .int(due)]
                var verified = true
                for (page, uri) in pages {
                    var times: [Double] = []
                    for index in 0...requests {
                        let began = clock.now
                        let (status, body) = try await client.execute(uri: uri, method: .get) { response in
                            (response.status, String(buffer: response.body))
                        }
                        if index > 0 { times.append((clock.now - began).timeInterval * 1000) }
                        if status != .ok { verified = false }
                        if (page == "overview" || page == "funnel") && !body.contains(">\(total)<") { verified = false }
                    }
                    times.sort()
                    figures["\(page)_p50_ms"] = .rounded(times[times.count / 2], 1)
                    figures["\(page)_max_ms"] = .rounded(times.last ?? 0, 1)
                    progress("dashboard: \(page) p50 \(times[times.count / 2]) ms")
                }
                return (figures, verified)
            }
            if ids.isEmpty { verified = false }
            figures["seconds"] = .rounded((clock.now - start).timeInterval)
            figures["verified"] = .bool(verified)
            return figures
        }
    }
}
