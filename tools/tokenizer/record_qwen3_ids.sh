#!/usr/bin/env bash
# Records Qwen3 token ids computed by an implementation independent of adept's (Hugging Face's pure-JavaScript
# tokenizers.js, npm package @huggingface/tokenizers) into tests/fixtures/tokenizer/qwen3_ids.json, which
# adept.io.tokenizer.Qwen3TokenizerTest compares against. Run once, when the samples or the tokenizer change:
#
#   tools/tokenizer/record_qwen3_ids.sh [SHARED_DATA_DIR]      (default: ../shared/data next to the repository)
#
# Needs node >= 18 and npm with access to the npm registry. The package is installed into a temporary directory,
# never into the repository.
set -euo pipefail

PACKAGE="@huggingface/tokenizers@0.2.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="${1:-$repo/../shared/data}"
data="$(cd "$data" && pwd)"
out="$repo/tests/fixtures/tokenizer/qwen3_ids.json"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent --save-exact "$PACKAGE" >/dev/null)
cp "$here/record_qwen3_ids.mjs" "$work/"
node "$work/record_qwen3_ids.mjs" "$data" "$out"
