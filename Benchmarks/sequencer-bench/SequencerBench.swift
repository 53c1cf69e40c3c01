import ArgumentParser

/// `sequencer-bench`: the Sequencer benchmarks, against PostgreSQL.
///
/// Each scenario prints exactly one line of JSON on stdout,
/// `{"scenario": NAME, "n": N, "seconds": S, …figures}` (sorted keys); progress goes to stderr.
/// The database is the one `DATABASE_URL` names, or else a throwaway cluster started from the
/// local PostgreSQL binaries and removed when the run ends. Every scenario works in a fresh
/// schema and drops it afterwards.
///
/// ```sh
/// swift run -c release sequencer-bench all            # every scenario, then a summary line
/// swift run -c release sequencer-bench all --quick    # a smoke run with small N
/// swift run -c release sequencer-bench drain --n 100000 --tickers 4
/// scripts/bench.sh drain --processes 2                # builds release first
/// ```
@main
struct SequencerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sequencer-bench",
        abstract: "Sequencer benchmarks against PostgreSQL (DATABASE_URL, or a throwaway cluster).",
        discussion: "Each scenario prints one JSON line on stdout; progress goes to stderr.",
        subcommands: [All.self, Dashboard.self, Drain.self, DrainWaits.self, Enroll.self, EnrollFloor.self, Idle.self, IdleService.self, Latency.self, Memory.self, Retention.self, Send.self, SendCeiling.self,
                      SQLFloor.self, SQLFloorWaits.self, Worker.self])
}
