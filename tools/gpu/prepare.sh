#!/usr/bin/env bash
# Runs HERE (a machine with a JDK 22+ and Maven): builds everything the GPU machine needs,
# which has neither, into one ignored folder, build/gpu/ (carry it to the device run):
#   build/gpu/jre/           a jlink-ed Java runtime with only the modules needed
#   build/gpu/classes/       target/classes
#   build/gpu/test-classes/  target/test-classes
#   build/gpu/lib/           runtime dependencies + junit-platform-console-standalone
#   build/gpu/MANIFEST.txt   what was built, from which commit, with which modules
# The GPU machine then runs tools/gpu/check.sh (it builds the shim there, against its torch).
#   ADEPT_GPU_SKIP_MVN=1   reuse target/ as it is (no mvn package)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$ADEPT_ROOT"

JAVA_HOME="$(find_java_home)" || { echo "prepare: no JDK 22+ found (JAVA_HOME or /usr/lib/jvm)" >&2; exit 1; }
export JAVA_HOME
for tool in jlink jdeps; do
  [ -x "$JAVA_HOME/bin/$tool" ] || { echo "prepare: $JAVA_HOME has no bin/$tool" >&2; exit 1; }
done
echo "prepare: JDK $JAVA_HOME ($(java_feature "$JAVA_HOME/bin/java"))"

# 1. Classes: main, tests (compiled by package even with -DskipTests), runtime dependencies.
if [ "${ADEPT_GPU_SKIP_MVN:-0}" != 1 ]; then
  echo "prepare: mvn package (tests compiled, not run)"
  mvn -B -q -ntp -DskipTests package
fi
[ -d target/classes ] || { echo "prepare: target/classes missing; run mvn package" >&2; exit 1; }
mkdir -p target/test-classes target/lib

out=build/gpu
rm -rf "$out"
mkdir -p "$out/lib"
cp -a target/classes "$out/classes"
cp -a target/test-classes "$out/test-classes"
cp -a target/lib/*.jar "$out/lib/" 2>/dev/null || true

# 2. JUnit's console launcher, matching the JUnit BOM in pom.xml (JUnit 5.x -> platform 1.x).
junit=$(sed -n 's:.*<junit.version>\([^<]*\)</junit.version>.*:\1:p' pom.xml | head -n 1)
[ -n "$junit" ] || { echo "prepare: no <junit.version> in pom.xml" >&2; exit 1; }
case "$junit" in
  5.*) platform="1.${junit#5.}" ;;
  *) platform="$junit" ;;
esac
echo "prepare: junit-platform-console-standalone $platform (JUnit $junit)"
mvn -B -q -ntp org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
  -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform:jar" \
  -DoutputDirectory="$out/lib"
launcher="$out/lib/junit-platform-console-standalone-$platform.jar"
[ -f "$launcher" ] || { echo "prepare: $launcher was not fetched" >&2; exit 1; }

# 3. The runtime: modules jdeps finds in everything that will run, plus a few cheap extras
#    (JUL for JUnit, JFR for its listener, Unsafe and management for libraries and diagnostics).
scan=("$out/classes" "$launcher")
[ -n "$(find "$out/test-classes" -name '*.class' -print -quit)" ] && scan+=("$out/test-classes")
for jar in "$out"/lib/*.jar; do [ "$jar" = "$launcher" ] || scan+=("$jar"); done
found=$("$JAVA_HOME/bin/jdeps" --multi-release "$(java_feature "$JAVA_HOME/bin/java")" --ignore-missing-deps \
  --class-path "$launcher" --print-module-deps "${scan[@]}")
modules=$(printf '%s\n' ${found//,/ } java.base java.logging java.xml java.management jdk.jfr jdk.unsupported | sort -u | paste -sd, -)
echo "prepare: jlink --add-modules $modules"
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
  --compress=zip-6 --output "$out/jre"
"$out/jre/bin/java" -version

{
  echo "built:   $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "jdk:     $JAVA_HOME"
  echo "modules: $modules"
  echo "junit:   $junit (console launcher $platform)"
  echo "tests:   $(find "$out/test-classes" -name '*Test*.class' ! -name '*$*' | wc -l) test classes"
} > "$out/MANIFEST.txt"
cat "$out/MANIFEST.txt"

size_kib=$(du -sk "$out" | cut -f1)
echo "prepare: $out is $((size_kib / 1024)) MiB ($size_kib KiB):"
du -sh "$out"/* | sed 's/^/  /'
if [ "$size_kib" -gt $((60 * 1024)) ]; then
  echo "prepare: $out is over 60 MiB; a device run carries at most 64 MiB" >&2
  exit 1
fi
