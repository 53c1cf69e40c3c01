import Foundation
@testable import SequencerPostgresTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The commands a throwaway cluster runs (`pg_ctl`, the watchdog shell): the server `pg_ctl start`
/// leaves behind and the watchdog outlive the call, so whatever they inherit stays open.
@Suite("Commands a throwaway cluster runs")
struct ThrowawayPostgresTests {
    /// A descriptor of the test process (here a pipe's write end; in a full run other tests'
    /// connections, pipes, and the socket through which Foundation's `Process` sees a child it is
    /// launching exit) is not handed to the command: an inherited one kept a `Process` from ever
    /// seeing its child end, and the test waiting for that child waited until CI's watchdog.
    @Test func commandsItRunsInheritNoDescriptorOfTheTestProcess() async throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let high = fcntl(ends[1], F_DUPFD, 300)   // far above what the command opens itself
        defer { close(ends[0]); close(ends[1]); close(high) }
        try #require(high >= 300)
        // `ls` lists its own descriptors: 0–2, and the directory it is reading.
        let listing = try await ThrowawayPostgres.run(["sh", "-c", "exec ls /proc/self/fd"], asPostgres: false)
        let open = Set(listing.split(whereSeparator: \.isNewline).compactMap { Int32($0) })
        #expect(!open.contains(high) && !open.contains(ends[1]), "the pipe's ends \(ends[1]), \(high) in \(open.sorted())")
        #expect(open.isSubset(of: [0, 1, 2, 3]), "the command's descriptors: \(open.sorted())")
    }
}
