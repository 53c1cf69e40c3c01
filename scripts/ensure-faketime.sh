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
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "ensure-faketime: not root and no sudo; install faketime" >&2; exit 1; }
    sudo="sudo"
fi
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends faketime >&2
find_library
