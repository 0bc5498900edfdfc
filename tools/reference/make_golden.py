"""Writes the golden fixtures under tests/fixtures/golden/<case>/ (see tools/reference/README.md).

    /usr/bin/python3 tools/reference/make_golden.py [out_dir]

Deterministic: fixed seeds, single thread, byte-identical output on re-runs.

Why float64: the Java implementation runs in float32. If the golden values were produced by a
float32 run too, a comparison would see float32 rounding noise from BOTH sides (different op
orders / kernels accumulate differently), and the tolerances would have to absorb twice the noise.
The stored logits / loss / grads therefore come from a float64 run of the same weights (the exact
values the fp32 weights define), so a tolerance measures the Java implementation's own error. The
fp32 run (exactly HF's fp32 arithmetic) is still made, and its loss and max |logits_fp32 -
logits_fp64| are recorded in golden.json to show the float32 noise level a Java fp32 run should
be within.
"""

import json
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402

B, T, N_PAD = 2, 12, 4
PAD_ID = 0
INIT_STD = 0.02  # HF initializer_range for Linear / Embedding weights

# name -> (seed, make_config kwargs, description)
CASES = OrderedDict([
    ("llama", (1001, dict(
        model_type="llama", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
        rope_scaling=OrderedDict([("factor", 8.0), ("low_freq_factor", 1.0), ("high_freq_factor", 4.0),
                                  ("original_max_position_embeddings", 16), ("rope_type", "llama3")]),
        max_position_embeddings=128, tie_word_embeddings=False, attention_bias=False),
        "Llama, untied lm_head, no biases, llama3 rope_scaling (factor 8, low 1, high 4, orig 16), GQA 4/2")),
    ("llama_tied", (1002, dict(
        model_type="llama", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0,
        rope_scaling=None, max_position_embeddings=64, tie_word_embeddings=True, attention_bias=True),
        "Llama, tied embeddings, attention_bias=true (q/k/v AND o_proj biases, as in HF), plain rope")),
    ("qwen2", (1003, dict(
        model_type="qwen2", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0,
        rope_scaling=None, max_position_embeddings=64, tie_word_embeddings=True,
        include_head_dim=False, include_attention_bias=False),
        "Qwen2, tied, q/k/v biases (no o_proj bias); config has no head_dim/attention_bias, like real "
        "Qwen2.5 configs")),
    ("qwen3", (1004, dict(
        model_type="qwen3", vocab_size=48, hidden_size=32, intermediate_size=24, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
        rope_theta=1000000.0, rope_scaling=None, max_position_embeddings=64, tie_word_embeddings=False,
        attention_bias=False),
        "Qwen3, untied, q_norm/k_norm, head_dim 16 != hidden/heads (8)")),
    ("llama_bf16", (1005, dict(
        model_type="llama", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
        rope_scaling=OrderedDict([("factor", 8.0), ("low_freq_factor", 1.0), ("high_freq_factor", 4.0),
                                  ("original_max_position_embeddings", 16), ("rope_type", "llama3")]),
        max_position_embeddings=128, tie_word_embeddings=False, attention_bias=False,
        torch_dtype="bfloat16"),
        "as llama, weights stored as BF16; goldens computed from the bf16-rounded weights upcast")),
    ("gemma2", (1006, dict(
        model_type="gemma2", vocab_size=80, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, rope_theta=10000.0,
        rope_scaling=None, max_position_embeddings=64, tie_word_embeddings=True, attention_bias=False,
        gemma=OrderedDict([("query_pre_attn_scalar", 24), ("attn_logit_softcapping", 1.0),
                           ("final_logit_softcapping", 2.0), ("sliding_window", 4)])),
        "Gemma 2, tied, scaled embeddings, (1 + w) norms around both sublayers, GELU-tanh, query_pre_attn_scalar 24 "
        "!= head_dim 16, attention and final soft-capping (small caps so tanh bends), no layer_types: layers 0 and 2 "
        "slide (window 4 < T 12), layer 1 full")),
    ("gemma3", (1007, dict(
        model_type="gemma3_text", vocab_size=80, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, rope_theta=1000000.0,
        rope_scaling=None, max_position_embeddings=64, tie_word_embeddings=True, attention_bias=False,
        gemma=OrderedDict([("query_pre_attn_scalar", 16), ("attn_logit_softcapping", None),
                           ("final_logit_softcapping", None), ("sliding_window", 5), ("sliding_window_pattern", 3),
                           ("layer_types", ["sliding_attention", "sliding_attention", "full_attention"]),
                           ("rope_local_base_freq", 10000.0)])),
        "Gemma 3 text, tied, q_norm/k_norm (1 + w), no soft-capping, layers 0-1 slide (window 5) with rope base 1e4, "
        "layer 2 full with rope base 1e6")),
])

# The Gemma cases' vocabulary (80) holds tests/adept/testing/TinyModel's tokenizer (73 ids): GemmaTrainTest trains them.
# Gemma's weights are drawn wider, so that soft-capping and the window change the result visibly.
GEMMA_INIT_STD = 0.1


def init_weights(model, gen, init_std=INIT_STD):
    """HF-like init (N(0, init_std) for Linear/Embedding weights) plus randomized norms and biases."""
    with torch.no_grad():
        gemma = ref.is_gemma(model.cfg)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                base = 0.0 if gemma else 1.0  # Gemma's norms multiply by (1 + w)
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif name.endswith(".bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(init_std * torch.randn(p.shape, generator=gen, dtype=torch.float64))


def make_batch(vocab_size, seed):
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, vocab_size, (B, T), generator=gen, dtype=torch.int64)
    attention_mask = torch.ones(B, T, dtype=torch.int64)
    attention_mask[1, T - N_PAD:] = 0
    input_ids[1, T - N_PAD:] = PAD_ID
    labels = ref.labels_from(input_ids, attention_mask)
    return input_ids, attention_mask, labels


def build_case(seed, cfg_kwargs, init_std=INIT_STD):
    cfg = ref.make_config(**cfg_kwargs)
    gen = torch.Generator().manual_seed(seed)
    model = ref.ReferenceModel(cfg).to(torch.float64)
    init_weights(model, gen, init_std)
    # Round to the storage dtype so fp32 / fp64 / checkpoint all hold the same values.
    store = ref._DTYPE_BY_NAME[cfg["torch_dtype"]]
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(store).to(torch.float64))
    return cfg, model


def run(model, dtype, input_ids, attention_mask, labels):
    m = ref.ReferenceModel(model.cfg).to(dtype)
    ref.load_hf_state(m, ref.state_dict_hf(model))
    m.zero_grad()
    logits, loss = m(input_ids, attention_mask, labels)
    loss.backward()
    grads = OrderedDict((n, p.grad.detach().clone()) for n, p in m.named_parameters())
    return logits.detach(), loss.detach(), grads


def write_case(name, out_dir):
    seed, cfg_kwargs, desc = CASES[name]
    cfg, model = build_case(seed, cfg_kwargs, GEMMA_INIT_STD if cfg_kwargs["model_type"].startswith("gemma") else INIT_STD)
    folder = os.path.join(out_dir, name)
    ref.write_hf_checkpoint(model, cfg, folder)
    input_ids, attention_mask, labels = make_batch(cfg["vocab_size"], seed + 7)

    logits64, loss64, grads64 = run(model, torch.float64, input_ids, attention_mask, labels)
    logits32, loss32, _ = run(model, torch.float32, input_ids, attention_mask, labels)

    golden = OrderedDict()
    golden["input_ids"] = input_ids
    golden["attention_mask"] = attention_mask
    golden["labels"] = labels
    golden["logits"] = logits64.to(torch.float32)
    golden["loss"] = loss64.reshape(())
    for n, g in grads64.items():
        golden["grad." + n] = g.to(torch.float32)
    ref.save_safetensors(golden, os.path.join(folder, "golden.safetensors"))

    info = OrderedDict()
    info["case"] = name
    info["description"] = desc
    info["batch"] = [B, T]
    info["pad_token_id"] = PAD_ID
    info["loss"] = loss64.item()
    info["loss_fp32"] = loss32.item()
    info["fp32_vs_fp64_max_abs_diff"] = (logits32.double() - logits64).abs().max().item()
    info["logits_max_abs"] = logits64.abs().max().item()
    info["param_names"] = [n for n, _ in model.named_parameters()]
    with open(os.path.join(folder, "golden.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def main():
    torch.set_num_threads(1)
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "golden")
    for name in CASES:
        info = write_case(name, out_dir)
        print("%-11s loss=%.12f loss_fp32=%.9f fp32_vs_fp64_max_abs_diff=%.3e params=%d" % (
            name, info["loss"], info["loss_fp32"], info["fp32_vs_fp64_max_abs_diff"],
            len(info["param_names"])))


if __name__ == "__main__":
    main()
