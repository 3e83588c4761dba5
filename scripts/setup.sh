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
if ! { [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt requirements.lock ]; }; then
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    # [timm]: the optional timm: model source, installed here so that its tests run in CI
    .venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev,timm]"
    touch "$stamp"
    echo "edgekit installed in .venv"
fi
# System tools some stages need (each script is idempotent and says what it installs):
# scripts/setup.d/*.sh, run in name order. Tools that are not Python packages go to $EDGEKIT_TOOLS.
export EDGEKIT_TOOLS=${EDGEKIT_TOOLS:-$PWD/.tools}
for step in scripts/setup.d/*.sh; do
    [ -e "$step" ] || continue
    bash "$step"
done
