#!/usr/bin/env bash
# The whole test suite, creating .venv first if needed. Extra arguments go to pytest (-m 'not slow': the quick part).
# It includes android_demo: tests/test_android_core.py writes fixtures from a trained export and runs the
# Kotlin core's JUnit tests (printing their 'N passed, N failed' line); tests/test_android_apk.py builds the
# signed debug APK with the offline toolchain (installed by scripts/setup.d/30 and 40).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two workers (pytest-xdist) on CI's 2 cores; each test file runs whole on one worker (--dist loadfile), so its module
# fixtures are built once; files are handed out longest first, in the order tests/conftest.py sorts them
# (--no-loadscope-reorder: xdist's own order is by number of tests). EDGEKIT_TEST_WORKERS=0 runs everything in this
# process.
# OMP_WAIT_POLICY=PASSIVE: an OpenMP thread that waits sleeps instead of spinning on a core the other worker needs
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec .venv/bin/python -m pytest -n "${EDGEKIT_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
