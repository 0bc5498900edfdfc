#!/usr/bin/python3
"""PyTorch-Python side of `adept bench memory`: one phase in a fresh process, its peak resident memory.

Run with Debian's interpreter (/usr/bin/python3 and python3-torch, the same libtorch as adept). The
process sets up what the phase needs (untimed, unmeasured), resets the kernel's peak-RSS mark
(writing 5 to /proc/self/clear_refs: VmHWM restarts at the current RSS), runs the phase as plain
PyTorch eager code does it, and prints one JSON line: baseline_mb (VmRSS before), peak_mb (VmHWM
after), reset (whether the mark could be reset; if not, peak_mb covers the set-up too), minor_faults (page
faults during the phase: what mapping and unmapping buffers costs, a count other load does not change) and
glibc's malloc account at the end (malloc_heap_mb, malloc_free_mb, malloc_free_chunks,
malloc_mapped_mb: blocks above the mmap threshold).

Phases, on the model of stage2_reference.py / train_reference.py (Llama, fp32, untied, random N(0, 0.02)):
  load     read --checkpoint (adept's model.safetensors, mapped copy-on-write as adept maps it) into a fresh model
  probe    stage 1: the loss with each layer skipped, over --probe-batches batches, under no_grad
  expand   insert an identity copy (o_proj, down_proj zeroed) after each of the top --copies layers
  train    2 full training steps (forward, cross_entropy, backward, AdamW; the first allocates AdamW's state)
  stage2   2 stage-2 steps of stage2_reference.Stage2 (only the copies train, one AdamW group per unit)
  refresh  1 importance refresh of stage2_reference.Stage2 over the probe batches
  save     torch.save(state_dict) to a temporary file
  eval     mean loss over the probe batches under no_grad (full logits per batch)
"""
import argparse
import copy
import ctypes
import json
import mmap
import os
import resource
import struct
import sys
import tempfile

import bench_common

torch = bench_common.import_torch("memory_reference.py")
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import hf_reference as ref  # noqa: E402
import stage2_reference as stage2  # noqa: E402


def status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def malloc_info():
    """glibc's account (mallinfo2, all arenas): heap MiB, free MiB inside it, free chunks; {} without mallinfo2."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"malloc_heap_mb": m.arena / 1048576.0, "malloc_free_mb": m.fordblks / 1048576.0, "malloc_free_chunks": m.ordblks,
            "malloc_mapped_mb": m.hblkhd / 1048576.0}


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def config(a, layers):
    return ref.make_config("llama", vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
                           num_hidden_layers=layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                           max_position_embeddings=max(a.seq, 64), tie_word_embeddings=False)


def random_model(a):
    cfg = config(a, a.layers)
    torch.manual_seed(a.seed)
    model = ref.ReferenceModel(cfg)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    return cfg, model


def batches(a):
    g = torch.Generator().manual_seed(a.seed)
    return [torch.randint(0, a.vocab, (a.batch, a.seq), generator=g, dtype=torch.int64) for _ in range(a.probe_batches)]


def hidden_loss(model, cfg, ids, skip=None):
    B, T = ids.shape
    h = model.model.embed_tokens(ids)
    position_ids = torch.arange(T, dtype=torch.int64)[None, :].expand(B, T)
    cos, sin = ref.rotary_cos_sin(cfg, position_ids, h.dtype)
    mask = ref.build_additive_mask(torch.ones_like(ids), T, h.dtype)
    for i, layer in enumerate(model.model.layers):
        if i != skip:
            h = layer(h, cos, sin, mask)
    logits = F.linear(model.model.norm(h), model.lm_head_weight())
    return ref.causal_lm_loss(logits, ids)


def read_safetensors(path):
    """name -> tensor over a copy-on-write mapping of the file (no copy, as adept's Checkpoint.load)."""
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    n = struct.unpack("<Q", mm[:8])[0]
    header = json.loads(mm[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        begin, end = e["data_offsets"]
        t = torch.frombuffer(mm, dtype=torch.float32, count=(end - begin) // 4, offset=8 + n + begin)
        out[name] = t.view(e["shape"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--phase", required=True)
    p.add_argument("--threads", type=int, default=1)
    for k, d in (("batch", 8), ("seq", 256), ("vocab", 8192), ("hidden", 256), ("intermediate", 688), ("layers", 6),
                 ("heads", 8), ("kv-heads", 4), ("copies", 2), ("probe-batches", 2), ("seed", 1234)):
        p.add_argument("--" + k, type=int, default=d)
    p.add_argument("--checkpoint")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    s2args = argparse.Namespace(layers=a.layers, copies=a.copies, vocab=a.vocab, hidden=a.hidden, intermediate=a.intermediate,
                                heads=a.heads, kv_heads=a.kv_heads, seq=a.seq, seed=a.seed, lr=1e-4, foreach=False,
                                batch=a.batch, probe_batches=a.probe_batches, granularity="tensor")
    phase = a.phase
    # ---- set-up, not measured
    if phase in ("probe", "expand", "train", "save", "eval"):
        cfg, model = random_model(a)
    if phase in ("probe", "eval"):
        probe = batches(a)
    if phase == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, foreach=False)
        ids = batches(a)[0]
    if phase in ("stage2", "refresh"):
        s = stage2.Stage2(s2args)
    baseline = status_mb("VmRSS")
    reset = reset_peak()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    # ---- the phase
    if phase == "load":
        weights = read_safetensors(os.path.join(a.checkpoint, "model.safetensors"))
        cfg, model = random_model(a)  # as from_pretrained without low_cpu_mem_usage: init, then copy in
        model.load_state_dict(weights, strict=False)
    elif phase == "probe":
        with torch.no_grad():
            for ids in probe:
                hidden_loss(model, cfg, ids).item()
                for skip in range(len(model.model.layers)):
                    hidden_loss(model, cfg, ids, skip).item()
    elif phase == "expand":
        layers = model.model.layers
        for src in range(a.layers - a.copies, a.layers)[::-1]:
            c = copy.deepcopy(layers[src])
            with torch.no_grad():
                c.self_attn.o_proj.weight.zero_()
                c.mlp.down_proj.weight.zero_()
            layers.insert(src + 1, c)
    elif phase == "train":
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            logits, _ = model(ids)
            loss = ref.causal_lm_loss(logits, ids)
            loss.backward()
            opt.step()
            loss.item()
            del logits, loss
    elif phase == "stage2":
        for _ in range(2):
            s.step()
    elif phase == "refresh":
        s.refresh()
    elif phase == "save":
        with tempfile.TemporaryDirectory() as d:
            torch.save(model.state_dict(), os.path.join(d, "model.pt"))
    elif phase == "eval":
        model.eval()
        with torch.no_grad():
            for ids in probe:
                hidden_loss(model, cfg, ids).item()
    else:
        sys.exit("unknown phase " + phase)
    out = {"phase": phase, "baseline_mb": baseline, "peak_mb": status_mb("VmHWM"), "reset": reset, "torch": torch.__version__,
           "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}
    out.update(malloc_info())
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
