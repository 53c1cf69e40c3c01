#!/usr/bin/env bash
# Installs Debian packages with apt-get, as root or through sudo; the ensure-*.sh scripts call it
# when what they look for is missing. Output goes to stderr (the callers print a path on stdout).
#
# Usage: scripts/apt-install.sh CALLER PACKAGE...
set -euo pipefail
caller=$1
shift
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "$caller: not root and no sudo; install $* by hand" >&2; exit 1; }
    sudo="sudo"
fi
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >&2
