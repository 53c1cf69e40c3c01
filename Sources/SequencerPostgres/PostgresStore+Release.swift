import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Gives up leases in one statement; see ``Sequencer/SequenceStore/release(_:)``.
    ///
    /// Clears `lease_owner` and `lease_expires_at` where the row still carries the lease's fence
    /// and owner; the cursor and the fence are left as they are (the next claim bumps the fence).
    public func release(_ request: ReleaseRequest) async throws -> Int {
        guard !request.leases.isEmpty else { return 0 }
        let leases = request.leases.sorted { Self.precedes($0.id, $1.id) }
        let query: PostgresQuery = """
            UPDATE \(unescaped: tables.enrollments) AS e
            SET lease_owner = NULL, lease_expires_at = NULL
            FROM unnest(\(SQLArray.uuids(leases.map(\.id))), \(SQLArray.int64s(leases.map(\.fence)))) AS l(id, fence)
            WHERE e.id = l.id AND e.fence = l.fence AND e.lease_owner = \(request.owner)
            RETURNING e.id
            """
        return try await withStoreErrors("release \(leases.count) lease(s)") {
            let released = try await queryRows(query).count
            logger.debug("released leases", metadata: [
                "sequencer.owner": "\(request.owner)", "sequencer.released": "\(released)",
            ])
            return released
        }
    }
}
