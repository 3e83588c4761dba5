#!/usr/bin/env bash
# Set up .venv (if needed), then run the main job on the shipped defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/edgekit models
