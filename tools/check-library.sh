#!/usr/bin/env bash
# adept as a library consumer sees it: `mvn install` (jar with the shim inside, sources and javadoc jars; the
# javadoc jar fails the build on any javadoc error), then examples/library built offline (-o) against the
# installed dev.adept:adept and run from a folder outside the checkout with no adept flags.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
use_java_home
cd "$ADEPT_ROOT"
start=$SECONDS
mvn -B -ntp -q -Dstyle.color=never install -DskipTests
echo "check-library: mvn install: $((SECONDS - start)) s"
installed=$HOME/.m2/repository/dev/adept/adept/0.1.0-SNAPSHOT  # Maven's default local repository
for f in adept-0.1.0-SNAPSHOT.jar adept-0.1.0-SNAPSHOT-sources.jar adept-0.1.0-SNAPSHOT-javadoc.jar; do
  [ -f "$installed/$f" ] || { echo "check-library: $installed/$f was not installed" >&2; exit 1; }
done
"$JAVA_HOME/bin/jar" tf "$installed/adept-0.1.0-SNAPSHOT.jar" | grep -q "native/linux-[a-z0-9_]*/libadept_torch.so" ||
  { echo "check-library: the installed jar has no native/<platform>/libadept_torch.so" >&2; exit 1; }

start=$SECONDS
mvn -B -ntp -q -o -Dstyle.color=never -DskipTests -f examples/library/pom.xml package
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# The shim comes from the jar, extracted into a fresh cache: no ADEPT_NATIVE_DIR, no build/native here.
out=$(env -u ADEPT_NATIVE_DIR -u ADEPT_NATIVE_LIB XDG_CACHE_HOME="$work/cache" \
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -jar "$ADEPT_ROOT/examples/library/target/adept-library-example.jar" "$work/models")
echo "$out" | sed 's/^/check-library: /'
echo "$out" | grep -q "^adept shim $work/cache/adept/native/0.1.0-SNAPSHOT-[0-9a-f]*/libadept_torch.so" ||
  { echo "check-library: the example did not load the shim extracted from the jar" >&2; exit 1; }
# The README's library example: train (adept: probe, expand, adaptive rates), save and evaluate the model above.
trained=$(env -u ADEPT_NATIVE_DIR -u ADEPT_NATIVE_LIB XDG_CACHE_HOME="$work/cache" \
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$ADEPT_ROOT/examples/library/target/adept-library-example.jar" \
  example.TrainExample "$work/models")
echo "$trained" | sed 's/^/check-library: /'
echo "$trained" | grep -q "^trained $work/models/run/model: loss [0-9.]*, held-out [0-9.]*" ||
  { echo "check-library: the README's training example did not train" >&2; exit 1; }
echo "check-library: example built and run in $((SECONDS - start)) s"
