#!/usr/bin/env bash
# Postprocesses a detector's raw outputs exactly as the app does (dev.edgekit.core on the JVM):
#   android_demo/core/postprocess.sh --manifest PATH --out DIR OUTPUT.bin@WIDTHxHEIGHT...
# writes DIR/<output file name without extension>.json: the detections (classes, scores, boxes in the image's pixels).
set -euo pipefail
CORE=$(cd "$(dirname "$0")" && pwd)
JAR=$(bash "$CORE/build.sh")
KOTLINC_HOME=${KOTLINC_HOME:-${EDGEKIT_TOOLS:-$CORE/../../.tools}/kotlinc19/node_modules/kotlin-compiler}
exec java -Djava.awt.headless=true -cp "$JAR:$KOTLINC_HOME/lib/kotlin-stdlib.jar" dev.edgekit.core.tool.DetectToolKt "$@"
