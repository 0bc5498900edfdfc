#!/usr/bin/env bash
# The test command: sets up the machine, checks the generated bindings, runs the JUnit suite; with no
# arguments (CI) also the library checks: an old JDK is refused with one line, and mvn install plus
# examples/library, built against the installed artifact and run outside the checkout.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ADEPT_ROOT/tools/setup.sh"
use_java_home
"$ADEPT_ROOT/tools/bindgen/check.sh"
if [ $# -eq 0 ]; then
  "$ADEPT_ROOT/tools/check-old-jdk.sh"
  "$ADEPT_ROOT/tools/check-library.sh"
fi
cd "$ADEPT_ROOT"
mvn -B -ntp test "$@"  # last, so the output closes with Surefire's summary
