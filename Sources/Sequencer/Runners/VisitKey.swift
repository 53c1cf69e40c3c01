public import Foundation

/// Names one visit of one step of one enrollment: `"<enrollment>/<step>/<visit>"`.
///
/// The visit number (``Enrollment/visit``) grows on every step entry, so a step visited
/// again through a GoTo loop has a new key, while a re-run of the same visit (after a
/// retry, an expired lease or a crash) has the same one. Side-effecting runners use it as
/// an idempotency key so a re-run does not act twice; the deliveries ledger keys every
/// send by it (``DeliveryKey``).
public struct VisitKey: Sendable, Hashable, CustomStringConvertible {
    /// The enrollment.
    public var enrollmentID: UUID
    /// The step id.
    public var step: String
    /// The visit number of the step (``Enrollment/visit``).
    public var visit: Int

    /// Creates a key.
    public init(enrollmentID: UUID, step: String, visit: Int) {
        self.enrollmentID = enrollmentID
        self.step = step
        self.visit = visit
    }

    /// `"<enrollment>/<step>/<visit>"`, with the enrollment id in lowercase.
    public var description: String { "\(enrollmentID.uuidString.lowercased())/\(step)/\(visit)" }
}
