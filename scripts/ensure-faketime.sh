#!/usr/bin/env bash
# Makes sure libfaketime is installed, for the clock-skew test
# (Tests/SequencerPostgresTests/ClockSkewTests.swift: ticker processes whose clocks are shifted).
#
# Finds the library; only when it is missing, installs Debian's `faketime` package with apt-get
# (as root, or through sudo). Prints the library's path.
#
# Usage: scripts/ensure-faketime.sh        (CI calls it before `swift test`)
set -euo pipefail

find_library() {
    for path in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 \
                /usr/lib/faketime/libfaketime.so.1; do
        if [ -f "$path" ]; then echo "$path"; return 0; fi
    done
    return 1
}

find_library && exit 0

echo "ensure-faketime: libfaketime not found; installing Debian's faketime package" >&2
"$(dirname "$0")/apt-install.sh" ensure-faketime faketime
find_library
