#!/usr/bin/env bash
# Runs HERE (a machine with a JDK 22+ and Maven): builds everything the GPU machine needs,
# which has neither, into one ignored folder, build/gpu/ (carry it to the device run):
#   build/gpu/jre.tar.gz     a jlink-ed Java runtime with only the modules needed, packed
#                            (check.sh unpacks it into build/gpu-run/jre); --no-pack: build/gpu/jre/
#   build/gpu/classes/       library/target/classes + cli/target/classes
#   build/gpu/test-classes/  cli/target/test-classes
#   build/gpu/lib/           runtime dependencies (natives for other platforms removed)
#                            + junit-platform-console-standalone
#   build/gpu/MANIFEST.txt   what was built, from which commit, with which modules
# The GPU machine then runs tools/gpu/check.sh (it builds the shim there, against its torch).
#   --no-pack              leave the runtime as a folder (about 20 MiB more to carry)
#   ADEPT_GPU_SKIP_MVN=1   reuse library/target and cli/target as they are (no mvn package)
#   ADEPT_GPU_DROP_MODULES modules jdeps finds but the runtime leaves out (default: none)
set -euo pipefail
pack=1
case "${1:-}" in
  --no-pack) pack=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-pack]" >&2; exit 2 ;;
esac
. "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$ADEPT_ROOT"

JAVA_HOME="$(find_java_home)" || { echo "prepare: no JDK 22+ found (JAVA_HOME or /usr/lib/jvm)" >&2; exit 1; }
export JAVA_HOME
for tool in jlink jdeps jar; do
  [ -x "$JAVA_HOME/bin/$tool" ] || { echo "prepare: $JAVA_HOME has no bin/$tool" >&2; exit 1; }
done
feature=$(java_feature "$JAVA_HOME/bin/java")
echo "prepare: JDK $JAVA_HOME ($feature)"

# 1. Classes: main, tests (compiled by package even with -DskipTests), runtime dependencies.
if [ "${ADEPT_GPU_SKIP_MVN:-0}" != 1 ]; then
  echo "prepare: mvn package (tests compiled, not run)"
  mvn -B -q -ntp -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true package
fi
[ -d library/target/classes ] && [ -d cli/target/classes ] || { echo "prepare: library/ or cli/target/classes missing; run mvn package" >&2; exit 1; }
mkdir -p cli/target/test-classes cli/target/lib

out=build/gpu
rm -rf "$out" build/gpu-run
mkdir -p "$out/lib"
mkdir -p "$out/classes"
cp -a library/target/classes/. cli/target/classes/. "$out/classes/"
cp -a cli/target/test-classes "$out/test-classes"
# the library's own jar is the classes above
find cli/target/lib -name '*.jar' ! -name "adept-[0-9]*.jar" -exec cp -a {} "$out/lib/" \;
# Test-only libraries the suite needs beside JUnit (the console launcher brings JUnit itself).
mvn -B -q -ntp -pl cli dependency:copy-dependencies -DincludeScope=test -DincludeArtifactIds=jtokkit -DoutputDirectory="$out/lib"

# Native libraries for other systems than linux x86-64 are dead weight there (DJL tokenizers
# bundles 40 MiB of them): delete them from the copies.
if command -v zip >/dev/null && command -v unzip >/dev/null; then
  foreign='(^|[/_-])(win|win32|windows|osx|darwin|macos|mac|aix|sunos|freebsd|openbsd|dragonflybsd|android)([/_.-]|$)|aarch64|arm64|armv|[/_-]arm[/_.-]|ppc|s390|loongarch|riscv|mips|sparc|i386|armel|linux-x86/'
  for jar in "$out"/lib/*.jar; do
    mapfile -t drop < <(unzip -Z1 "$jar" | grep -E '\.(so|dll|dylib|jnilib|a)$' | grep -Ei "$foreign" || true)
    if [ "${#drop[@]}" -gt 0 ]; then
      before=$(du -k "$jar" | cut -f1)
      zip -q -d "$jar" "${drop[@]}" >/dev/null
      echo "prepare: $(basename "$jar"): dropped ${#drop[@]} foreign natives, ${before} -> $(du -k "$jar" | cut -f1) KiB"
    fi
  done
else
  echo "prepare: note: no zip/unzip; dependency jars keep their natives for other systems"
fi

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

# 3. The runtime: the modules jdeps finds in adept's classes, tests and dependencies, plus what
#    the console launcher needs (JUL; JFR for its listener) and a few cheap extras (Unsafe,
#    management). java.xml is left out unless something of adept's needs it: JUnit wants it only
#    for --reports-dir, which check.sh does not use. jdeps runs per item, without JUnit on its
#    class path (it would follow JUnit's own dependencies); a modular jar whose required modules
#    are absent is analysed as plain classes. libjvm.so loses its symbol table (-5 MiB).
modules_of() { "$JAVA_HOME/bin/jdeps" --multi-release "$feature" --ignore-missing-deps --print-module-deps "$1" 2>&1; }
scan=("$out/classes")
[ -n "$(find "$out/test-classes" -name '*.class' -print -quit)" ] && scan+=("$out/test-classes")
for jar in "$out"/lib/*.jar; do [ "$jar" = "$launcher" ] || scan+=("$jar"); done
found=""
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for item in "${scan[@]}"; do
  if ! deps=$(modules_of "$item"); then
    rm -rf "$tmp/x" && mkdir -p "$tmp/x"
    (cd "$tmp/x" && "$JAVA_HOME/bin/jar" xf "$ADEPT_ROOT/$item" && rm -rf module-info.class META-INF)
    deps=$(modules_of "$tmp/x") || { echo "prepare: jdeps failed on $item: $deps" >&2; exit 1; }
  fi
  found+=",$deps"
done
# Modules to leave out (none by default: java.desktop, 12 MiB, draws adept probe's chart).
drop=" ${ADEPT_GPU_DROP_MODULES-} "
modules=$(printf '%s\n' ${found//,/ } java.base java.logging jdk.jfr java.management jdk.unsupported | sort -u |
  while read -r m; do [[ "$drop" == *" $m "* ]] || echo "$m"; done | paste -sd, -)
[ -z "${drop// /}" ] || echo "prepare: leaving out modules:${drop% }"
compress=zip-6
[ "$pack" = 1 ] && compress=zip-0   # gzip packs uncompressed modules much better
echo "prepare: jlink --add-modules $modules (--compress=$compress)"
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
  --compress="$compress" --output "$out/jre"
if command -v strip >/dev/null; then strip --strip-unneeded "$out/jre/lib/server/libjvm.so"; fi
"$out/jre/bin/java" -version
if [ "$pack" = 1 ]; then
  tar -C "$out" -czf "$out/jre.tar.gz" jre
  rm -rf "$out/jre"
  echo "prepare: packed the runtime into $out/jre.tar.gz (check.sh unpacks it)"
fi

{
  echo "built:   $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "jdk:     $JAVA_HOME"
  echo "modules: $modules"
  echo "runtime: $([ "$pack" = 1 ] && echo jre.tar.gz || echo jre/)"
  echo "junit:   $junit (console launcher $platform)"
  echo "tests:   $(find "$out/test-classes" -name '*Test*.class' ! -name '*$*' | wc -l) test classes"
} > "$out/MANIFEST.txt"
cat "$out/MANIFEST.txt"

size_kib=$(du -sk "$out" | cut -f1)
echo "prepare: $out is $((size_kib / 1024)) MiB ($size_kib KiB):"
du -sh "$out"/* | sed 's/^/  /'
if [ "$size_kib" -gt $((60 * 1024)) ]; then
  echo "prepare: $out is over 60 MiB; a device run carries at most 64 MiB with the working tree" >&2
  exit 1
fi
