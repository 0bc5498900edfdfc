#!/usr/bin/python3
"""Writes docs/results.md (on stdout) from the reproduction study's outputs under runs/study/.

    /usr/bin/python3 tools/study/report.py runs/study > docs/results.md

Reads each run's summary.json (trainable fraction, wall time) and run.json, each domain's
evaluation.json (adept run: held-out losses of the base and every run) and mmlu.json (adept eval:
multiple-choice accuracy), and the base's pretraining summary. Seeds of one mode are averaged
(mean and sample standard deviation). Plain Python, no third-party packages.
"""
import json
import math
import os
import re
import statistics
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "runs/study"
DOMAINS = ["math", "medical"]
MODES = ["full", "llama-pro", "adept", "adept-no-stage1", "adept-no-stage2", "adept-sft-probe", "lora"]
MMLU = ["mmlu_general_test", "mmlu_math_test", "mmlu_medical_test"]


def load(path):
    with open(path) as f:
        return json.load(f)


def mode_of(name):
    return re.sub(r"-s\d+$", "", name)


def mean_sd(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None, None, 0
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None), len(values)


def fmt(values, digits=4, scale=1.0, plus=False):
    m, sd, n = mean_sd(values)
    if m is None:
        return "-"
    sign = "+" if plus and m >= 0 else ""
    s = f"{sign}{m * scale:.{digits}f}"
    if sd is not None:
        s += f" ± {sd * scale:.{digits}f}"
    return s + (f" (n={n})" if n > 1 else "")


def heldout(evaluation, model, kind):
    for r in evaluation["results"]:
        if r["model"] == model and kind in os.path.basename(r["data"]):
            return r["loss"]
    return None


def mmlu(results, model_path, subset):
    for r in results:
        if os.path.normpath(r["model"]) == os.path.normpath(model_path) and subset in os.path.basename(r["data"]):
            return r
    return None


out = []
w = out.append
base_summary = load(os.path.join(root, "base", "full", "summary.json"))
base_run = load(os.path.join(root, "base", "full", "run.json"))
w("# Reproduction study at small scale\n")
w("Regenerate with `tools/study/run.sh` (needs `../shared/data`; about 1.5 hours on 2 cores; each step reuses what an")
w("earlier or interrupted run finished). Configs: `tools/study/base.yaml`, `tools/study/math.yaml`, `tools/study/medical.yaml`;")
w("this page is written by `tools/study/report.py` from the runs' `summary.json`, `evaluation.json` and `mmlu.json`.\n")
w("## Setup\n")
w("- Tokenizer: SentencePiece unigram, 8,192 pieces, trained on `corpora/general_en` (`adept tokenizer`).")
w("- Base: Llama architecture from scratch (`adept init`: hidden 256, 4 layers, 8/4 heads, intermediate 688, context 256, untied,")
w(f"  {base_summary['total_parameters']:,} parameters), pretrained with `mode: full` for {base_summary['steps']} steps of 8 x 256 tokens")
w(f"  on `corpora/general_en` (lr {base_run['lr']}, cosine, warmup {base_run['warmup_steps']}): held-out general loss "
  f"{base_summary.get('eval_loss', float('nan')):.4f} after {base_summary['wall_seconds'] / 60:.1f} min.")
dom_run = load(os.path.join(root, "math", "full-s1", "run.json"))
w(f"- Adaptation: every mode {dom_run['steps']} steps x {dom_run['batch_size']} x {dom_run['block_size']} tokens "
  f"({dom_run['steps'] * dom_run['batch_size'] * dom_run['block_size']:,} tokens) of the domain corpus, lr {dom_run['lr']} (cosine, warmup "
  f"{dom_run['warmup_steps']}), AdamW wd {dom_run['weight_decay']}, clipping {dom_run['max_grad_norm']}; K = {dom_run['k']} layers;")
w(f"  importance refreshed every {dom_run['refresh_every']} steps on {dom_run['probe_batches']} probe batches of {dom_run['probe_batch_size']}"
  f" items of `probe/general_probe_pt` (`adept-sft-probe`: `probe/general_probe_sft`); granularity {dom_run['granularity']}, rates"
  f" {dom_run['rate_mode']}. Seeds 1-3 change the data order (the base is the same).")
w("- Evaluation: `eval/general_heldout` and the domain's held-out file (loss per token, lower is better; the whole files at 256-token"
  " windows), and the first 100 items of each MMLU subset, 0-shot (`adept eval --limit 100`; acc = summed log-likelihood,"
  " acc_norm = per byte).\n")

for domain in DOMAINS:
    ddir = os.path.join(root, domain)
    if not os.path.exists(os.path.join(ddir, "evaluation.json")):
        w(f"## {domain}\n\n(not run yet)\n")
        continue
    evaluation = load(os.path.join(ddir, "evaluation.json"))
    mm = load(os.path.join(ddir, "mmlu.json"))["results"] if os.path.exists(os.path.join(ddir, "mmlu.json")) else []
    base_model = os.path.join(root, "base", "full", "model")
    base_general = heldout(evaluation, "base", "general_heldout")
    base_domain = heldout(evaluation, "base", f"{domain}_heldout")
    runs = sorted(n for n in os.listdir(ddir) if os.path.isfile(os.path.join(ddir, n, "summary.json")))
    by_mode = {}
    for n in runs:
        by_mode.setdefault(mode_of(n), []).append(n)
    w(f"## {domain}\n")
    w(f"Base model: general held-out loss {base_general:.4f}, {domain} held-out loss {base_domain:.4f}.\n")
    w("| mode | general loss | change | " + domain + " loss | change | trainable | wall time (s) | MMLU general acc | MMLU math acc | MMLU medical acc |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for mode in MODES:
        names = by_mode.get(mode, [])
        if not names:
            continue
        g = [heldout(evaluation, n, "general_heldout") for n in names]
        d = [heldout(evaluation, n, f"{domain}_heldout") for n in names]
        sums = [load(os.path.join(ddir, n, "summary.json")) for n in names]
        frac = [s["trainable_fraction"] for s in sums]
        wall = [s["wall_seconds"] for s in sums]
        acc = []
        for subset in MMLU:
            vals = [mmlu(mm, os.path.join(ddir, n, "model"), subset) for n in names]
            acc.append([v["accuracy"] for v in vals if v])
        rows[mode] = dict(g=g, d=d, frac=frac, wall=wall)
        w(f"| {mode} | {fmt(g)} | {fmt([x - base_general for x in g], plus=True)} | {fmt(d)} | {fmt([x - base_domain for x in d], plus=True)} | "
          f"{fmt(frac, 1, 100)}% | {fmt(wall, 0)} | " + " | ".join(fmt(a, 3) for a in acc) + " |")
    base_acc = [mmlu(mm, base_model, s) for s in MMLU]
    w("| base | " + f"{base_general:.4f} | | {base_domain:.4f} | | | | " + " | ".join(f"{a['accuracy']:.3f}" if a else "-" for a in base_acc) + " |")
    if base_acc and base_acc[0]:
        w(f"\nMMLU chance level (mean of 1/choices): {base_acc[0]['chance']:.3f}; {base_acc[0]['items']} items per subset.")
    w(f"\nHeld-out {domain} loss during training (one line per run): `{domain}-heldout.png`; training loss: `{domain}-train.png`.\n")
    w(f"![held-out {domain} loss](results/{domain}-heldout.png)\n")

    # plain statements, computed
    def m(mode, key):
        v = mean_sd(rows.get(mode, {}).get(key, []))[0]
        return v
    if "full" in rows and "adept" in rows:
        w("Computed comparisons (means over seeds):\n")
        for mode in ["llama-pro", "adept", "adept-no-stage1", "adept-no-stage2", "adept-sft-probe", "lora"]:
            if mode not in rows:
                continue
            w(f"- {mode} vs full: general loss {m(mode, 'g') - base_general:+.4f} vs {m('full', 'g') - base_general:+.4f} from the base; "
              f"{domain} loss {m(mode, 'd') - base_domain:+.4f} vs {m('full', 'd') - base_domain:+.4f}; trainable "
              f"{100 * m(mode, 'frac'):.1f}% vs {100 * m('full', 'frac'):.1f}%; wall time {m(mode, 'wall'):.0f} s vs {m('full', 'wall'):.0f} s.")
        w("")
findings = os.path.join(os.path.dirname(os.path.abspath(__file__)), "findings.md")
if os.path.exists(findings):
    with open(findings) as f:
        w(f.read())
print("\n".join(out))
