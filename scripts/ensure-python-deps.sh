#!/usr/bin/env bash
# Makes sure the SequencerTransports tests can start their real servers: python3 with aiosmtpd
# (the SMTP server; the HTTP stand-in needs only the standard library) and the openssl command
# (a self-signed certificate for the STARTTLS and implicit TLS tests). Installs only what is
# missing; safe to run again. Called from .ci/run.
set -euo pipefail

PYTHON=${PYTHON:-python3}
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "ensure-python-deps: $PYTHON not found; install Python 3.9 or later" >&2
    exit 1
fi

if ! "$PYTHON" -c "import aiosmtpd" >/dev/null 2>&1; then
    echo "== pip install aiosmtpd"
    # A plain install first; then a user install; then past PEP 668 on distribution Pythons.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check aiosmtpd \
        || "$PYTHON" -m pip install --quiet --disable-pip-version-check --user aiosmtpd \
        || "$PYTHON" -m pip install --quiet --disable-pip-version-check --user --break-system-packages aiosmtpd \
        || { command -v apt-get >/dev/null 2>&1 && echo "== pip failed; apt-get install python3-aiosmtpd" \
             && $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-aiosmtpd >/dev/null; }
fi
"$PYTHON" -c "import aiosmtpd; print('== aiosmtpd', aiosmtpd.__version__)"

if ! command -v openssl >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "== apt-get install openssl"
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq openssl >/dev/null
    else
        echo "ensure-python-deps: the openssl command is missing; install it" >&2
        exit 1
    fi
fi
version=$(openssl version)
echo "== $version"
