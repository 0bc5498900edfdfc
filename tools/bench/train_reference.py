#!/usr/bin/python3
"""PyTorch-Python reference for `adept bench train`: one full training step of a small Llama.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch: the same libtorch
1.13 that adept's shim links against). The model is tools/reference/hf_reference.py's
ReferenceModel (HF-faithful Llama, HF parameter names), float32, untied, random init
N(0, 0.02); the optimizer torch.optim.AdamW(lr=1e-4, weight_decay=0.1, betas=(0.9, 0.999),
eps=1e-8) over all parameters in one group (decay on all of them, as adept's AdamW.of does).
foreach defaults to False: torch 1.13's default (foreach=None) on CPU tensors is the
single-tensor loop; --foreach switches to the multi-tensor (_foreach_*) implementation,
which is what adept's AdamW uses.

One step = zero_grad(set_to_none=True), forward, causal_lm_loss (shift by one, mean
cross-entropy), backward, optimizer.step(); the batch is random int64 ids [batch, seq], no
padding. Each phase is timed with time.perf_counter_ns (CPU ops are synchronous; backward
runs on the calling thread).

  /usr/bin/python3 tools/bench/train_reference.py --threads 2 --steps 3

prints one JSON object. With --serve it stays up for interleaved runs: it builds the model,
runs the warm-up steps, prints a {"ready": ...} line, then for every line "N" read from
stdin runs N timed steps and prints one JSON line; an empty line or EOF ends it.

The --serve protocol and the environment (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS and
glibc's malloc settings MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=536870912, what
adept's shim sets with mallopt) are bench_common.py's; the values seen are reported.
"""
import argparse
import json
import os
import resource
import sys
import time

import bench_common

torch = bench_common.import_torch("train_reference.py")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import hf_reference as ref  # noqa: E402


def build(args):
    cfg = ref.make_config("llama", vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                          num_hidden_layers=args.layers, num_attention_heads=args.heads,
                          num_key_value_heads=args.kv_heads, max_position_embeddings=max(args.seq, 64),
                          tie_word_embeddings=False)
    torch.manual_seed(args.seed)
    model = ref.ReferenceModel(cfg)
    # HF init: matrices and embeddings N(0, initializer_range), norms 1 (biases: none here).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                            foreach=args.foreach)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), dtype=torch.int64)
    return cfg, model, opt, ids


def step(model, opt, ids):
    """One training step; returns (phase ns dict, loss). "step" spans all of it (zero_grad, the
    phases, loss.item() and freeing the step's tensors); "forward" includes zero_grad."""
    t0 = time.perf_counter_ns()
    opt.zero_grad(set_to_none=True)
    logits, _ = model(ids)
    t1 = time.perf_counter_ns()
    loss = ref.causal_lm_loss(logits, ids)
    t2 = time.perf_counter_ns()
    loss.backward()
    t3 = time.perf_counter_ns()
    opt.step()
    t4 = time.perf_counter_ns()
    value = loss.item()
    del logits, loss  # frees the activations, as closing adept's Scope does
    t5 = time.perf_counter_ns()
    return {"step": t5 - t0, "forward": t1 - t0, "loss": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}, value


def measure(model, opt, ids, n):
    out = {"step": [], "forward": [], "loss": [], "backward": [], "optimizer": [], "loss_value": []}
    for _ in range(n):
        phases, value = step(model, opt, ids)
        for k, v in phases.items():
            out[k].append(v / 1e6)  # ms
        out["loss_value"].append(value)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def matmul_gflops(n, repeats):
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    for _ in range(2):
        torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        torch.mm(a, b)
        times.append(time.perf_counter_ns() - t0)
    times.sort()
    return 2.0 * n ** 3 / (times[len(times) // 2] / 1e9) / 1e9


def info(args, model):
    out = bench_common.info(torch)
    out["foreach"] = bool(args.foreach)
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["warmup"] = args.warmup
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=3, help="timed steps (without --serve)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before measuring")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--intermediate", type=int, default=688)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--foreach", action="store_true", help="multi-tensor AdamW (torch 1.13 CPU default: single-tensor)")
    p.add_argument("--matmul", type=int, default=0, help="also measure an N x N x N fp32 matmul's GFLOP/s (0: skip)")
    p.add_argument("--serve", action="store_true", help="interleaved mode: read step counts from stdin")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    _, model, opt, ids = build(args)
    for _ in range(args.warmup):
        step(model, opt, ids)
    head = info(args, model)
    if args.matmul > 0:
        head["matmul_gflops"] = matmul_gflops(args.matmul, 5)

    if not args.serve:
        head["ms"] = measure(model, opt, ids, args.steps)
        print(json.dumps(head))
        return

    bench_common.serve(head, lambda n: {"ms": measure(model, opt, ids, n)})


if __name__ == "__main__":
    main()
