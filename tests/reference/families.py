#!/usr/bin/python3
"""PyTorch float64 reference for the open model families, written independently of sllm.

For each family it writes OUT_DIR/<family>/: a tiny Hugging Face checkpoint (config.json with the
real model's fields, layers cut to 2-3 and widths shrunk; safetensors in the family's tensor
names) and expected.safetensors (tokens I32 [T], logits F32 [T, V] at every position). The
forward follows transformers' modeling code for each model_type, from the published
descriptions:
  llama (Llama-3.2-1B, SmolLM2-135M): RMSNorm, rotate-half RoPE, GQA, SwiGLU; rope_scaling
      "llama3" (factor, low/high_freq_factor, original_max_position_embeddings).
  qwen2 (Qwen2.5-0.5B): llama + q/k/v biases.   qwen3 (Qwen3-0.6B): qk-norm, explicit head_dim.
  mistral (Mistral-7B-v0.1): llama + sliding window.
  phi3 (Phi-3-mini-4k): fused qkv_proj and gate_up_proj, sliding window.
  gemma2 (Gemma-2-2B): embeddings * sqrt(hidden), RMSNorm x*(1+w), sandwich norms, gelu_tanh
      gated MLP, attention and final-logit softcaps, query_pre_attn_scalar, even layers sliding.
  gemma3_text (Gemma-3-1B): gemma2's block without softcaps, plus (1+w) qk-norm, layer_types,
      rope_local_base_freq on sliding layers, rope_scaling (linear) on global layers only.
A sliding window W lets query i see keys j with i - W < j <= i (transformers' masking_utils
and llama.cpp's is_masked_swa agree). Every tiny config shrinks the window below the test
length, and the script checks that each feature it names changes the logits (so a test that
ignored it would fail).

For the training model it also writes the loss and every parameter's gradient: expected.safetensors
gains targets I32 [T] (the next token; the last position -1, ignored) and loss F64 [1] (the mean
cross-entropy over the other positions), and OUT_DIR/<family>/grads/ is a checkpoint of the
same config whose tensors are d(loss)/d(parameter) in F32 under the same names, so the loaders'
name mapping (and q/k row permutation, fused-tensor splits) applies to the gradients too.

It also writes OUT_DIR/<family>.gguf the way llama.cpp's convert_hf_to_gguf.py converts
the checkpoint (F32 tensors, no vocabulary): its architecture names, tensor names and metadata
keys; Llama's q/k rows permuted to interleaved pairs; llama3 rope_scaling as rope_freqs.weight;
Gemma's norm weights stored as 1 + w; Phi-3's fused tensors kept fused. Mistral is left out
(llama.cpp converts it as llama, without its window).

usage: /usr/bin/python3 tests/reference/families.py OUT_DIR
"""
import json
import math
import os
import struct
import sys

import torch

T = 48  # Test sequence length: past every tiny window.

# The real configs' fields (model_type, heads, KV heads, head_dim, rope, window pattern, eps,
# tying), widths and layer counts shrunk. Comments give the real values that changed.
FAMILIES = {
    "llama3": dict(  # meta-llama/Llama-3.2-1B
        architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=256,  # 128256
        hidden_size=256, intermediate_size=384,  # 2048, 8192
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,  # 16, 32, 8
        head_dim=64, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling=dict(factor=32.0, high_freq_factor=4.0, low_freq_factor=1.0,
                          original_max_position_embeddings=8192, rope_type="llama3"),
        hidden_act="silu", attention_bias=False, mlp_bias=False, tie_word_embeddings=True,
        bos_token_id=128000, eos_token_id=128001, torch_dtype="bfloat16"),
    "smollm2": dict(  # HuggingFaceTB/SmolLM2-135M
        architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=256,  # 49152
        hidden_size=192, intermediate_size=256,  # 576, 1536
        num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1,  # 30, 9, 3
        max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0, rope_scaling=None,
        hidden_act="silu", attention_bias=False, mlp_bias=False, tie_word_embeddings=True,
        torch_dtype="bfloat16"),
    "qwen25": dict(  # Qwen/Qwen2.5-0.5B
        architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=256,  # 151936
        hidden_size=448, intermediate_size=256,  # 896, 4864
        num_hidden_layers=2, num_attention_heads=7, num_key_value_heads=1,  # 24, 14, 2
        max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
        sliding_window=32768, use_sliding_window=False, max_window_layers=24, hidden_act="silu",
        tie_word_embeddings=True, torch_dtype="bfloat16"),
    "qwen3": dict(  # Qwen/Qwen3-0.6B
        architectures=["Qwen3ForCausalLM"], model_type="qwen3", vocab_size=256,  # 151936
        hidden_size=128, intermediate_size=192,  # 1024, 3072
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,  # 28, 16, 8
        head_dim=128, max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
        rope_scaling=None, attention_bias=False, sliding_window=None, use_sliding_window=False,
        max_window_layers=28, hidden_act="silu", tie_word_embeddings=True, torch_dtype="bfloat16"),
    "gemma2": dict(  # google/gemma-2-2b
        architectures=["Gemma2ForCausalLM"], model_type="gemma2", vocab_size=256,  # 256000
        hidden_size=128, intermediate_size=256,  # 2304, 9216
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,  # 26, 8, 4
        head_dim=256, query_pre_attn_scalar=144,  # 256 (144 is Gemma-2-27B's: != head_dim)
        max_position_embeddings=8192, rms_norm_eps=1e-6, rope_theta=10000.0,
        sliding_window=16,  # 4096
        attn_logit_softcapping=50.0, final_logit_softcapping=30.0, hidden_act="gelu_pytorch_tanh",
        hidden_activation="gelu_pytorch_tanh", attention_bias=False, tie_word_embeddings=True,
        torch_dtype="float32"),
    "gemma3": dict(  # google/gemma-3-1b-pt (text); rope_scaling from gemma-3-4b's text config
        architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", vocab_size=256,  # 262144
        hidden_size=96, intermediate_size=192,  # 1152, 6912
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1,  # 26, 4, 1
        head_dim=256, query_pre_attn_scalar=256, max_position_embeddings=32768,
        rms_norm_eps=1e-6, rope_theta=1000000.0, rope_local_base_freq=10000.0,
        rope_scaling=dict(factor=8.0, rope_type="linear"),  # 1B: null; 4B: linear 8
        sliding_window=12,  # 512
        sliding_window_pattern=3,  # 6: five local layers, then a global one
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        attn_logit_softcapping=None, final_logit_softcapping=None,
        hidden_activation="gelu_pytorch_tanh", attention_bias=False, tie_word_embeddings=True,
        torch_dtype="bfloat16"),
    "phi3": dict(  # microsoft/Phi-3-mini-4k-instruct
        architectures=["Phi3ForCausalLM"], model_type="phi3", vocab_size=256,  # 32064
        hidden_size=384, intermediate_size=256,  # 3072, 8192
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,  # 32, 32, 32
        max_position_embeddings=4096, original_max_position_embeddings=4096, rms_norm_eps=1e-5,
        rope_theta=10000.0, rope_scaling=None, sliding_window=15,  # 2047
        hidden_act="silu", attention_bias=False, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=32000, torch_dtype="bfloat16"),
    "mistral": dict(  # mistralai/Mistral-7B-v0.1
        architectures=["MistralForCausalLM"], model_type="mistral", vocab_size=256,  # 32000
        hidden_size=512, intermediate_size=256,  # 4096, 14336
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,  # 32, 32, 8
        max_position_embeddings=32768, rms_norm_eps=1e-5, rope_theta=10000.0,
        sliding_window=16,  # 4096
        hidden_act="silu", tie_word_embeddings=False, torch_dtype="bfloat16"),
}
# The dtype each checkpoint stores, so the loader's conversions are covered; and the
# families written as two shards with model.safetensors.index.json.
STORE = {"llama3": torch.bfloat16, "qwen25": torch.float16, "qwen3": torch.float16,
         "gemma3": torch.bfloat16, "phi3": torch.bfloat16, "mistral": torch.bfloat16}
SHARDED = {"mistral", "gemma3"}
# Features whose removal must change the logits (the script checks that each matters).
SENSITIVE = {
    "llama3": ["rope_scaling"], "qwen25": ["bias"], "qwen3": ["qk_norm"],
    "gemma2": ["embed_scale", "unit_offset", "post_norms", "softcap", "final_softcap",
               "query_pre_attn_scalar", "sliding_window"],
    "gemma3": ["qk_norm", "sliding_window", "local_rope", "rope_scaling"],
    "phi3": ["sliding_window"], "mistral": ["sliding_window"],
}


def head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def is_gemma(c):
    return c["model_type"] in ("gemma2", "gemma3_text")


def layer_is_sliding(c, i):
    t = c["model_type"]
    if t == "gemma2":
        return i % 2 == 0
    if t == "gemma3_text":
        if "layer_types" in c:
            return c["layer_types"][i] == "sliding_attention"
        return (i + 1) % c["sliding_window_pattern"] != 0
    if t in ("mistral", "phi3"):
        return c.get("sliding_window") is not None
    if t in ("qwen2", "qwen3"):
        return c.get("use_sliding_window", False) and i >= c.get("max_window_layers", 0)
    return False


def make_params(c, g):
    C, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H, KVH, hd = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    t = c["model_type"]
    gemma = is_gemma(c)

    def mat(o, i, gain=1.0):
        return torch.randn(o, i, generator=g) * (gain / math.sqrt(i))

    def norm_w(n):  # Gemma stores w of x * (1 + w): around 0; the others around 1.
        return (0.0 if gemma else 1.0) + 0.2 * torch.randn(n, generator=g)

    # Embedding scales that keep the logits O(10) (tied heads reuse the embedding).
    p = {"model.embed_tokens.weight": torch.randn(V, C, generator=g) * (0.2 if gemma else 2 / math.sqrt(C))}
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        p[L + "input_layernorm.weight"] = norm_w(C)
        # Larger q/k for Gemma 2, whose attention softcap must bite.
        qk = 2.5 if t == "gemma2" else 1.5
        q, k, v = mat(H * hd, C, qk), mat(KVH * hd, C, qk), mat(KVH * hd, C)
        if t == "phi3":
            p[L + "self_attn.qkv_proj.weight"] = torch.cat([q, k, v])
        else:
            p[L + "self_attn.q_proj.weight"] = q
            p[L + "self_attn.k_proj.weight"] = k
            p[L + "self_attn.v_proj.weight"] = v
        if t == "qwen2":
            for n, rows in (("q", H * hd), ("k", KVH * hd), ("v", KVH * hd)):
                p[L + f"self_attn.{n}_proj.bias"] = 0.5 * torch.randn(rows, generator=g)
        if t in ("qwen3", "gemma3_text"):
            p[L + "self_attn.q_norm.weight"] = norm_w(hd)
            p[L + "self_attn.k_norm.weight"] = norm_w(hd)
        p[L + "self_attn.o_proj.weight"] = mat(C, H * hd)
        p[L + "post_attention_layernorm.weight"] = norm_w(C)
        if gemma:
            p[L + "pre_feedforward_layernorm.weight"] = norm_w(C)
            p[L + "post_feedforward_layernorm.weight"] = norm_w(C)
        gate, up = mat(F, C), mat(F, C)
        if t == "phi3":
            p[L + "mlp.gate_up_proj.weight"] = torch.cat([gate, up])
        else:
            p[L + "mlp.gate_proj.weight"] = gate
            p[L + "mlp.up_proj.weight"] = up
        p[L + "mlp.down_proj.weight"] = mat(C, F)
    p["model.norm.weight"] = norm_w(C)
    if not c["tie_word_embeddings"]:
        p["lm_head.weight"] = mat(V, C, 2.0)
    return p


def rms_norm(x, w, eps, unit_offset):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * (1.0 + w) if unit_offset else y * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def inv_freq(hd, theta, scaling, off):
    f = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    if not scaling or "rope_scaling" in off:
        return f
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return f / scaling["factor"]
    if kind == "llama3":  # transformers' _compute_llama3_parameters
        factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / f
        g = torch.where(wavelen > low_wavelen, f / factor, f)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * g / factor + smooth * g
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, g)
    raise ValueError(f"rope_scaling {kind}")


def forward(c, P, tokens, off=()):
    """Logits [T, V] in float64; `off` names features to drop (the sensitivity check)."""
    P = {k: v.double() for k, v in P.items()}
    t = c["model_type"]
    gemma = is_gemma(c)
    C, H, KVH, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    eps = c["rms_norm_eps"]
    unit = gemma and "unit_offset" not in off
    n = len(tokens)
    pos = torch.arange(n, dtype=torch.float64)

    def rope_tables(theta, scaling):
        fr = torch.outer(pos, inv_freq(hd, theta, scaling, off))
        emb = torch.cat((fr, fr), dim=-1)
        return emb.cos(), emb.sin()

    global_rope = rope_tables(c["rope_theta"], c.get("rope_scaling"))
    local_rope = global_rope
    if t == "gemma3_text" and "local_rope" not in off:
        local_rope = rope_tables(c["rope_local_base_freq"], None)
    if gemma and "query_pre_attn_scalar" not in off:
        scale = c["query_pre_attn_scalar"] ** -0.5
    else:
        scale = hd ** -0.5
    softcap = c.get("attn_logit_softcapping") if "softcap" not in off else None
    final_softcap = c.get("final_logit_softcapping") if "final_softcap" not in off else None

    x = P["model.embed_tokens.weight"][torch.tensor(tokens)]
    if gemma and "embed_scale" not in off:
        x = x * torch.tensor(C ** 0.5, dtype=torch.float64)
    i_idx, j_idx = torch.arange(n).view(-1, 1), torch.arange(n).view(1, -1)
    causal = j_idx <= i_idx
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        sliding = layer_is_sliding(c, i) and "sliding_window" not in off
        h = rms_norm(x, P[L + "input_layernorm.weight"], eps, unit)
        if t == "phi3":
            qkv = h @ P[L + "self_attn.qkv_proj.weight"].T
            q, k, v = qkv.split([H * hd, KVH * hd, KVH * hd], dim=-1)
        else:
            q = h @ P[L + "self_attn.q_proj.weight"].T
            k = h @ P[L + "self_attn.k_proj.weight"].T
            v = h @ P[L + "self_attn.v_proj.weight"].T
            if t == "qwen2" and "bias" not in off:
                q = q + P[L + "self_attn.q_proj.bias"]
                k = k + P[L + "self_attn.k_proj.bias"]
                v = v + P[L + "self_attn.v_proj.bias"]
        q = q.view(n, H, hd).transpose(0, 1)
        k = k.view(n, KVH, hd).transpose(0, 1)
        v = v.view(n, KVH, hd).transpose(0, 1)
        if t in ("qwen3", "gemma3_text") and "qk_norm" not in off:
            q = rms_norm(q, P[L + "self_attn.q_norm.weight"], eps, unit)
            k = rms_norm(k, P[L + "self_attn.k_norm.weight"], eps, unit)
        cos, sin = local_rope if layer_is_sliding(c, i) else global_rope
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=0)
        v = v.repeat_interleave(H // KVH, dim=0)
        s = (q @ k.transpose(1, 2)) * scale
        if softcap:
            s = torch.tanh(s / softcap) * softcap
        allowed = causal
        if sliding:
            allowed = causal & (j_idx > i_idx - c["sliding_window"])
        s = s.masked_fill(~allowed, float("-inf"))
        o = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(n, H * hd)
        a = o @ P[L + "self_attn.o_proj.weight"].T
        if gemma:
            if "post_norms" not in off:
                a = rms_norm(a, P[L + "post_attention_layernorm.weight"], eps, unit)
            x = x + a
            h = rms_norm(x, P[L + "pre_feedforward_layernorm.weight"], eps, unit)
        else:
            x = x + a
            h = rms_norm(x, P[L + "post_attention_layernorm.weight"], eps, unit)
        if t == "phi3":
            gate, up = (h @ P[L + "mlp.gate_up_proj.weight"].T).chunk(2, dim=-1)
        else:
            gate, up = h @ P[L + "mlp.gate_proj.weight"].T, h @ P[L + "mlp.up_proj.weight"].T
        if gemma:
            m = torch.nn.functional.gelu(gate, approximate="tanh") * up
        else:
            m = torch.nn.functional.silu(gate) * up
        d = m @ P[L + "mlp.down_proj.weight"].T
        if gemma and "post_norms" not in off:
            d = rms_norm(d, P[L + "post_feedforward_layernorm.weight"], eps, unit)
        x = x + d
    x = rms_norm(x, P["model.norm.weight"], eps, unit)
    head = P["lm_head.weight"] if "lm_head.weight" in P else P["model.embed_tokens.weight"]
    logits = x @ head.T
    if final_softcap:
        logits = torch.tanh(logits / final_softcap) * final_softcap
    return logits


DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
          torch.float64: "F64"}


def tensor_bytes(t):
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    return t.contiguous().numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = dict(dtype=DTYPES[t.dtype], shape=list(t.shape),
                            data_offsets=[off, off + len(b)])
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


GGUF_ARCH = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2",
             "gemma3_text": "gemma3", "phi3": "phi3"}
GGUF_LAYER = [("input_layernorm", "attn_norm"), ("self_attn.q_proj", "attn_q"),
              ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
              ("self_attn.qkv_proj", "attn_qkv"), ("self_attn.o_proj", "attn_output"),
              ("self_attn.q_norm", "attn_q_norm"), ("self_attn.k_norm", "attn_k_norm"),
              ("pre_feedforward_layernorm", "ffn_norm"),
              ("post_feedforward_layernorm", "post_ffw_norm"), ("mlp.gate_proj", "ffn_gate"),
              ("mlp.up_proj", "ffn_up"), ("mlp.gate_up_proj", "ffn_up"),
              ("mlp.down_proj", "ffn_down")]


def llama3_rope_factors(c):
    """convert_hf_to_gguf's rope_freqs for rope_type llama3: a divisor per rotated pair."""
    s, hd = c["rope_scaling"], head_dim(c)
    factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old = s["original_max_position_embeddings"]
    out = []
    for f in (1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))).tolist():
        wavelen = 2 * math.pi / f
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32)


def gguf_tensors(c, params):
    t = c["model_type"]
    H, KVH = c["num_attention_heads"], c["num_key_value_heads"]

    def permute(w, heads):  # HF rotate-half rows -> interleaved pairs (LlamaModel.permute)
        return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    out = {}
    for name, w in params.items():
        w = w.float()
        if name == "model.embed_tokens.weight":
            key = "token_embd.weight"
        elif name == "model.norm.weight":
            key = "output_norm.weight"
        elif name == "lm_head.weight":
            key = "output.weight"
        else:
            i, rest = name[len("model.layers."):].split(".", 1)
            base, suffix = rest.rsplit(".", 1)
            table = dict(GGUF_LAYER)
            if t in ("gemma2", "gemma3_text"):
                table["post_attention_layernorm"] = "post_attention_norm"
            else:
                table["post_attention_layernorm"] = "ffn_norm"
            key = f"blk.{i}.{table[base]}.{suffix}"
            if t == "llama" and base == "self_attn.q_proj":
                w = permute(w, H)
            if t == "llama" and base == "self_attn.k_proj":
                w = permute(w, KVH)
        if t in ("gemma2", "gemma3_text") and name.endswith("norm.weight"):
            w = w + 1
        out[key] = w
    if t == "llama" and c.get("rope_scaling"):
        out["rope_freqs.weight"] = llama3_rope_factors(c)
    return out


def gguf_metadata(c):
    a = GGUF_ARCH[c["model_type"]]
    m = {"general.architecture": a, f"{a}.context_length": c["max_position_embeddings"],
         f"{a}.embedding_length": c["hidden_size"], f"{a}.block_count": c["num_hidden_layers"],
         f"{a}.feed_forward_length": c["intermediate_size"],
         f"{a}.attention.head_count": c["num_attention_heads"],
         f"{a}.attention.head_count_kv": c["num_key_value_heads"],
         f"{a}.attention.layer_norm_rms_epsilon": float(c["rms_norm_eps"]),
         f"{a}.rope.freq_base": float(c["rope_theta"]),
         f"{a}.rope.dimension_count": head_dim(c),
         f"{a}.attention.key_length": head_dim(c), f"{a}.attention.value_length": head_dim(c)}
    if c["model_type"] in ("gemma2", "gemma3_text", "phi3"):
        m[f"{a}.attention.sliding_window"] = c["sliding_window"]
    if c["model_type"] == "gemma2":
        m[f"{a}.attn_logit_softcapping"] = float(c["attn_logit_softcapping"])
        m[f"{a}.final_logit_softcapping"] = float(c["final_logit_softcapping"])
        # The tiny config's query_pre_attn_scalar is not head_dim: llama.cpp's attention.scale.
        m[f"{a}.attention.scale"] = float(c["query_pre_attn_scalar"]) ** -0.5
    if c["model_type"] == "gemma3_text":
        m[f"{a}.attention.sliding_window_pattern"] = c["sliding_window_pattern"]
        m[f"{a}.rope.scaling.type"] = c["rope_scaling"]["rope_type"]
        m[f"{a}.rope.scaling.factor"] = float(c["rope_scaling"]["factor"])
    return m


def write_gguf(path, metadata, tensors):
    """GGUF v3: header, metadata, tensor infos (ggml dims: innermost first), 32-byte aligned
    F32 data."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    def value(v):
        if isinstance(v, str):
            return struct.pack("<I", 8) + s(v)
        if isinstance(v, float):
            return struct.pack("<If", 6, v)
        return struct.pack("<II", 4, v)

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for k, v in metadata.items():
        head += s(k) + value(v)
    blobs, off = [], 0
    for name, t in tensors.items():
        b = t.contiguous().numpy().astype("<f4").tobytes()
        dims = list(reversed(t.shape))
        head += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", 0, off)
        pad = (32 - len(b) % 32) % 32
        blobs.append(b + b"\0" * pad)
        off += len(b) + pad
    head += b"\0" * ((32 - len(head) % 32) % 32)
    with open(path, "wb") as f:
        f.write(head + b"".join(blobs))


def write_family(out, name, c, seed):
    g = torch.Generator().manual_seed(seed)
    store = STORE.get(name, torch.float32)
    # The checkpoint holds the stored dtype; the reference runs on exactly those values.
    params = {k: v.to(store) for k, v in make_params(c, g).items()}
    tokens = torch.randint(0, c["vocab_size"], (T,), generator=g).tolist()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    if name in SHARDED:
        keys = list(params)
        shards = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
        index = {"metadata": {"total_size": sum(len(tensor_bytes(v)) for v in params.values())},
                 "weight_map": {}}
        for s, ks in enumerate(shards):
            fn = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors(os.path.join(d, fn), {k: params[k] for k in ks})
            for k in ks:
                index["weight_map"][k] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
    else:
        write_safetensors(os.path.join(d, "model.safetensors"), params)
    if c["model_type"] in GGUF_ARCH:
        write_gguf(os.path.join(out, name + ".gguf"), gguf_metadata(c), gguf_tensors(c, params))
    logits = forward(c, params, tokens)
    targets = tokens[1:] + [-1]
    leaves = {k: v.double().requires_grad_() for k, v in params.items()}
    loss = torch.nn.functional.cross_entropy(forward(c, leaves, tokens),
                                             torch.tensor(targets), ignore_index=-1)
    loss.backward()
    gd = os.path.join(d, "grads")
    os.makedirs(gd, exist_ok=True)
    with open(os.path.join(gd, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    write_safetensors(os.path.join(gd, "model.safetensors"),
                      {k: v.grad.float() for k, v in leaves.items()})
    for feature in SENSITIVE.get(name, []):
        diff = (forward(c, params, tokens, off={feature}) - logits).abs().max().item()
        if diff < 1e-2:
            raise SystemExit(f"{name}: dropping {feature} moves the logits by only {diff:.2e}")
    write_safetensors(os.path.join(d, "expected.safetensors"),
                      {"tokens": torch.tensor(tokens, dtype=torch.int32),
                       "logits": logits.float(),
                       "targets": torch.tensor(targets, dtype=torch.int32),
                       "loss": loss.detach().reshape(1)})
    return logits


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    for seed, (name, c) in enumerate(FAMILIES.items()):
        logits = write_family(out, name, c, 1000 + seed)
        print(f"{name}: {c['model_type']} logits max|.| {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
