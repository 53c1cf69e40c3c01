import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Sequencer
import SequencerDashboard
import Testing

/// A host runner that fails every enrollment with the message in its config (hostile text included).
struct Explode: TaskRunner {
    let name = "Explode"
    var configKeys: [String]? { ["message"] }
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { $0.result(.fail($0.config["message"]?.stringValue ?? "boom")) }
    }
}

enum Fixture {
    static let quiet = Logger(label: "dashboard-tests") { _ in SwiftLogNoOpLogHandler() }

    /// welcome (instant) → wait 1 day → explode (fails), or the end for a "pro" plan.
    static let drip = SequenceDefinition(name: "drip", version: 1) {
        Step.goTo("welcome", target: "wait")
        Step.waitForDuration("wait", 1, "days")
        Step.conditional("check", .compare(.eq, .get("plan"), .raw("pro")), altNext: "explode")
        Step.goTo("finish", target: Step.end)
        Step(id: "explode", runner: "Explode", config: ["message": #"<img src=x onerror="alert(1)"> & "quoted" ✨"#])
    }

    static func sequencer(_ store: any SequenceStore = InMemoryStore()) -> Sequencer {
        Sequencer(store: store, runners: .builtIn + [Explode()], logger: quiet)
    }

    /// The dashboard on a fresh router, mounted at /sequencer (or `configuration.path`).
    static func app(_ sequencer: Sequencer, access: DashboardAccess<BasicRequestContext> = .authorized { _, _ in "ops" },
                    configuration: SequencerDashboard<BasicRequestContext>.Configuration = .init()) throws
        -> some ApplicationProtocol
    {
        let router = Router()
        try SequencerDashboard(sequencer: sequencer, access: access, configuration: configuration, logger: quiet)
            .addRoutes(to: router)
        return Application(router: router, logger: quiet)
    }
}

/// A response's status, headers and body as text.
struct Page {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: String

    /// The CSRF token of the first form on the page.
    var csrf: String? {
        guard let range = body.range(of: #"name="csrf" value="([0-9a-f.]+)""#, options: .regularExpression) else { return nil }
        return String(body[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    /// The enrollment ids of a list's rows, in order (plain scanning: Swift `Regex` is slow on long pages).
    var rowIDs: [String] {
        body.components(separatedBy: "<tr data-id=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    /// The `href` of the element with this id (HTML-unescaped `&amp;`).
    func link(id: String) -> String? {
        guard let range = body.range(of: #"id="\#(id)" href="[^"]*""#, options: .regularExpression) else { return nil }
        let attribute = body[range].split(separator: "\"")[3]
        return attribute.replacingOccurrences(of: "&amp;", with: "&")
    }
}

extension TestClientProtocol {
    func page(_ uri: String, method: HTTPRequest.Method = .get, form: [(String, String)]? = nil,
              headers: HTTPFields = [:]) async throws -> Page
    {
        var headers = headers
        var body: ByteBuffer?
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            body = ByteBuffer(string: form.map { name, value in
                "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            }.joined(separator: "&"))
        }
        let host = HTTPField.Name("Host")!
        if headers[host] == nil { headers[host] = "localhost:8080" }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { response in
            Page(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
    }
}
