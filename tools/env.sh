# Sourced by adept's scripts: repository root, a JDK 22+, privileged apt, CPU settings.
ADEPT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Feature version of the JDK whose java launcher is $1 (empty on failure).
java_feature() {
  "$1" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

# Prints a JAVA_HOME of JDK 22 or newer: $JAVA_HOME, then /usr/lib/jvm.
find_java_home() {
  local candidate v
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/*-2[2-9]* /usr/lib/jvm/*-3[0-9]*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    v="$(java_feature "$candidate/bin/java")"
    if [ -n "$v" ] && [ "$v" -ge 22 ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Exports JAVA_HOME (JDK 22+) for Maven and java; quiets Maven's own sun.misc.Unsafe warning on JDK 23+.
use_java_home() {
  JAVA_HOME="$(find_java_home)" || { echo "no JDK 22+ found: run tools/setup.sh or set JAVA_HOME" >&2; return 1; }
  export JAVA_HOME
  if [ "$(java_feature "$JAVA_HOME/bin/java")" -ge 23 ]; then
    case " ${MAVEN_OPTS:-} " in *sun-misc-unsafe*) ;; *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;; esac
  fi
}

# Runs apt-get as root (directly or through sudo), non-interactively.
apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: $*" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

debian_major() {
  cut -d. -f1 /etc/debian_version 2>/dev/null || echo 0
}

# libgomp reads this when libtorch loads: spinning OpenMP and OpenBLAS pools fight on few cores.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# glibc malloc, read at process start. The value is defined once, as adept.glibc.tunables in pom.xml (the test
# runner sets the same); why that value: docs/benchmarks.md, "Allocator settings". One arena: the JVM runs Java code
# on a secondary thread, whose own arena is made of 64 MiB heaps that glibc maps and unmaps as activations come and
# go (training step 866 -> 641 ms). No larger tcache: it pinned small chunks between freed tensors and multiplied
# peaks 1.5-4x. A GLIBC_TUNABLES already in the environment wins; an empty one means glibc's defaults.
if [ -z "${GLIBC_TUNABLES+set}" ]; then
  GLIBC_TUNABLES="$(sed -n 's:.*<adept.glibc.tunables>\(.*\)</adept.glibc.tunables>.*:\1:p' "$ADEPT_ROOT/pom.xml")"
fi
export GLIBC_TUNABLES
