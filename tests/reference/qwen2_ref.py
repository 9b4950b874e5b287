#!/usr/bin/python3
"""PyTorch reference for a tiny Hugging Face Qwen2 checkpoint, written independently of sllm.

Writes OUT_DIR/config.json and OUT_DIR/model.safetensors in transformers' Qwen2 layout
(model.layers.N.self_attn.{q,k,v}_proj with biases, rotate-half RoPE, GQA, untied lm_head),
and OUT_DIR/expected_logits.json: the logits of every position of TOKENS, computed in float64
the way transformers' Qwen2ForCausalLM does. sllm must import the folder and match them.

usage: /usr/bin/python3 tests/reference/qwen2_ref.py OUT_DIR
"""
import json
import struct
import sys

import torch

CONFIG = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=64, hidden_size=32,
              intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
              tie_word_embeddings=False, use_sliding_window=False, hidden_act="silu",
              torch_dtype="float32")
TOKENS = [3, 17, 42, 5, 60, 0, 33]


def make_params(g):
    C, F, V = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    hd = C // CONFIG["num_attention_heads"]
    KV = CONFIG["num_key_value_heads"] * hd
    p = {"model.embed_tokens.weight": torch.randn(V, C, generator=g) * 0.5}
    for i in range(CONFIG["num_hidden_layers"]):
        L = f"model.layers.{i}."
        p[L + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        p[L + "self_attn.q_proj.weight"] = torch.randn(C, C, generator=g) * 0.3
        p[L + "self_attn.q_proj.bias"] = torch.randn(C, generator=g) * 0.3
        p[L + "self_attn.k_proj.weight"] = torch.randn(KV, C, generator=g) * 0.3
        p[L + "self_attn.k_proj.bias"] = torch.randn(KV, generator=g) * 0.3
        p[L + "self_attn.v_proj.weight"] = torch.randn(KV, C, generator=g) * 0.3
        p[L + "self_attn.v_proj.bias"] = torch.randn(KV, generator=g) * 0.3
        p[L + "self_attn.o_proj.weight"] = torch.randn(C, C, generator=g) * 0.3
        p[L + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        p[L + "mlp.gate_proj.weight"] = torch.randn(F, C, generator=g) * 0.3
        p[L + "mlp.up_proj.weight"] = torch.randn(F, C, generator=g) * 0.3
        p[L + "mlp.down_proj.weight"] = torch.randn(C, F, generator=g) * 0.3
    p["model.norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    p["lm_head.weight"] = torch.randn(V, C, generator=g) * 0.3
    return {k: v.float() for k, v in p.items()}


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + CONFIG["rms_norm_eps"]) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(p, tokens):
    P = {k: v.double() for k, v in p.items()}
    H, KVH = CONFIG["num_attention_heads"], CONFIG["num_key_value_heads"]
    C = CONFIG["hidden_size"]
    hd = C // H
    T = len(tokens)
    inv_freq = 1.0 / (CONFIG["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x = P["model.embed_tokens.weight"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(CONFIG["num_hidden_layers"]):
        L = f"model.layers.{i}."
        h = rms_norm(x, P[L + "input_layernorm.weight"])
        q = (h @ P[L + "self_attn.q_proj.weight"].T + P[L + "self_attn.q_proj.bias"]).view(T, H, hd).transpose(0, 1)
        k = (h @ P[L + "self_attn.k_proj.weight"].T + P[L + "self_attn.k_proj.bias"]).view(T, KVH, hd).transpose(0, 1)
        v = (h @ P[L + "self_attn.v_proj.weight"].T + P[L + "self_attn.v_proj.bias"]).view(T, KVH, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=0)
        v = v.repeat_interleave(H // KVH, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5 + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + o @ P[L + "self_attn.o_proj.weight"].T
        h = rms_norm(x, P[L + "post_attention_layernorm.weight"])
        g = h @ P[L + "mlp.gate_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * (h @ P[L + "mlp.up_proj.weight"].T)) @ P[L + "mlp.down_proj.weight"].T
    x = rms_norm(x, P["model.norm.weight"])
    return x @ P["lm_head.weight"].T


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = dict(dtype="F32", shape=list(t.shape), data_offsets=[off, off + len(b)])
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    out = sys.argv[1]
    g = torch.Generator().manual_seed(1234)
    params = make_params(g)
    write_safetensors(f"{out}/model.safetensors", params)
    with open(f"{out}/config.json", "w") as f:
        json.dump(CONFIG, f, indent=2)
    logits = forward(params, TOKENS)
    with open(f"{out}/expected_logits.json", "w") as f:
        json.dump(dict(tokens=TOKENS, logits=[[round(v, 7) for v in row] for row in logits.tolist()]), f)


if __name__ == "__main__":
    main()
