import Foundation
import HTTPTypes
import Sequencer

/// The pages that only read: overview, funnel, lists, an enrollment, schedules.
extension SequencerDashboard {
    /// Every sequence version with its figures: one funnel read per version, read concurrently.
    func overview(_ request: DashboardRequest) async throws -> DashboardResponse {
        let versions = try await sequencer.definitionVersions()
        let sequencer = self.sequencer, now = request.now
        let funnels = try await withThrowingTaskGroup(of: (Int, FunnelStatistics).self) { group in
            var results: [Int: FunnelStatistics] = [:]
            var next = 0
            func start() {
                let index = next, version = versions[index]
                group.addTask { (index, try await sequencer.funnel(sequence: version.name, version: version.version, now: now)) }
                next += 1
            }
            // At most four at once: the client's pool serves the host too.
            while next < min(4, versions.count) { start() }
            while let (index, funnel) = try await group.next() {
                results[index] = funnel
                if next < versions.count { start() }
            }
            return versions.indices.map { results[$0]! }
        }
        let rows: [[String: Any]] = zip(versions, funnels).map { version, funnel in
            let active = funnel.count(.active)
            let sequenceFilter = EnrollmentFilter(sequence: version.name, version: version.version)
            return [
                "name": version.name, "version": version.version, "steps": version.steps,
                "funnelQuery": DashboardFormat.query([("sequence", version.name), ("version", String(version.version))]),
                "listQuery": sequenceFilter.query,
                "enrolled": DashboardFormat.count(funnel.enrolled),
                "active": DashboardFormat.count(active),
                "waiting": DashboardFormat.count(max(0, active - funnel.dueNow)),
                "paused": DashboardFormat.count(funnel.count(.paused)),
                "dueNow": DashboardFormat.count(funnel.dueNow),
                "lag": funnel.dueNow > 0 ? SequenceNotification.spoken(funnel.oldestDueLag.timeInterval) : "–",
                "failedLastHour": DashboardFormat.count(funnel.failedLastHour),
                "failedLastHourAlert": funnel.failedLastHour > 0,
                "failed": DashboardFormat.count(funnel.count(.failed)),
                "completed": DashboardFormat.count(funnel.figures(for: nil).reached),
                "goals": DashboardFormat.count(funnel.goalsReached),
            ]
        }
        return .page(title: "Sequences", template: "overview", content: [
            "sequences": rows, "empty": rows.isEmpty, "at": DashboardFormat.time(now) ?? "",
        ])
    }

    /// One version's funnel: a bar per step (entries, share of the enrolled) and where they are now.
    func funnel(_ request: DashboardRequest) async throws -> DashboardResponse {
        guard let sequence = request.fields["sequence"] else {
            throw DashboardError(.badRequest, "Which sequence? The funnel needs sequence=NAME (and version=N, the latest without it).")
        }
        let definition = try await sequencer.definition(sequence, version: try request.fields.version())
        let funnel = try await sequencer.funnel(sequence: sequence, version: definition.version, now: request.now)
        let chart = FunnelChart(funnel: funnel, definition: definition)
        let base = EnrollmentFilter(sequence: sequence, version: definition.version)
        let steps: [[String: Any]] = funnel.steps.enumerated().map { index, figures in
            var atStep = base
            atStep.step = figures.step
            if figures.step == nil { atStep.status = .completed }
            let runner = definition.steps.first { $0.id == figures.step }?.runner
            return [
                "number": index + 1, "step": figures.step ?? "(completed)", "isEnd": figures.step == nil,
                "runner": runner ?? "", "reached": DashboardFormat.count(figures.reached),
                "share": DashboardFormat.percent(funnel.share(reaching: figures.step)),
                "active": DashboardFormat.count(figures.now[.active] ?? 0),
                "paused": DashboardFormat.count(figures.now[.paused] ?? 0),
                "failed": DashboardFormat.count(figures.now[.failed] ?? 0),
                "cancelled": DashboardFormat.count(figures.now[.cancelled] ?? 0),
                "listQuery": atStep.query,
            ]
        }
        return .page(title: "\(sequence) v\(definition.version)", template: "funnel", content: [
            "sequence": sequence, "version": definition.version, "chart": chart.content, "steps": steps,
            "enrolled": DashboardFormat.count(funnel.enrolled), "goals": DashboardFormat.count(funnel.goalsReached),
            "dueNow": DashboardFormat.count(funnel.dueNow), "failedLastHour": DashboardFormat.count(funnel.failedLastHour),
            "retriesLastHour": DashboardFormat.count(funnel.retriesLastHour),
            "listQuery": base.query, "at": DashboardFormat.time(request.now) ?? "",
        ])
    }

    /// A page of the enrollments the query's filters match, newest first, with a link to the next.
    func enrollments(_ request: DashboardRequest, failedOnly: Bool) async throws -> DashboardResponse {
        let filter = try request.fields.filter(failedOnly: failedOnly)
        let page = try await sequencer.enrollments(matching: filter, after: try request.fields.cursor(),
                                                   limit: configuration.pageSize)
        let rows = page.enrollments.map { row($0, now: request.now) }
        let statuses = EnrollmentStatus.allCases.map { status in
            ["value": status.rawValue, "selected": filter.status == status] as [String: Any]
        }
        let next = page.next.map { DashboardFormat.query(filter.fields + [("after", $0.description)]) }
        return .page(title: failedOnly ? "Failed enrollments" : "Enrollments", template: "enrollments", content: [
            "heading": failedOnly ? "Failed enrollments" : "Enrollments", "failedOnly": failedOnly,
            "rows": rows, "empty": rows.isEmpty, "nextQuery": shown(next),
            "firstQuery": filter.query, "isLaterPage": request.fields["after"] != nil,
            "sequence": filter.sequence ?? "", "version": filter.version.map(String.init) ?? "", "step": filter.step ?? "",
            "subject": filter.subject ?? "", "statuses": statuses, "summary": filter.summary,
            "hidden": filter.fields.map { ["name": $0.name, "value": $0.value] },
            "actions": BulkAction.allCases.map(\.rawValue),
        ])
    }

    func row(_ e: Enrollment, now: Date) -> [String: Any] {
        [
            "id": e.id.uuidString.lowercased(), "shortID": String(e.id.uuidString.lowercased().suffix(12)),
            "subject": e.subject, "sequence": e.sequenceName, "version": e.sequenceVersion, "step": e.stepID ?? "–",
            "status": e.status.rawValue, "attempts": e.attempts,
            "next": DashboardFormat.relative(e.status == .active ? e.nextRunAt : nil, to: now) ?? "–",
            "nextAt": DashboardFormat.time(e.nextRunAt) ?? "",
            "error": e.lastError.map { DashboardFormat.short($0, 300) } as Any,
            "updated": DashboardFormat.time(e.updatedAt) ?? "",
        ]
    }

    /// An enrollment: its state, context and a page of its history as a timeline.
    func enrollment(_ request: DashboardRequest, id text: String?) async throws -> DashboardResponse {
        guard let text, let id = UUID(uuidString: text) else {
            throw DashboardError(.notFound, "'\((text ?? "").prefix(60))' is not an enrollment id.")
        }
        let e = try await sequencer.enrollment(id)
        let history = try await sequencer.history(of: id, after: try request.fields.cursor(),
                                                  limit: configuration.historyPageSize)
        let events: [[String: Any]] = history.events.map { event in
            [
                "at": DashboardFormat.time(event.at) ?? "", "kind": event.kind.rawValue,
                "from": shown(event.fromStep), "to": shown(event.toStep), "visit": event.visit,
                "message": shown(event.message), "isProblem": [.failed, .retrying, .budgetExhausted].contains(event.kind),
            ]
        }
        let actions = BulkAction.allCases.filter { $0.applies(to: e.status) }.map(\.rawValue)
        var callback: [String: Any]?
        if let state = e.callback, state.visit == e.visit {
            callback = [
                "started": DashboardFormat.time(state.startedAt) ?? "–", "deadline": DashboardFormat.time(state.deadline) ?? "–",
                "lastHeartbeat": DashboardFormat.time(state.lastHeartbeatAt) ?? "–",
                "progress": state.progress.map { String(format: "%.0f%%", $0) } ?? "–",
                "outcome": state.outcome.map { "\($0)" } ?? "waiting",
            ]
        }
        return .page(title: "Enrollment \(e.subject)", template: "enrollment", content: [
            "id": id.uuidString.lowercased(), "row": row(e, now: request.now), "context": e.context.prettyJSON,
            "idempotencyKey": shown(e.idempotencyKey), "visit": e.visit,
            "stepEntered": DashboardFormat.time(e.stepEnteredAt) ?? "", "created": DashboardFormat.time(e.createdAt) ?? "",
            "lastError": shown(e.lastError), "events": events, "callback": callback ?? false,
            "actions": actions, "hasActions": !actions.isEmpty, "done": shown(request.fields["done"]),
            "nextHistoryQuery": shown(history.next.map { DashboardFormat.query([("after", $0.description)]) }),
            "isLaterPage": request.fields["after"] != nil,
            "sequenceQuery": DashboardFormat.query([("sequence", e.sequenceName), ("version", String(e.sequenceVersion))]),
        ])
    }

    /// Every schedule with its next and last fire.
    func schedules(_ request: DashboardRequest) async throws -> DashboardResponse {
        let rows: [[String: Any]] = try await sequencer.schedules().map { state in
            [
                "name": state.schedule.name, "recurrence": state.schedule.recurrence.description,
                "timeZone": state.schedule.timeZone.identifier, "sequence": state.schedule.sequence,
                "subject": state.schedule.subject, "enabled": state.schedule.enabled,
                "next": DashboardFormat.time(state.nextFireAt) ?? "–",
                "nextIn": DashboardFormat.relative(state.nextFireAt, to: request.now) ?? "",
                "last": DashboardFormat.time(state.lastFiredAt) ?? "never", "fired": DashboardFormat.count(state.fired),
                "skipped": DashboardFormat.count(state.skipped), "lastSkip": state.lastSkip?.reason as Any,
                "listQuery": DashboardFormat.query([("sequence", state.schedule.sequence), ("subject", state.schedule.subject)]),
            ]
        }
        return .page(title: "Schedules", template: "schedules", content: ["schedules": rows, "empty": rows.isEmpty])
    }
}

/// The funnel drawn as an inline SVG: one row per step, a bar as long as the share of the enrolled
/// that reached it, and inside it a darker bar for those at the step now.
struct FunnelChart {
    static let labelWidth = 220.0, barWidth = 420.0, rowHeight = 34.0, barHeight = 20.0

    let content: [String: Any]

    init(funnel: FunnelStatistics, definition: SequenceDefinition) {
        let rows: [[String: Any]] = funnel.steps.enumerated().map { index, figures in
            let share = funnel.share(reaching: figures.step)
            let here = figures.step == nil ? 0 : (figures.now[.active] ?? 0) + (figures.now[.paused] ?? 0) + (figures.now[.failed] ?? 0)
            let hereShare = funnel.enrolled > 0 ? min(share, Double(here) / Double(funnel.enrolled)) : 0
            let y = Double(index) * Self.rowHeight + 8
            let width = figures.reached > 0 ? max(2, share * Self.barWidth) : 0
            return [
                "label": DashboardFormat.short(figures.step ?? "completed", 30), "fullLabel": figures.step ?? "completed",
                "y": Self.number(y), "textY": Self.number(y + Self.barHeight * 0.72),
                "x": Self.number(Self.labelWidth), "width": Self.number(width),
                "hereWidth": Self.number(here > 0 ? max(2, hereShare * Self.barWidth) : 0),
                "valueX": Self.number(Self.labelWidth + width + 8),
                "value": "\(DashboardFormat.count(figures.reached)) (\(DashboardFormat.percent(share)))"
                    + (here > 0 ? ", \(DashboardFormat.count(here)) here now" : ""),
                "isEnd": figures.step == nil,
            ]
        }
        content = [
            "rows": rows, "height": Self.number(Double(rows.count) * Self.rowHeight + 16),
            "width": Self.number(Self.labelWidth + Self.barWidth + 240), "labelX": Self.number(Self.labelWidth - 10),
            "barHeight": Self.number(Self.barHeight),
        ]
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }
}
