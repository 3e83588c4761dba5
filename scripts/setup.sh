#!/usr/bin/env bash
# Create .venv at the repository root and install edgekit with its pinned stack (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "edgekit needs Python 3.11 (the pinned edge stack is built for it); found $("$PYTHON" --version)" >&2
    exit 1
fi
stamp=.venv/.edgekit-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt requirements.lock ]; then
    exit 0  # already installed from these pins
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev]"
touch "$stamp"
echo "edgekit installed in .venv"
