"""Dependency-free (torch only) re-implementation of Hugging Face transformers'
LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM / Gemma2ForCausalLM / Gemma3ForCausalLM
(text) forward pass (eager attention, transformers v4.5x semantics), plus a hand-written safetensors
reader/writer and an HF-layout checkpoint writer.

Run with Debian's torch: /usr/bin/python3 (torch 1.13). No transformers needed.

Faithfulness notes (mirroring modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py):
  * RMSNorm: h = x.to(float32); var = h.pow(2).mean(-1, keepdim); h = h * rsqrt(var + eps);
    return weight * h.to(input_dtype).
  * Attention projections:
      llama, qwen3: q/k/v/o all have bias iff config["attention_bias"] (default false)
                    -- note HF applies attention_bias to o_proj too.
      qwen2:        q/k/v always biased, o_proj never (attention_bias is not a Qwen2 field).
    Llama's optional `mlp_bias` (gate/up/down bias) is supported, default false.
  * head_dim = config["head_dim"] if present (and not null) else hidden_size // num_attention_heads.
  * Qwen3: q_norm / k_norm (RMSNorm over head_dim, eps=rms_norm_eps) applied per head to
    q and k right after the projection, BEFORE rotary.
  * Rotary: inv_freq = 1 / theta ** (arange(0, d, 2) / d); freqs = pos (x) inv_freq;
    emb = cat(freqs, freqs); cos/sin in float32, cast to the activation dtype;
    x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x2, x1). rope_type "llama3" handled as in
    _compute_llama3_parameters. attention_scaling (=1.0 for default/llama3) multiplies cos/sin.
  * GQA: repeat_kv (kv head j serves query heads j*n_rep .. j*n_rep+n_rep-1).
  * scores = (q @ k^T) * head_dim**-0.5 + additive mask (finfo(dtype).min where masked, causal AND
    padding, like _prepare_4d_causal_attention_mask_with_cache_position); softmax in float32, cast back.
  * position_ids = arange(T) for every row.
  * Loss: ForCausalLMLoss: logits.float(), shift (logits[:, :-1] vs labels[:, 1:]),
    cross_entropy(ignore_index=-100, reduction mean).
  * Tied embeddings: lm_head reuses model.embed_tokens.weight; no lm_head parameter exists and
    named_parameters() lists only model.embed_tokens.weight (as in HF, where the tied parameter is
    deduplicated).
  * nn.Embedding padding_idx: HF sets padding_idx = config.pad_token_id, which zeroes that row's
    gradient. We honour config["pad_token_id"] the same way; the golden configs leave it unset (null),
    as real Llama-3 / Qwen2.5 configs do.

Gemma 2 / Gemma 3 (modeling_gemma2.py / modeling_gemma3.py):
  * Embeddings times normalizer = tensor(hidden_size ** 0.5, dtype=h.dtype).
  * GemmaRMSNorm: out = norm(x.float()) * (1.0 + weight.float()); out.type_as(x); weights start at 0.
  * Layer: h + post_attention_layernorm(attn(input_layernorm(h))), then
    h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))).
  * MLP: down(gelu_tanh(gate(x)) * up(x)) (hidden_activation "gelu_pytorch_tanh").
  * scores = q k^T * query_pre_attn_scalar ** -0.5; if attn_logit_softcapping: scores = tanh(scores / cap) * cap;
    then + mask. Sliding layers' mask also hides keys with q - k >= sliding_window.
  * Layer types: config["layer_types"], else sliding unless (i + 1) % pattern == 0 (Gemma 2: 2; Gemma 3:
    sliding_window_pattern, default 6).
  * Gemma 3: q_norm / k_norm (GemmaRMSNorm over head_dim) before rotary; sliding layers' rotary base is
    rope_local_base_freq (no scaling).
  * Final logits: if final_logit_softcapping: tanh(logits / cap) * cap.

"Wide" mode (compute dtype float64): the places where HF hard-codes float32 (RMSNorm upcast,
float32 softmax, float32 rotary tables, logits.float() in the loss) use
promote_types(float32, dtype) instead, so a model converted with .double() runs entirely in float64.
For a float32/bf16 model this is exactly HF behaviour.
"""

import json
import math
import os
import struct
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
    "gemma3_text": "Gemma3ForCausalLM",
}

# Gemma2Config / Gemma3TextConfig defaults for the fields the reference reads.
GEMMA_DEFAULTS = {
    "gemma2": dict(query_pre_attn_scalar=256, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                   sliding_window=4096, sliding_window_pattern=2, rope_local_base_freq=None),
    "gemma3_text": dict(query_pre_attn_scalar=256, attn_logit_softcapping=None, final_logit_softcapping=None,
                        sliding_window=4096, sliding_window_pattern=6, rope_local_base_freq=10000.0),
}


def is_gemma(cfg):
    return cfg["model_type"] in GEMMA_DEFAULTS


def gemma_field(cfg, key):
    """A Gemma config field: absent -> the config class default; present (even null) -> as written."""
    return cfg[key] if key in cfg else GEMMA_DEFAULTS[cfg["model_type"]][key]


def layer_types_of(cfg):
    n = cfg["num_hidden_layers"]
    if not is_gemma(cfg):
        return ["full_attention"] * n
    if cfg.get("layer_types") is not None:
        return list(cfg["layer_types"])
    period = gemma_field(cfg, "sliding_window_pattern")
    return ["sliding_attention" if (i + 1) % period else "full_attention" for i in range(n)]


def _wide(dtype):
    """HF computes some things in float32; never narrow a float64 run."""
    return torch.promote_types(torch.float32, dtype)


# --------------------------------------------------------------------------- config helpers

def head_dim_of(cfg):
    hd = cfg.get("head_dim")
    if hd is None:
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    return hd


def num_kv_heads_of(cfg):
    kv = cfg.get("num_key_value_heads")
    return cfg["num_attention_heads"] if kv is None else kv


def qkv_bias_of(cfg):
    if cfg["model_type"] == "qwen2":
        return True
    return bool(cfg.get("attention_bias", False))


def o_bias_of(cfg):
    if cfg["model_type"] == "qwen2":
        return False
    return bool(cfg.get("attention_bias", False))


def mlp_bias_of(cfg):
    # Only LlamaConfig has mlp_bias; Qwen2/Qwen3 MLPs are always bias-free.
    return cfg["model_type"] == "llama" and bool(cfg.get("mlp_bias", False))


def has_qk_norm(cfg):
    return cfg["model_type"] in ("qwen3", "gemma3_text")


# --------------------------------------------------------------------------- rotary

def _default_inv_freq(cfg, dtype):
    dim = head_dim_of(cfg)
    # HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    exps = torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim
    default_theta = 1000000.0 if cfg["model_type"] == "gemma3_text" else 10000.0
    return 1.0 / (float(cfg.get("rope_theta", default_theta)) ** exps)


def local_rope_cfg(cfg):
    """Gemma 3's sliding layers: rope_theta = rope_local_base_freq, default rope (no scaling)."""
    base = gemma_field(cfg, "rope_local_base_freq") if is_gemma(cfg) else None
    if base is None:
        return cfg
    local = OrderedDict(cfg)
    local["rope_theta"] = base
    local["rope_scaling"] = None
    return local


def compute_inv_freq(cfg, dtype=torch.float32):
    """Returns (inv_freq, attention_scaling) like HF ROPE_INIT_FUNCTIONS."""
    inv_freq = _default_inv_freq(cfg, dtype)
    rs = cfg.get("rope_scaling")
    if rs is None:
        return inv_freq, 1.0
    rope_type = rs.get("rope_type", rs.get("type", "default"))
    if rope_type == "default":
        return inv_freq, 1.0
    if rope_type != "llama3":
        raise ValueError("unsupported rope_type " + str(rope_type))
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    # wavelen < high_freq_wavelen: do nothing; wavelen > low_freq_wavelen: divide by factor
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # otherwise interpolate between the two with a smooth factor
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    inv_freq_llama = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    return inv_freq_llama, 1.0


def rotary_cos_sin(cfg, position_ids, dtype):
    """position_ids [B, T] -> cos, sin [B, T, head_dim] in `dtype` (computed in float32, or
    float64 for a float64 run)."""
    cdt = _wide(dtype)
    inv_freq, attention_scaling = compute_inv_freq(cfg, cdt)
    inv = inv_freq[None, :, None].expand(position_ids.shape[0], -1, 1)
    pos = position_ids[:, None, :].to(cdt)
    freqs = (inv @ pos).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = emb.cos() * attention_scaling
    sin = emb.sin() * attention_scaling
    return cos.to(dtype), sin.to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


def repeat_kv(hidden_states, n_rep):
    """[B, kvH, T, D] -> [B, kvH*n_rep, T, D]; kv head j -> query heads j*n_rep .. j*n_rep+n_rep-1."""
    batch, num_kv, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_kv, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_kv * n_rep, slen, head_dim)


def build_additive_mask(attention_mask, T, dtype):
    """Causal AND padding, additive: 0 where attended, finfo(dtype).min where masked. [B,1,T,T]."""
    B = attention_mask.shape[0]
    min_dtype = torch.finfo(dtype).min
    causal = torch.full((T, T), min_dtype, dtype=dtype)
    causal = torch.triu(causal, diagonal=1)
    causal = causal[None, None, :, :].expand(B, 1, -1, -1).clone()
    padding = causal + attention_mask[:, None, None, :].to(dtype)
    padding = padding == 0
    causal = causal.masked_fill(padding, min_dtype)
    return causal


# --------------------------------------------------------------------------- modules

class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(_wide(input_dtype))
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class GemmaRMSNorm(nn.Module):
    """(1 + w) form, computed in float32 (float64 in wide mode) and cast back at the end."""

    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(size))
        self.eps = eps

    def forward(self, x):
        h = x.to(_wide(x.dtype))
        out = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        out = out * (1.0 + self.weight.to(h.dtype))
        return out.type_as(x)


def make_norm(cfg, size):
    return (GemmaRMSNorm if is_gemma(cfg) else RMSNorm)(size, cfg["rms_norm_eps"])


def sliding_mask(mask, window):
    """The additive mask with keys window or more positions back also hidden."""
    T = mask.shape[-1]
    far = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-window)
    return mask.masked_fill(far, torch.finfo(mask.dtype).min)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.head_dim = head_dim_of(cfg)
        self.num_heads = cfg["num_attention_heads"]
        self.num_kv_heads = num_kv_heads_of(cfg)
        self.num_key_value_groups = self.num_heads // self.num_kv_heads
        self.scaling = self.head_dim ** -0.5
        self.softcap = None
        if is_gemma(cfg):
            self.scaling = gemma_field(cfg, "query_pre_attn_scalar") ** -0.5
            self.softcap = gemma_field(cfg, "attn_logit_softcapping")
        hs = cfg["hidden_size"]
        qkv_b, o_b = qkv_bias_of(cfg), o_bias_of(cfg)
        # registration order == HF's (q, k, v, o, [q_norm, k_norm]) so named_parameters() order matches
        self.q_proj = nn.Linear(hs, self.num_heads * self.head_dim, bias=qkv_b)
        self.k_proj = nn.Linear(hs, self.num_kv_heads * self.head_dim, bias=qkv_b)
        self.v_proj = nn.Linear(hs, self.num_kv_heads * self.head_dim, bias=qkv_b)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, hs, bias=o_b)
        if has_qk_norm(cfg):
            self.q_norm = make_norm(cfg, self.head_dim)
            self.k_norm = make_norm(cfg, self.head_dim)

    def forward(self, hidden_states, cos, sin, mask):
        B, T, _ = hidden_states.shape
        q = self.q_proj(hidden_states).view(B, T, -1, self.head_dim)
        k = self.k_proj(hidden_states).view(B, T, -1, self.head_dim)
        v = self.v_proj(hidden_states).view(B, T, -1, self.head_dim)
        if has_qk_norm(self.cfg):
            q = self.q_norm(q)
            k = self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k = repeat_kv(k, self.num_key_value_groups)
        v = repeat_kv(v, self.num_key_value_groups)
        attn = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        if self.softcap is not None:
            attn = torch.tanh(attn / self.softcap) * self.softcap
        attn = attn + mask[:, :, :, : k.shape[-2]]
        attn = F.softmax(attn, dim=-1, dtype=_wide(q.dtype)).to(q.dtype)
        out = torch.matmul(attn, v)
        out = out.transpose(1, 2).contiguous().reshape(B, T, -1)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hs, inter = cfg["hidden_size"], cfg["intermediate_size"]
        b = mlp_bias_of(cfg)
        if is_gemma(cfg):
            assert cfg.get("hidden_activation", "gelu_pytorch_tanh") == "gelu_pytorch_tanh"
            self.act = lambda x: F.gelu(x, approximate="tanh")
        else:
            assert cfg.get("hidden_act", "silu") == "silu"
            self.act = F.silu
        self.gate_proj = nn.Linear(hs, inter, bias=b)
        self.up_proj = nn.Linear(hs, inter, bias=b)
        self.down_proj = nn.Linear(inter, hs, bias=b)

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg, sliding=False):
        super().__init__()
        self.gemma = is_gemma(cfg)
        self.sliding = sliding
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = make_norm(cfg, cfg["hidden_size"])
        self.post_attention_layernorm = make_norm(cfg, cfg["hidden_size"])
        if self.gemma:
            self.pre_feedforward_layernorm = make_norm(cfg, cfg["hidden_size"])
            self.post_feedforward_layernorm = make_norm(cfg, cfg["hidden_size"])

    def forward(self, h, cos, sin, mask):
        if self.gemma:
            residual = h
            h = self.post_attention_layernorm(self.self_attn(self.input_layernorm(h), cos, sin, mask))
            h = residual + h
            residual = h
            h = self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))
            return residual + h
        residual = h
        h = self.input_layernorm(h)
        h = self.self_attn(h, cos, sin, mask)
        h = residual + h
        residual = h
        h = self.post_attention_layernorm(h)
        h = self.mlp(h)
        return residual + h


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"], cfg.get("pad_token_id"))
        self.layers = nn.ModuleList([DecoderLayer(cfg, t == "sliding_attention") for t in layer_types_of(cfg)])
        self.norm = make_norm(cfg, cfg["hidden_size"])


class ReferenceModel(nn.Module):
    """HF *ForCausalLM equivalent; named_parameters() yields HF names in HF order."""

    def __init__(self, cfg):
        super().__init__()
        if cfg["model_type"] not in ARCHITECTURES:
            raise ValueError("unsupported model_type " + str(cfg["model_type"]))
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.tied = bool(cfg.get("tie_word_embeddings", is_gemma(cfg)))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def lm_head_weight(self):
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def forward(self, input_ids, attention_mask=None, labels=None):
        """Returns (logits [B,T,V] in the model dtype, loss or None)."""
        B, T = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        h = self.model.embed_tokens(input_ids)
        dtype = h.dtype
        if is_gemma(self.cfg):
            h = h * torch.tensor(self.cfg["hidden_size"] ** 0.5, dtype=dtype)
        position_ids = torch.arange(T, dtype=torch.int64)[None, :].expand(B, T)
        cos, sin = rotary_cos_sin(self.cfg, position_ids, dtype)
        local_cos, local_sin = rotary_cos_sin(local_rope_cfg(self.cfg), position_ids, dtype)
        mask = build_additive_mask(attention_mask, T, dtype)
        local_mask = sliding_mask(mask, gemma_field(self.cfg, "sliding_window")) if is_gemma(self.cfg) else mask
        for layer in self.model.layers:
            if layer.sliding:
                h = layer(h, local_cos, local_sin, local_mask)
            else:
                h = layer(h, cos, sin, mask)
        h = self.model.norm(h)
        logits = F.linear(h, self.lm_head_weight())
        cap = gemma_field(self.cfg, "final_logit_softcapping") if is_gemma(self.cfg) else None
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        loss = None if labels is None else causal_lm_loss(logits, labels)
        return logits, loss


def causal_lm_loss(logits, labels, ignore_index=-100):
    logits = logits.to(_wide(logits.dtype))  # HF: logits.float()
    shift_logits = logits[:, :-1, :].contiguous().view(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].contiguous().view(-1)
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=ignore_index, reduction="mean")


def labels_from(input_ids, attention_mask):
    return input_ids.masked_fill(attention_mask == 0, -100)


def state_dict_hf(model):
    """Checkpoint tensors under HF names (tied: no lm_head.weight)."""
    return OrderedDict((n, p.detach()) for n, p in model.named_parameters())


def load_hf_state(model, tensors):
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(tensors[n].to(p.dtype))


# --------------------------------------------------------------------------- safetensors

_ST_DTYPES = OrderedDict([
    ("F64", torch.float64), ("F32", torch.float32), ("F16", torch.float16), ("BF16", torch.bfloat16),
    ("I64", torch.int64), ("I32", torch.int32), ("I16", torch.int16), ("I8", torch.int8),
    ("U8", torch.uint8), ("BOOL", torch.bool),
])
_ST_NAMES = {v: k for k, v in _ST_DTYPES.items()}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    data = t.numpy().tobytes()
    import sys
    if sys.byteorder != "little":
        raise RuntimeError("big-endian host not supported")
    return data


def save_safetensors(tensors, path, metadata=None):
    """tensors: mapping name -> torch.Tensor. Data laid out in sorted-name order."""
    names = sorted(tensors)
    header = OrderedDict()
    blobs = []
    offset = 0
    for n in names:
        t = tensors[n]
        b = _tensor_bytes(t)
        header[n] = OrderedDict([("dtype", _ST_NAMES[t.dtype]), ("shape", list(t.shape)),
                                 ("data_offsets", [offset, offset + len(b)])])
        blobs.append(b)
        offset += len(b)
    meta = OrderedDict([("format", "pt")])
    if metadata:
        meta.update(metadata)
    full = OrderedDict([("__metadata__", meta)])
    full.update(header)
    hjson = json.dumps(full, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Returns OrderedDict name -> tensor (header order), and metadata dict."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    base = 8 + n
    meta = header.pop("__metadata__", {})
    out = OrderedDict()
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = _ST_DTYPES[info["dtype"]]
        buf = bytearray(raw[base + b: base + e])
        if len(buf) == 0:
            t = torch.empty(info["shape"], dtype=dt)
        else:
            t = torch.frombuffer(buf, dtype=dt).reshape(info["shape"])
        out[name] = t
    return out, meta


# --------------------------------------------------------------------------- checkpoint folder

def make_config(model_type, vocab_size, hidden_size, intermediate_size, num_hidden_layers,
                num_attention_heads, num_key_value_heads, head_dim=None, rms_norm_eps=1e-6,
                rope_theta=10000.0, rope_scaling=None, max_position_embeddings=64,
                tie_word_embeddings=False, attention_bias=False, torch_dtype="float32",
                bos_token_id=1, eos_token_id=2, include_head_dim=True, include_attention_bias=True, gemma=None):
    """gemma: Gemma fields (query_pre_attn_scalar, soft-capping, sliding_window, layer_types, ...), written after
    the common ones; hidden_activation replaces hidden_act."""
    cfg = OrderedDict()
    cfg["architectures"] = [ARCHITECTURES[model_type]]
    cfg["model_type"] = model_type
    cfg["vocab_size"] = vocab_size
    cfg["hidden_size"] = hidden_size
    cfg["intermediate_size"] = intermediate_size
    cfg["num_hidden_layers"] = num_hidden_layers
    cfg["num_attention_heads"] = num_attention_heads
    cfg["num_key_value_heads"] = num_key_value_heads
    if include_head_dim:
        cfg["head_dim"] = head_dim if head_dim is not None else hidden_size // num_attention_heads
    if model_type in GEMMA_DEFAULTS:
        cfg["hidden_activation"] = "gelu_pytorch_tanh"
    else:
        cfg["hidden_act"] = "silu"
    cfg["rms_norm_eps"] = rms_norm_eps
    cfg["rope_theta"] = rope_theta
    cfg["rope_scaling"] = rope_scaling
    cfg["max_position_embeddings"] = max_position_embeddings
    cfg["tie_word_embeddings"] = tie_word_embeddings
    if include_attention_bias:
        cfg["attention_bias"] = attention_bias
    if model_type == "llama":
        cfg["mlp_bias"] = False
    if model_type == "qwen2":
        cfg["use_sliding_window"] = False
        cfg["sliding_window"] = None
        cfg["max_window_layers"] = num_hidden_layers
    for k, v in (gemma or {}).items():
        cfg[k] = v
    cfg["attention_dropout"] = 0.0
    cfg["bos_token_id"] = bos_token_id
    cfg["eos_token_id"] = eos_token_id
    cfg["torch_dtype"] = torch_dtype
    return cfg


_DTYPE_BY_NAME = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def write_hf_checkpoint(model, cfg, folder):
    """config.json + model.safetensors; weights stored in cfg['torch_dtype']."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    dt = _DTYPE_BY_NAME[cfg.get("torch_dtype", "float32")]
    tensors = OrderedDict((n, t.to(dt)) for n, t in state_dict_hf(model).items())
    save_safetensors(tensors, os.path.join(folder, "model.safetensors"))


def load_hf_checkpoint(folder, dtype=torch.float32):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f, object_pairs_hook=OrderedDict)
    tensors, _ = load_safetensors(os.path.join(folder, "model.safetensors"))
    model = ReferenceModel(cfg).to(dtype)
    load_hf_state(model, tensors)
    return model, cfg
