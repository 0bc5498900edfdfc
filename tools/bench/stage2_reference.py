#!/usr/bin/python3
"""PyTorch-Python reference for `adept bench adept`: ADEPT stage 2 on a small expanded Llama.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch: the same libtorch 1.13
that adept's shim links against). The model is tools/reference/hf_reference.py's ReferenceModel
(HF-faithful Llama, HF parameter names), float32, untied, random init N(0, 0.02), with
`--layers + --copies` decoder layers: a copy of each of the top `--copies` layers sits right after
its source, o_proj and down_proj zeroed (stage 1's identity copy). Only the copies train
(requires_grad off everywhere else), as tools/reference/make_stage2_golden.py does it:

- torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.1 on matrices, 0 on norms) with ONE
  PARAM GROUP PER UNIT, each group's lr = base lr * its continuous-mode multiplier
  w_U = 2 (I_max - I_U) / (I_max - I_min) from random (seeded) importances, so every group has a
  distinct rate. At --granularity head / neuron a unit is a set of rows / columns, which param
  groups cannot express: the groups stay per tensor (random distinct rates per tensor).
- clip_grad_norm_(trainable, 1.0) before every step.

Three measurements (time.perf_counter_ns; CPU ops are synchronous):

1. training step: forward (embedding and the layers below the first copy under no_grad), loss
   (ref.causal_lm_loss), backward, clip, opt.step(), opt.zero_grad(set_to_none=True);
2. optimizer step alone, gradients already there (one untimed backward first): clip_grad_norm_ and
   opt.step() timed apart, for a foreach=False and a foreach=True optimizer over the same tensors
   with the same groups;
3. importance refresh over the probe batches (--probe-batches of --batch x --seq random ids, mask
   all ones): the golden script's importance(): eval mode, torch.autograd.grad(probe loss,
   trainable) per batch into side buffers, I = |theta| * mean_b |g_b|, per-unit means (tensor
   units: .mean() per tensor, as the golden script; head / neuron units: row and column sums
   summed per unit, vectorised), the continuous rates from them, and the group lrs set (at head /
   neuron granularity from the tensors' mean importances). The rates in force are then put back
   to the random ones (untimed), as on adept's side.

  /usr/bin/python3 tools/bench/stage2_reference.py --threads 2 --steps 2

prints one JSON object. With --serve (bench_common.py's protocol) it builds everything, warms up,
prints {"ready": ...}, then for every line "N" runs N training steps, --opt-steps optimizer steps
per variant and --refreshes refreshes and prints one JSON line of times in ms.
"""
import argparse
import json
import os
import random
import resource
import sys
import time

import bench_common

torch = bench_common.import_torch("stage2_reference.py")
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import hf_reference as ref  # noqa: E402

ZEROED = ("self_attn.o_proj.weight", "mlp.down_proj.weight")


def build(args):
    """The expanded model, the copies' indices, the trainable tensors (name, tensor) in order."""
    sources = list(range(args.layers - args.copies, args.layers))
    layer_map, copies = [], []
    for i in range(args.layers):
        layer_map.append(i)
        if i in sources:
            copies.append(len(layer_map))
            layer_map.append(i)
    cfg = ref.make_config("llama", vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                          num_hidden_layers=len(layer_map), num_attention_heads=args.heads,
                          num_key_value_heads=args.kv_heads, max_position_embeddings=max(args.seq, 64),
                          tie_word_embeddings=False)
    torch.manual_seed(args.seed)
    model = ref.ReferenceModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
        params = dict(model.named_parameters())
        for idx in copies:
            for name, p in model.model.layers[idx].named_parameters():
                if name in ZEROED:
                    p.zero_()
                else:
                    p.copy_(params["model.layers.%d.%s" % (layer_map[idx], name)])
    trainable = []
    prefixes = tuple("model.layers.%d." % i for i in copies)
    for name, p in model.named_parameters():
        train = name.startswith(prefixes)
        p.requires_grad_(train)
        if train:
            trainable.append((name, p))
    model.train()
    return cfg, model, copies, trainable


def forward(model, cfg, ids, first):
    """Logits; the embedding and layers below `first` without autograd history."""
    B, T = ids.shape
    with torch.no_grad():
        h = model.model.embed_tokens(ids)
        position_ids = torch.arange(T, dtype=torch.int64)[None, :].expand(B, T)
        cos, sin = ref.rotary_cos_sin(cfg, position_ids, h.dtype)
        mask = ref.build_additive_mask(torch.ones_like(ids), T, h.dtype)
        for layer in model.model.layers[:first]:
            h = layer(h, cos, sin, mask)
    for layer in model.model.layers[first:]:
        h = layer(h, cos, sin, mask)
    h = model.model.norm(h)
    return F.linear(h, model.lm_head_weight())


def rates(unit_imp):
    """continuous mode: w_U = 2 (I_max - I_U) / (I_max - I_min); all 1 when the range is 0."""
    i_max, i_min = unit_imp.max(), unit_imp.min()
    if i_max == i_min:
        return torch.ones_like(unit_imp)
    return 2.0 * (i_max - unit_imp) / (i_max - i_min)


def count_units(args, granularity):
    per_layer = 9
    if granularity in ("head", "neuron"):
        per_layer += args.heads + args.kv_heads - 4  # q, k, v, o become head units
    if granularity == "neuron":
        per_layer += args.intermediate - 3  # gate, up, down become neuron units
    return per_layer * args.copies


class Stage2:
    def __init__(self, args):
        self.args = args
        self.cfg, self.model, self.copies, named = build(args)
        self.first = self.copies[0]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.units = count_units(args, args.granularity)
        self.lr = args.lr
        # rates from random importances, seeded: one per group (= per unit at tensor granularity)
        rng = random.Random(args.seed)
        imp = torch.tensor([rng.random() for _ in self.params], dtype=torch.float64)
        self.random_w = rates(imp).tolist()
        self.opts = {}
        for foreach in (False, True):
            groups = [dict(params=[p], weight_decay=(0.1 if p.dim() >= 2 else 0.0)) for p in self.params]
            self.opts[foreach] = torch.optim.AdamW(groups, lr=self.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                                                   foreach=foreach)
        self.train_opt = self.opts[bool(args.foreach)]
        self.set_rates(self.random_w)
        g = torch.Generator().manual_seed(args.seed)
        self.ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g, dtype=torch.int64)
        self.probe = [torch.randint(0, args.vocab, (args.batch, args.seq), generator=g, dtype=torch.int64)
                      for _ in range(args.probe_batches)]
        self.probe_tokens = sum(p.numel() for p in self.probe)

    def set_rates(self, w):
        for opt in self.opts.values():
            for group, w_u in zip(opt.param_groups, w):
                group["lr"] = self.lr * w_u

    # ---- 1. training step

    def step(self):
        t0 = time.perf_counter_ns()
        logits = forward(self.model, self.cfg, self.ids, self.first)
        t1 = time.perf_counter_ns()
        loss = ref.causal_lm_loss(logits, self.ids)
        t2 = time.perf_counter_ns()
        loss.backward()
        t3 = time.perf_counter_ns()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0, norm_type=2.0)
        self.train_opt.step()
        self.train_opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter_ns()
        value = loss.item()
        del logits, loss
        t5 = time.perf_counter_ns()
        return {"step": t5 - t0, "forward": t1 - t0, "loss": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}, value

    # ---- 2. optimizer step alone

    def backward_only(self):
        loss = ref.causal_lm_loss(forward(self.model, self.cfg, self.ids, self.first), self.ids)
        loss.backward()

    def optimizer_steps(self, n, out):
        self.backward_only()
        order = (False, True) if len(out["opt_step_false"]) % 2 == 0 else (True, False)
        for foreach in order:
            opt = self.opts[foreach]
            suffix = "true" if foreach else "false"
            for _ in range(n):
                t0 = time.perf_counter_ns()
                torch.nn.utils.clip_grad_norm_(self.params, 1.0, norm_type=2.0)
                t1 = time.perf_counter_ns()
                opt.step()
                t2 = time.perf_counter_ns()
                out["opt_clip_" + suffix].append((t1 - t0) / 1e6)
                out["opt_step_" + suffix].append((t2 - t1) / 1e6)
        self.train_opt.zero_grad(set_to_none=True)

    # ---- 3. importance refresh

    def unit_means(self, elems):
        """Per-unit mean importance from the element importances (one tensor per trainable tensor)."""
        if self.args.granularity == "tensor":
            return torch.stack([e.mean() for e in elems])
        a = self.args
        hd = a.hidden // a.heads
        by = dict(zip(self.names, elems))
        out = []
        for idx in self.copies:
            pre = "model.layers.%d." % idx

            def rows(n):
                return by[pre + n].sum(1)

            def cols(n):
                return by[pre + n].sum(0)
            out.append((rows("self_attn.q_proj.weight").view(a.heads, hd).sum(1)
                        + cols("self_attn.o_proj.weight").view(a.heads, hd).sum(1)) / (2 * hd * a.hidden))
            out.append((rows("self_attn.k_proj.weight").view(a.kv_heads, hd).sum(1)
                        + rows("self_attn.v_proj.weight").view(a.kv_heads, hd).sum(1)) / (2 * hd * a.hidden))
            rest = ["mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]
            if a.granularity == "neuron":
                out.append((rows("mlp.gate_proj.weight") + rows("mlp.up_proj.weight") + cols("mlp.down_proj.weight"))
                           / (3 * a.hidden))
                rest = []
            rest += ["input_layernorm.weight", "post_attention_layernorm.weight"]
            out.append(torch.stack([by[pre + n].mean() for n in rest]))
        return torch.cat(out)

    def refresh(self):
        was_training = self.model.training
        self.model.eval()
        acc = [torch.zeros_like(p) for p in self.params]
        for ids in self.probe:
            loss = ref.causal_lm_loss(forward(self.model, self.cfg, ids, self.first), ids)
            grads = torch.autograd.grad(loss, self.params)
            for a, g in zip(acc, grads):
                a.add_(g.abs())
        n = len(self.probe)
        with torch.no_grad():
            elems = [p.abs() * a / n for p, a in zip(self.params, acc)]
            unit_imp = self.unit_means(elems)
            w = rates(unit_imp)
            if self.args.granularity != "tensor":  # groups are per tensor: rates from the tensors' means
                w = rates(torch.stack([e.mean() for e in elems]))
            self.set_rates(w.tolist())
        self.model.train(was_training)
        return unit_imp

    def measure(self, n):
        out = {k: [] for k in ("step", "forward", "loss", "backward", "optimizer", "loss_value", "opt_clip_false",
                               "opt_step_false", "opt_clip_true", "opt_step_true", "refresh")}
        for _ in range(n):
            phases, value = self.step()
            for k, v in phases.items():
                out[k].append(v / 1e6)
            out["loss_value"].append(value)
        if self.args.opt_steps > 0:
            self.optimizer_steps(self.args.opt_steps, out)
        for _ in range(self.args.refreshes):
            t0 = time.perf_counter_ns()
            imp = self.refresh()
            out["refresh"].append((time.perf_counter_ns() - t0) / 1e6)
            assert imp.numel() == self.units, (imp.numel(), self.units)
            self.set_rates(self.random_w)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=2, help="timed training steps (without --serve)")
    p.add_argument("--warmup", type=int, default=2, help="untimed training steps before measuring")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--intermediate", type=int, default=688)
    p.add_argument("--layers", type=int, default=6, help="layers before expansion")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--copies", type=int, default=2, help="K: the top K layers get a copy; only the copies train")
    p.add_argument("--granularity", choices=("tensor", "head", "neuron"), default="tensor")
    p.add_argument("--probe-batches", type=int, default=4)
    p.add_argument("--opt-steps", type=int, default=10, help="optimizer-only steps per variant per request")
    p.add_argument("--refreshes", type=int, default=1, help="importance refreshes per request")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--foreach", action="store_true", help="training step with the foreach=True optimizer")
    p.add_argument("--serve", action="store_true", help="interleaved mode: read step counts from stdin")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    s = Stage2(args)
    for _ in range(args.warmup):
        s.step()
    if args.opt_steps > 0:
        s.optimizer_steps(1, {k: [] for k in ("opt_clip_false", "opt_step_false", "opt_clip_true", "opt_step_true")})
    if args.refreshes > 0:
        s.refresh()
        s.set_rates(s.random_w)
    head = bench_common.info(torch)
    head.update({"foreach": bool(args.foreach), "trainable": sum(p.numel() for p in s.params),
                 "parameters": sum(p.numel() for p in s.model.parameters()), "groups": len(s.params),
                 "units": s.units, "distinct_rates": len(set(s.random_w)), "copies": s.copies,
                 "probe_tokens": s.probe_tokens, "warmup": args.warmup})
    if not args.serve:
        head["ms"] = s.measure(args.steps)
        print(json.dumps(head))
        return
    bench_common.serve(head, lambda n: {"ms": s.measure(n)})


if __name__ == "__main__":
    main()
