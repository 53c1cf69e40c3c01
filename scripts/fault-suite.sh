#!/usr/bin/env bash
# The fault suite with its full counts (docs/RELIABILITY.md reports the last run's figures).
# `swift test` (and so .ci/run) runs the same tests with reduced counts.
#
#   scripts/fault-suite.sh            # about 2 hours on a 2-core machine
#
# Needs what the tests need: PostgreSQL server binaries (scripts/ensure-postgres.sh) and python3
# with aiosmtpd (scripts/ensure-python-deps.sh). Override any count through its variable. The
# whole output goes to .build/fault-suite.log; the figures and the verdicts are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

export SEQUENCER_GOAL_RACE_TRIALS=${SEQUENCER_GOAL_RACE_TRIALS:-10000}   # a goal racing a send
export SEQUENCER_CHAOS_KILLS=${SEQUENCER_CHAOS_KILLS:-1000}               # SIGKILLs of ticker processes
export SEQUENCER_CHAOS_ENROLLMENTS=${SEQUENCER_CHAOS_ENROLLMENTS:-10000}  # over the kills
export SEQUENCER_CHAOS_PROCESSES=${SEQUENCER_CHAOS_PROCESSES:-8}          # ticker processes (the service)
export SEQUENCER_CHAOS_RESTART_SECONDS=${SEQUENCER_CHAOS_RESTART_SECONDS:-1800}  # PostgreSQL restarts under the tickers
export SEQUENCER_CHAOS_RESTART_GAP=${SEQUENCER_CHAOS_RESTART_GAP:-5-40}   # seconds between restarts
export SEQUENCER_DST_YEARS=${SEQUENCER_DST_YEARS:-2020-2035}             # every zone's transitions
export SEQUENCER_RESTART_FAULTS=${SEQUENCER_RESTART_FAULTS:-120}        # PostgreSQL restarts and killed connections
export SEQUENCER_HOSTILE_CASES=${SEQUENCER_HOSTILE_CASES:-1000000}         # generated hostile definitions and contexts

swift build --build-tests
log=.build/fault-suite.log
status=0
swift test --skip-build --filter 'GoalRaceTests|ZombieTests|ChaosTests|DSTPropertyTests|theServiceKeepsItsWorkThroughRestarts|ClosedConnectionTests|ClockSkewTests|HostileInputPropertyTests|HostileStatementTests' \
    >"$log" 2>&1 || status=$?
grep -E '^(goal race|chaos|chaos restarts|DST property|restarts|clock skew|hostile)|✘|Test run' "$log" || true
exit $status
