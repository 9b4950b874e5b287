#!/usr/bin/python3
"""Writes a randomly initialised sllm model directory (config.json + model.safetensors with
sllm's parameter names, N(0, 0.02) matrices) for memory measurements, reusing the tokenizer
file of another model directory. Llama layout, tied embeddings.
usage: make_model.py OUT_DIR TOKENIZER_FILE LAYERS WIDTH HEADS FFN VOCAB BLOCK"""
import json
import os
import shutil
import struct
import sys

import numpy as np

out, tok = sys.argv[1], sys.argv[2]
L, C, H, F, V, T = (int(v) for v in sys.argv[3:9])
os.makedirs(out, exist_ok=True)
cfg = dict(model_type="llama", vocab_size=V, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=H,
           hidden_size=C, intermediate_size=F, max_position_embeddings=T, rms_norm_eps=1e-5, rope_theta=10000.0,
           tie_word_embeddings=True)
names = [("tok_embeddings.weight", (V, C))]
for i in range(L):
    p = f"layers.{i}."
    names += [(p + "attn_norm.weight", (C,)), (p + "attn.q.weight", (C, C)), (p + "attn.k.weight", (C, C)),
              (p + "attn.v.weight", (C, C)), (p + "attn.o.weight", (C, C)), (p + "mlp_norm.weight", (C,)),
              (p + "mlp.gate.weight", (F, C)), (p + "mlp.up.weight", (F, C)), (p + "mlp.down.weight", (C, F))]
names.append(("norm.weight", (C,)))
rng = np.random.default_rng(0)
header, off = {"__metadata__": {"format": "sllm"}}, 0
for n, s in names:
    size = int(np.prod(s)) * 4
    header[n] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + size]}
    off += size
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(f"{out}/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for n, s in names:
        a = np.ones(s, np.float32) if len(s) == 1 else (rng.standard_normal(s, dtype=np.float32) * 0.02)
        f.write(a.tobytes())
json.dump(cfg, open(f"{out}/config.json", "w"), indent=2)
shutil.copy(tok, f"{out}/tokenizer.sllmtok")
print(f"{out}: {sum(int(np.prod(s)) for _, s in names)} parameters")
