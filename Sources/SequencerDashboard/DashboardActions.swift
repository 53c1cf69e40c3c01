import Foundation
import HTTPTypes
import Sequencer

/// The pages that change enrollments: one enrollment's action, and a bulk action after its count.
extension SequencerDashboard {
    /// Pause, resume, cancel or retry one enrollment (a form on its page), then back to its page.
    func act(_ request: DashboardRequest, id text: String?, action name: String?) async throws -> DashboardResponse {
        guard let text, let id = UUID(uuidString: text) else {
            throw DashboardError(.notFound, "'\((text ?? "").prefix(60))' is not an enrollment id.")
        }
        guard let name, let action = BulkAction(rawValue: name) else {
            throw DashboardError(.badRequest, "'\((name ?? "").prefix(40))' is not an action: pause, resume, cancel or retry.")
        }
        try await sequencer.apply(action, to: id, by: actor(request))
        return .redirect("\(base)/enrollments/\(id.uuidString.lowercased())?done=\(action.rawValue)")
    }

    /// The count of what a bulk action would change, with the form that applies it.
    func review(_ request: DashboardRequest) async throws -> DashboardResponse {
        let action = try bulkAction(request.fields)
        let filter = try request.fields.filter(failedOnly: false)
        let count = try await sequencer.count(action, matching: filter, upTo: 100_000)
        return .page(title: "Review: \(action.rawValue)", template: "review", content: [
            "action": action.rawValue, "summary": filter.summary,
            "matching": DashboardFormat.count(count.matching) + (count.capped ? " or more" : ""),
            "applicable": DashboardFormat.count(count.applicable) + (count.capped ? " or more" : ""),
            "none": count.applicable == 0, "capped": count.capped,
            "hidden": filter.fields.map { ["name": $0.name, "value": $0.value] },
            "listQuery": filter.query, "appliesTo": Self.appliesTo(action),
        ])
    }

    /// Applies a bulk action to every enrollment the form's filter matches.
    func bulk(_ request: DashboardRequest) async throws -> DashboardResponse {
        let action = try bulkAction(request.fields)
        let filter = try request.fields.filter(failedOnly: false)
        let result = try await sequencer.apply(action, toEnrollmentsMatching: filter, by: actor(request), now: Date())
        return .page(title: "Done: \(action.rawValue)", template: "message", content: [
            "heading": "\(action.rawValue.capitalized): \(DashboardFormat.count(result.changed)) changed",
            "text": "\(DashboardFormat.count(result.changed)) enrollments changed, \(DashboardFormat.count(result.skipped)) skipped "
                + "(the action does not apply to them, or they changed meanwhile); filter: \(filter.summary).",
            "linkQuery": shown(filter.query), "linkText": "the enrollments",
        ])
    }

    func actor(_ request: DashboardRequest) -> String { request.operatorName ?? "dashboard" }

    func bulkAction(_ fields: FormFields) throws -> BulkAction {
        guard let name = fields["action"], let action = BulkAction(rawValue: name) else {
            throw DashboardError(.badRequest, "action must be pause, resume, cancel or retry.")
        }
        return action
    }

    static func appliesTo(_ action: BulkAction) -> String {
        switch action {
        case .cancel: "enrollments that are active or paused"
        case .pause: "active enrollments"
        case .resume: "paused enrollments"
        case .retry: "failed enrollments"
        }
    }
}
