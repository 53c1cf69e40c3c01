import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Sequencer
import SequencerDashboard
import Testing

/// The dashboard's routes through Hummingbird's router test client, on the in-memory store:
/// access, every page's status and figures, paging, actions with their CSRF token, escaping.
/// `DashboardPostgresTests` runs the same pages on PostgreSQL; `DashboardBrowserTests` in Chromium.
@Suite("Dashboard routes")
struct DashboardRouteTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// 5 enrollments: 2 "pro" (will complete), 3 free (will fail at explode), ticked past the wait.
    func populated(_ count: Int = 5) async throws -> Sequencer {
        let sequencer = Fixture.sequencer()
        try await sequencer.register(Fixture.drip)
        for index in 0..<count {
            _ = try await sequencer.enroll("user-\(index)", in: "drip", context: ["plan": index < 2 ? "pro" : "free"], now: start)
        }
        _ = try await sequencer.tick(now: start)
        _ = try await sequencer.tick(now: start.addingTimeInterval(2 * 86_400))
        return sequencer
    }

    @Test func refusesEveryPageAndFormWhenTheCheckSaysNo() async throws {
        let sequencer = try await populated()
        let app = try Fixture.app(sequencer, access: .authorized { request, _ in
            request.headers[.authorization] == "Bearer right" ? "ops" : nil
        })
        try await app.test(.router) { client in
            for path in ["/sequencer", "/sequencer/enrollments", "/sequencer/failed", "/sequencer/schedules",
                         "/sequencer/funnel?sequence=drip"] {
                let refused = try await client.page(path, headers: [.authorization: "Bearer wrong"])
                #expect(refused.status == .forbidden, "\(path)")
                #expect(!refused.body.contains("user-"), "\(path) shows nothing of the enrollments")
                #expect(try await client.page(path, headers: [.authorization: "Bearer right"]).status == .ok, "\(path)")
            }
            let failed = try await sequencer.enrollments(matching: EnrollmentFilter(status: .failed)).enrollments[0]
            let post = try await client.page("/sequencer/enrollments/\(failed.id)/retry", method: .post, form: [("csrf", "x")])
            #expect(post.status == .forbidden)
            #expect(try await sequencer.enrollment(failed.id).status == .failed)
        }
    }

    @Test func withoutAuthenticationItAnswersOnlyOnLocalhost() async throws {
        let app = try Fixture.app(try await populated(), access: .noAuthenticationForLocalUse)
        let host = HTTPField.Name("Host")!
        try await app.test(.router) { client in
            for local in ["localhost:8080", "127.0.0.1", "[::1]:9000", "LOCALHOST"] {
                #expect(try await client.page("/sequencer", headers: [host: local]).status == .ok, "\(local)")
            }
            for remote in ["example.com", "10.0.0.5:8080", "localhost.evil.example", "127.0.0.1.nip.io"] {
                let page = try await client.page("/sequencer", headers: [host: remote])
                #expect(page.status == .forbidden, "\(remote)")
                #expect(page.body.contains("answers only on localhost"))
            }
        }
    }

    @Test func overviewAndFunnelShowEachVersionsFigures() async throws {
        let sequencer = try await populated()
        var v2 = Fixture.drip
        v2.version = 2
        v2.steps[1].config = ["amount": 2, "unit": "days"]
        try await sequencer.register(v2)
        _ = try await sequencer.enroll("late-user", in: "drip", now: start)
        try await Fixture.app(sequencer).test(.router) { client in
            let overview = try await client.page("/sequencer")
            #expect(overview.status == .ok)
            #expect(overview.headers[.contentType] == "text/html; charset=utf-8")
            // v1: 5 enrolled, 2 completed, 3 failed; v2: one waiting.
            #expect(overview.body.contains(#"<tr data-sequence="drip" data-version="1">"#))
            #expect(overview.body.contains(#"data-figure="enrolled">5<"#))
            #expect(overview.body.contains(#"data-figure="completed">2<"#))
            #expect(overview.body.contains(#"data-figure="failed"><a href="/sequencer/failed?sequence=drip&amp;version=1">3</a>"#))
            #expect(overview.body.contains(#"<tr data-sequence="drip" data-version="2">"#))
            #expect(overview.body.contains(#"data-figure="waiting">1<"#))

            let funnel = try await client.page("/sequencer/funnel?sequence=drip&version=1")
            #expect(funnel.status == .ok)
            #expect(funnel.body.contains("<svg id=\"funnel-chart\""))
            // Every step in order, then the end; explode reached by 3 of 5.
            let order = ["welcome", "wait", "check", "finish", "explode", "(completed)"].compactMap {
                funnel.body.range(of: "<tr data-step=\"\($0)\">")?.lowerBound
            }
            #expect(order.count == 6 && order == order.sorted())
            #expect(funnel.body.contains("3 (60.0%), 3 here now"))
            #expect(funnel.body.contains(#"data-figure="share">100.0%<"#))
            #expect(try await client.page("/sequencer/funnel?sequence=drip").body.contains("drip <span class=\"sub\">v2"))
            #expect(try await client.page("/sequencer/funnel?sequence=nope").status == .notFound)
            #expect(try await client.page("/sequencer/funnel").status == .badRequest)
            #expect(try await client.page("/sequencer/funnel?sequence=drip&version=x").status == .badRequest)
        }
    }

    @Test func listsPageThroughEveryEnrollmentOnceByCursor() async throws {
        let sequencer = try await populated(7)
        var configuration = SequencerDashboard<BasicRequestContext>.Configuration()
        configuration.pageSize = 3
        try await Fixture.app(sequencer, configuration: configuration).test(.router) { client in
            var seen: [String] = []
            var next: String? = "/sequencer/enrollments?sequence=drip"
            var pages = 0
            while let uri = next {
                let page = try await client.page(uri)
                #expect(page.status == .ok)
                seen += page.rowIDs
                next = page.link(id: "next-page")
                pages += 1
            }
            #expect(pages == 3)
            #expect(seen.count == 7 && Set(seen).count == 7)
            let failed = try await client.page("/sequencer/failed")
            #expect(failed.rowIDs.count == 3)
            #expect(failed.body.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quoted&quot; ✨"))
            let completed = try await client.page("/sequencer/enrollments?status=completed")
            #expect(completed.rowIDs.count == 2)
            for (uri, field) in [("/sequencer/enrollments?after=nonsense", "after"), ("/sequencer/enrollments?version=2", "sequence"),
                                 ("/sequencer/enrollments?status=sleeping", "status"),
                                 ("/sequencer/enrollments?sequence=drip&version=-1", "version")] {
                let refused = try await client.page(uri)
                #expect(refused.status == .badRequest, "\(uri)")
                #expect(refused.body.contains(field), "\(uri) names \(field)")
            }
        }
    }

    @Test func anEnrollmentsPageShowsStateContextAndHistory() async throws {
        let sequencer = try await populated()
        let failed = try await sequencer.enrollments(matching: EnrollmentFilter(status: .failed)).enrollments[0]
        try await Fixture.app(sequencer).test(.router) { client in
            let page = try await client.page("/sequencer/enrollments/\(failed.id)")
            #expect(page.status == .ok)
            #expect(page.body.contains(#"id="status">failed<"#))
            // Texts shown in a section once each (Mustache would iterate a bare string's characters).
            #expect(page.body.components(separatedBy: #"id="last-error""#).count == 2)
            #expect(page.body.components(separatedBy: "signed in as ops").count == 2)
            // No callback row for an enrollment that never waited for one (a nil in a section).
            #expect(!page.body.contains("<th>Callback</th>"))
            #expect(page.body.contains("&quot;plan&quot; : &quot;free&quot;"))
            for kind in ["enrolled", "advanced", "waiting", "altAdvanced", "failed"] {
                #expect(page.body.contains("<span class=\"kind\">\(kind)</span>"), "\(kind) in the timeline")
            }
            // A failed enrollment offers retry and not pause.
            #expect(page.body.contains("/enrollments/\(failed.id.uuidString.lowercased())/retry"))
            #expect(!page.body.contains("/enrollments/\(failed.id.uuidString.lowercased())/pause"))
            #expect(try await client.page("/sequencer/enrollments/\(UUID())").status == .notFound)
            #expect(try await client.page("/sequencer/enrollments/not-an-id").status == .notFound)
        }
    }

    @Test func anActionNeedsTheFormsTokenAndChangesOneEnrollment() async throws {
        let sequencer = try await populated()
        let failed = try await sequencer.enrollments(matching: EnrollmentFilter(status: .failed)).enrollments[0]
        let app = try Fixture.app(sequencer, access: .authorized { request, _ in
            request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) }
        })
        try await app.test(.router) { client in
            let ada: HTTPFields = [.authorization: "Bearer ada"]
            let page = try await client.page("/sequencer/enrollments/\(failed.id)", headers: ada)
            let token = try #require(page.csrf)
            let action = "/sequencer/enrollments/\(failed.id)/retry"
            // Refused, changing nothing: no token, a forged one, another operator's, a cross-site form.
            #expect(try await client.page(action, method: .post, form: [], headers: ada).status == .forbidden)
            #expect(try await client.page(action, method: .post, form: [("csrf", "1800000000." + String(repeating: "0", count: 64))],
                                          headers: ada).status == .forbidden)
            #expect(try await client.page(action, method: .post, form: [("csrf", token)],
                                          headers: [.authorization: "Bearer bob"]).status == .forbidden)
            var crossSite = ada
            crossSite[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site"
            #expect(try await client.page(action, method: .post, form: [("csrf", token)], headers: crossSite).status == .forbidden)
            #expect(try await sequencer.enrollment(failed.id).status == .failed)

            let done = try await client.page(action, method: .post, form: [("csrf", token)], headers: ada)
            #expect(done.status == .seeOther)
            #expect(done.headers[.location] == "/sequencer/enrollments/\(failed.id.uuidString.lowercased())?done=retry")
            let retried = try await sequencer.enrollment(failed.id)
            #expect(retried.status == .active)
            #expect(try await sequencer.history(of: failed.id).last?.message?.contains("ada") == true)
            // The same action again no longer applies: a 400 naming the state, nothing changed.
            let again = try await client.page("/sequencer/enrollments/\(failed.id)/resume", method: .post, form: [("csrf", token)],
                                              headers: ada)
            #expect(again.status == .badRequest)
            #expect(try await client.page("/sequencer/enrollments/\(failed.id)/explode", method: .post, form: [("csrf", token)],
                                          headers: ada).status == .badRequest)
        }
    }

    @Test func aBulkActionShowsItsCountThenAppliesToEveryMatch() async throws {
        let sequencer = try await populated(9)
        try await Fixture.app(sequencer).test(.router) { client in
            let review = try await client.page("/sequencer/actions/review?action=retry&sequence=drip&version=1")
            #expect(review.status == .ok)
            #expect(review.body.contains(#"data-figure="matching">9<"#))
            #expect(review.body.contains(#"data-figure="applicable">7<"#))
            let byStatus = try await client.page("/sequencer/actions/review?action=retry&status=failed")
            #expect(byStatus.body.contains(#"data-figure="applicable">7<"#), "counted by reading pages without a sequence")
            let token = try #require(review.csrf)
            let applied = try await client.page("/sequencer/actions", method: .post, form: [
                ("csrf", token), ("action", "retry"), ("sequence", "drip"), ("version", "1"),
            ])
            #expect(applied.status == .ok)
            #expect(applied.body.contains("7 enrollments changed, 2 skipped"))
            #expect(try await sequencer.enrollments(matching: EnrollmentFilter(status: .failed)).enrollments.isEmpty)
            #expect(try await client.page("/sequencer/actions/review?action=explode").status == .badRequest)
        }
    }

    @Test func readOnlyShowsNoFormsAndRefusesEveryPost() async throws {
        let sequencer = try await populated()
        var configuration = SequencerDashboard<BasicRequestContext>.Configuration()
        configuration.readOnly = true
        configuration.path = "/ops/sequences/"
        let failed = try await sequencer.enrollments(matching: EnrollmentFilter(status: .failed)).enrollments[0]
        try await Fixture.app(sequencer, configuration: configuration).test(.router) { client in
            let page = try await client.page("/ops/sequences/enrollments/\(failed.id)")
            #expect(page.status == .ok)
            #expect(!page.body.contains("<form class=\"inline\" method=\"post\""))
            #expect(page.body.contains("href=\"/ops/sequences/failed\""))
            #expect(!(try await client.page("/ops/sequences/failed").body.contains("Review the count")))
            let post = try await client.page("/ops/sequences/enrollments/\(failed.id)/retry", method: .post, form: [("csrf", "")])
            #expect(post.status == .forbidden)
            #expect(post.body.contains("read-only"))
            #expect(try await sequencer.enrollment(failed.id).status == .failed)
            #expect(try await client.page("/sequencer").status == .notFound)
        }
    }

    @Test func hostileValuesAreEscapedOnEveryPage() async throws {
        let sequencer = Fixture.sequencer()
        try await sequencer.register(Fixture.drip)
        let script = #"<script>alert("x")</script>"#
        let long = String(repeating: "<b>é", count: 20_000)
        let subject = script + " ' \" & ünïcödé 🚀"
        let id = try await sequencer.enroll(subject, in: "drip", context: [
            "note": .string(script), "long": .string(long), "quote": "\"'", "nested": ["</pre><script>": "x"],
        ], now: start)
        _ = try await sequencer.tick(now: start)
        _ = try await sequencer.tick(now: start.addingTimeInterval(2 * 86_400))
        let sub = subject.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        try await Fixture.app(sequencer).test(.router) { client in
            for uri in ["/sequencer", "/sequencer/enrollments", "/sequencer/failed", "/sequencer/enrollments/\(id)",
                        "/sequencer/enrollments?subject=\(sub)", "/sequencer/funnel?sequence=drip",
                        "/sequencer/actions/review?action=cancel&subject=\(sub)",
                        "/sequencer/enrollments?step=\(sub)", "/sequencer/funnel?sequence=\(sub)"] {
                let page = try await client.page(uri)
                #expect(!page.body.contains("<script"), "\(uri) has no raw script tag")
                #expect(!page.body.contains("<img"), "\(uri) has no raw img tag")
                #expect(!page.body.contains("<b>é"), "\(uri)")
            }
            let detail = try await client.page("/sequencer/enrollments/\(id)")
            #expect(detail.body.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#39; &quot; &amp; ünïcödé 🚀"))
            #expect(detail.body.contains("&lt;/pre&gt;&lt;script&gt;"))
            #expect(detail.body.contains(String(repeating: "&lt;b&gt;é", count: 20_000)))
            let list = try await client.page("/sequencer/enrollments?subject=\(sub)")
            #expect(list.rowIDs.count == 1, "the subject filter round-trips the hostile subject")
            #expect(list.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
        }
    }
}
