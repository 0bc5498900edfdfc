#!/bin/bash
# Regenerates bindings/ from native/adept_torch.h (see tools/bindgen/README.md).
# bindings/ holds only generated files: it is replaced as a whole.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
run_bindgen "$TMP/bindings"
rm -rf "$ROOT/bindings"
cp -R "$TMP/bindings" "$ROOT/bindings"
echo "tools/bindgen: regenerated bindings/ from $HEADER"
