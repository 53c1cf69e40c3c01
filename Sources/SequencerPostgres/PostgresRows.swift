import Foundation
import PostgresNIO
import Sequencer

/// The column lists the store selects and how rows decode into model values.
enum PostgresRows {
    /// The enrollment columns, in the order ``enrollment(_:)`` decodes them, prefixed by a table alias.
    static func enrollmentColumns(_ alias: String = "") -> String {
        let prefix = alias.isEmpty ? "" : alias + "."
        return ["id", "sequence_name", "sequence_version", "subject", "idempotency_key", "context", "step_id", "status",
                "next_run_at", "step_entered_at", "attempts", "visit", "last_error", "created_at", "updated_at", "fence"]
            .map { prefix + $0 }.joined(separator: ", ")
    }

    /// Decodes a row selected with ``enrollmentColumns(_:)``: the enrollment and its fencing token.
    static func enrollment(_ row: PostgresRow) throws -> (Enrollment, fence: Int64) {
        let (id, name, version, subject, key, context, step, status, nextRunAt, entered, attempts, visit, lastError,
             created, updated, fence) = try row.decode(
                (UUID, String, Int, String, String?, String, String?, String, SQLTimestamp?, SQLTimestamp, Int, Int,
                 String?, SQLTimestamp, SQLTimestamp, Int64).self)
        guard let status = EnrollmentStatus(rawValue: status) else {
            throw SequencerError(.storeFailure, "enrollment \(id) has an unknown status '\(status)'", sequence: name,
                                 version: version, step: step)
        }
        let enrollment = Enrollment(
            id: id, sequenceName: name, sequenceVersion: version, subject: subject, idempotencyKey: key,
            context: try JSONText.parse(context), stepID: step, status: status, nextRunAt: nextRunAt?.date,
            stepEnteredAt: entered.date, attempts: attempts, visit: visit, lastError: lastError, createdAt: created.date,
            updatedAt: updated.date)
        return (enrollment, fence)
    }

    /// Decodes every row of a sequence selected with ``enrollmentColumns(_:)``.
    static func enrollments(_ rows: PostgresRowSequence) async throws -> [(Enrollment, fence: Int64)] {
        var result: [(Enrollment, fence: Int64)] = []
        for try await row in rows { result.append(try enrollment(row)) }
        return result
    }

    /// The event columns, in the order ``event(_:)`` decodes them.
    static let eventColumns = "enrollment_id, kind, from_step, to_step, message, visit, at"

    static func event(_ row: PostgresRow) throws -> HistoryEvent {
        let (id, kind, from, to, message, visit, at) = try row.decode(
            (UUID, String, String?, String?, String?, Int, SQLTimestamp).self)
        guard let kind = HistoryEvent.Kind(rawValue: kind) else {
            throw SequencerError(.storeFailure, "event of enrollment \(id) has an unknown kind '\(kind)'")
        }
        return HistoryEvent(enrollmentID: id, kind: kind, fromStep: from, toStep: to, message: message, visit: visit,
                            at: at.date)
    }
}
