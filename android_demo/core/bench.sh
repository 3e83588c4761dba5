#!/usr/bin/env bash
# The camera frame path on the JVM (a timing, not a test: the JUnit tests check its values and its memory):
#   android_demo/core/bench.sh [--frames N] [--warmup N]
# A 640x480 YUV_420_888 frame turned 90 degrees -> RGB -> upright -> float32 tensor at 64 and 224 px; one line per
# size: "frame path 640x480 -> 224 px: N bytes allocated per frame, T ms median", then bb4822d's allocating path
# for comparison. Needs java and kotlinc 1.9.25 (scripts/setup.d/30-kotlin-junit.sh).
set -euo pipefail
CORE=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in -h|--help) sed -n 2,6p "$0"; exit 0 ;; esac
JAR=$(bash "$CORE/build.sh")
KOTLINC_HOME=${KOTLINC_HOME:-${EDGEKIT_TOOLS:-$CORE/../../.tools}/kotlinc19/node_modules/kotlin-compiler}
BENCH_JAR=$CORE/build/core-bench.jar
T=$CORE/src/test/kotlin/dev/edgekit/core
SOURCES=("$CORE/src/bench/kotlin" "$T/Reference.kt" "$T/TestFrames.kt")
if [ ! -f "$BENCH_JAR" ] || [ "$JAR" -nt "$BENCH_JAR" ] || [ -n "$(find "${SOURCES[@]}" -name '*.kt' -newer "$BENCH_JAR" | head -1)" ]; then
    tmp=$(mktemp "$CORE/build/.core-bench.XXXXXX.jar")
    "$KOTLINC_HOME/bin/kotlinc" -nowarn "${SOURCES[@]}" -cp "$JAR" -d "$tmp" >&2 || { rm -f "$tmp"; exit 1; }
    mv -f "$tmp" "$BENCH_JAR"
fi
exec java -cp "$JAR:$BENCH_JAR:$KOTLINC_HOME/lib/kotlin-stdlib.jar" dev.edgekit.core.bench.FrameBenchKt "$@"
