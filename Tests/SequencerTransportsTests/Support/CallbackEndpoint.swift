import Foundation
import Hummingbird
import Logging
import Sequencer
import Synchronization
import Testing

/// The host's callback route, as a host would serve it: Hummingbird on loopback, `POST
/// /callbacks/:token` handing each report of the HTTP stand-in (`Servers/http_server.py
/// --callback`) to ``Sequencer/heartbeat(token:progress:now:)`` or
/// ``Sequencer/complete(token:outcome:now:)``.
///
/// A report the sequencer refuses because the visit is over (a job started twice, whose second
/// completion comes late) answers 409, which the stand-in takes as final; any other failure (the
/// database restarting) answers 503, which it retries.
final class CallbackEndpoint: Sendable {
    private let sequencer = Mutex<Sequencer?>(nil)
    /// Reports refused because the visit was over.
    let refused = Atomic<Int>(0)

    /// Serves the route while `body` runs; `body` gets the callback URL prefix (ending in `/`).
    func serve<T>(_ body: (_ callbackURL: String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("callbacks/:token") { [self] request, context -> HTTPResponse.Status in
            guard let sequencer = sequencer.withLock({ $0 }) else { return .serviceUnavailable }
            let token = try context.parameters.require("token")
            let report = try JSONValue(json: String(buffer: try await request.body.collect(upTo: 1 << 20)))
            do {
                switch report["status"]?.stringValue {
                case "running": _ = try await sequencer.heartbeat(token: token, progress: report["progress"]?.numberValue)
                case "failed":
                    _ = try await sequencer.complete(token: token, outcome: .failure(report["reason"]?.stringValue ?? "failed"))
                default: _ = try await sequencer.complete(token: token, outcome: .success(report["result"]))
                }
                return .noContent
            } catch let error as SequencerError where error.code == .invalidState {
                refused.add(1, ordering: .relaxed)
                return .conflict
            } catch {
                return .serviceUnavailable
            }
        }
        let port = Mutex<Int?>(nil)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
                              logger: Logger(label: "callbacks") { _ in SwiftLogNoOpLogHandler() })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                bound = port.withLock { $0 }
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let callbackPort = try #require(bound, "the callback route did not start listening")
            return try await body("http://127.0.0.1:\(callbackPort)/callbacks/")
        }
    }

    /// The sequencer the route hands reports to (503 until it is set).
    func route(to sequencer: Sequencer) {
        self.sequencer.withLock { $0 = sequencer }
    }
}
