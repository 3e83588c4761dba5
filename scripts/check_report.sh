#!/usr/bin/env bash
# Render an `edgekit report` page in headless Chromium and check the screenshot (not blank, every figure
# decoded and showing plot pixels). Usage: scripts/check_report.sh REPORT.html [SCREENSHOT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -m edgekit.report.check "$@"
