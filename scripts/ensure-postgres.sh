#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl) are installed.
#
# Finds them on PATH or in /usr/lib/postgresql/*/bin (Debian's layout); only when
# neither has them, installs Debian's `postgresql` package with apt-get (as root,
# or through sudo). Prints the directory holding the binaries.
#
# Usage: scripts/ensure-postgres.sh        (CI calls it before `swift test`)
set -euo pipefail

find_bin() {
    local initdb dir
    if initdb=$(command -v initdb 2>/dev/null); then
        dir=$(dirname "$(readlink -f "$initdb")")
        if [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

if bin=$(find_bin); then
    echo "$bin"
    exit 0
fi

echo "ensure-postgres: initdb not found; installing Debian's postgresql package" >&2
"$(dirname "$0")/apt-install.sh" ensure-postgres postgresql

if bin=$(find_bin); then
    echo "$bin"
else
    echo "ensure-postgres: postgresql installed but initdb still not found" >&2
    exit 1
fi
