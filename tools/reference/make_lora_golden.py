"""Writes the LoRA golden fixture under tests/fixtures/golden/lora/ (see tools/reference/README.md,
"LoRA golden").

    /usr/bin/python3 tools/reference/make_lora_golden.py [out_dir]

An llm.c-style end-to-end check of adept's `lora` mode: plain PyTorch, everything in float64. The
base model is the stage-2 fixture's 4-layer Qwen3 (make_stage2_golden.build_base, the same bytes as
tests/fixtures/golden/stage2/model.safetensors). Every q/k/v/o/gate/up/down projection of every
layer is wrapped the way PEFT's LoraLayer wraps an nn.Linear:

    y = base_layer(x) + lora_B(lora_A(dropout(x))) * (lora_alpha / r)

with lora_A ~ kaiming_uniform_(a=sqrt(5)) (PEFT's reset_lora_parameters) and lora_B = 0, drawn after
torch.manual_seed(LORA_SEED) layer by layer, within a layer in TARGETS order (adept's order). Then 20
AdamW steps on the adapters only (one param group, weight decay on every adapter matrix,
clip_grad_norm_ 1.0, HF cosine schedule with warmup). The Java side attaches its own adapters with
the same seed, replays the stored batches and must reproduce every loss and gradient norm and the
final adapters; the merged model (W + scale B A) must give the adapted model's logits.

Deterministic: fixed seeds, one thread, byte-identical output on re-runs.
"""

import json
import math
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402
import make_stage2_golden as stage2  # noqa: E402

DTYPE = torch.float64

RANK = 4
ALPHA = 8.0            # adept's default: 2 * rank, so scale = 2
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MODULES = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
LORA_SEED = 42         # torch.manual_seed before drawing the A matrices (adept: the run's seed)

DATA_SEED = 13
STEPS = 20
TRAIN_SHAPE = (STEPS, 2, 16)   # train_ids: [step, row, position], ids in [0, 64)
CHECK_SHAPE = (2, 16)          # check_ids: the batch whose logits are compared after training

BASE_LR = 5e-3
WARMUP = 2
NUM_CYCLES = 0.5
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.1     # on every adapter matrix (they are all 2-D)
MAX_GRAD_NORM = 1.0


class LoraLinear(nn.Module):
    """PEFT's lora.Linear forward with one adapter, no dropout (lora_dropout 0 is nn.Identity)."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False).to(DTYPE)
        self.lora_B = nn.Linear(r, base.out_features, bias=False).to(DTYPE)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling


def wrap(model):
    """Replaces every target projection by a LoraLinear; returns {adept adapter name: tensor} in
    adept's order (layer by layer, TARGETS order, lora_A then lora_B) and the wrappers."""
    wrappers = []
    for i, layer in enumerate(model.model.layers):
        for t in TARGETS:
            parent = getattr(layer, MODULES[t])
            w = LoraLinear(getattr(parent, t), RANK, ALPHA)
            setattr(parent, t, w)
            wrappers.append(("model.layers.%d.%s.%s" % (i, MODULES[t], t), w))
    # PEFT's init (reset_lora_parameters): A kaiming-uniform, B zero; drawn after the seed, in order
    torch.manual_seed(LORA_SEED)
    with torch.no_grad():
        for _, w in wrappers:
            nn.init.kaiming_uniform_(w.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(w.lora_B.weight)
    adapters = OrderedDict()
    for name, w in wrappers:
        adapters[name + ".lora_A.weight"] = w.lora_A.weight
        adapters[name + ".lora_B.weight"] = w.lora_B.weight
    return adapters, wrappers


def merged_copy(base_cfg, model, wrappers):
    """A plain ReferenceModel with W + scaling * B A in every adapted projection."""
    plain = ref.ReferenceModel(base_cfg).to(DTYPE)
    sd = OrderedDict()
    for n, p in model.named_parameters():
        if ".lora_" in n:
            continue
        sd[n.replace(".base_layer.", ".")] = p.detach().clone()
    with torch.no_grad():
        for name, w in wrappers:
            sd[name + ".weight"] = w.base_layer.weight + w.scaling * (w.lora_B.weight @ w.lora_A.weight)
        for n, p in plain.named_parameters():
            p.copy_(sd[n])
    return plain


def lr_factor(step):
    """HF get_cosine_schedule_with_warmup(WARMUP, STEPS, 0.5); step = optimizer steps taken."""
    if step < WARMUP:
        return float(step) / float(max(1, WARMUP))
    progress = float(step - WARMUP) / float(max(1, STEPS - WARMUP))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(NUM_CYCLES) * 2.0 * progress)))


def main():
    torch.set_num_threads(1)
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "golden", "lora")
    os.makedirs(out_dir, exist_ok=True)

    base_cfg, model = stage2.build_base()
    base_sd = OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())
    g = torch.Generator().manual_seed(DATA_SEED)
    train_ids = torch.randint(0, base_cfg["vocab_size"], TRAIN_SHAPE, generator=g, dtype=torch.int64)
    check_ids = torch.randint(0, base_cfg["vocab_size"], CHECK_SHAPE, generator=g, dtype=torch.int64)
    with torch.no_grad():
        base_logits, _ = model(check_ids)

    adapters, wrappers = wrap(model)
    init = OrderedDict((n, t.detach().clone()) for n, t in adapters.items() if n.endswith("lora_A.weight"))
    params = list(adapters.values())
    for n, p in model.named_parameters():
        p.requires_grad_(".lora_" in n)

    # Self-check: B = 0, so the adapted model computes the base model's logits bit for bit.
    with torch.no_grad():
        start_logits, _ = model(check_ids)
    assert torch.equal(base_logits, start_logits), (base_logits - start_logits).abs().max()

    opt = torch.optim.AdamW([dict(params=params, weight_decay=WEIGHT_DECAY)], lr=BASE_LR, betas=BETAS, eps=ADAM_EPS,
                            weight_decay=WEIGHT_DECAY, amsgrad=False, foreach=False, maximize=False)
    losses, grad_norms, factors = [], [], []
    model.train()
    for s in range(STEPS):
        f = lr_factor(s)
        for group in opt.param_groups:
            group["lr"] = BASE_LR * f
        opt.zero_grad(set_to_none=True)
        _, loss = model(train_ids[s], labels=train_ids[s])
        loss.backward()
        total = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM, norm_type=2.0)
        opt.step()
        losses.append(loss.detach().item())
        grad_norms.append(total.item())
        factors.append(f)

    # Self-checks: the base never moved; B moved away from zero; finite losses.
    for n, p in model.named_parameters():
        if ".lora_" not in n:
            assert torch.equal(p.detach(), base_sd[n.replace(".base_layer.", ".")]), "frozen tensor moved: " + n
    assert all(math.isfinite(v) for v in losses + grad_norms)
    assert all(float(t.abs().max()) > 0 for n, t in adapters.items() if n.endswith("lora_B.weight"))

    with torch.no_grad():
        adapted_logits, _ = model(check_ids)
        merged = merged_copy(base_cfg, model, wrappers)
        merged_logits, _ = merged(check_ids)
    merge_diff = float((adapted_logits - merged_logits).abs().max())
    assert merge_diff < 1e-12, merge_diff

    golden = OrderedDict()
    golden["train_ids"] = train_ids
    golden["check_ids"] = check_ids
    golden["loss"] = torch.tensor(losses, dtype=DTYPE)
    golden["grad_norm"] = torch.tensor(grad_norms, dtype=DTYPE)
    golden["lr_factor"] = torch.tensor(factors, dtype=DTYPE)
    golden["logits_base"] = base_logits.detach().clone()
    golden["logits_adapted"] = adapted_logits.detach().clone()
    for n, t in init.items():
        golden["init." + n] = t
    for n, t in adapters.items():
        golden["final." + n] = t.detach().clone()
    ref.save_safetensors(golden, os.path.join(out_dir, "lora_golden.safetensors"))

    info = OrderedDict()
    info["description"] = ("adept lora mode: PEFT-style adapters (r 4, alpha 8) on q/k/v/o/gate/up/down of every layer "
                           "of the stage-2 fixture's 4-layer Qwen3, 20 AdamW steps in float64 on the adapters only")
    info["torch_version"] = torch.__version__
    info["dtype"] = "float64"
    info["base"] = "tests/fixtures/golden/stage2 (config.json, model.safetensors: make_stage2_golden.build_base)"
    info["lora"] = OrderedDict([
        ("r", RANK), ("lora_alpha", ALPHA), ("scaling", ALPHA / RANK), ("lora_dropout", 0.0), ("target_modules", TARGETS),
        ("forward", "base_layer(x) + lora_B(lora_A(x)) * scaling (PEFT lora.Linear)"),
        ("init", "torch.manual_seed(%d); per layer, per target in target_modules order: "
                 "kaiming_uniform_(lora_A.weight, a=sqrt(5)); zeros_(lora_B.weight)" % LORA_SEED),
        ("adapter_names", list(adapters.keys()))])
    info["data"] = OrderedDict([
        ("seed", DATA_SEED), ("train_ids_shape", list(TRAIN_SHAPE)), ("check_ids_shape", list(CHECK_SHAPE)),
        ("note", "g = torch.Generator().manual_seed(13); train_ids then check_ids from g, ids in [0, 64)")])
    info["train_loss"] = "mean next-token cross-entropy over logits[:, :-1] vs ids[:, 1:], no padding"
    info["steps"] = STEPS
    info["optimizer"] = OrderedDict([
        ("type", "torch.optim.AdamW"), ("param_groups", "one, every adapter tensor"), ("betas", list(BETAS)),
        ("eps", ADAM_EPS), ("weight_decay", WEIGHT_DECAY), ("amsgrad", False), ("foreach", False)])
    info["schedule"] = OrderedDict([
        ("type", "cosine_with_warmup (HF get_cosine_schedule_with_warmup)"), ("base_lr", BASE_LR),
        ("warmup_steps", WARMUP), ("total_steps", STEPS), ("num_cycles", NUM_CYCLES)])
    info["grad_clip"] = OrderedDict([("max_norm", MAX_GRAD_NORM), ("norm_type", 2.0),
                                     ("note", "grad_norm records the pre-clip total")])
    info["step_order"] = ["set lr", "zero_grad(set_to_none=True)", "loss on train_ids[s]", "backward", "clip_grad_norm_",
                          "optimizer.step"]
    info["merged_vs_adapted_max_abs_diff"] = merge_diff
    info["tolerance"] = "1e-5 relative (losses, grad norms, final adapters); 1e-5 absolute (logits)"
    info["fixture_tensors"] = OrderedDict((n, OrderedDict([("dtype", ref._ST_NAMES[t.dtype]), ("shape", list(t.shape))]))
                                          for n, t in golden.items())
    with open(os.path.join(out_dir, "lora_golden.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")

    for s in (0, 1, 2, 10, 19):
        print("step %2d loss=%.15f grad_norm=%.15f lr_factor=%.6f" % (s, losses[s], grad_norms[s], factors[s]))
    print("merged vs adapted logits: max |diff| = %.3e" % merge_diff)


if __name__ == "__main__":
    main()
