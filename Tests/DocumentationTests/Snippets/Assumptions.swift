// What the documentation's examples take as given: the values a host already has (a logger, a
// PostgresClient, secrets) and the stand-ins for third-party clients the examples call. Each
// example compiles in Generated+*.swift against these; none of them runs a real provider.
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerTransports

let logger = Logger(label: "documentation")
let secret = "secret"
let token = "token"
let sid = "AC0123456789"
let apiKey = "key"
let apiSecret = "key-secret"
let email = "ada@example.com"
let userID = UUID()
let id = UUID()
let ada = UUID()
let start = Date(timeIntervalSince1970: 1_900_000_000)
let segment: [(id: String, context: JSONValue)] = [("user-1", ["plan": "trial"])]

let config = PostgresClient.Configuration(host: "localhost", username: "app", password: nil, database: "app", tls: .disable)
let client = PostgresClient(configuration: config, backgroundLogger: logger)
let store = try! PostgresStore(client: client, logger: logger)
let postgresStore = store
let ledger = InMemoryDeliveryLedger()
let smtp = SMTPTransport(configuration: .init(host: "localhost", security: .plain))

let definition = SequenceDefinition(name: "trial-onboarding", version: 1) { Step.goTo("done", target: Step.end) }
let onboarding = definition
let drip = definition
let definitionJSON = #"{"name": "trial-onboarding", "version": 1, "steps": [{"id": "done", "runner": "GoTo", "config": {"target": "$end"}}]}"#
let sequencer = Sequencer(store: InMemoryStore())

/// The in-memory store and ledger stand in for "your own" store and ledger in the conformance examples.
typealias MyStore = InMemoryStore
typealias MyLedger = InMemoryDeliveryLedger

struct MyRunner: TaskRunner {
    let name = "Mine"
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
}

struct SlackClient: Sendable {
    func post(_ texts: [String]) async throws {}
    func postMany(_ texts: [String], idempotencyKeys: [String]) async throws {}
}
let slack = SlackClient()

struct PostmarkError: Error { var isPermanent: Bool }
struct PostmarkClient: Sendable {
    func send(to: [String], subject: String, text: String?, html: String?, idempotencyKey: String) async throws -> String {
        "id"
    }
    func send(from: String, to: [String], subject: String, text: String?, html: String?, idempotencyKey: String)
        async throws -> String { "id" }
}
let pm = PostmarkClient()

struct MyProviderClient: Sendable {
    struct Answer { var accepted: Bool; var id: String; var error: String }
    func sendMany(_ messages: [(String, String, String)]) async throws -> [Answer] { [] }
}

struct MailSession: Sendable {
    func deliver(_ message: EmailMessage) async -> DeliveryOutcome { .sent(providerID: nil) }
}
struct MailSessionClient: Sendable {
    func openSession() async throws -> MailSession { MailSession() }
}

func post(_ url: String, _ body: JSONValue) async throws {}
func post(_ url: String, body: JSONValue) async throws {}

nonisolated(unsafe) let router = Router()  // only ever compiled, never used: the examples are not run
