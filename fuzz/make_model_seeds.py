#!/usr/bin/python3
"""Writes seed inputs for the model-loader fuzzers into fuzz/seeds/{safetensors,llama2c,gguf,imatrix}/:
a safetensors file matching safetensors_fuzz's fixed tiny Llama config, a llama2.c checkpoint of
the same shape, (with the sllm binary) that model exported as GGUF in F32 and Q8_0, and a small
importance matrix in llama.cpp's legacy and GGUF forms.

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


IMATRIX = {"blk.0.attn_q.weight": ([0.5, 1.0, 2.0, 0.25], 8.0), "blk.0.ffn_down.weight": ([3.0, 1.0], 8.0)}


def write_imatrix_dat(path):
    """llama.cpp's legacy imatrix.dat: entries of (name, ncall, values = mean * ncall), then the
    chunk count and the dataset's name."""
    w = struct.pack("<i", len(IMATRIX))
    for name, (sums, count) in IMATRIX.items():
        w += struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", 2, len(sums))
        w += struct.pack(f"<{len(sums)}f", *[s / count * 2 for s in sums])
    w += struct.pack("<ii", 2, 4) + b"text"
    with open(path, "wb") as f:
        f.write(w)


def write_imatrix_gguf(path):
    """llama.cpp's GGUF imatrix: <name>.in_sum2 [n, 1] and <name>.counts [1, 1], F32."""
    def s(x):
        return struct.pack("<Q", len(x)) + x.encode()
    kv = [(s("general.type"), struct.pack("<I", 8) + s("imatrix")),
          (s("imatrix.chunk_count"), struct.pack("<I", 4) + struct.pack("<I", 2)),
          (s("imatrix.chunk_size"), struct.pack("<I", 4) + struct.pack("<I", 4)),
          (s("imatrix.datasets"), struct.pack("<II", 9, 8) + struct.pack("<Q", 1) + s("text"))]
    tensors, data = [], b""
    for name, (sums, count) in IMATRIX.items():
        for suffix, dims, values in ((".in_sum2", [len(sums), 1], sums), (".counts", [1, 1], [count])):
            tensors.append(s(name + suffix) + struct.pack("<I", 2) + struct.pack("<QQ", *dims) +
                           struct.pack("<IQ", 0, len(data)))
            data += struct.pack(f"<{len(values)}f", *values)
            data += b"\0" * (-len(data) % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    head += b"".join(k + v for k, v in kv) + b"".join(tensors)
    head += b"\0" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + data)


def main():
    sllm = sys.argv[1] if len(sys.argv) > 1 else "build/sllm"
    os.makedirs(f"{HERE}/seeds/imatrix", exist_ok=True)
    write_imatrix_dat(f"{HERE}/seeds/imatrix/tiny.dat")
    write_imatrix_gguf(f"{HERE}/seeds/imatrix/tiny.gguf")
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
