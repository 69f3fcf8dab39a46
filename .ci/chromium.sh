#!/usr/bin/env bash
# Install Debian's chromium (headless), which tests/test_report.py opens the HTML report in, when
# it is missing. Idempotent: does nothing when `chromium` is on PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing; run as root (or: sudo apt-get install -y chromium)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
