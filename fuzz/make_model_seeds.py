#!/usr/bin/python3
"""Writes seed inputs for the model-loader fuzzers into fuzz/seeds/{safetensors,llama2c,gguf}/:
a safetensors file matching safetensors_fuzz's fixed tiny Llama config, a llama2.c checkpoint of
the same shape, and (with the sllm binary) that model exported as GGUF in F32 and Q8_0.

usage: /usr/bin/python3 fuzz/make_model_seeds.py [SLLM_BINARY]   (default build/sllm)
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

C, L, H, F, V, T = 8, 1, 2, 16, 4, 8  # safetensors_fuzz.cpp's config.json
CONFIG = {"model_type": "llama", "hidden_size": C, "num_hidden_layers": L, "num_attention_heads": H,
          "intermediate_size": F, "vocab_size": V, "max_position_embeddings": T}
HERE = os.path.dirname(os.path.abspath(__file__))
rnd = random.Random(5)


def floats(n):
    return [rnd.uniform(-0.5, 0.5) for _ in range(n)]


def hf_tensors():
    t = {"model.embed_tokens.weight": ([V, C], floats(V * C)), "model.norm.weight": ([C], floats(C)),
         "lm_head.weight": ([V, C], floats(V * C))}
    for i in range(L):
        p = f"model.layers.{i}."
        for name, shape in [("input_layernorm.weight", [C]), ("self_attn.q_proj.weight", [C, C]),
                            ("self_attn.k_proj.weight", [C, C]), ("self_attn.v_proj.weight", [C, C]),
                            ("self_attn.o_proj.weight", [C, C]), ("post_attention_layernorm.weight", [C]),
                            ("mlp.gate_proj.weight", [F, C]), ("mlp.up_proj.weight", [F, C]),
                            ("mlp.down_proj.weight", [C, F])]:
            n = 1
            for d in shape:
                n *= d
            t[p + name] = (shape, floats(n))
    return t


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (shape, data) in tensors.items():
        b = struct.pack(f"<{len(data)}f", *data)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_llama2c(path):
    # v0 header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (+: shared), seq_len
    w = struct.pack("<7i", C, F, L, H, H, V, T)
    n = V * C + L * (C + 4 * C * C + C + 3 * F * C) + C + T * (C // H)
    w += struct.pack(f"<{n}f", *floats(n))
    with open(path, "wb") as f:
        f.write(w)


def main():
    sllm = sys.argv[1] if len(sys.argv) > 1 else "build/sllm"
    for d in ("safetensors", "llama2c", "gguf"):
        os.makedirs(f"{HERE}/seeds/{d}", exist_ok=True)
    write_safetensors(f"{HERE}/seeds/safetensors/tiny_llama.safetensors", hf_tensors())
    write_llama2c(f"{HERE}/seeds/llama2c/tiny.bin")
    with tempfile.TemporaryDirectory() as tmp:
        write_safetensors(f"{tmp}/model.safetensors", hf_tensors())
        with open(f"{tmp}/config.json", "w") as f:
            json.dump(CONFIG, f)
        for t in ("f32", "q8_0"):
            subprocess.run([sllm, "export", "-m", tmp, "-o", f"{HERE}/seeds/gguf/tiny_{t}.gguf", "-t", t],
                           check=True)


if __name__ == "__main__":
    main()
