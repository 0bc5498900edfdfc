#!/usr/bin/python3
"""PyTorch-Python reference for `adept bench lora`: one LoRA training step on a small Llama.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch: the same libtorch 1.13
that adept's shim links against). The base model is tools/reference/hf_reference.py's
ReferenceModel (HF-faithful Llama, HF parameter names), float32, untied, random init N(0, 0.02),
norms 1, every base tensor frozen (requires_grad off). Every q/k/v/o/gate/up/down projection of
every layer is wrapped as PEFT's lora.Linear wraps an nn.Linear (the same module as
tools/reference/make_lora_golden.py's LoraLinear, in float32):

    y = base_layer(x) + lora_B(lora_A(x)) * (alpha / r)

lora_A ~ kaiming_uniform_(a=sqrt(5)), lora_B = 0, drawn after torch.manual_seed(--seed) layer by
layer, within a layer in q, k, v, o, gate, up, down order (adept's order); no dropout. The optimizer
is torch.optim.AdamW(lr, betas 0.9/0.999, eps 1e-8, weight_decay 0.1) over the adapters in one
param group (weight decay on every adapter matrix, as adept's lora mode), with
clip_grad_norm_(adapters, 1.0) before every step (adept's max_grad_norm). foreach defaults to
False, torch 1.13's default on CPU tensors (the single-tensor loop); --foreach switches the
training step to the multi-tensor implementation.

Two measurements (time.perf_counter_ns; CPU ops are synchronous):

1. training step: forward (model(ids): embedding, layers, norm, LM head), loss
   (ref.causal_lm_loss), backward (autograd records from the first adapter up), clip,
   opt.step(), opt.zero_grad(set_to_none=True), loss.item() and freeing the step's tensors;
2. optimizer step alone, gradients already there (one untimed backward first): clip_grad_norm_
   and opt.step() timed apart, for a foreach=False and a foreach=True optimizer over the same
   adapters.

  /usr/bin/python3 tools/bench/lora_reference.py --threads 2 --steps 2 --rank 52

prints one JSON object. With --serve (bench_common.py's protocol: the thread, OpenMP and malloc
settings come from the launcher's environment and are reported back) it builds everything, warms
up, prints {"ready": ...}, then for every line "N" runs N training steps and --opt-steps
optimizer steps per variant and prints one JSON line of times in ms.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import bench_common

torch = bench_common.import_torch("lora_reference.py")
import torch.nn as nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import hf_reference as ref  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MODULES = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


class LoraLinear(nn.Module):
    """PEFT's lora.Linear forward with one adapter, no dropout (lora_dropout 0 is nn.Identity)."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling


def build(args):
    """The model with its adapters; the adapter tensors in adept's order (layer, target, A then B)."""
    cfg = ref.make_config("llama", vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                          num_hidden_layers=args.layers, num_attention_heads=args.heads,
                          num_key_value_heads=args.kv_heads, max_position_embeddings=max(args.seq, 64),
                          tie_word_embeddings=False)
    torch.manual_seed(args.seed)
    model = ref.ReferenceModel(cfg)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    for p in model.parameters():
        p.requires_grad_(False)
    wrappers = []
    for layer in model.model.layers:
        for t in TARGETS:
            parent = getattr(layer, MODULES[t])
            w = LoraLinear(getattr(parent, t), args.rank, args.alpha)
            setattr(parent, t, w)
            wrappers.append(w)
    # PEFT's init (reset_lora_parameters): A kaiming-uniform, B zero; drawn after the seed, in order
    torch.manual_seed(args.seed)
    adapters = []
    with torch.no_grad():
        for w in wrappers:
            nn.init.kaiming_uniform_(w.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(w.lora_B.weight)
            adapters += [w.lora_A.weight, w.lora_B.weight]
    for p in adapters:
        p.requires_grad_(True)
    model.train()
    return cfg, model, adapters


class Lora:
    def __init__(self, args):
        self.args = args
        self.cfg, self.model, self.params = build(args)
        self.opts = {}
        for foreach in (False, True):
            self.opts[foreach] = torch.optim.AdamW([dict(params=self.params, weight_decay=0.1)], lr=args.lr,
                                                   betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, foreach=foreach)
        self.train_opt = self.opts[bool(args.foreach)]
        g = torch.Generator().manual_seed(args.seed)
        self.ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g, dtype=torch.int64)

    # ---- 1. training step

    def step(self):
        t0 = time.perf_counter_ns()
        logits, _ = self.model(self.ids)
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
        del logits, loss  # frees the activations, as closing adept's Scope does
        t5 = time.perf_counter_ns()
        return {"step": t5 - t0, "forward": t1 - t0, "loss": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}, value

    # ---- 2. optimizer step alone

    def optimizer_steps(self, n, out):
        logits, _ = self.model(self.ids)
        ref.causal_lm_loss(logits, self.ids).backward()
        del logits
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

    def measure(self, n):
        out = {k: [] for k in ("step", "forward", "loss", "backward", "optimizer", "loss_value", "opt_clip_false",
                               "opt_step_false", "opt_clip_true", "opt_step_true")}
        for _ in range(n):
            phases, value = self.step()
            for k, v in phases.items():
                out[k].append(v / 1e6)
            out["loss_value"].append(value)
        if self.args.opt_steps > 0:
            self.optimizer_steps(self.args.opt_steps, out)
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
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--rank", type=int, default=52, help="adapter rank r (adept bench lora passes its own)")
    p.add_argument("--alpha", type=float, default=None, help="lora_alpha (default 2 * rank, adept's default)")
    p.add_argument("--opt-steps", type=int, default=10, help="optimizer-only steps per variant per request")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--foreach", action="store_true", help="training step with the foreach=True optimizer")
    p.add_argument("--serve", action="store_true", help="interleaved mode: read step counts from stdin")
    args = p.parse_args()
    if args.alpha is None:
        args.alpha = 2.0 * args.rank

    torch.set_num_threads(args.threads)
    s = Lora(args)
    for _ in range(args.warmup):
        s.step()
    if args.opt_steps > 0:
        s.optimizer_steps(1, {k: [] for k in ("opt_clip_false", "opt_step_false", "opt_clip_true", "opt_step_true")})
    head = bench_common.info(torch)
    head.update({"foreach": bool(args.foreach), "rank": args.rank, "alpha": args.alpha, "scaling": args.alpha / args.rank,
                 "adapters": len(s.params), "trainable": sum(p.numel() for p in s.params),
                 "parameters": sum(p.numel() for p in s.model.parameters()),
                 "base_parameters": sum(p.numel() for p in s.model.parameters() if not p.requires_grad), "warmup": args.warmup})
    if not args.serve:
        head["ms"] = s.measure(args.steps)
        print(json.dumps(head))
        return
    bench_common.serve(head, lambda n: {"ms": s.measure(n)})


if __name__ == "__main__":
    main()
