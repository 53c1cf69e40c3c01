import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Runs `body`, passing ``Sequencer/SequencerError``s through (also from inside a rolled-back
    /// transaction) and wrapping every other error as ``Sequencer/SequencerError/Code/storeFailure``.
    func withStoreErrors<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SequencerError {
            throw error
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? SequencerError { throw inner }
            let cause = error.closureError ?? error.commitError ?? error.beginError ?? error
            throw Self.storeFailure(operation, cause)
        } catch {
            throw Self.storeFailure(operation, error)
        }
    }

    static func storeFailure(_ operation: String, _ error: any Error) -> SequencerError {
        var reason = "\(error)"
        if let psql = error as? PSQLError {
            // PSQLError's description hides details; the server's message and SQLSTATE carry no bind values.
            if let message = psql.serverInfo?[.message] {
                reason = message + (psql.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            } else {
                reason = "\(psql.code)"
            }
        }
        if let psql = error as? PSQLError, let state = psql.serverInfo?[.sqlState], ["42P01", "3F000"].contains(state) {
            // undefined_table, invalid_schema_name: the schema was never migrated (or is another one).
            return SequencerError(.notMigrated,
                                  "\(operation) failed: \(reason); the schema is not migrated: run `sequencer migrate` "
                                  + "(or call PostgresStore.migrate()), or check the schema name",
                                  field: "schema", underlying: error)
        }
        if let psql = error as? PSQLError, psql.serverInfo?[.sqlState] == "23505",
           psql.serverInfo?[.constraintName] == "enrollments_unique_subject"
        {
            // unique_violation of the one-per-subject index (a reject-policy enroll, or a retry).
            // The server's detail names the sequence and the subject: "Key (sequence_name, subject)=(…) already exists."
            let detail = psql.serverInfo?[.detail].map { " (\($0))" } ?? ""
            return SequencerError(.alreadyEnrolled,
                                  "\(operation) failed: the subject already has an active or paused enrollment in a "
                                  + "sequence that allows one per subject\(detail)", field: "subject", underlying: error)
        }
        return SequencerError(.storeFailure, "\(operation) failed: \(reason)", underlying: error)
    }
}
