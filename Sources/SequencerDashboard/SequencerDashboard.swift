import Foundation
public import Hummingbird
import HTTPTypes
public import Logging
import Mustache
public import Sequencer

/// A web dashboard for the people who run sequences: an overview of every sequence version, a
/// funnel per version, enrollments with filters and paging, an enrollment's state and history,
/// schedules, failures, and the operator's actions (pause, resume, cancel, retry; one enrollment
/// or every enrollment a filter matches).
///
/// It is a set of Hummingbird routes a host mounts under a path of its own router. Pages are HTML
/// rendered on the server from the Mustache templates shipped as this module's resources (every
/// value escaped), with plain CSS and no JavaScript; actions are HTML forms that POST with a CSRF
/// token. There is no default access: the host passes an authorization check, or opts into no
/// authentication for local use by name.
///
/// ```swift
/// let router = Router()
/// let dashboard = try SequencerDashboard<BasicRequestContext>(
///     sequencer: sequencer,
///     access: .authorized { request, _ in
///         // Your check: a session, a header set by your proxy, HTTP basic authentication…
///         request.headers[.authorization] == "Bearer \(token)" ? "ops" : nil
///     })
/// dashboard.addRoutes(to: router)   // pages under /sequencer
/// ```
///
/// Each page reads what it shows in one or two store calls: the overview one funnel per sequence
/// version (counters and the due index on PostgreSQL, not the enrollments), a list one indexed
/// page, an enrollment its row and a page of its history.
public struct SequencerDashboard<Context: RequestContext>: Sendable {
    /// How the dashboard behaves.
    public struct Configuration: Sendable {
        /// The path it is mounted at in the host's router; its links and forms start with it.
        public var path: String = "/sequencer"
        /// Shows no actions and refuses every POST (403).
        public var readOnly = false
        /// Signs the CSRF tokens of its forms. Processes behind one load balancer must share it
        /// (any 32 random bytes); the default is random per dashboard, so a form rendered by one
        /// process is refused by another.
        public var csrfKey: [UInt8]?
        /// How long a rendered form can be submitted.
        public var csrfLifetime: Duration = .seconds(12 * 3600)
        /// Enrollments per page of a list (1…1,000).
        public var pageSize = 50
        /// History events per page of an enrollment's timeline (1…10,000).
        public var historyPageSize = 200

        public init() {}
    }

    let sequencer: Sequencer
    let access: DashboardAccess<Context>
    let configuration: Configuration
    let templates: MustacheLibrary
    let csrf: CSRFTokens
    let logger: Logger
    /// The mount path without a trailing slash ("" for the root).
    let base: String

    /// Makes the dashboard of `sequencer`; ``addRoutes(to:)`` mounts it.
    ///
    /// - Parameters:
    ///   - access: who may see it: ``DashboardAccess/authorized(by:)`` or, on a developer's
    ///     machine, ``DashboardAccess/noAuthenticationForLocalUse``.
    /// - Throws: when the templates shipped with the module cannot be read (a deployment that did
    ///   not copy the `sequencer_SequencerDashboard.resources` bundle beside the executable), or
    ///   the configuration is out of range.
    public init(sequencer: Sequencer, access: DashboardAccess<Context>, configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "sequencer.dashboard")) throws
    {
        guard (1...1_000).contains(configuration.pageSize) else {
            throw SequencerError(.outOfRange, "pageSize \(configuration.pageSize) is not within 1…1000", field: "pageSize")
        }
        guard (1...10_000).contains(configuration.historyPageSize) else {
            throw SequencerError(.outOfRange, "historyPageSize \(configuration.historyPageSize) is not within 1…10000",
                                 field: "historyPageSize")
        }
        if let key = configuration.csrfKey, key.count < 16 {
            throw SequencerError(.outOfRange, "csrfKey needs at least 16 bytes, got \(key.count)", field: "csrfKey")
        }
        var path = configuration.path
        while path.hasSuffix("/") { path.removeLast() }
        if !path.isEmpty && !path.hasPrefix("/") { path = "/" + path }
        guard path.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/-_.~".contains($0)) }) else {
            throw SequencerError(.invalidIdentifier, "path '\(configuration.path)' may hold only letters, digits and / - _ . ~",
                                 field: "path")
        }
        self.sequencer = sequencer
        self.access = access
        self.configuration = configuration
        self.templates = try DashboardTemplates.load()
        self.csrf = CSRFTokens(key: configuration.csrfKey, lifetime: configuration.csrfLifetime)
        self.logger = logger
        self.base = path
    }

    /// Adds the dashboard's routes to `router` under ``Configuration/path``.
    ///
    /// Pages: `/` (overview), `/funnel?sequence=&version=`, `/enrollments?sequence=&version=&step=&status=&subject=&after=`,
    /// `/enrollments/{id}`, `/failed`, `/schedules`, `/actions/review?action=&…` (the count before a bulk
    /// action). Forms: `POST /enrollments/{id}/{pause|resume|cancel|retry}`, `POST /actions`.
    public func addRoutes(to router: some RouterMethods<Context>) {
        let group = router.group(RouterPath(base.isEmpty ? "/" : base))
        group.get { request, context in try await serve(request, context) { try await overview($0) } }
        group.get("funnel") { request, context in try await serve(request, context) { try await funnel($0) } }
        group.get("enrollments") { request, context in
            try await serve(request, context) { try await enrollments($0, failedOnly: false) }
        }
        group.get("failed") { request, context in try await serve(request, context) { try await enrollments($0, failedOnly: true) } }
        group.get("enrollments/:id") { request, context in
            let id = context.parameters.get("id")
            return try await serve(request, context) { try await enrollment($0, id: id) }
        }
        group.get("schedules") { request, context in try await serve(request, context) { try await schedules($0) } }
        group.get("actions/review") { request, context in try await serve(request, context) { try await review($0) } }
        group.post("enrollments/:id/:action") { request, context in
            let id = context.parameters.get("id"), action = context.parameters.get("action")
            return try await serve(request, context, form: true) { try await act($0, id: id, action: action) }
        }
        group.post("actions") { request, context in try await serve(request, context, form: true) { try await bulk($0) } }
    }
}

/// One request as the pages see it: who asks, its query or form fields, the token to put in forms.
struct DashboardRequest: Sendable {
    var operatorName: String?
    var fields: FormFields
    var csrfToken: String
    var now: Date
}

/// What a page handler returns: a page to render in the layout, or a redirect.
enum DashboardResponse {
    case page(title: String, template: String, content: [String: Any], status: HTTPResponse.Status = .ok)
    case redirect(String)
}

extension SequencerDashboard {
    /// Authorizes, reads the fields (and checks the CSRF token and origin of a form), runs the
    /// handler, and renders its page or error in the layout.
    func serve(_ request: Request, _ context: Context, form: Bool = false,
               _ handler: (DashboardRequest) async throws -> DashboardResponse) async throws -> Response
    {
        var request = request
        let operatorName: String?
        switch try await access.authorize(request, context) {
        case .refused(let reason):
            return render(.page(title: "Not authorized", template: "message", content: ["heading": "Not authorized", "text": reason],
                                status: .forbidden), operatorName: nil, csrfToken: "")
        case .allowed(let name):
            operatorName = name
        }
        let csrfToken = csrf.token(for: operatorName, now: Date())
        do {
            let fields: FormFields
            if form {
                guard !configuration.readOnly else {
                    throw DashboardError(.forbidden, "This dashboard is read-only: it changes nothing.")
                }
                if let site = request.headers[.secFetchSite], site == "cross-site" {
                    throw DashboardError(.forbidden, "A form from another site was refused (Sec-Fetch-Site: cross-site).")
                }
                let body = try await request.collectBody(upTo: 64 * 1024)
                fields = FormFields(query: String(buffer: body))
                guard csrf.verify(fields["csrf"], for: operatorName, now: Date()) else {
                    throw DashboardError(.forbidden, "The form's token is missing, expired or not this dashboard's: reload the page and submit it again.")
                }
            } else {
                fields = FormFields(query: request.uri.query ?? "")
            }
            let response = try await handler(DashboardRequest(operatorName: operatorName, fields: fields, csrfToken: csrfToken,
                                                              now: Date()))
            return render(response, operatorName: operatorName, csrfToken: csrfToken)
        } catch let error as DashboardError {
            return render(.page(title: error.title, template: "message", content: ["heading": error.title, "text": error.message],
                                status: error.status), operatorName: operatorName, csrfToken: csrfToken)
        } catch let error as SequencerError {
            let status: HTTPResponse.Status =
                switch error.code {
                case .unknownEnrollment, .unknownSequence: .notFound
                case .storeFailure: .serviceUnavailable
                default: .badRequest
                }
            if status == .serviceUnavailable {
                logger.error("dashboard page failed", metadata: ["sequencer.error": "\(error)"])
            }
            return render(.page(title: status.reasonPhrase, template: "message",
                                content: ["heading": status.reasonPhrase, "text": error.description], status: status),
                          operatorName: operatorName, csrfToken: csrfToken)
        }
    }

    func render(_ response: DashboardResponse, operatorName: String?, csrfToken: String) -> Response {
        switch response {
        case .redirect(let location):
            return Response.redirect(to: location, type: .normal)
        case .page(let title, let template, var content, let status):
            content["base"] = base
            content["csrf"] = csrfToken
            content["canAct"] = !configuration.readOnly
            let body = templates.render(content, withTemplate: template) ?? ""
            let page = templates.render([
                "title": title, "base": base, "body": body, "operator": shown(operatorName),
                "readOnly": configuration.readOnly,
            ] as [String: Any], withTemplate: "layout") ?? body
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.cacheControl] = "no-store"
            // Inline styles only; no scripts, no frames, forms only to this origin.
            headers[.contentSecurityPolicy] =
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            headers[.xContentTypeOptions] = "nosniff"
            headers[.referrerPolicy] = "same-origin"
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page)))
        }
    }
}

/// A page the dashboard answers with instead of the one asked for.
struct DashboardError: Error {
    var status: HTTPResponse.Status
    var message: String
    var title: String { status.reasonPhrase }

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
