#!/usr/bin/env bash
# The Kotlin compiler and JUnit 5 for android_demo/core's JVM tests and its preprocess tool (idempotent):
#   kotlinc 1.9.25 from npm (`kotlin-compiler`: kotlinc, stdlib, kotlin-test, kotlin-test-junit5)
#     -> $EDGEKIT_TOOLS/kotlinc19/node_modules/kotlin-compiler (the Android app's offline build reuses it)
#   JUnit 5 (its standalone console launcher) from Debian's `junit5` -> /usr/share/java
# Needs a JDK (17) for `java`: installed from Debian's openjdk-17-jdk-headless when missing.
set -euo pipefail
TOOLS=${EDGEKIT_TOOLS:-$(cd "$(dirname "$0")/../.." && pwd)/.tools}
KOTLINC=$TOOLS/kotlinc19/node_modules/kotlin-compiler
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "30-kotlin-junit: $* missing; run as root (apt-get) or install it yourself" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}
command -v java >/dev/null || apt_install openjdk-17-jdk-headless
[ -f /usr/share/java/junit-platform-console-standalone.jar ] || apt_install junit5
if [ ! -x "$KOTLINC/bin/kotlinc" ] || ! grep -q '"version": "1.9.25"' "$KOTLINC/package.json" 2>/dev/null; then
    command -v npm >/dev/null || apt_install npm
    mkdir -p "$TOOLS/kotlinc19"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/kotlinc19" kotlin-compiler@1.9.25 >/dev/null
    chmod +x "$KOTLINC"/bin/* 2>/dev/null || true
    echo "kotlinc 1.9.25 installed in $TOOLS/kotlinc19"
fi
