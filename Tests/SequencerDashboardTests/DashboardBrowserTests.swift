import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import SequencerPostgresTesting
import SignupServiceApp
import Testing

/// Headless Chromium, found on the machine (`CHROMIUM` overrides). `.ci/run` installs Debian's
/// package and sets `SEQUENCER_REQUIRE_BROWSER=1`, so there a missing browser fails instead of skipping.
enum Browser {
    static let path: String? = {
        let candidates = [ProcessInfo.processInfo.environment["CHROMIUM"]].compactMap { $0 }
            + ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static let required = ProcessInfo.processInfo.environment["SEQUENCER_REQUIRE_BROWSER"] == "1"

    /// Runs Chromium headless on `url` with `arguments`; returns its standard output.
    static func run(_ arguments: [String], url: String) async throws -> String {
        let path = try #require(path, "no Chromium: install Debian's chromium package (.ci/run does)")
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID())")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID()).html")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: profile)
            try? FileManager.default.removeItem(at: output)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        // Root in a container has no user namespace for Chromium's sandbox.
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                             "--user-data-dir=\(profile.path)"] + arguments + [url]
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                Issue.record("Chromium did not finish \(url) within 60 s")
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try String(contentsOf: output, encoding: .utf8)
    }
}

/// The SignupService example with its dashboard, on the real PostgreSQL, its pages loaded in
/// headless Chromium: each page's rendered DOM holds the expected figures and no script, and a
/// PNG of each is saved under `.build/dashboard-screenshots/`.
@Suite("Dashboard in a browser", .serialized)
struct DashboardBrowserTests {
    struct Created: Decodable { var id: UUID; var enrollment: UUID }
    struct View: Decodable { var status: String; var step: String? }

    static let quiet = Logger(label: "dashboard-browser") { _ in SwiftLogNoOpLogHandler() }
    static let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/dashboard-screenshots")

    @Test(.enabled(if: Browser.path != nil || Browser.required, "Chromium is not installed"))
    func everyPageRendersItsFiguresInChromium() async throws {
        let server = try await TestPostgres.shared.server()
        var configuration = SignupAppConfiguration(postgres: server.configuration, schema: TestPostgres.uniqueSchema("dashboard"))
        configuration.interval = .milliseconds(100)
        let app = try buildApplication(configuration, logger: Self.quiet)
        try FileManager.default.createDirectory(at: Self.screenshots, withIntermediateDirectories: true)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let names = ["Ada Lovelace", "Grace Hopper", #"<script>alert("x")</script> Zoë"#, "Alan Turing", "Edsger Dijkstra",
                         "Barbara Liskov"]
            var created: [Created] = []
            for (index, name) in names.enumerated() {
                let body = try JSONEncoder().encode(["email": "user\(index)@example.com", "name": name])
                created.append(try await client.execute(uri: "/users", method: .post, body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == .ok)
                    return try JSONDecoder().decode(Created.self, from: Data(response.body.readableBytesView))
                })
            }
            // Everyone reaches the one-day wait first (otherwise Ada's goal may come before her
            // first tick and she never reaches it, and the funnel's figures differ).
            for user in created {
                try await eventually(client, user.enrollment) { $0.step == "wait-1d" }
            }
            // Ada upgrades: the goal takes her to the thank-you and the end.
            _ = try await client.execute(uri: "/users/\(created[0].id)/events", method: .post,
                                         body: ByteBuffer(string: #"{"plan": "pro"}"#)) { _ in }
            for (index, user) in created.enumerated() {
                try await eventually(client, user.enrollment) { index == 0 ? $0.status == "completed" : $0.step == "wait-1d" }
            }

            let base = "http://localhost:\(port)/sequencer"
            let ada = created[0].enrollment.uuidString.lowercased()
            let pages: [(name: String, path: String, expected: [String])] = [
                ("overview", "", [#"data-figure="enrolled">6<"#, #"data-figure="completed">1<"#, #"data-figure="waiting">5<"#,
                                  #"data-figure="goals">1<"#, ">signup-onboarding</a>"]),
                ("funnel", "/funnel?sequence=signup-onboarding",
                 ["<svg id=\"funnel-chart\"", #"<tr data-step="welcome">"#, "6 (100.0%)", "6 (100.0%), 5 here now",
                  #"data-figure="goals">1<"#]),
                // Subjects are the user ids; the names live in the contexts.
                ("enrollments", "/enrollments", created.map { "\($0.id)</a>" } + ["wait-1d"]),
                ("hostile", "/enrollments/\(created[2].enrollment.uuidString.lowercased())",
                 [#"&lt;script&gt;alert(\"x\")&lt;/script&gt; Zoë"#]),
                ("enrollment", "/enrollments/\(ada)", [#"id="status">completed<"#, "goalReached", #""plan" : "pro""#,
                                                      "Ada Lovelace"]),
                ("failed", "/failed", [#"id="empty""#]),
                ("schedules", "/schedules", [#"id="empty""#]),
                ("review", "/actions/review?action=pause&sequence=signup-onboarding",
                 [#"data-figure="matching">6<"#, #"data-figure="applicable">5<"#, #"id="apply""#]),
            ]
            for page in pages {
                let dom = try await Browser.run(["--dump-dom"], url: base + page.path)
                #expect(dom.contains("<main>"), "\(page.name): Chromium rendered the page")
                for text in page.expected {
                    #expect(dom.contains(text), "\(page.name) shows \(text)")
                }
                #expect(!dom.contains("<script"), "\(page.name): no script element in the rendered DOM")
                let png = Self.screenshots.appendingPathComponent("\(page.name).png")
                try? FileManager.default.removeItem(at: png)
                _ = try await Browser.run(["--screenshot=\(png.path)", "--window-size=1280,820", "--hide-scrollbars"],
                                          url: base + page.path)
                let bytes = try Data(contentsOf: png)
                #expect(bytes.count > 5_000 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(page.name).png is a PNG")
            }
        }
        try await server.client.query("DROP SCHEMA \(unescaped: "\"\(configuration.schema)\"") CASCADE", logger: Self.quiet)
    }

    /// Polls the example's JSON view until `condition` holds (the service works in the background), up to 20 s.
    func eventually(_ client: any TestClientProtocol, _ id: UUID, _ condition: (View) -> Bool) async throws {
        for _ in 0..<400 {
            let view = try await client.execute(uri: "/enrollments/\(id)", method: .get) { response in
                try JSONDecoder().decode(View.self, from: Data(response.body.readableBytesView))
            }
            if condition(view) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("enrollment \(id) did not get there in 20 s")
    }
}
