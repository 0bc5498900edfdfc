"""Self-checks for hf_reference.py and the golden fixtures.

    /usr/bin/python3 tools/reference/self_check.py [golden_dir]

(a) safetensors writer/reader round trip (all dtypes, 0-dim, empty) + fixtures read back
(b) padding invariance (llama_tied): real-token logits unchanged by batching with a padded row
(c) rotary: q.k after rotation depends only on the position difference
(d) torch.autograd.gradcheck of the float64 loss w.r.t. a few parameters
(e) fixtures: reload config.json + model.safetensors, recompute, compare with golden.safetensors;
    an independent loop-based forward agrees; mutation sensitivity vs fp32 noise
"""

import json
import math
import os
import sys
import tempfile
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402
import make_golden as mg  # noqa: E402

FAILED = []


def check(name, ok, detail=""):
    print("[%s] %s %s" % ("PASS" if ok else "FAIL", name, detail))
    if not ok:
        FAILED.append(name)


# ------------------------------------------------------------------ (a)
def check_safetensors_roundtrip(golden_dir):
    g = torch.Generator().manual_seed(0)
    tensors = OrderedDict([
        ("f64", torch.randn(3, 4, generator=g, dtype=torch.float64)),
        ("f32", torch.randn(5, generator=g)),
        ("f16", torch.randn(2, 3, generator=g).half()),
        ("bf16", torch.randn(7, 2, generator=g).bfloat16()),
        ("i64", torch.randint(-2**40, 2**40, (4,), generator=g, dtype=torch.int64)),
        ("i32", torch.randint(-1000, 1000, (2, 2), generator=g, dtype=torch.int32)),
        ("u8", torch.randint(0, 255, (3,), generator=g, dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("scalar", torch.tensor(3.25, dtype=torch.float64)),
        ("empty", torch.zeros(0, 3)),
        ("a.b.c", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
    ])
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.safetensors")
        ref.save_safetensors(tensors, p)
        back, meta = ref.load_safetensors(p)
        raw = open(p, "rb").read()
    ok = set(back) == set(tensors) and meta.get("format") == "pt"
    for n, t in tensors.items():
        b = back[n]
        ok = ok and b.dtype == t.dtype and list(b.shape) == list(t.shape) and torch.equal(b, t)
    hlen = int.from_bytes(raw[:8], "little")
    ok = ok and hlen % 8 == 0
    check("(a) safetensors round trip (F64,F32,F16,BF16,I64,I32,U8,BOOL,0-dim,empty)", ok,
          "header_len=%d file=%d bytes" % (hlen, len(raw)))

    for case in mg.CASES:
        folder = os.path.join(golden_dir, case)
        seed, kw, _ = mg.CASES[case]
        cfg, model = mg.build_case(seed, kw)
        st, _ = ref.load_safetensors(os.path.join(folder, "model.safetensors"))
        raw = open(os.path.join(folder, "model.safetensors"), "rb").read()
        hlen = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + hlen])
        header.pop("__metadata__")
        ends = sorted((v["data_offsets"][0], v["data_offsets"][1]) for v in header.values())
        contiguous = ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:])) \
            and 8 + hlen + ends[-1][1] == len(raw)
        names = [n for n, _ in model.named_parameters()]
        want_dt = ref._DTYPE_BY_NAME[cfg["torch_dtype"]]
        ok = sorted(st) == sorted(names) and contiguous and hlen % 8 == 0
        ok = ok and all(st[n].dtype == want_dt and torch.equal(st[n].double(), p.detach())
                        for n, p in model.named_parameters())
        check("(a) %s/model.safetensors matches regenerated weights" % case, ok,
              "%d tensors, dtype %s" % (len(st), cfg["torch_dtype"]))


# ------------------------------------------------------------------ (b)
def check_padding_invariance():
    seed, kw, _ = mg.CASES["llama_tied"]
    cfg, model64 = mg.build_case(seed, kw)
    ids, am, lab = mg.make_batch(cfg["vocab_size"], seed + 7)
    real1 = int(am[1].sum())
    for dtype in (torch.float32, torch.float64):
        m = ref.ReferenceModel(cfg).to(dtype)
        ref.load_hf_state(m, ref.state_dict_hf(model64))
        with torch.no_grad():
            full, _ = m(ids, am)
            row0, _ = m(ids[:1], torch.ones(1, ids.shape[1], dtype=torch.int64))
            row1, _ = m(ids[1:, :real1], torch.ones(1, real1, dtype=torch.int64))
            row1_nomask, _ = m(ids[1:], None)
        d0 = (full[0] - row0[0]).abs().max().item()
        d1 = (full[1, :real1] - row1[0]).abs().max().item()
        d1n = (full[1, :real1] - row1_nomask[0, :real1]).abs().max().item()
        check("(b) %s row0 padded-batch == row0 alone" % str(dtype), d0 == 0.0 or d0 < 1e-6,
              "max|diff|=%.3e bitwise_equal=%s" % (d0, torch.equal(full[0], row0[0])))
        check("(b) %s row1 real tokens (padded) == row1 truncated alone" % str(dtype), d1 < 1e-6,
              "max|diff|=%.3e bitwise_equal=%s" % (d1, torch.equal(full[1, :real1], row1[0])))
        check("(b) %s row1 real tokens == row1 unmasked (right padding is causal-invisible)" % str(dtype),
              d1n < 1e-6, "max|diff|=%.3e" % d1n)


# ------------------------------------------------------------------ (c)
def check_rope():
    g = torch.Generator().manual_seed(5)
    for cfgname in ("llama", "llama_tied", "qwen3"):
        cfg = ref.make_config(**mg.CASES[cfgname][1])
        hd = ref.head_dim_of(cfg)
        q = torch.randn(1, 1, 1, hd, generator=g, dtype=torch.float64)
        k = torch.randn(1, 1, 1, hd, generator=g, dtype=torch.float64)

        def dot(m, n):
            pos = torch.tensor([[m, n]])
            cos, sin = ref.rotary_cos_sin(cfg, pos, torch.float64)
            qq, _ = ref.apply_rotary_pos_emb(q, q, cos[:, :1], sin[:, :1])
            _, kk = ref.apply_rotary_pos_emb(k, k, cos[:, 1:], sin[:, 1:])
            return (qq * kk).sum().item()

        a, b, c = dot(3, 1), dot(10, 8), dot(10, 9)
        norm_ok = True
        cos, sin = ref.rotary_cos_sin(cfg, torch.arange(12)[None], torch.float64)
        qr, _ = ref.apply_rotary_pos_emb(q.expand(1, 1, 12, hd), q.expand(1, 1, 12, hd), cos, sin)
        norm_ok = torch.allclose(qr.norm(dim=-1), q.norm(), atol=1e-12)
        check("(c) %s rope: q.k(3,1)==q.k(10,8), differs from q.k(10,9); norm preserved" % cfgname,
              abs(a - b) < 1e-12 and abs(a - c) > 1e-6 and norm_ok,
              "q.k(3,1)=%.15f q.k(10,8)=%.15f q.k(10,9)=%.6f" % (a, b, c))
    # llama3 scaling: explicit expected inv_freq for the 'llama' case (head_dim 8, theta 1e4,
    # factor 8, low 1, high 4, orig 16): wavelens 2pi (medium), 62.8, 628, 6283 (low -> /8)
    cfg = ref.make_config(**mg.CASES["llama"][1])
    inv, _ = ref.compute_inv_freq(cfg, torch.float64)
    base = 1.0 / (10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float64) / 8))
    s = (16 / (2 * math.pi) - 1) / (4 - 1)
    expect = base / 8
    expect[0] = (1 - s) * 1.0 / 8 + s * 1.0
    check("(c) llama3 rope_scaling inv_freq", torch.allclose(inv, expect, rtol=1e-14, atol=0),
          "inv_freq=%s (unscaled %s)" % ([round(x, 9) for x in inv.tolist()],
                                         [round(x, 9) for x in base.tolist()]))
    # repeat_kv == repeat_interleave on the head dim
    x = torch.randn(2, 3, 5, 4, generator=g)
    check("(c) repeat_kv == repeat_interleave(dim=1)",
          torch.equal(ref.repeat_kv(x, 2), x.repeat_interleave(2, dim=1)))


# ------------------------------------------------------------------ (d)
def check_gradcheck():
    for case, pnames in (("qwen3", ["model.layers.0.self_attn.q_norm.weight",
                                    "model.layers.1.input_layernorm.weight"]),
                         ("llama_tied", ["model.layers.0.self_attn.q_proj.bias",
                                         "model.layers.0.self_attn.o_proj.bias"]),
                         ("llama", ["model.layers.0.self_attn.k_proj.weight", "model.norm.weight"])):
        kw = dict(mg.CASES[case][1])
        kw.update(vocab_size=16, hidden_size=16, intermediate_size=8, num_hidden_layers=2)
        if kw.get("head_dim"):
            kw["head_dim"] = 8
        cfg, model = mg.build_case(77, kw, init_std=0.2)
        ids = torch.tensor([[3, 5, 7, 1, 2, 9], [4, 4, 8, 15, 0, 0]])
        am = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
        lab = ref.labels_from(ids, am)
        params = dict(model.named_parameters())
        inputs = tuple(params[n].detach().clone().requires_grad_(True) for n in pnames)

        def f(*ps):
            over = dict(zip(pnames, ps))
            return functional_call(model, over, (ids, am, lab))[1]

        ok = torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
        check("(d) gradcheck %s wrt %s" % (case, ", ".join(pnames)), ok)


# ------------------------------------------------------------------ (e)
def naive_forward(cfg, P, ids, am):
    """Independent loop-based float64 forward straight from the formulas."""
    V, H = cfg["vocab_size"], cfg["hidden_size"]
    nh, nkv, hd = cfg["num_attention_heads"], ref.num_kv_heads_of(cfg), ref.head_dim_of(cfg)
    eps = cfg["rms_norm_eps"]
    inv, _ = ref.compute_inv_freq(cfg, torch.float64)

    def rms(x, w):
        return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)

    def lin(x, name):
        y = x @ P[name + ".weight"].t()
        if name + ".bias" in P:
            y = y + P[name + ".bias"]
        return y

    def rope(v, pos):  # v [hd]; pairs (i, i + hd/2)
        half = hd // 2
        out = v.clone()
        for i in range(half):
            ang = pos * inv[i].item()
            c, s = math.cos(ang), math.sin(ang)
            out[i] = v[i] * c - v[i + half] * s
            out[i + half] = v[i + half] * c + v[i] * s
        return out

    Bn, Tn = ids.shape
    logits = torch.zeros(Bn, Tn, V, dtype=torch.float64)
    for b in range(Bn):
        h = P["model.embed_tokens.weight"][ids[b]]
        for li in range(cfg["num_hidden_layers"]):
            pre = "model.layers.%d." % li
            x = rms(h, P[pre + "input_layernorm.weight"])
            q = lin(x, pre + "self_attn.q_proj").view(Tn, nh, hd)
            k = lin(x, pre + "self_attn.k_proj").view(Tn, nkv, hd)
            v = lin(x, pre + "self_attn.v_proj").view(Tn, nkv, hd)
            if cfg["model_type"] == "qwen3":
                q = rms(q, P[pre + "self_attn.q_norm.weight"])
                k = rms(k, P[pre + "self_attn.k_norm.weight"])
            att = torch.zeros(Tn, nh, hd, dtype=torch.float64)
            for hh in range(nh):
                kvh = hh // (nh // nkv)
                for t in range(Tn):
                    qt = rope(q[t, hh], t)
                    allowed = [s for s in range(t + 1) if am[b, s] == 1]
                    if not allowed:  # fully masked (never happens with right padding)
                        allowed = list(range(Tn))
                    sc = torch.stack([(qt * rope(k[s, kvh], s)).sum() / math.sqrt(hd) for s in allowed])
                    w = torch.softmax(sc, 0)
                    att[t, hh] = sum(w[j] * v[s, kvh] for j, s in enumerate(allowed))
            h = h + lin(att.reshape(Tn, nh * hd), pre + "self_attn.o_proj")
            x = rms(h, P[pre + "post_attention_layernorm.weight"])
            mlp = lin(F.silu(lin(x, pre + "mlp.gate_proj")) * lin(x, pre + "mlp.up_proj"), pre + "mlp.down_proj")
            h = h + mlp
        h = rms(h, P["model.norm.weight"])
        W = P["lm_head.weight"] if "lm_head.weight" in P else P["model.embed_tokens.weight"]
        logits[b] = h @ W.t()
    return logits


def check_fixtures(golden_dir):
    for case in mg.CASES:
        folder = os.path.join(golden_dir, case)
        g, _ = ref.load_safetensors(os.path.join(folder, "golden.safetensors"))
        info = json.load(open(os.path.join(folder, "golden.json")))
        m64, cfg = ref.load_hf_checkpoint(folder, torch.float64)
        logits, loss = m64(g["input_ids"], g["attention_mask"], g["labels"])
        loss.backward()
        dl = (logits.float() - g["logits"]).abs().max().item()
        gd = max((p.grad.float() - g["grad." + n]).abs().max().item() for n, p in m64.named_parameters())
        names_ok = info["param_names"] == [n for n, _ in m64.named_parameters()]
        keys_ok = set(g) == {"input_ids", "attention_mask", "labels", "logits", "loss"} | \
            {"grad." + n for n in info["param_names"]}
        dtypes_ok = g["logits"].dtype == torch.float32 and g["loss"].dtype == torch.float64 and \
            g["loss"].dim() == 0 and g["input_ids"].dtype == torch.int64 and \
            all(g["grad." + n].dtype == torch.float32 for n in info["param_names"])
        # manual HF loss
        lg = g["logits"].double()
        lab = g["labels"][:, 1:]
        lp = torch.log_softmax(logits.detach()[:, :-1], -1)
        sel = lab != -100
        manual = -(lp[sel].gather(-1, lab[sel][:, None])).mean().item()
        naive = naive_forward(cfg, {n: p.detach() for n, p in m64.named_parameters()},
                              g["input_ids"], g["attention_mask"])
        dn = (naive - logits.detach()).abs().max().item()
        ok = dl == 0.0 and gd == 0.0 and names_ok and keys_ok and dtypes_ok and \
            g["loss"].item() == info["loss"] == loss.item() and abs(manual - info["loss"]) < 1e-12 and dn < 1e-12
        check("(e) %s reload+recompute == golden; naive loop forward agrees" % case, ok,
              "logits_diff=%.1e grad_diff=%.1e |naive-ref|(all positions)=%.1e manual_loss_diff=%.1e "
              "loss=%.12f fp32_vs_fp64=%.2e" % (dl, gd, dn, abs(manual - info["loss"]), info["loss"],
                                                info["fp32_vs_fp64_max_abs_diff"]))


def check_sensitivity():
    """How far common implementation mistakes move the logits, compared with fp32 noise."""
    orig = {a: getattr(ref, a) for a in ("rotate_half", "repeat_kv", "compute_inv_freq", "build_additive_mask")}

    def rh_interleaved(x):
        return torch.stack((-x[..., 1::2], x[..., 0::2]), -1).flatten(-2)

    def inv_noscale(cfg, dtype=torch.float32):
        c = dict(cfg)
        c["rope_scaling"] = None
        return orig["compute_inv_freq"](c, dtype)

    def mask_no_pad(am, T, dtype):
        return orig["build_additive_mask"](torch.ones_like(am), T, dtype)

    muts = OrderedDict([
        ("rotate_half interleaved (GPT-J style)", ("rotate_half", rh_interleaved)),
        ("repeat_kv tiled instead of interleaved", ("repeat_kv", lambda h, n: h.repeat(1, n, 1, 1))),
        ("llama3 rope_scaling ignored", ("compute_inv_freq", inv_noscale)),
        ("padding mask ignored", ("build_additive_mask", mask_no_pad)),
    ])
    for case in mg.CASES:
        seed, kw, _ = mg.CASES[case]
        cfg, model = mg.build_case(seed, kw)
        ids, am, lab = mg.make_batch(cfg["vocab_size"], seed + 7)
        with torch.no_grad():
            base, bl = model(ids, am, lab)
            parts = []
            for mn, (attr, fn) in muts.items():
                setattr(ref, attr, fn)
                try:
                    lg, ll = model(ids, am, lab)
                finally:
                    setattr(ref, attr, orig[attr])
                real = am.bool()
                parts.append("%s: %.1e/%.1e" % (mn, (lg - base)[real].abs().max().item(),
                                                (lg - base).abs().max().item()))
        print("    sensitivity %-10s (max|dlogits| real tokens/all positions) %s" % (case, "; ".join(parts)))


def main():
    torch.set_num_threads(1)
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    golden_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "golden")
    check_safetensors_roundtrip(golden_dir)
    check_padding_invariance()
    check_rope()
    check_gradcheck()
    check_fixtures(golden_dir)
    check_sensitivity()
    print("FAILED: %s" % FAILED if FAILED else "ALL PASSED")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
