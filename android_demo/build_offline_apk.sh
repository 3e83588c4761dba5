#!/usr/bin/env bash
# Build a signed debug APK of android_demo without the Android SDK, Gradle or Google's Maven:
# core + app sources (src/main only: src/gradleOnly holds the LiteRT and ExecuTorch backends, whose AARs
# cannot be had here) with the ONNX Runtime backend, against android.jar API 23.
#
#   android_demo/build_offline_apk.sh [--assets DIR] [--out DIR]
#
#   --assets DIR   the assets folder to package (default app/src/main/assets, what `edgekit android sync` fills)
#   --out DIR      where the APK and intermediates go (default android_demo/build/offline)
#
# Toolchain (scripts/setup.d/40-android-offline.sh installs it): aapt2, apksigner, zipalign, ProGuard and aapt
# from Debian 12; android.jar API 23 and dx from Debian 11; kotlinc 1.9.25 from npm (dx cannot read the
# invokedynamic in Kotlin 2's stdlib); ONNX Runtime's Android AAR from npm. Steps: aapt2 compile/link (resources,
# assets, R.java) -> javac R -> kotlinc core+app -> ProGuard (app + Kotlin stdlib; ONNX Runtime's Java 17 classes
# back-ported to Java 7) -> dx -> zip -> zipalign -> apksigner, then `apksigner verify`, `zipalign -c` and
# `aapt dump badging`. The last line printed is `APK: <path>`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ASSETS=$HERE/app/src/main/assets
OUT=$HERE/build/offline
while [ $# -gt 0 ]; do
    case "$1" in
        --assets) ASSETS=$(realpath -m "$2"); shift 2 ;;
        --out) OUT=$(realpath -m "$2"); shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

TOOLS=${EDGEKIT_TOOLS:-$(cd "$HERE/.." && pwd)/.tools}
A=$TOOLS/android
AJ=${ANDROID_JAR:-$A/bullseye/root/usr/lib/android-sdk/platforms/android-23/android.jar}
DX_JAR=${DX_JAR:-$A/bullseye/root/usr/share/java/com.android.dx.jar}
KC=${KOTLINC_HOME:-$TOOLS/kotlinc19/node_modules/kotlin-compiler}
ORT_AAR=${ORT_AAR:-$A/ort/onnxruntime.aar}
ABIS=${ABIS:-arm64-v8a}
missing=()
for f in "$AJ" "$DX_JAR" "$KC/bin/kotlinc" "$ORT_AAR"; do [ -e "$f" ] || missing+=("$f"); done
for t in aapt2 aapt apksigner zipalign proguard javac jimage keytool zip unzip; do
    command -v "$t" >/dev/null || missing+=("$t (command)")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "error: the offline Android toolchain is incomplete; run scripts/setup.d/40-android-offline.sh" \
         "(EDGEKIT_TOOLS=$TOOLS). Missing: ${missing[*]}" >&2
    exit 1
fi

# One source of truth for versions: the Gradle build's catalog and app/build.gradle.kts.
catalog() { sed -n "s/^$1 *= *\"\([^\"]*\)\".*/\1/p" "$HERE/gradle/libs.versions.toml"; }
MIN_SDK=$(catalog minSdk); TARGET_SDK=$(catalog targetSdk)
VERSION_CODE=$(sed -n 's/.*versionCode *= *\([0-9]*\).*/\1/p' "$HERE/app/build.gradle.kts")
VERSION_NAME=$(sed -n 's/.*versionName *= *"\([^"]*\)".*/\1/p' "$HERE/app/build.gradle.kts")
PACKAGE=$(sed -n 's/.*namespace *= *"\([^"]*\)".*/\1/p' "$HERE/app/build.gradle.kts")
JAVA_HOME_17=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")

B=$OUT/build
rm -rf "$B"; mkdir -p "$B"/{compiled,gen,classes,dex,libroot,manifest} "$OUT"
say() { echo "[offline apk] $*"; }

# ONNX Runtime: Java 17 classes (class v61, indy lambdas) that dx cannot read. Mark them v57 (the newest
# ProGuard 6.2 reads) and let ProGuard back-port them to Java 7; cached per AAR checksum.
ORT_SUM=$(sha256sum "$ORT_AAR" | cut -c1-16)
ORT_J7=$A/ort/ort-j7-$ORT_SUM.jar
if [ ! -f "$ORT_J7" ]; then
    say "back-porting ONNX Runtime's classes for dx (once per AAR)"
    W=$B/ort; mkdir -p "$W/cj" "$W/jlib"
    unzip -q -o "$ORT_AAR" classes.jar -d "$W"
    (cd "$W/cj" && unzip -q -o ../classes.jar)
    (cd "$W/jlib" && jimage extract --dir . --include 'regex:/java.base/java/(util|lang|io|nio)/.*' \
        "$JAVA_HOME_17/lib/modules")
    find "$W/cj" "$W/jlib" -name module-info.class -delete
    python3 - "$W/cj" "$W/jlib" <<'EOF'
import pathlib, sys
for root in sys.argv[1:]:
    for p in pathlib.Path(root).rglob("*.class"):
        b = bytearray(p.read_bytes())
        b[6:8] = b"\x00\x39"          # major version 57 (Java 13): what ProGuard 6.2 accepts
        p.write_bytes(bytes(b))
EOF
    cat > "$W/ort.pro" <<EOF
-injars $W/cj
-outjars $W/ort-j7.jar
-libraryjars $W/jlib/java.base
-libraryjars $AJ(!java/**)
-target 1.7
-dontshrink
-dontoptimize
-dontobfuscate
-dontpreverify
-dontnote **
-dontwarn **
-ignorewarnings
-keep class ** { *; }
EOF
    proguard @"$W/ort.pro" >"$W/proguard.log" 2>&1 || { cat "$W/proguard.log" >&2; exit 1; }
    mv "$W/ort-j7.jar" "$ORT_J7.tmp" && mv "$ORT_J7.tmp" "$ORT_J7"
fi
for abi in $ABIS; do
    mkdir -p "$B/libroot/lib/$abi"
    unzip -q -o -j "$ORT_AAR" "jni/$abi/*.so" -d "$B/libroot/lib/$abi" \
        || { echo "error: the ONNX Runtime AAR has no native libraries for $abi" >&2; exit 1; }
done

# 1. Resources, assets (the models `edgekit android sync` bundled), R.java. aapt2 needs the package and the SDK
#    levels on the command line or in the manifest: Gradle's source manifest has neither, so add the package.
say "resources and assets (aapt2)"
sed "s|<manifest |<manifest package=\"$PACKAGE\" |" "$HERE/app/src/main/AndroidManifest.xml" > "$B/manifest/AndroidManifest.xml"
aapt2 compile --dir "$HERE/app/src/main/res" -o "$B/compiled/res.zip"
aapt2 link -I "$AJ" --manifest "$B/manifest/AndroidManifest.xml" \
    --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK" \
    --version-code "$VERSION_CODE" --version-name "$VERSION_NAME" \
    --java "$B/gen" -o "$B/base.apk" "$B/compiled/res.zip"
javac -nowarn -source 8 -target 8 -bootclasspath "$AJ" -d "$B/classes" $(find "$B/gen" -name '*.java') \
    2>&1 | grep -v '^warning' || true

# 2. Kotlin: core (pure Kotlin) and app together, src/main only. Lambdas and SAM conversions as classes:
#    dx (API 24) cannot read invokedynamic.
say "kotlinc (core + app)"
"$KC/bin/kotlinc" -no-jdk -no-reflect -jvm-target 1.8 -Xlambdas=class -Xsam-conversions=class -nowarn \
    -cp "$AJ:$B/classes:$ORT_J7" -d "$B/classes" \
    "$HERE/core/src/main/kotlin" "$HERE/app/src/main/kotlin"

# 3. ProGuard: app + core + the Kotlin stdlib, shrunk (drops the stdlib's few invokedynamic methods).
say "ProGuard"
cat > "$B/app.pro" <<EOF
-injars $B/classes
-injars $KC/lib/kotlin-stdlib.jar(!META-INF/**,!module-info.class)
-outjars $B/shrunk.jar
-libraryjars $AJ
-libraryjars $ORT_J7
-dontobfuscate
-dontoptimize
-dontpreverify
-dontnote **
-dontwarn kotlin.**,org.jetbrains.annotations.**,java.util.function.**,java.util.stream.**,java.util.Optional**
# Java 8 statics (Integer.hashCode(int), ...) that Kotlin's data classes call: API 24, present on every device
# this app installs on (minSdk 24), absent from API 23's android.jar.
-dontwarn java.lang.Integer,java.lang.Long,java.lang.Float,java.lang.Double,java.lang.Boolean,java.lang.Short,java.lang.Byte,java.lang.Character
-keep class dev.edgekit.** { *; }
EOF
proguard @"$B/app.pro" >"$B/proguard.log" 2>&1 || { cat "$B/proguard.log" >&2; exit 1; }

# 4. dex (dx from Debian 11)
say "dx"
java -cp "$DX_JAR" com.android.dx.command.Main --dex --min-sdk-version="$MIN_SDK" \
    --output="$B/dex/classes.dex" "$B/shrunk.jar" "$ORT_J7"

# 5. Package (native libraries stored, page-aligned), align, sign with a debug key.
say "package, zipalign, apksigner"
cp "$B/base.apk" "$B/unsigned.apk"
(cd "$B/dex" && zip -q -j ../unsigned.apk classes.dex)
# Assets are added here rather than by aapt2 (Debian's aapt2 honours only the first -0 extension): model files
# stored uncompressed (the app copies them out once), the rest deflated.
if [ -d "$ASSETS" ] && [ -n "$(ls -A "$ASSETS")" ]; then
    mkdir -p "$B/assetroot" && ln -sfn "$ASSETS" "$B/assetroot/assets"
    (cd "$B/assetroot" && zip -q -r -n .onnx:.tflite:.pte ../unsigned.apk assets -x 'assets/.*' 'assets/*/.*')
fi
(cd "$B/libroot" && zip -q -0 -r ../unsigned.apk lib)
KS=$A/debug.keystore
if [ ! -f "$KS" ]; then
    keytool -genkeypair -keystore "$KS" -storepass android -keypass android -alias androiddebugkey \
        -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=Android Debug,O=Android,C=US" >/dev/null 2>&1
fi
APK=$OUT/edgekit-demo-debug.apk
zipalign -f -p 4 "$B/unsigned.apk" "$B/aligned.apk"
apksigner sign --ks "$KS" --ks-pass pass:android --key-pass pass:android --out "$APK.tmp" "$B/aligned.apk"
mv "$APK.tmp" "$APK"; rm -f "$APK.tmp.idsig"

# 6. Static checks: a phone would refuse an APK that fails these.
say "checks"
apksigner verify --verbose "$APK" > "$B/verify.txt"
grep -E "^(Verifies|Verified using v2)" "$B/verify.txt"
zipalign -c -p 4 "$APK"
aapt dump badging "$APK" | grep -E "^(package|sdkVersion|targetSdkVersion|launchable-activity|native-code)"
echo "APK: $APK ($(stat -c %s "$APK") bytes)"
