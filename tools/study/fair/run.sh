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
# Both domains at once, one thread each: on 2 cores two single-threaded processes train these small matrices
# faster than one two-threaded one. Each sweep resumes where an earlier (or interrupted) one stopped.
./adept --version >/dev/null   # builds the jar once, before the two processes start
step 4 "medical and math sweeps (logs: $out/medical.log, $out/math.log)"
pids=()
for domain in medical math; do
  ADEPT_THREADS=1 ./adept sweep --config "tools/study/fair/$domain.yaml" > "$out/$domain.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ "$status" = 0 ] || { echo "tools/study/fair: a sweep failed; see $out/*.log" >&2; exit 1; }
step 5 "report"
/usr/bin/python3 tools/study/fair/report.py "$out" > docs/results.md
