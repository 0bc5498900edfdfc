#!/usr/bin/python3
"""PyTorch-Python reference for `adept bench mfu`: one ADEPT stage-2 training step of an expanded
Llama-shaped model, on the CPU or a GPU, in float32 or bfloat16, as PyTorch eager does it.

The model: --layers decoder layers (no biases, untied head, RMSNorm, rotary embeddings, grouped
query attention through F.scaled_dot_product_attention(is_causal=True) where torch has it), random
N(0, 0.02) weights, and an identity copy (o_proj and down_proj zeroed) after each of the top --copies
layers. Only the copies train. The step, the same as adept's:
- the embedding and the layers below the first copy run under no_grad;
- the loss is the cross-entropy of the logits upcast to float32 (mean over tokens);
- backward; the trainable bf16 gradients go to float32 master weights (float32 models: the
  parameters themselves), clip_grad_norm_(1.0), torch.optim.AdamW with one param group per tensor at
  its own rate (random seeded multipliers, as adept's continuous rates), fused=True where torch has
  it for the device, else foreach; the masters are copied back into the bf16 parameters;
- zero_grad(set_to_none=True).

  python3 tools/bench/mfu_reference.py --device cuda --dtype bfloat16 --steps 3

prints one JSON object; --serve speaks bench_common.py's protocol: {"ready": ...}, then for every line
"N" it runs N steps (synchronised at the end) and prints {"step_ms": [mean ms per step]}.
"""
import argparse
import json
import math
import random
import time

import bench_common

torch = bench_common.import_torch("mfu_reference.py")
import torch.nn.functional as F  # noqa: E402

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        H, hd = a.hidden, a.hidden // a.heads
        self.heads, self.kv, self.hd = a.heads, a.kv_heads, hd
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)  # noqa: E731
        self.q_proj, self.k_proj, self.v_proj = lin(H, a.heads * hd), lin(H, a.kv_heads * hd), lin(H, a.kv_heads * hd)
        self.o_proj = lin(a.heads * hd, H)
        self.gate_proj, self.up_proj, self.down_proj = lin(H, a.intermediate), lin(H, a.intermediate), lin(a.intermediate, H)
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(H, 1e-6), RMSNorm(H, 1e-6)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if HAS_SDPA:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            o = torch.softmax(s.float(), dim=-1).to(q.dtype) @ v
        x = x + self.o_proj(o.transpose(1, 2).reshape(B, T, -1))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Model(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = torch.nn.Embedding(a.vocab, a.hidden)
        sources = list(range(a.layers - a.copies, a.layers))
        self.layers, self.copies = torch.nn.ModuleList(), []
        for i in range(a.layers):
            self.layers.append(Layer(a))
            if i in sources:
                self.copies.append(len(self.layers))
                self.layers.append(Layer(a))
        self.norm = RMSNorm(a.hidden, 1e-6)
        self.lm_head = torch.nn.Linear(a.hidden, a.vocab, bias=False)
        hd = a.hidden // a.heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        f = torch.outer(torch.arange(a.seq).float(), inv)
        emb = torch.cat((f, f), dim=-1)
        self.register_buffer("cos", emb.cos()[None, None], persistent=False)
        self.register_buffer("sin", emb.sin()[None, None], persistent=False)

    def forward(self, ids):
        first = self.copies[0]
        cos, sin = self.cos.to(self.embed.weight.dtype), self.sin.to(self.embed.weight.dtype)
        with torch.no_grad():
            h = self.embed(ids)
            for layer in self.layers[:first]:
                h = layer(h, cos, sin)
        for layer in self.layers[first:]:
            h = layer(h, cos, sin)
        logits = self.lm_head(self.norm(h))
        return F.cross_entropy(logits.float()[:, :-1].reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))


def build(a):
    torch.manual_seed(a.seed)
    model = Model(a)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.02)
        for c in model.copies:
            model.layers[c].load_state_dict(model.layers[c - 1].state_dict())
            model.layers[c].o_proj.weight.zero_()
            model.layers[c].down_proj.weight.zero_()
    model = model.to(device=a.device, dtype=DTYPES[a.dtype])
    trainable = []
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            p.requires_grad_(i in model.copies)
            if i in model.copies:
                trainable.append(p)
    for p in [model.embed.weight, model.norm.weight, model.lm_head.weight]:
        p.requires_grad_(False)
    masters = trainable if DTYPES[a.dtype] == torch.float32 else [p.detach().float().clone() for p in trainable]
    rnd = random.Random(a.seed)
    groups = [{"params": [m], "lr": a.lr * rnd.uniform(0, 2), "weight_decay": 0.1 if m.dim() > 1 else 0.0} for m in masters]
    kind = "foreach"
    try:
        if torch.device(a.device).type == "cuda":
            opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
            kind = "fused"
        else:
            raise TypeError
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)
    return model, trainable, masters, opt, kind


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def step(model, trainable, masters, opt, ids):
    loss = model(ids)
    loss.backward()
    if masters is not trainable:
        for p, m in zip(trainable, masters):
            m.grad = p.grad.float()
            p.grad = None
    torch.nn.utils.clip_grad_norm_(masters, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    if masters is not trainable:
        with torch.no_grad():
            if hasattr(torch, "_foreach_copy_"):
                torch._foreach_copy_(trainable, masters)
            else:
                for p, m in zip(trainable, masters):
                    p.copy_(m)


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("threads", 1), ("batch", 4), ("seq", 1024), ("vocab", 151936), ("hidden", 896), ("intermediate", 4864),
                          ("layers", 24), ("heads", 14), ("kv-heads", 2), ("copies", 3), ("warmup", 2), ("steps", 3), ("seed", 1234)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cuda = torch.device(a.device).type == "cuda"
    model, trainable, masters, opt, kind = build(a)
    g = torch.Generator().manual_seed(a.seed)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g).to(a.device)

    def sync():
        if cuda:
            torch.cuda.synchronize(a.device)

    def run(n):
        sync()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            step(model, trainable, masters, opt, ids)
        sync()
        return {"step_ms": [(time.perf_counter_ns() - t0) / 1e6 / n],
                "max_memory_mib": torch.cuda.max_memory_allocated(a.device) / 2**20 if cuda else None}

    for _ in range(a.warmup):
        step(model, trainable, masters, opt, ids)
    sync()
    info = bench_common.info(torch)
    info.update(device=a.device, dtype=a.dtype, sdpa=HAS_SDPA, optimizer=kind,
                gpu=torch.cuda.get_device_name(a.device) if cuda else None)
    if a.serve:
        bench_common.serve(info, run)
    else:
        info.update(run(a.steps))
        print(json.dumps(info))


if __name__ == "__main__":
    main()
