#!/usr/bin/env bash
# ONNX Runtime's Java API on the JVM (linux-x64), so android_demo's OrtBackend runs here against a real ONNX Runtime
# (tests/test_android_ort_jvm.py). Idempotent, offline except the registries (Debian's and npm's):
#   - ONNX Runtime's Java classes and JNI glue sources (java/) and C headers: Debian's onnxruntime source package,
#     upstream tarball onnxruntime_1.21.0+dfsg.orig.tar.xz (trixie's 1.21.0+dfsg-1), fetched with `apt-get source --download-only`
#     through a throw-away sources list (/etc/apt is not changed) and checked against its sha256 below;
#   - the native library: libonnxruntime.so 1.29.0 for linux-x64, as the npm package com.github.asus4.onnxruntime@0.4.9
#     ships it beside the 1.29.0 Android AAR that the offline APK bundles (the phone's version);
#   - javac compiles the Java API (1.21.0) and writes its JNI headers; gcc builds libonnxruntime4j_jni.so against the
#     JDK's jni.h, linked to that libonnxruntime.so. ONNX Runtime's C API is versioned and append-only, so 1.21's
#     glue (it asks for API version 14) runs on the 1.29.0 library; its version string is the library's
#     (OrtGetApiBase()->GetVersionString()), not the glue's, so OrtEnvironment.getVersion() says 1.29.0.
# Result in $EDGEKIT_TOOLS/ort-jvm: onnxruntime-java.jar, lib/ (libonnxruntime.so, libonnxruntime_providers_shared.so,
# libonnxruntime4j_jni.so), VERSIONS. Needs root for apt-get (gcc, a JDK, xz) when they are missing.
# A failure here (a registry that no longer hands out these exact files) does not stop scripts/setup.sh: it says
# so, and tests/test_android_ort_jvm.py is then skipped with the reason instead of failing every other test's run.
set -euo pipefail
if [ -z "${_EDGEKIT_ORT_JVM_INNER:-}" ]; then
    _EDGEKIT_ORT_JVM_INNER=1 bash "$0" "$@" && exit 0
    echo "WARNING: scripts/setup.d/45-ort-jvm.sh failed (see above): ONNX Runtime for the JVM is not installed and" \
         "tests/test_android_ort_jvm.py will be skipped" >&2
    exit 0
fi
TOOLS=${EDGEKIT_TOOLS:-$(cd "$(dirname "$0")/../.." && pwd)/.tools}
OUT=$TOOLS/ort-jvm
ORIG=onnxruntime_1.21.0+dfsg.orig.tar.xz
ORIG_SHA256=32df1f82bd6b07b18372c0f387133214905cbde7a586b3ad83f0ed0075f80273
NPM_PACKAGE=com.github.asus4.onnxruntime@0.4.9
STAMP="java 1.21.0 ($ORIG) + native 1.29.0 ($NPM_PACKAGE) v1"

if [ -f "$OUT/VERSIONS" ] && [ "$(head -1 "$OUT/VERSIONS")" = "$STAMP" ] && [ -f "$OUT/onnxruntime-java.jar" ] \
    && [ -f "$OUT/lib/libonnxruntime4j_jni.so" ] && [ -f "$OUT/lib/libonnxruntime.so" ]; then
    exit 0
fi

need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
command -v xz >/dev/null || need+=(xz-utils)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "45-ort-jvm: ${need[*]} missing; run as root (apt-get) or install them yourself" >&2
        exit 1
    fi
    echo "ort-jvm: apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
[ -f "$JAVA_HOME/include/jni.h" ] || { echo "45-ort-jvm: no jni.h under $JAVA_HOME/include" >&2; exit 1; }

WORK=$TOOLS/ort-jvm.build
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

# 1. The Java sources, JNI glue and headers (Debian's upstream tarball: ~38 MB)
SRC=$TOOLS/downloads
mkdir -p "$SRC"
if [ ! -f "$SRC/$ORIG" ] || [ "$(sha256sum "$SRC/$ORIG" | cut -d' ' -f1)" != "$ORIG_SHA256" ]; then
    echo "ort-jvm: ONNX Runtime's sources (Debian's $ORIG) -> $SRC"
    S=$WORK/apt
    mkdir -p "$S/lists/partial" "$S/get"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" > "$S/sources.list"
    o=(-o "Dir::Etc::SourceList=$S/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$S/lists"
       -o APT::Sandbox::User=root)
    apt-get "${o[@]}" update -qq
    # apt fetches the .dsc, the Debian diff and the upstream tarball, verifying each against the signed index;
    # only the upstream tarball is needed (the others have answered 404 here), so their failure is not fatal.
    # Any Debian revision of 1.21.0 (trixie had 1.21.0+dfsg-1) has the same upstream tarball: its sha256 is checked.
    (cd "$S/get" && apt-get "${o[@]}" source --download-only -qq onnxruntime >/dev/null 2>&1) || true
    [ -f "$S/get/$ORIG" ] || { echo "45-ort-jvm: apt-get source did not bring $ORIG" >&2; exit 1; }
    got=$(sha256sum "$S/get/$ORIG" | cut -d' ' -f1)
    [ "$got" = "$ORIG_SHA256" ] || { echo "45-ort-jvm: $ORIG has sha256 $got, expected $ORIG_SHA256" >&2; exit 1; }
    mv "$S/get/$ORIG" "$SRC/$ORIG"
fi
tar -C "$WORK" -xJf "$SRC/$ORIG" --wildcards 'onnxruntime-1.21.0/java/src/main/*' \
    'onnxruntime-1.21.0/include/onnxruntime/core/session/*' 'onnxruntime-1.21.0/include/onnxruntime/core/providers/*'
O=$WORK/onnxruntime-1.21.0

# 2. The native library 1.29.0 (npm; the package is in npm's cache when the offline APK's toolchain was set up)
echo "ort-jvm: libonnxruntime.so 1.29.0 for linux-x64 (npm $NPM_PACKAGE, ~150 MB)"
(cd "$WORK" && npm pack --silent "$NPM_PACKAGE" >/dev/null \
    && tar xzf com.github.asus4.onnxruntime-0.4.9.tgz package/Plugins/Linux/x64/libonnxruntime.so \
        package/Plugins/Linux/x64/libonnxruntime_providers_shared.so && rm -f com.github.asus4.onnxruntime-0.4.9.tgz)
mkdir -p "$WORK/out/lib"
cp "$WORK"/package/Plugins/Linux/x64/*.so "$WORK/out/lib/"
strings "$WORK/out/lib/libonnxruntime.so" | grep -x '1.29.0' >/dev/null \
    || { echo "45-ort-jvm: the npm package's libonnxruntime.so does not say 1.29.0" >&2; exit 1; }

# 3. The Java API (the jvm flavour of its platform classes) and its JNI headers
find "$O/java/src/main/java" "$O/java/src/main/jvm" -name '*.java' > "$WORK/sources.txt"
javac -nowarn --release 8 -encoding UTF-8 -d "$WORK/classes" -h "$WORK/jni-headers" @"$WORK/sources.txt" 2>&1 \
    | grep -v '^warning: \[options\]\|^1 warning$\|^Note: ' >&2 || true
[ -f "$WORK/classes/ai/onnxruntime/OrtSession.class" ] || { echo "45-ort-jvm: javac failed" >&2; exit 1; }
(cd "$WORK/classes" && jar cf "$WORK/out/onnxruntime-java.jar" .)

# 4. The JNI glue. onnxruntime_config.h is CMake's; the glue reads HAS_REALLOCARRAY (glibc has reallocarray) and
# ORT_VERSION (the version string handed to Java): the loaded library's own.
mkdir -p "$WORK/config"
cat > "$WORK/config/onnxruntime_config.h" <<'EOF'
#pragma once
#define HAS_REALLOCARRAY
#define ORT_VERSION (OrtGetApiBase()->GetVersionString())
EOF
# Training (the training C API is not in this library) is left out, as ONNX Runtime's own non-training builds do.
gcc -shared -fPIC -O2 -w -o "$WORK/out/lib/libonnxruntime4j_jni.so" \
    -I "$WORK/config" -I "$WORK/jni-headers" -I "$JAVA_HOME/include" -I "$JAVA_HOME/include/linux" \
    -I "$O/include/onnxruntime/core/session" -I "$O/include" \
    $(ls "$O"/java/src/main/native/*.c | grep -v Training) \
    -L "$WORK/out/lib" -lonnxruntime -Wl,-rpath,'$ORIGIN'

printf '%s\n%s\n' "$STAMP" "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(gcc -dumpfullversion) and $(javac -version 2>&1)" > "$WORK/out/VERSIONS"
rm -rf "$OUT" && mv "$WORK/out" "$OUT"
echo "ort-jvm: ONNX Runtime's Java API 1.21.0 + native 1.29.0 in $OUT"
