public import Foundation

/// One runner's answer for one input.
public struct RunnerResult: Sendable, Hashable {
    /// The ``RunnerInput/id`` this result answers.
    public var id: UUID
    public var action: RunnerAction
    /// Kept in the enrollment's history.
    public var message: String?

    public init(id: UUID, action: RunnerAction, message: String? = nil) {
        self.id = id
        self.action = action
        self.message = message
    }
}
