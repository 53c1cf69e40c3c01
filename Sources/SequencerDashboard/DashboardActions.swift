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
        let now = Date()
        switch action {
        case .pause: _ = try await sequencer.pause(id, now: now)
        case .resume: _ = try await sequencer.resume(id, now: now)
        case .cancel: _ = try await sequencer.cancel(id, now: now)
        case .retry: _ = try await sequencer.retry(id, by: actor(request), now: now)
        }
        return .redirect("\(base)/enrollments/\(id.uuidString.lowercased())?done=\(action.rawValue)")
    }

    /// The count of what a bulk action would change, with the form that applies it.
    func review(_ request: DashboardRequest) async throws -> DashboardResponse {
        let action = try bulkAction(request.fields)
        let filter = try request.fields.filter(failedOnly: false)
        let count = try await count(filter, applicableTo: action)
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

    /// How many enrollments a filter matches, and to how many of them `action` applies. With a
    /// sequence and no subject, from the per-step counts of its versions (one statement each);
    /// otherwise by reading the matching pages, at most 100,000 rows (`capped` beyond).
    func count(_ filter: EnrollmentFilter, applicableTo action: BulkAction) async throws
        -> (matching: Int, applicable: Int, capped: Bool)
    {
        var matching = 0, applicable = 0
        if let sequence = filter.sequence, filter.subject == nil, filter.updatedSince == nil {
            var versions = filter.version.map { [$0] } ?? []
            if filter.version == nil {
                versions = try await sequencer.definitionVersions().filter { $0.name == sequence }.map(\.version)
            }
            for version in versions {
                for count in try await sequencer.stepCounts(sequence: sequence, version: version)
                where (filter.step.map { $0 == count.step } ?? true) && (filter.status.map { $0 == count.status } ?? true) {
                    matching += count.count
                    if action.applies(to: count.status) { applicable += count.count }
                }
            }
            return (matching, applicable, false)
        }
        var cursor: PageCursor?
        repeat {
            let page = try await sequencer.enrollments(matching: filter, after: cursor, limit: 1_000)
            matching += page.enrollments.count
            applicable += page.enrollments.filter { action.applies(to: $0.status) }.count
            cursor = page.next
            if matching >= 100_000 && cursor != nil { return (matching, applicable, true) }
        } while cursor != nil
        return (matching, applicable, false)
    }
}
