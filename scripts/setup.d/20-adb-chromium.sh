#!/usr/bin/env bash
# System tools for the phone path and the report check (Debian packages, idempotent, quiet):
#   adb       `edgekit bench EXPORT --device adb[:SERIAL]` drives a phone over USB/TCP with it
#   chromium  scripts/check_report.sh renders `edgekit report`'s page headless and screenshots it
# Skips what is already on PATH; needs root (or sudo) for apt-get only when something is missing.
set -euo pipefail
missing=()
command -v adb >/dev/null 2>&1 || missing+=(adb)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup.d/20-adb-chromium: need root to install ${missing[*]} (apt-get); skipped" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.d/20-adb-chromium: apt-get could not install ${missing[*]}" >&2
    exit 1
fi
echo "installed ${missing[*]} (apt-get)"
