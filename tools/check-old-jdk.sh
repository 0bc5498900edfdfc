#!/usr/bin/env bash
# Building with a JDK older than 22 must stop with the enforcer's one line naming the JDK needed, not javac's
# "invalid flag". Uses the first JDK 11-21 under /usr/lib/jvm; skipped (with a note) when there is none.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
old=""
for candidate in /usr/lib/jvm/*-1[1-9]-* /usr/lib/jvm/*-2[01]-*; do
  [ -x "$candidate/bin/javac" ] && { old=$candidate; break; }
done
if [ -z "$old" ]; then
  echo "check-old-jdk: skipped (no JDK 11-21 under /usr/lib/jvm)"
  exit 0
fi
set +e
out=$(cd "$root" && JAVA_HOME=$old MAVEN_OPTS= mvn -B -ntp -Dstyle.color=never validate 2>&1)
rc=$?
set -e
if [ $rc -eq 0 ] || ! grep -q "adept needs JDK 22 or newer to build" <<<"$out" || grep -q "invalid flag" <<<"$out"; then
  echo "check-old-jdk: mvn with $old did not stop with the JDK message (exit $rc):" >&2
  echo "$out" | tail -n 20 >&2
  exit 1
fi
echo "check-old-jdk: $old refused: $(grep -m1 -o 'adept needs JDK 22 or newer[^;]*' <<<"$out")"
