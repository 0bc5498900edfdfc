"""Writes the ADEPT stage-1 (layer probe) golden fixture under tests/fixtures/golden/probe/ (see
tools/reference/README.md, "Stage-1 probe golden").

    /usr/bin/python3 tools/reference/make_probe_golden.py [out_dir]

Plain PyTorch, no adept code: a tiny 6-layer Llama, evaluated in float64, and for every layer l

    dL[l] = L(model with layer l ablated; D_probe) - L(model; D_probe)

as docs/adept-method.md defines it:
* ablated = every parameter of layer l set to zero, as the paper's reference code does (for a
  pre-norm block that passes the residual stream through unchanged; the script checks that skipping
  the layer gives the same losses bit for bit);
* L = summed next-token cross-entropy over the real target tokens of all probe batches, divided by
  their number (token-weighted over the whole corpus, not a mean of per-batch means); padding never
  counts, and prompt tokens of instruction-style rows are not targets;
* eval mode, no gradients, the batches as stored.

The batches differ in shape (B x T) and target count, have right padding (pad id 0) and rows whose
first tokens are a prompt (not targets), so each of these conventions moves dL; the script measures
by how much and stores it in probe_golden.json.

Deterministic: fixed seeds, one thread, byte-identical output on re-runs.
"""

import copy
import json
import os
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402

DTYPE = torch.float64

CONFIG = dict(
    model_type="llama", vocab_size=32, hidden_size=8, intermediate_size=12, num_hidden_layers=6,
    num_attention_heads=2, num_key_value_heads=1, head_dim=4, rms_norm_eps=1e-6,
    rope_theta=10000.0, rope_scaling=None, max_position_embeddings=32, tie_word_embeddings=False,
    attention_bias=False, torch_dtype="float32")
INIT_SEED = 5
INIT_STD = 0.3   # 2-D tensors ~ N(0, 0.3): large enough that layers differ clearly in dL
NORM_STD = 0.1   # norm weights 1 + 0.1 N(0, 1)

DATA_SEED = 13
PAD_ID = 0
# Per batch, per row: (real tokens, prompt tokens). Prompt tokens are not targets (position 0 never
# is); the rest of the real tokens are. Every batch has a row of full length T, as a right-padded
# batch built from these rows would.
BATCHES = [
    [(12, 0), (7, 0)],           # B=2, T=12
    [(10, 4), (6, 0), (10, 0)],  # B=3, T=10; row 0 is instruction-style
    [(5, 0), (9, 3)],            # B=2, T=9
]
K = 2
MIN_GAP = 1e-3   # the K-th and (K+1)-th smallest dL must differ by at least this (a robust choice)


def build_model():
    cfg = ref.make_config(**CONFIG)
    model = ref.ReferenceModel(cfg)
    # Seed after construction (nn.Linear's own init draws from the global generator too), then
    # overwrite every parameter in named_parameters() order.
    torch.manual_seed(INIT_SEED)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(INIT_STD * torch.randn(p.shape))
            else:
                p.copy_(1.0 + NORM_STD * torch.randn(p.shape))
    # The checkpoint holds float32 values; the reference runs on exactly those values in float64.
    return cfg, model, copy.deepcopy(model).to(DTYPE).eval()


def make_batches():
    """Per batch: input_ids, attention_mask, labels (I64 [B, T]); labels[t] = ids[t] where token t
    is a target, else -100 (position 0, prompt tokens, padding)."""
    g = torch.Generator().manual_seed(DATA_SEED)
    out = []
    for rows in BATCHES:
        T = max(n for n, _ in rows)
        ids = torch.randint(1, CONFIG["vocab_size"], (len(rows), T), generator=g, dtype=torch.int64)
        mask = torch.zeros(len(rows), T, dtype=torch.int64)
        labels = torch.full((len(rows), T), -100, dtype=torch.int64)
        for r, (n, prompt) in enumerate(rows):
            mask[r, :n] = 1
            start = max(1, prompt)
            labels[r, start:n] = ids[r, start:n]
        ids = ids.masked_fill(mask == 0, PAD_ID)
        out.append((ids, mask, labels))
    return out


def forward_logits(model, ids, mask, skip=None):
    """Logits [B, T, V]; skip: a layer index left out of the stack (the residual stream passes)."""
    B, T = ids.shape
    h = model.model.embed_tokens(ids)
    position_ids = torch.arange(T, dtype=torch.int64)[None, :].expand(B, T)
    cos, sin = ref.rotary_cos_sin(model.cfg, position_ids, h.dtype)
    additive = ref.build_additive_mask(mask, T, h.dtype)
    for i, layer in enumerate(model.model.layers):
        if i != skip:
            h = layer(h, cos, sin, additive)
    return F.linear(model.model.norm(h), model.lm_head_weight())


def loss_sum(logits, labels):
    """Summed cross-entropy of logits at t against labels at t+1, -100 ignored."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                           ignore_index=-100, reduction="sum")


def corpus_loss(model, batches, skip=None, per_batch_mean=False):
    """Token-weighted mean over all batches' targets (per_batch_mean: the mean of the batch means,
    a wrong convention kept for the sensitivity numbers)."""
    total, count, means = 0.0, 0, []
    with torch.no_grad():
        for ids, mask, labels in batches:
            s = loss_sum(forward_logits(model, ids, mask, skip), labels).item()
            n = int((labels[:, 1:] != -100).sum())
            total += s
            count += n
            means.append(s / n)
    return sum(means) / len(means) if per_batch_mean else total / count


def ablated(model, layer):
    """A copy of model with every parameter of layer zero."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.model.layers[layer].parameters():
            p.zero_()
    return m


def deltas(model, batches, **kw):
    base = corpus_loss(model, batches, **kw)
    return base, [corpus_loss(model, batches, skip=l, **kw) - base for l in range(len(model.model.layers))]


def lowest(d, k):
    """The k smallest dL, ties to the lower index, in ascending index order."""
    return sorted(sorted(range(len(d)), key=lambda l: (d[l], l))[:k])


def main():
    torch.set_num_threads(1)
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "golden", "probe")

    cfg, stored, model = build_model()
    ref.write_hf_checkpoint(stored, cfg, out_dir)
    batches = make_batches()
    M = cfg["num_hidden_layers"]

    # The definition: zero the layer's parameters.
    base = corpus_loss(model, batches)
    skip_loss = [corpus_loss(ablated(model, l), batches) for l in range(M)]
    delta = [s - base for s in skip_loss]
    picked = lowest(delta, K)
    tokens = sum(int((labels[:, 1:] != -100).sum()) for _, _, labels in batches)

    # Self-checks. Skipping the layer is the same function, bit for bit (the zero layer adds exact zeros).
    for l in range(M):
        assert corpus_loss(model, batches, skip=l) == skip_loss[l], l
    order = sorted(delta)
    assert order[K] - order[K - 1] >= MIN_GAP, "the K lowest layers are not a clear choice: %r" % order
    assert len(set(delta)) == M

    # Sensitivity: how far common mistakes move dL (max over layers of |dL_wrong - dL|).
    def moved(wrong_batches=None, **kw):
        _, d = deltas(model, wrong_batches or batches, **kw)
        return max(abs(a - b) for a, b in zip(d, delta))

    pads_count = [(ids, mask, ids.clone()) for ids, mask, _ in batches]  # every position a target
    prompts_count = [(ids, mask, ids.masked_fill(mask == 0, -100)) for ids, mask, _ in batches]
    no_pad_mask = [(ids, torch.ones_like(mask), labels) for ids, mask, labels in batches]
    sensitivity = OrderedDict([
        ("padding_counted_as_targets", moved(pads_count)),
        ("prompt_tokens_counted_as_targets", moved(prompts_count)),
        ("mean_of_batch_means", moved(per_batch_mean=True)),
        ("no_attention_padding_mask", moved(no_pad_mask)),
    ])
    # Ablating half a layer instead of all of it.
    for part in ("self_attn", "mlp"):
        d = []
        for l in range(M):
            m = copy.deepcopy(model)
            with torch.no_grad():
                for p in getattr(m.model.layers[l], part).parameters():
                    p.zero_()
            d.append(corpus_loss(m, batches) - base)
        sensitivity["only_%s_ablated" % part] = max(abs(a - b) for a, b in zip(d, delta))

    golden = OrderedDict()
    for b, (ids, mask, labels) in enumerate(batches):
        golden["batch%d.input_ids" % b] = ids
        golden["batch%d.attention_mask" % b] = mask
        golden["batch%d.labels" % b] = labels
    golden["base_loss"] = torch.tensor(base, dtype=DTYPE)
    golden["skip_loss"] = torch.tensor(skip_loss, dtype=DTYPE)
    golden["delta"] = torch.tensor(delta, dtype=DTYPE)
    ref.save_safetensors(golden, os.path.join(out_dir, "probe_golden.safetensors"))

    info = OrderedDict()
    info["description"] = ("ADEPT stage 1, layer probe: dL[l] = L(layer l ablated) - L(base) on 3 "
                           "right-padded probe batches, float64, tiny 6-layer Llama")
    info["torch_version"] = torch.__version__
    info["dtype"] = "float64 (on the float32 values stored in model.safetensors)"
    info["init"] = OrderedDict([("seed", INIT_SEED), ("matrix_std", INIT_STD), ("norm_weight", "1 + %g N(0,1)" % NORM_STD),
                                ("note", "torch.manual_seed after constructing the model, then torch.randn per "
                                         "tensor in named_parameters() order")])
    info["batches"] = len(batches)
    info["rows"] = OrderedDict(("batch%d" % b, " ".join("[%d, %d]" % r for r in rows)) for b, rows in enumerate(BATCHES))
    info["rows_note"] = "[real tokens, prompt tokens] per row; T = the longest row"
    info["pad_id"] = PAD_ID
    info["padding_side"] = "right"
    info["targets"] = ("labels[t] = input_ids[t] where token t is a target, -100 elsewhere (position 0, "
                       "prompt tokens, padding); logits at t predict labels at t+1")
    info["ablation"] = "every parameter of the layer zero (equal, bit for bit, to skipping the layer)"
    info["loss"] = ("L = (sum over batches of summed cross-entropy over targets) / target_tokens; "
                    "causal + key padding attention mask; eval mode, no gradients")
    info["target_tokens"] = tokens
    info["num_hidden_layers"] = M
    info["k"] = K
    info["lowest"] = picked
    info["lowest_rule"] = "the K smallest dL, ties to the lower index, ascending index order"
    info["k_gap"] = order[K] - order[K - 1]
    info["sensitivity_max_abs_delta_change"] = sensitivity
    info["tolerance"] = "1e-5 absolute on every dL"
    with open(os.path.join(out_dir, "probe_golden.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")

    print("base loss %.15f over %d target tokens" % (base, tokens))
    for l in range(M):
        print("layer %d: skip %.15f  dL %+.15f" % (l, skip_loss[l], delta[l]))
    print("lowest %d: %s (gap %.3e)" % (K, picked, order[K] - order[K - 1]))
    for name, v in sensitivity.items():
        print("sensitivity %-34s %.3e" % (name, v))


if __name__ == "__main__":
    main()
