#!/usr/bin/env bash
# Compiles and runs android_demo/core's JUnit 5 tests; the last line is "N passed, N failed".
#   android_demo/core/test.sh [--fixtures DIR]
# DIR: golden fixtures from `edgekit android fixtures EXPORT_DIR --out DIR`; without it the fixture tests are
# skipped (reported as skipped, never passed). Needs java, kotlinc 1.9.25 and junit5: scripts/setup.sh.
set -euo pipefail
CORE=$(cd "$(dirname "$0")" && pwd)
FIXTURES=
while [ $# -gt 0 ]; do
    case "$1" in
        --fixtures) FIXTURES=$(cd "${2:?--fixtures needs a folder}" && pwd); shift 2 ;;
        -h|--help) sed -n 2,6p "$0"; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; exit 2 ;;
    esac
done
JAR=$(bash "$CORE/build.sh")
KOTLINC_HOME=${KOTLINC_HOME:-${EDGEKIT_TOOLS:-$CORE/../../.tools}/kotlinc19/node_modules/kotlin-compiler}
J=/usr/share/java
[ -f $J/junit-platform-console-standalone.jar ] || {
    echo "error: JUnit 5 not found ($J/junit-platform-console-standalone.jar); run scripts/setup.sh" >&2; exit 1; }
TEST_JAR=$CORE/build/core-tests.jar
if [ ! -f "$TEST_JAR" ] || [ "$JAR" -nt "$TEST_JAR" ] || [ -n "$(find "$CORE/src/test" -name '*.kt' -newer "$TEST_JAR" | head -1)" ]; then
    tmp=$(mktemp "$CORE/build/.core-tests.XXXXXX.jar")
    "$KOTLINC_HOME/bin/kotlinc" -nowarn "$CORE/src/test/kotlin" -d "$tmp" \
        -cp "$JAR:$J/junit-jupiter-api.jar:$J/apiguardian-api.jar:$J/opentest4j.jar" >&2 || { rm -f "$tmp"; exit 1; }
    mv -f "$tmp" "$TEST_JAR"
fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
set +e
java -Djava.awt.headless=true ${FIXTURES:+-Dedgekit.fixtures="$FIXTURES"} \
    -jar $J/junit-platform-console-standalone.jar --disable-banner --details=tree --disable-ansi-colors \
    -cp "$JAR:$TEST_JAR:$KOTLINC_HOME/lib/kotlin-stdlib.jar" --scan-classpath "$TEST_JAR" | tee "$LOG"
set -e
ok=$(sed -n 's/.*\[ *\([0-9]*\) tests successful.*/\1/p' "$LOG" | tail -1)
ko=$(sed -n 's/.*\[ *\([0-9]*\) tests failed.*/\1/p' "$LOG" | tail -1)
skipped=$(sed -n 's/.*\[ *\([0-9]*\) tests skipped.*/\1/p' "$LOG" | tail -1)
aborted=$(sed -n 's/.*\[ *\([0-9]*\) tests aborted.*/\1/p' "$LOG" | tail -1)
groups=$(sed -n 's/.*\[ *\([0-9]*\) containers aborted.*/\1/p' "$LOG" | tail -1)
note=" (no --fixtures: the fixture tests did not run)"
[ -z "$FIXTURES" ] || note=" (fixtures: $FIXTURES)"
echo "$(( ${skipped:-0} + ${aborted:-0} )) tests and ${groups:-0} test groups skipped$note"
echo "${ok:-0} passed, ${ko:-0} failed"
[ "${ko:-1}" = 0 ] && [ "${ok:-0}" -gt 0 ]
