// The README's Vapor snippet ("With Vapor"), compiled against Vapor 4 and Fluent. Keep it identical
// to the README's block (the imports aside).
import Fluent
import FluentPostgresDriver
import Sequencer
import SequencerPostgres
import Synchronization
import Vapor

/// What the snippet assumes.
let onboarding = SequenceDefinition(name: "onboarding", version: 1) { Step.goTo("done", target: Step.end) }

// Fluent models are classes with property wrappers Fluent itself synchronises; Vapor declares
// them @unchecked Sendable the same way.
final class User: Model, Content, @unchecked Sendable {
    static let schema = "users"
    @ID(key: .id) var id: UUID?
    @Field(key: "email") var email: String
    init() {}
}

final class SequencerLifecycle: LifecycleHandler, Sendable {
    let service: SequencerService
    let running = Mutex<Task<Void, Never>?>(nil)

    init(service: SequencerService) { self.service = service }

    func didBootAsync(_ application: Application) async throws {
        try await service.sequencer.register(onboarding)
        running.withLock { $0 = Task { try? await self.service.run() } }
    }

    func shutdownAsync(_ application: Application) async {
        // Vapor has no graceful-shutdown signal for a Service: cancelling the task commits the
        // batch in flight as far as it got and releases the rest.
        guard let task = running.withLock({ $0 }) else { return }
        task.cancel()
        await task.value
    }
}

// app.lifecycle.use(SequencerLifecycle(service: SequencerService(sequencer, logger: app.logger)))

func signUp(_ request: Request, sequencer: Sequencer, store: PostgresStore) async throws -> HTTPStatus {
    let user = try request.content.decode(User.self)
    try await request.db.transaction { db in
        try await user.create(on: db)
        let (id, email) = (try user.requireID(), user.email)
        // The PostgresNIO connection of Fluent's transaction: the enrollment commits (or rolls back) with the user.
        _ = try await (db as! any PostgresDatabase).withConnection { connection in
            connection.eventLoop.makeFutureWithTask {
                try await sequencer.enroll("\(id)", in: "onboarding", context: ["email": .string(email)],
                                           within: store.transaction(on: connection))
            }
        }.get()
    }
    return .created
}
