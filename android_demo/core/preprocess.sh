#!/usr/bin/env bash
# Preprocesses image files exactly as the app does (dev.edgekit.core on the JVM):
#   android_demo/core/preprocess.sh --manifest PATH --out DIR IMAGE...
# writes DIR/<image file name without extension>.bin, raw little-endian in the manifest's input dtype and layout.
set -euo pipefail
CORE=$(cd "$(dirname "$0")" && pwd)
JAR=$(bash "$CORE/build.sh")
KOTLINC_HOME=${KOTLINC_HOME:-${EDGEKIT_TOOLS:-$CORE/../../.tools}/kotlinc19/node_modules/kotlin-compiler}
exec java -Djava.awt.headless=true -cp "$JAR:$KOTLINC_HOME/lib/kotlin-stdlib.jar" dev.edgekit.core.tool.PreprocessToolKt "$@"
