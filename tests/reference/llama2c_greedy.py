"""Independent PyTorch implementation of the llama2.c Llama model (Karpathy's model.py),
reading a llama2.c v0 checkpoint, and greedy generation from BOS without a KV cache.

usage: llama2c_greedy.py CHECKPOINT N_TOKENS  -> prints the N generated token ids, one line.
"""
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack("7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    data = np.frombuffer(raw, dtype=np.float32, offset=28)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = torch.from_numpy(data[off:off + n].copy()).reshape(shape)
        off += n
        return t

    hd = dim // n_heads
    kv = n_kv_heads * hd
    w = {"emb": take(vocab, dim), "rms_att": take(n_layers, dim), "wq": take(n_layers, dim, dim),
         "wk": take(n_layers, kv, dim), "wv": take(n_layers, kv, dim), "wo": take(n_layers, dim, dim),
         "rms_ffn": take(n_layers, dim), "w1": take(n_layers, hidden, dim), "w2": take(n_layers, dim, hidden),
         "w3": take(n_layers, hidden, dim), "rms_final": take(dim)}
    take(seq_len, hd // 2)
    take(seq_len, hd // 2)
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads, seq_len=seq_len, hd=hd)
    return cfg, w


def rmsnorm(x, weight, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x, cos, sin):
    # x: (T, H, hd), rotating interleaved pairs as llama2.c's apply_rotary_emb.
    xr, xi = x.float().reshape(*x.shape[:-1], -1, 2).unbind(-1)
    c, s = cos[:, None, :], sin[:, None, :]
    out_r = xr * c - xi * s
    out_i = xr * s + xi * c
    return torch.stack([out_r, out_i], dim=-1).flatten(2)


def forward(cfg, w, tokens):
    T = len(tokens)
    H, KVH, hd = cfg["n_heads"], cfg["n_kv_heads"], cfg["hd"]
    freqs = 1.0 / (10000.0 ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
    ang = torch.outer(torch.arange(T).float(), freqs)
    cos, sin = torch.cos(ang), torch.sin(ang)
    x = w["emb"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["n_layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = (h @ w["wq"][l].T).view(T, H, hd)
        k = (h @ w["wk"][l].T).view(T, KVH, hd)
        v = (h @ w["wv"][l].T).view(T, KVH, hd)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = H // KVH
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / (hd ** 0.5) + mask
        att = F.softmax(att.float(), dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, -1)
        x = x + o @ w["wo"][l].T
        h = rmsnorm(x, w["rms_ffn"][l])
        x = x + (F.silu(h @ w["w1"][l].T) * (h @ w["w3"][l].T)) @ w["w2"][l].T
    x = rmsnorm(x, w["rms_final"])
    return x[-1] @ w["wcls"].T


def main():
    torch.set_num_threads(1)
    cfg, w = load(sys.argv[1])
    n = int(sys.argv[2])
    tokens = [1]
    with torch.no_grad():
        for _ in range(n):
            tokens.append(int(torch.argmax(forward(cfg, w, tokens))))
    print(" ".join(str(t) for t in tokens[1:]))


if __name__ == "__main__":
    main()
