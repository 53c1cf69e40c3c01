#!/usr/bin/env bash
# Builds the benchmarks in release mode and runs them.
#
#   scripts/bench.sh                       # every scenario (`all`), then a summary line
#   scripts/bench.sh all --quick           # a smoke run with small N
#   scripts/bench.sh drain --n 100000 --tickers 4
#   scripts/bench.sh drain --processes 2
#
# Against the server DATABASE_URL names when it is set; otherwise the executable
# starts a throwaway cluster itself (SequencerPostgresTesting) and removes it at exit. Each scenario prints one JSON line on stdout; build output and
# progress go to stderr, so `scripts/bench.sh > results.jsonl` keeps only the
# figures. See "Performance" in README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

swift build -c release --product sequencer-bench >&2
bench="$(swift build -c release --show-bin-path)/sequencer-bench"

if [ $# -eq 0 ]; then set -- all; fi

exec "$bench" "$@"
