#!/usr/bin/env bash
# The earlier single-rate study (docs/results-unmatched.md; superseded by tools/study/fair): tokenizer, random base, pretraining, both domains, MMLU, report.
# Each step reuses what an earlier (or interrupted) run finished; rerun to continue. About 1.5 h on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=../shared/data
[ -d "$data" ] || { echo "tools/study: needs ../shared/data beside the checkout" >&2; exit 2; }
out=runs/study
mkdir -p "$out"
step() { echo "== tools/study [$1/6] $2 ($(date -u +%H:%M:%S))" >&2; }
step 1 "tokenizer (SentencePiece unigram 8192 on corpora/general_en)"
[ -f "$out/tokenizer/tokenizer.json" ] || ./adept tokenizer --data "$data/corpora/general_en.jsonl.gz" --vocab 8192 --out "$out/tokenizer"
step 2 "random base model (Llama: hidden 256, 4 layers, 8/4 heads, intermediate 688, context 256)"
[ -f "$out/random/config.json" ] || ./adept init --tokenizer "$out/tokenizer" --hidden 256 --layers 4 --heads 8 --kv-heads 4 \
  --intermediate 688 --context 256 --seed 1234 --out "$out/random"
step 3 "pretraining on corpora/general_en"
./adept run --config tools/study/base.yaml
for domain in math medical; do
  step 4 "$domain: full, llama-pro, adept (3 seeds each), adept-no-stage1, adept-no-stage2, adept with the sft probe"
  ./adept run --config "tools/study/$domain.yaml"
done
step 5 "MMLU subsets (first 100 items of each, 0-shot) on every model"
for domain in math medical; do
  models=("--model" "$out/base/full/model")
  for m in "$out/$domain"/*/model; do models+=("--model" "$m"); done
  [ -f "$out/$domain/mmlu.json" ] || ./adept eval "${models[@]}" --limit 100 --batch-size 16 --max-length 256 \
    --data "$data/eval/mmlu_general_test.jsonl.gz" --data "$data/eval/mmlu_math_test.jsonl.gz" --data "$data/eval/mmlu_medical_test.jsonl.gz" \
    --json "$out/$domain/mmlu.json" --markdown "$out/$domain/mmlu.md"
done
step 6 "plots and report"
mkdir -p docs/results
for domain in math medical; do
  runs=(); for r in "$out/$domain"/*/; do runs+=("--compare" "${r%/}"); done
  ./adept plot "${runs[@]}" --metric eval_loss --title "$domain: held-out $domain loss" --out "docs/results/$domain-heldout.png"
  ./adept plot "${runs[@]}" --metric loss --title "$domain: training loss" --out "docs/results/$domain-train.png"
done
./adept plot --compare "$out/base/full" --metric eval_loss --title "pretraining: held-out general loss" --out docs/results/pretrain-heldout.png
/usr/bin/python3 tools/study/report.py "$out" > docs/results-unmatched.md
echo "tools/study: wrote docs/results-unmatched.md" >&2
