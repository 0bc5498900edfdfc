#!/usr/bin/env bash
# The fair-comparison study (docs/results.md): tokenizer, a 12-layer random base, pretraining, then the
# learning-rate sweeps of every arm on math and medical, and the report. Outputs go to ../adept-study beside
# the checkout; each step reuses what an earlier (or interrupted) run finished: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/../../.."
data=../shared/data
[ -d "$data" ] || { echo "tools/study/fair: needs ../shared/data beside the checkout" >&2; exit 2; }
out=../adept-study
mkdir -p "$out"
step() { echo "== tools/study/fair [$1] $2 ($(date -u +%H:%M:%S))" >&2; }
step 1 "tokenizer (SentencePiece unigram 8192 on corpora/general_en)"
[ -f "$out/tokenizer/tokenizer.json" ] || ./adept tokenizer --data "$data/corpora/general_en.jsonl.gz" --vocab 8192 --out "$out/tokenizer"
step 2 "random base (Llama: hidden 128, 12 layers, 4/2 heads, intermediate 352, context 256)"
[ -f "$out/random/config.json" ] || ./adept init --tokenizer "$out/tokenizer" --hidden 128 --layers 12 --heads 4 --kv-heads 2 \
  --intermediate 352 --context 256 --seed 1234 --out "$out/random"
step 3 "pretraining on corpora/general_en"
./adept run --config tools/study/fair/base.yaml
[ "${1:-}" = "--base-only" ] && exit 0
for domain in medical math; do
  step 4 "$domain: the sweep"
  ./adept sweep --config "tools/study/fair/$domain.yaml"
done
step 5 "report"
/usr/bin/python3 tools/study/fair/report.py "$out" > docs/results.md
