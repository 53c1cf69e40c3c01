import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Extends the leases of a batch still running, in one statement; see ``Sequencer/SequenceStore/renew(_:)``.
    ///
    /// `lease_expires_at = now() + leaseDuration` (database time) where the row still carries
    /// the lease's fence and owner and is still active; the other leases are reported lost.
    public func renew(_ request: RenewRequest) async throws -> RenewResult {
        guard !request.leases.isEmpty else { return RenewResult(renewed: 0, lost: []) }
        let leases = request.leases.sorted { Self.precedes($0.id, $1.id) }
        let query: PostgresQuery = """
            UPDATE \(unescaped: tables.enrollments) AS e
            SET lease_expires_at = now() + \(request.leaseDuration.timeInterval) * interval '1 second'
            FROM unnest(\(SQLArray.uuids(leases.map(\.id))), \(SQLArray.int64s(leases.map(\.fence)))) AS l(id, fence)
            WHERE e.id = l.id AND e.fence = l.fence AND e.lease_owner = \(request.owner) AND e.status = 'active'
            RETURNING e.id
            """
        return try await withStoreErrors("renew \(leases.count) lease(s)") {
            var renewed = Set<UUID>()
            for row in try await queryRows(query) {
                renewed.insert(try row.decode(UUID.self))
            }
            let lost = request.leases.map(\.id).filter { !renewed.contains($0) }
            logger.debug("renewed leases", metadata: [
                "sequencer.owner": "\(request.owner)", "sequencer.renewed": "\(renewed.count)", "sequencer.lost": "\(lost.count)",
            ])
            return RenewResult(renewed: renewed.count, lost: lost)
        }
    }
}
