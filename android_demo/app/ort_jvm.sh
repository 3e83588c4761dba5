#!/usr/bin/env bash
# Runs the app's OrtBackend (src/main/kotlin/.../backend/OrtBackend.kt + Backend.kt, as the APK has them) and core on
# the JVM against ONNX Runtime's Java API with a real native library (scripts/setup.d/45-ort-jvm.sh):
#   android_demo/app/ort_jvm.sh --artifact DIR --threads N [--spinning] --out DIR TENSOR...
# (arguments: src/jvm/kotlin/.../OrtBackendRun.kt). Compiles with kotlinc 1.9.25 when a source is newer than the jar.
# Exit 4 when the toolchain is missing (the caller skips, saying so).
set -euo pipefail
APP=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$APP/../.." && pwd)
TOOLS=${EDGEKIT_TOOLS:-$REPO/.tools}
KOTLINC_HOME=${KOTLINC_HOME:-$TOOLS/kotlinc19/node_modules/kotlin-compiler}
ORT=${EDGEKIT_ORT_JVM:-$TOOLS/ort-jvm}
missing() { echo "missing: $1 (scripts/setup.d/$2 installs it)" >&2; exit 4; }
command -v java >/dev/null || missing "java" 30-kotlin-junit.sh
[ -x "$KOTLINC_HOME/bin/kotlinc" ] || missing "kotlinc at $KOTLINC_HOME" 30-kotlin-junit.sh
[ -f "$ORT/onnxruntime-java.jar" ] && [ -f "$ORT/lib/libonnxruntime4j_jni.so" ] || missing "ONNX Runtime for the JVM at $ORT" 45-ort-jvm.sh
CORE_JAR=$(bash "$APP/../core/build.sh")
B=$APP/src/main/kotlin/dev/edgekit/demo/backend
SOURCES=("$B/OrtBackend.kt" "$B/Backend.kt" "$APP/src/jvm/kotlin/dev/edgekit/demo/backend/OrtBackendRun.kt")
mkdir -p "$APP/build"
JAR=$APP/build/ort-jvm.jar
if [ ! -f "$JAR" ] || [ "$CORE_JAR" -nt "$JAR" ] || [ "$ORT/onnxruntime-java.jar" -nt "$JAR" ] \
    || [ -n "$(find "${SOURCES[@]}" -newer "$JAR" | head -1)" ]; then
    tmp=$(mktemp "$APP/build/.ort-jvm.XXXXXX.jar")
    "$KOTLINC_HOME/bin/kotlinc" -nowarn "${SOURCES[@]}" -cp "$CORE_JAR:$ORT/onnxruntime-java.jar" -d "$tmp" >&2 \
        || { rm -f "$tmp"; echo "error: kotlinc failed on OrtBackend" >&2; exit 1; }
    mv -f "$tmp" "$JAR"
fi
exec java -Djava.awt.headless=true -Donnxruntime.native.path="$ORT/lib" \
    -cp "$JAR:$CORE_JAR:$ORT/onnxruntime-java.jar:$KOTLINC_HOME/lib/kotlin-stdlib.jar" \
    dev.edgekit.demo.backend.OrtBackendRunKt "$@"
