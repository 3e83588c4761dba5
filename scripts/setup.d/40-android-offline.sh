#!/usr/bin/env bash
# The offline Android toolchain that android_demo/build_offline_apk.sh needs (idempotent, quiet).
# The Android SDK and Google's Maven are out of reach on the project's CI machines; Debian's and npm's
# registries are not. So, into $EDGEKIT_TOOLS/android (and $EDGEKIT_TOOLS/kotlinc19):
#   - android.jar API 23 and dx (Debian 11's android-sdk-platform-23, libandroid-23-java, dalvik-exchange),
#     downloaded with a throw-away sources list and unpacked with dpkg -x: /etc/apt is not changed;
#   - aapt/aapt2, apksigner, zipalign, dexdump, ProGuard, a JDK 17, zip (Debian 12 packages, apt-get, needs root);
#   - kotlinc 1.9.25 (npm kotlin-compiler; 1.9 because dx cannot read the invokedynamic in Kotlin 2's stdlib),
#     shared with scripts/setup.d/30-kotlin-junit.sh;
#   - ONNX Runtime's Android AAR (1.29, MIT) as vendored in the npm package com.github.asus4.onnxruntime@0.4.9.
set -euo pipefail
TOOLS=${EDGEKIT_TOOLS:-$(cd "$(dirname "$0")/../.." && pwd)/.tools}
A=$TOOLS/android
mkdir -p "$A"

# 1. Debian 12 packages (binaries on PATH)
need=()
for pair in aapt:aapt apksigner:apksigner zipalign:zipalign dexdump:dexdump proguard:proguard-cli \
            javac:openjdk-17-jdk-headless jimage:openjdk-17-jdk-headless zip:zip unzip:unzip; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
command -v aapt2 >/dev/null || [[ " ${need[*]} " == *" aapt "* ]] || need+=(aapt)   # Debian's aapt ships aapt2 too
if [ ${#need[@]} -gt 0 ]; then
    echo "android toolchain: apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

# 2. Debian 11: android.jar (API 23) and dx, without touching /etc/apt
S=$A/bullseye
if [ ! -f "$S/root/usr/lib/android-sdk/platforms/android-23/android.jar" ] || ! ls "$S"/root/usr/share/java/com.android.dx*.jar >/dev/null 2>&1; then
    echo "android toolchain: android.jar API 23 and dx from Debian 11 -> $S"
    rm -rf "$S"; mkdir -p "$S"/{lists/partial,debs,root}
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" > "$S/sources.list"
    o=(-o "Dir::Etc::SourceList=$S/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$S/lists"
       -o "Dir::Cache::archives=$S/debs" -o APT::Sandbox::User=root)
    apt-get "${o[@]}" update -qq
    (cd "$S/debs" && apt-get "${o[@]}" download -qq android-sdk-platform-23 libandroid-23-java dalvik-exchange >/dev/null)
    for d in "$S"/debs/*.deb; do dpkg -x "$d" "$S/root"; done
fi

# 3. kotlinc 1.9.25 (npm)
K=$TOOLS/kotlinc19
if [ ! -x "$K/node_modules/kotlin-compiler/bin/kotlinc" ]; then
    echo "android toolchain: kotlin-compiler@1.9.25 (npm) -> $K"
    mkdir -p "$K" && (cd "$K" && npm install --no-audit --no-fund --silent kotlin-compiler@1.9.25 >/dev/null)
fi

# 4. ONNX Runtime Android AAR (npm pack, ~150 MB download; only the .aar is kept)
if [ ! -f "$A/ort/onnxruntime.aar" ]; then
    echo "android toolchain: ONNX Runtime Android AAR (npm com.github.asus4.onnxruntime@0.4.9, ~150 MB) -> $A/ort"
    rm -rf "$A/ort.tmp"; mkdir -p "$A/ort.tmp"
    (cd "$A/ort.tmp" && npm pack --silent com.github.asus4.onnxruntime@0.4.9 >/dev/null \
        && tar xzf com.github.asus4.onnxruntime-0.4.9.tgz package/Plugins/Android/onnxruntime.aar)
    mkdir -p "$A/ort" && mv "$A/ort.tmp/package/Plugins/Android/onnxruntime.aar" "$A/ort/onnxruntime.aar"
    rm -rf "$A/ort.tmp"
fi
