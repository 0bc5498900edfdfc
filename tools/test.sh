#!/usr/bin/env bash
# The test command: sets up the machine, checks the generated bindings, runs the JUnit suite.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ADEPT_ROOT/tools/setup.sh"
use_java_home
"$ADEPT_ROOT/tools/bindgen/check.sh"
cd "$ADEPT_ROOT"
mvn -B -ntp test "$@"
