#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster.
#
# Starts a fresh cluster (data directory under /tmp, a free port on 127.0.0.1,
# trust authentication, fsync off), exports DATABASE_URL for it, runs the
# command, then stops the cluster and deletes its directory, whether the command
# succeeds, fails or is interrupted. Exits with the command's status.
#
#   scripts/with-postgres.sh sh -c 'psql "$DATABASE_URL"'
#   scripts/with-postgres.sh ./my-host-tests.sh
#
# (`swift test` and `sequencer-bench` start a throwaway cluster themselves when DATABASE_URL
# is unset, through SequencerPostgresTesting; they do not need this script.)
#
# As root the server runs as the `postgres` user (initdb refuses root). If the
# script itself is killed with SIGKILL, clean up by hand:
#   pg_ctl -D /tmp/sequencer-pg.XXXXXX/data stop -m immediate; rm -rf /tmp/sequencer-pg.XXXXXX
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
bin=$("$here/ensure-postgres.sh")

# `env` when not root: an empty array under `set -u` is an error on bash before 4.4 (macOS).
as_postgres=(env)
if [ "$(id -u)" = 0 ]; then as_postgres=(runuser -u postgres --); fi

dir=$("${as_postgres[@]}" mktemp -d /tmp/sequencer-pg.XXXXXX)
started=""

cleanup() {
    if [ -n "$started" ]; then
        "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || \
            "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_postgres[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }

free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    return 1
}

for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null; then
        started=1
        break
    fi
    if [ "$attempt" = 5 ]; then
        echo "with-postgres: the server did not start:" >&2
        cat "$dir/server.log" >&2 || true
        exit 1
    fi
done

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: PostgreSQL on port $port ($dir)" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
