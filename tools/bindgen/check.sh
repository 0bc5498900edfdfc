#!/bin/bash
# Fails when the committed bindings/ differ from what native/adept_torch.h generates now.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
run_bindgen "$TMP/bindings"
if [ ! -d "$ROOT/bindings" ]; then
    echo "bindings/ is missing: run tools/bindgen/generate.sh" >&2
    exit 1
fi
if ! diff -r "$ROOT/bindings" "$TMP/bindings" > "$TMP/diff.txt"; then
    head -n 40 "$TMP/diff.txt" >&2
    echo "bindings/ is stale: run tools/bindgen/generate.sh" >&2
    exit 1
fi
echo "tools/bindgen: bindings/ is up to date with $HEADER"
