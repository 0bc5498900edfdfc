"""Writes the ADEPT stage-2 golden fixtures under tests/fixtures/golden/stage2/ (see
tools/reference/README.md, "Stage-2 golden"): stage2_golden.* (rate_norm global, the paper's map),
stage2_golden_per_kind.* (per-kind) and stage2_golden_mean.* (mean), which share the base checkpoint
and differ only in the map from unit importances to rate multipliers.

    /usr/bin/python3 tools/reference/make_stage2_golden.py [out_dir]

An llm.c-style end-to-end check of stage 2 (adaptive unit-wise decoupled tuning, `adept` mode with
`continuous` rates, `tensor` granularity): plain PyTorch, everything in float64, runs 30 AdamW
steps on a tiny selectively expanded Qwen3 model and refreshes the unit importances (and so the
per-unit learning rates) before steps 0, 10 and 20. The Java side loads the stored base
checkpoint, expands it the same way, replays the stored batches and must reproduce every loss,
every pre-clip gradient norm, every unit importance / rate at each refresh and the final trainable
tensors.

The semantics below are written out literally (no hidden library behaviour beyond
torch.optim.AdamW and torch.nn.utils.clip_grad_norm_, whose torch 1.13 formulas are quoted where
they are used), because they are what the Java side implements.

Deterministic: fixed seeds, one thread, byte-identical output on re-runs.
"""

import json
import math
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402

DTYPE = torch.float64

# ----------------------------------------------------------------------------- hyperparameters

BASE_CONFIG = dict(
    model_type="qwen3", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6,
    rope_theta=10000.0, rope_scaling=None, max_position_embeddings=64, tie_word_embeddings=False,
    attention_bias=False, torch_dtype="float64")
INIT_SEED = 7          # torch.manual_seed for the base weights
INIT_STD = 0.1         # every 2-D tensor ~ N(0, INIT_STD); every 1-D tensor (norm weight) = 1

SOURCE_LAYERS = [1, 3]  # base layers that get a copy inserted right after them
ZEROED = ("self_attn.o_proj.weight", "mlp.down_proj.weight")  # zero in every copy

DATA_SEED = 11
STEPS = 30
TRAIN_SHAPE = (STEPS, 2, 16)       # train_ids: [step, row, position], ids in [0, 64)
PROBE_SHAPE = (3, 2, 12)           # probe_ids: [batch, row, position], ids in [4, 64)
PROBE_LOW = 4
PROBE_LENGTHS = [[12, 7], [9, 12], [12, 5]]  # real tokens per row; right padding
PAD_ID = 0

REFRESH_EVERY = 10     # R: refresh the importances before steps 0, R, 2R, ...
BASE_LR = 5e-3
WARMUP = 5
NUM_CYCLES = 0.5
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.1     # 2-D tensors; 1-D tensors (norm weights) get 0.0
MAX_GRAD_NORM = 1.0


# ----------------------------------------------------------------------------- model

def build_base():
    """The 4-layer Qwen3 base model in float64 with the fixture's deterministic init."""
    cfg = ref.make_config(**BASE_CONFIG)
    model = ref.ReferenceModel(cfg).to(DTYPE)
    # Seed after construction (nn.Linear's own init draws from the global generator too), then
    # overwrite every parameter in named_parameters() order.
    torch.manual_seed(INIT_SEED)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(INIT_STD * torch.randn(p.shape, dtype=DTYPE))
            else:
                assert p.dim() == 1
                p.fill_(1.0)
    return cfg, model


def expand(base, base_cfg):
    """Selective expansion: a copy of each source layer is inserted right after it. The copy
    clones every tensor of its source except o_proj and down_proj, which are zero, so the expanded
    model computes the same function as the base. Returns (model, cfg, copy_indices)."""
    layer_map = []  # expanded index -> base index
    copy_indices = []
    for i in range(base_cfg["num_hidden_layers"]):
        layer_map.append(i)
        if i in SOURCE_LAYERS:
            copy_indices.append(len(layer_map))
            layer_map.append(i)
    cfg = OrderedDict(base_cfg)
    cfg["num_hidden_layers"] = len(layer_map)
    model = ref.ReferenceModel(cfg).to(DTYPE)
    base_sd = ref.state_dict_hf(base)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("model.layers."):
                idx, rest = name[len("model.layers."):].split(".", 1)
                idx = int(idx)
                if idx in copy_indices and rest in ZEROED:
                    p.zero_()
                else:
                    p.copy_(base_sd["model.layers.%d.%s" % (layer_map[idx], rest)])
            else:
                p.copy_(base_sd[name])
    return model, cfg, layer_map, copy_indices


def trainable_units(model, copy_indices):
    """Unit names (tensor granularity): every tensor of copy 2, then every tensor of copy 5, each in
    the layer's named_parameters() order. Everything else is frozen."""
    prefixes = ["model.layers.%d." % i for i in copy_indices]
    units = []
    for prefix in prefixes:
        for name, p in model.named_parameters():
            if name.startswith(prefix):
                units.append(name)
    params = dict(model.named_parameters())
    for name, p in model.named_parameters():
        p.requires_grad_(name in units)
    return units, [params[n] for n in units]


# ----------------------------------------------------------------------------- data

def make_data():
    g = torch.Generator().manual_seed(DATA_SEED)
    train_ids = torch.randint(0, BASE_CONFIG["vocab_size"], TRAIN_SHAPE, generator=g, dtype=torch.int64)
    # same generator, drawn after train_ids
    probe_ids = torch.randint(PROBE_LOW, BASE_CONFIG["vocab_size"], PROBE_SHAPE, generator=g, dtype=torch.int64)
    probe_mask = torch.zeros(PROBE_SHAPE, dtype=torch.int64)
    for b, lengths in enumerate(PROBE_LENGTHS):
        for r, n in enumerate(lengths):
            probe_mask[b, r, :n] = 1
    probe_ids = probe_ids.masked_fill(probe_mask == 0, PAD_ID)
    return train_ids, probe_ids, probe_mask


# ----------------------------------------------------------------------------- stage 2 pieces

def probe_loss(model, ids, mask):
    """Mean next-token cross-entropy over real targets: position t predicts t+1 and counts iff
    mask[t+1] == 1. Attention: causal + key padding mask."""
    _, loss = model(ids, mask, ref.labels_from(ids, mask))
    return loss


def importance(model, params, probe_ids, probe_mask):
    """Unit importance with the current parameters: I(theta_j) = |theta_j| * mean_b |dL_b/dtheta_j|,
    I_U = mean over the unit's elements. Probe gradients come from torch.autograd.grad, so the
    training .grad buffers are never touched."""
    was_training = model.training
    model.eval()
    acc = [torch.zeros_like(p) for p in params]
    for b in range(probe_ids.shape[0]):
        loss = probe_loss(model, probe_ids[b], probe_mask[b])
        grads = torch.autograd.grad(loss, params)
        for a, g in zip(acc, grads):
            a.add_(g.abs())
    n_batches = probe_ids.shape[0]
    with torch.no_grad():
        unit_imp = torch.stack([(p.abs() * a / n_batches).mean() for p, a in zip(params, acc)])
    model.train(was_training)
    return unit_imp


def rates(unit_imp):
    """continuous mode, rate_norm global (the paper's map): w_U = 2 (I_max - I_U) / (I_max - I_min),
    min and max over all units; all 1 when the range is 0."""
    i_max, i_min = unit_imp.max(), unit_imp.min()
    if i_max == i_min:
        return torch.ones_like(unit_imp)
    return 2.0 * (i_max - unit_imp) / (i_max - i_min)


def rates_per_kind(unit_imp, is_vector):
    """continuous mode, rate_norm per-kind: the norm vectors (units that are 1-d tensors) and the
    matrices are each mapped within their own range, w_U = 2 (I_max,k - I_U) / (I_max,k - I_min,k)
    with min and max over the units of U's kind k; a kind whose range is 0 keeps w = 1."""
    w = torch.ones_like(unit_imp)
    for kind in (True, False):
        members = [u for u in range(len(is_vector)) if is_vector[u] == kind]
        if not members:
            continue
        i_max = max(unit_imp[u] for u in members)
        i_min = min(unit_imp[u] for u in members)
        if i_max == i_min:
            continue
        for u in members:
            w[u] = 2.0 * (i_max - unit_imp[u]) / (i_max - i_min)
    return w


def rates_mean(unit_imp, elements):
    """continuous mode, rate_norm mean: the global map, then every w scaled by
    N / sum_U(n_U w_U), where n_U is U's element count and N = sum_U n_U, so that the
    element-weighted mean multiplier over all trainable elements is exactly 1 (no unit is frozen in
    continuous mode). All 1 when the range is 0 (the global map gives 1, whose mean is already 1)."""
    w = rates(unit_imp)
    if unit_imp.max() == unit_imp.min():
        return w
    total = float(sum(elements))
    weighted = sum(n * w_u for n, w_u in zip(elements, w.tolist()))
    return w * (total / weighted)


def weighted_mean(w, elements):
    return sum(n * w_u for n, w_u in zip(elements, w.tolist())) / float(sum(elements))


def lr_factor(step):
    """HF get_cosine_schedule_with_warmup(warmup 5, total 30, num_cycles 0.5); `step` = optimizer
    steps already taken."""
    if step < WARMUP:
        return float(step) / float(max(1, WARMUP))
    progress = float(step - WARMUP) / float(max(1, STEPS - WARMUP))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(NUM_CYCLES) * 2.0 * progress)))


def train(model, units, params, train_ids, probe_ids, probe_mask, rate_map=rates):
    """rate_map: unit importances -> per-unit multipliers w_U (rates, rates_per_kind or rates_mean)."""
    # One param group per unit so each unit has its own lr; no weight decay on 1-D tensors.
    groups = [dict(params=[p], weight_decay=(WEIGHT_DECAY if p.dim() >= 2 else 0.0)) for p in params]
    opt = torch.optim.AdamW(groups, lr=BASE_LR, betas=BETAS, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY,
                            amsgrad=False, foreach=False, maximize=False)
    losses, grad_norms, factors = [], [], []
    imps, rts = [], []
    refresh_steps = []
    w = torch.ones(len(params), dtype=DTYPE)
    model.train()
    for s in range(STEPS):
        if s % REFRESH_EVERY == 0:
            imp = importance(model, params, probe_ids, probe_mask)
            w = rate_map(imp)
            imps.append(imp)
            rts.append(w)
            refresh_steps.append(s)
        f = lr_factor(s)
        for group, w_u in zip(opt.param_groups, w.tolist()):
            group["lr"] = BASE_LR * f * w_u  # always from the base lr, never compounded
        opt.zero_grad(set_to_none=True)
        _, loss = model(train_ids[s], labels=train_ids[s])
        loss.backward()
        # torch 1.13: total = ||(||g_i||_2)_i||_2; g_i *= min(1, max_norm / (total + 1e-6))
        total = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM, norm_type=2.0)
        opt.step()
        losses.append(loss.detach().item())
        grad_norms.append(total.item())
        factors.append(f)
    return (torch.tensor(losses, dtype=DTYPE), torch.tensor(grad_norms, dtype=DTYPE),
            torch.tensor(factors, dtype=DTYPE), torch.stack(imps), torch.stack(rts), refresh_steps)


# ----------------------------------------------------------------------------- main

def write_base_checkpoint(model, cfg, folder):
    """config.json + model.safetensors with F64 tensors (hf_reference.write_hf_checkpoint only knows
    float32/bfloat16/float16 storage, so this writes the same layout directly)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    ref.save_safetensors(ref.state_dict_hf(model), os.path.join(folder, "model.safetensors"))


# rate_norm -> file stem under out_dir. The global fixture keeps its original names and bytes; the
# other normalisations replay the same base checkpoint, expansion, data and optimizer, and differ
# only in the map from importances to multipliers.
NORMS = OrderedDict([("global", "stage2_golden"), ("per-kind", "stage2_golden_per_kind"),
                     ("mean", "stage2_golden_mean")])

RATES_TEXT = OrderedDict([
    ("global", "w_U = 2 (I_max - I_U) / (I_max - I_min) over all units; 1 when I_max == I_min"),
    ("per-kind", "norm vectors (units that are 1-d tensors) and matrices each mapped within their own "
                 "range: w_U = 2 (I_max,k - I_U) / (I_max,k - I_min,k), min and max over the units of "
                 "U's kind k; a kind with I_max,k == I_min,k keeps w = 1 (so all 1 when I_max == I_min)"),
    ("mean", "the global map w_U = 2 (I_max - I_U) / (I_max - I_min), then every w_U multiplied by "
             "N / sum_U(n_U w_U) (n_U = unit_elements[U], N = sum_U n_U), so the element-weighted mean "
             "multiplier over all trainable elements is exactly 1; all 1 when I_max == I_min"),
])


def final_rel_diff(a, b):
    """max over the trainable tensors of |a - b| / max(|b|, 1e-3) (the Java test's measure)."""
    return max(((a[n] - b[n]).abs() / b[n].abs().clamp(min=1e-3)).max().item() for n in b)


def run(norm, base, base_cfg, train_ids, probe_ids, probe_mask):
    """Expands the base model afresh and trains it with rate normalisation `norm`."""
    model, _, layer_map, copy_indices = expand(base, base_cfg)
    units, params = trainable_units(model, copy_indices)
    assert copy_indices == [2, 5] and len(units) == 22, (copy_indices, units)
    frozen_before = OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters() if n not in units)
    elements = [p.numel() for p in params]
    is_vector = [p.dim() == 1 for p in params]

    # Self-check: the expanded model is function-preserving (zero o/down make each copy an identity).
    with torch.no_grad():
        base_logits, _ = base(probe_ids[0], probe_mask[0])
        exp_logits, _ = model(probe_ids[0], probe_mask[0])
    assert torch.equal(base_logits, exp_logits), (base_logits - exp_logits).abs().max()

    rate_map = {"global": rates,
                "per-kind": lambda imp: rates_per_kind(imp, is_vector),
                "mean": lambda imp: rates_mean(imp, elements)}[norm]
    loss, grad_norm, factor, imp, rate, refresh_steps = train(
        model, units, params, train_ids, probe_ids, probe_mask, rate_map)

    # Self-checks.
    assert torch.isfinite(loss).all() and torch.isfinite(grad_norm).all()
    assert bool((imp[0] == 0).all()), "importance right after expansion must be exactly 0"
    assert bool((rate[0] == 1).all())
    for r in range(1, imp.shape[0]):
        assert imp[r].max() > imp[r].min(), "importances at refresh %d are all equal" % refresh_steps[r]
        if norm == "per-kind":
            for kind in (True, False):
                k = [u for u in range(len(units)) if is_vector[u] == kind]
                assert imp[r][k].max() > imp[r][k].min(), "no spread within a kind at refresh %d" % r
                assert rate[r][k].max() == 2.0 and rate[r][k].min() == 0.0
        if norm == "mean":
            assert abs(weighted_mean(rate[r], elements) - 1.0) < 1e-12, weighted_mean(rate[r], elements)
    for n, p in model.named_parameters():
        if n not in units:
            assert torch.equal(p.detach(), frozen_before[n]), "frozen tensor moved: " + n

    named = dict(model.named_parameters())
    final = OrderedDict((n, named[n].detach().clone()) for n in units)
    return OrderedDict([("loss", loss), ("grad_norm", grad_norm), ("lr_factor", factor), ("importance", imp),
                        ("rate", rate), ("final", final), ("refresh_steps", refresh_steps), ("units", units),
                        ("layer_map", layer_map), ("copy_indices", copy_indices), ("elements", elements),
                        ("is_vector", is_vector)])


def write(norm, res, global_res, train_ids, probe_ids, probe_mask, out_dir):
    stem = NORMS[norm]
    units, refresh_steps = res["units"], res["refresh_steps"]
    golden = OrderedDict()
    golden["train_ids"] = train_ids
    golden["probe_ids"] = probe_ids
    golden["probe_mask"] = probe_mask
    golden["loss"] = res["loss"]
    golden["grad_norm"] = res["grad_norm"]
    golden["lr_factor"] = res["lr_factor"]
    golden["importance"] = res["importance"]
    golden["rate"] = res["rate"]
    for n in units:
        golden["final." + n] = res["final"][n]
    ref.save_safetensors(golden, os.path.join(out_dir, stem + ".safetensors"))

    info = OrderedDict()
    if norm == "global":
        info["description"] = ("ADEPT stage 2, adept mode, continuous rates, tensor granularity: 30 AdamW "
                               "steps in float64 on a selectively expanded 4-layer Qwen3 (copies of layers "
                               "1 and 3), importance refreshes before steps 0, 10, 20")
    else:
        info["description"] = ("ADEPT stage 2, adept mode, continuous rates with rate_norm %s, tensor "
                               "granularity: 30 AdamW steps in float64 on a selectively expanded 4-layer "
                               "Qwen3 (copies of layers 1 and 3), importance refreshes before steps 0, 10, "
                               "20; everything but the rate map as in stage2_golden.json" % norm)
    info["torch_version"] = torch.__version__
    info["dtype"] = "float64"
    info["base_init"] = OrderedDict([("seed", INIT_SEED), ("matrix_std", INIT_STD), ("norm_weight", 1.0),
                                     ("note", "torch.manual_seed(7) after constructing the model, then "
                                              "torch.randn per 2-D tensor in named_parameters() order")])
    info["expansion"] = OrderedDict([
        ("source_layers", SOURCE_LAYERS), ("copy_indices", res["copy_indices"]), ("layer_map", res["layer_map"]),
        ("zeroed_in_copies", list(ZEROED)), ("num_hidden_layers", len(res["layer_map"]))])
    info["units"] = units
    info["granularity"] = "tensor"
    info["data"] = OrderedDict([
        ("seed", DATA_SEED), ("train_ids_shape", list(TRAIN_SHAPE)), ("train_ids_range", [0, 64]),
        ("probe_ids_shape", list(PROBE_SHAPE)), ("probe_ids_range", [PROBE_LOW, 64]),
        ("probe_lengths", PROBE_LENGTHS), ("pad_token_id", PAD_ID), ("padding_side", "right"),
        ("note", "g = torch.Generator().manual_seed(11); train_ids then probe_ids from g; probe_ids set "
                 "to pad where probe_mask == 0")])
    info["train_loss"] = "mean next-token cross-entropy over logits[:, :-1] vs ids[:, 1:], no padding"
    info["probe_loss"] = ("per probe batch: mean cross-entropy over targets t+1 with mask[t+1] == 1; "
                          "causal + key padding attention mask")
    info["importance"] = ("eval mode, current parameters; g_b = autograd.grad(probe_loss_b, trainable); "
                          "I_elem = |theta| * (sum_b |g_b|) / n_probe_batches; I_U = mean(I_elem)")
    info["rates"] = RATES_TEXT[norm]
    if norm != "global":
        # Only in the new fixtures: stage2_golden.json stays byte-identical to its first version.
        info["rate_norm"] = norm
        info["unit_elements"] = res["elements"]
        info["unit_is_vector"] = res["is_vector"]
        info["weighted_mean_multiplier"] = [weighted_mean(w, res["elements"]) for w in res["rate"]]
        info["global_weighted_mean_multiplier"] = [weighted_mean(w, res["elements"]) for w in global_res["rate"]]
        info["vs_global"] = OrderedDict([
            ("note", "how far this fixture lies from the global one (what replaying it with the wrong "
                     "rate_norm would miss by)"),
            ("rate_max_abs_diff", (res["rate"] - global_res["rate"]).abs().max().item()),
            ("loss_max_rel_diff", ((res["loss"] - global_res["loss"]).abs() / global_res["loss"].abs()).max().item()),
            ("final_max_rel_diff", final_rel_diff(res["final"], global_res["final"]))])
    info["refresh_every"] = REFRESH_EVERY
    info["refresh_steps"] = refresh_steps
    info["steps"] = STEPS
    info["optimizer"] = OrderedDict([
        ("type", "torch.optim.AdamW"), ("param_groups", "one per unit"), ("betas", list(BETAS)),
        ("eps", ADAM_EPS), ("weight_decay_2d", WEIGHT_DECAY), ("weight_decay_1d", 0.0),
        ("amsgrad", False), ("foreach", False)])
    info["schedule"] = OrderedDict([
        ("type", "cosine_with_warmup (HF get_cosine_schedule_with_warmup)"), ("base_lr", BASE_LR),
        ("warmup_steps", WARMUP), ("total_steps", STEPS), ("num_cycles", NUM_CYCLES),
        ("lr", "group lr before step s = base_lr * lr_factor[s] * w_U")])
    info["grad_clip"] = OrderedDict([
        ("max_norm", MAX_GRAD_NORM), ("norm_type", 2.0),
        ("formula", "torch 1.13 clip_grad_norm_: coef = min(1, max_norm / (total + 1e-6)); grad_norm "
                    "records the pre-clip total")])
    info["step_order"] = ["refresh if s % 10 == 0", "set group lrs", "zero_grad(set_to_none=True)",
                          "loss on train_ids[s]", "backward", "clip_grad_norm_", "optimizer.step"]
    info["tolerance"] = "1e-5 relative"
    info["fixture_tensors"] = OrderedDict((n, OrderedDict([("dtype", ref._ST_NAMES[t.dtype]),
                                                           ("shape", list(t.shape))]))
                                          for n, t in golden.items())
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")

    loss, grad_norm, factor, imp, rate = res["loss"], res["grad_norm"], res["lr_factor"], res["importance"], res["rate"]
    print("rate_norm %s (%s.*)" % (norm, stem))
    for s in (0, 1, 5, 10, 20, 29):
        print("step %2d loss=%.15f grad_norm=%.15f lr_factor=%.6f" % (s, loss[s], grad_norm[s], factor[s]))
    for r, s in enumerate(refresh_steps):
        print("refresh %d (step %d): importance min=%.6e max=%.6e; rate min=%.6f max=%.6f weighted mean=%.6f"
              % (r, s, imp[r].min(), imp[r].max(), rate[r].min(), rate[r].max(),
                 weighted_mean(rate[r], res["elements"])))
    if norm != "global":
        print("vs global: rate max |diff| %.3e, loss max rel diff %.3e, final max rel diff %.3e"
              % (info["vs_global"]["rate_max_abs_diff"], info["vs_global"]["loss_max_rel_diff"],
                 info["vs_global"]["final_max_rel_diff"]))


def main():
    torch.set_num_threads(1)
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "golden", "stage2")

    base_cfg, base = build_base()
    write_base_checkpoint(base, base_cfg, out_dir)
    train_ids, probe_ids, probe_mask = make_data()

    results = OrderedDict((norm, run(norm, base, base_cfg, train_ids, probe_ids, probe_mask)) for norm in NORMS)
    for norm, res in results.items():
        write(norm, res, results["global"], train_ids, probe_ids, probe_mask, out_dir)


if __name__ == "__main__":
    main()
