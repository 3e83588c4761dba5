#!/usr/bin/env bash
# Builds build/core-tool.jar (src/main + src/tool: the core and the JVM preprocess tool) with kotlinc 1.9.25 when a
# source is newer than the jar; prints the jar's path. Sourced tools: $KOTLINC_HOME, else
# $EDGEKIT_TOOLS/kotlinc19/node_modules/kotlin-compiler (EDGEKIT_TOOLS defaults to <repo>/.tools).
set -euo pipefail
CORE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CORE/../.." && pwd)
KOTLINC_HOME=${KOTLINC_HOME:-${EDGEKIT_TOOLS:-$REPO/.tools}/kotlinc19/node_modules/kotlin-compiler}
need() {
    echo "error: $1 not found; install it with scripts/setup.sh (scripts/setup.d/30-kotlin-junit.sh)" >&2
    exit 1
}
command -v java >/dev/null || need "java (JDK 17)"
[ -x "$KOTLINC_HOME/bin/kotlinc" ] || need "kotlinc at $KOTLINC_HOME/bin/kotlinc"
mkdir -p "$CORE/build"
JAR=$CORE/build/core-tool.jar
if [ ! -f "$JAR" ] || [ -n "$(find "$CORE/src/main" "$CORE/src/tool" -name '*.kt' -newer "$JAR" | head -1)" ]; then
    tmp=$(mktemp "$CORE/build/.core-tool.XXXXXX.jar")
    if ! "$KOTLINC_HOME/bin/kotlinc" -nowarn "$CORE/src/main/kotlin" "$CORE/src/tool/kotlin" -d "$tmp" >&2; then
        rm -f "$tmp"
        echo "error: kotlinc failed on android_demo/core" >&2
        exit 1
    fi
    mv -f "$tmp" "$JAR"
fi
echo "$JAR"
