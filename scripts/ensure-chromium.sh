#!/usr/bin/env bash
# Makes sure headless Chromium is installed, for the dashboard's browser test
# (Tests/SequencerDashboardTests/DashboardBrowserTests.swift).
#
# Finds chromium on PATH; only when it is missing, installs Debian's `chromium`
# package with apt-get (as root, or through sudo). Prints the browser's path.
#
# Usage: scripts/ensure-chromium.sh        (CI calls it before `swift test`)
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
    if path=$(command -v "$name" 2>/dev/null); then echo "$path"; exit 0; fi
done

echo "ensure-chromium: chromium not found; installing Debian's chromium package" >&2
"$(dirname "$0")/apt-install.sh" ensure-chromium chromium
command -v chromium
