"""Writes docs/results.md from the fair-comparison study's sweeps (tools/study/fair/run.sh).

    /usr/bin/python3 tools/study/fair/report.py ../adept-study > docs/results.md

Reads ../adept-study/{medical,math}/pareto.json (adept sweep's output) and the runs' summary.json, copies the Pareto
charts to docs/results/, and computes from the sweeps' own numbers: the matched-forgetting table, the 2 x 2
factorial's main effects at matched forgetting, and the seed spread. The hand-written findings come from
tools/study/fair/findings.md. Standard library only.
"""

import json
import math
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DOMAINS = ["medical", "math"]
# The 2 x 2 factorial: (placement, rates) -> arm, for each normalisation of the adaptive rates.
FACTORIAL = {
    "global": {("probed", "adaptive"): "adept", ("uniform", "adaptive"): "uniform-adaptive",
               ("probed", "uniform"): "probed-uniform", ("uniform", "uniform"): "llama-pro"},
    "mean": {("probed", "adaptive"): "adept-mean", ("uniform", "adaptive"): "uniform-adaptive-mean",
             ("probed", "uniform"): "probed-uniform", ("uniform", "uniform"): "llama-pro"},
}


def at_budget(points, budget):
    """The curve's domain change at general change = budget: linear between neighbouring learning rates, the best
    crossing when several; None when no segment brackets the budget (never extrapolated). Mirrors adept.train.Pareto."""
    best = None
    for i, a in enumerate(points):
        if a["general_change"] == budget and (best is None or a["domain_change"] < best):
            best = a["domain_change"]
        if i + 1 == len(points):
            break
        b = points[i + 1]
        ga, gb = a["general_change"], b["general_change"]
        if ga == gb or (ga - budget) * (gb - budget) > 0:
            continue
        t = (budget - ga) / (gb - ga)
        y = a["domain_change"] + t * (b["domain_change"] - a["domain_change"])
        if best is None or y < best:
            best = y
    return best


def pooled_seed_sd(pareto):
    """Root mean square of the domain-change seed sd over every setting with 2+ seeds: the noise floor of one curve point."""
    sds = [p["domain_change_sd"] for pts in pareto["curves"].values() for p in pts if "domain_change_sd" in p]
    return math.sqrt(sum(s * s for s in sds) / len(sds)) if sds else float("nan")


def fmt(x, sign=True):
    if x is None:
        return "not reached"
    return ("%+.4f" if sign else "%.4f") % x


def domain_section(root, domain, out_dir):
    path = os.path.join(root, domain, "pareto.json")
    if not os.path.exists(path):
        return "## %s\n\nNot run yet (no %s).\n\n" % (domain, path), None
    with open(path) as f:
        pareto = json.load(f)
    png = os.path.join(root, domain, "pareto.png")
    if os.path.exists(png):
        shutil.copyfile(png, os.path.join(out_dir, "fair-%s-pareto.png" % domain))
    budgets = [m["budget"] for m in pareto["matched_forgetting"]]
    curves = pareto["curves"]
    sd = pooled_seed_sd(pareto)
    b = ["## %s\n" % domain.capitalize()]
    base = pareto["base"]
    b.append("Base model: general loss %.4f, %s loss %.4f. %d runs. Seed spread (pooled sd of the domain change over the "
             "settings run with 2 seeds): %.4f.\n" % (base["general_loss"], domain, base["domain_loss"], len(pareto["runs"]), sd))
    b.append("![%s Pareto](results/fair-%s-pareto.png)\n" % (domain, domain))
    b.append("### Domain change at matched forgetting\n")
    b.append("Each arm's domain-loss change (lower = learned more) where its general-loss change equals the budget, "
             "interpolated between neighbouring learning rates of its own curve; \"not reached\" where its grid does not span "
             "the budget.\n")
    b.append("| budget | " + " | ".join(curves) + " | best |")
    b.append("|---:|" + "---:|" * len(curves) + "---|")
    table = {}
    for budget in budgets:
        row = []
        best, best_v = None, None
        for c, pts in curves.items():
            v = at_budget(pts, budget)
            table[(c, budget)] = v
            row.append(fmt(v))
            if v is not None and (best_v is None or v < best_v):
                best, best_v = c, v
        b.append("| +%.2f | %s | %s |" % (budget, " | ".join(row), best or "-"))
    b.append("")
    b.append("### Main effects at matched forgetting (2 x 2 factorial)\n")
    b.append("Placement effect = mean over the two rate conditions of (probed - uniform); rates effect = mean over the two "
             "placements of (adaptive - uniform rates); negative = the factor makes the model learn more at the same forgetting. "
             "Compared with twice the pooled seed sd (%.4f): an effect smaller than that is within the noise.\n" % (2 * sd))
    b.append("| adaptive rates | budget | placement effect | rates effect | interaction |")
    b.append("|---|---:|---:|---:|---:|")
    effects = {}
    for norm, cells in FACTORIAL.items():
        for budget in budgets:
            v = {k: table.get((arm, budget)) for k, arm in cells.items()}
            if any(x is None for x in v.values()):
                b.append("| %s | +%.2f | not all four arms reach it | | |" % (norm, budget))
                continue
            placement = ((v[("probed", "adaptive")] - v[("uniform", "adaptive")]) + (v[("probed", "uniform")] - v[("uniform", "uniform")])) / 2
            rates = ((v[("probed", "adaptive")] - v[("probed", "uniform")]) + (v[("uniform", "adaptive")] - v[("uniform", "uniform")])) / 2
            inter = (v[("probed", "adaptive")] - v[("uniform", "adaptive")]) - (v[("probed", "uniform")] - v[("uniform", "uniform")])
            effects[(norm, budget)] = (placement, rates)
            b.append("| %s | +%.2f | %+.4f | %+.4f | %+.4f |" % (norm, budget, placement, rates, inter))
    b.append("")
    b.append("### ADEPT against LLaMA-Pro, full continual pretraining and LoRA\n")
    b.append("Differences of domain change at matched forgetting (negative = ADEPT learned more at the same forgetting); "
             "each marked by who is ahead when the gap exceeds twice the pooled seed sd (%.4f), else 'noise'.\n" % (2 * sd))
    pairs = [("adept", "llama-pro"), ("adept", "full"), ("adept", "lora"), ("adept-mean", "llama-pro"), ("adept-per-kind", "llama-pro")]
    b.append("| budget | " + " | ".join("%s - %s" % p for p in pairs) + " |")
    b.append("|---:|" + "---:|" * len(pairs))
    verdict = {}
    for budget in budgets:
        cells = []
        for a, o in pairs:
            x, y = table.get((a, budget)), table.get((o, budget))
            if x is None or y is None:
                cells.append("not reached")
                continue
            d = x - y
            who = a if d < -2 * sd else o if d > 2 * sd else "noise"
            verdict[(a, o, budget)] = (d, who)
            cells.append("%+.4f (%s)" % (d, who))
        b.append("| +%.2f | %s |" % (budget, " | ".join(cells)))
    b.append("")
    b.append("### Every run\n")
    b.append("Effective lr sum = sum over steps of the scheduled rate x the element-weighted mean rate multiplier in force; "
             "multiplier = that over the scheduled sum (1 for uniform rates).\n")
    b.append("| run | arm | lr | seed | general change | domain change | effective lr sum | mean multiplier | trainable | copies | wall s |")
    b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in pareto["runs"]:
        b.append("| %s | %s | %.3g | %d | %+.4f | %+.4f | %.4g | %.3f | %.1f%% | %s | %.0f |" % (
            r["run"], r["curve"], r["lr"], r["seed"], r["general_change"], r["domain_change"], r["effective_lr_sum"],
            r["mean_rate_multiplier"], 100 * r["trainable_fraction"], ",".join(str(c) for c in r["copies"]) or "-", r["wall_seconds"]))
    b.append("")
    return "\n".join(b) + "\n", {"pareto": pareto, "table": table, "effects": effects, "verdict": verdict, "sd": sd}


def layers_section(root):
    """Stage 1's probed layers beside LLaMA-Pro's uniform ones, from one adept run's summary."""
    for domain in DOMAINS:
        d = os.path.join(root, domain)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            s = os.path.join(d, name, "summary.json")
            if name.startswith("adept_") and os.path.exists(s):
                with open(s) as f:
                    summary = json.load(f)
                dl = summary.get("layer_dl", [])
                copies = summary.get("copies", [])
                lines = ["## Stage 1: probed layers against LLaMA-Pro's\n",
                         "dL per layer of the base model (probe loss with the layer bypassed minus the probe loss), from %s:\n" % name,
                         "| layer | " + " | ".join(str(i) for i in range(len(dl))) + " |",
                         "|---|" + "---:|" * len(dl),
                         "| dL | " + " | ".join("%.4f" % x for x in dl) + " |", ""]
                order = sorted(range(len(dl)), key=lambda i: (dl[i], i))
                lines.append("Stage 1 copies the 4 lowest-dL layers: %s. LLaMA-Pro copies the top layer of each of 4 equal groups: "
                             "2, 5, 8, 11. Copies in the expanded model (original index + copies inserted before it): %s.\n"
                             % (", ".join(str(i) for i in sorted(order[:4])), ", ".join(str(c) for c in copies)))
                return "\n".join(lines) + "\n"
    return ""


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "adept-study")
    out_dir = os.path.join(REPO, "docs", "results")
    os.makedirs(out_dir, exist_ok=True)
    parts = []
    with open(os.path.join(HERE, "header.md")) as f:
        parts.append(f.read())
    parts.append(layers_section(root))
    for domain in DOMAINS:
        text, _ = domain_section(root, domain, out_dir)
        parts.append(text)
    findings = os.path.join(HERE, "findings.md")
    if os.path.exists(findings):
        with open(findings) as f:
            parts.append(f.read())
    sys.stdout.write("\n".join(parts))


if __name__ == "__main__":
    main()
