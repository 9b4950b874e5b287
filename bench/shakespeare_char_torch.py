#!/usr/bin/python3
"""nanoGPT's shakespeare_char CPU recipe in PyTorch 1.13, as the peer of bench/shakespeare_char.sh.

A faithful copy of nanoGPT's model.py and train.py for this run (bias=False, exact GELU, init
N(0, 0.02) with c_proj at 0.02/sqrt(2L), tied head, AdamW betas 0.9/0.99 and weight decay 0.1
on every 2-D tensor including the embeddings, grad clip 1, warmup 100 then cosine 1e-3 -> 1e-4
over 2000 iters, batch 12 x 64), on the same 90/10 char split. Reports the val loss over every
window of the validation split (as the sllm script does) and nanoGPT's own 20-batch estimate.

--arch llama: the same recipe on Llama blocks, as `ARCH=llama bench/shakespeare_char.sh` trains
them in sllm (an independent check of that run's val loss): RMSNorm (eps 1e-5, no bias), RoPE on
interleaved pairs (theta 10000) instead of learned positions, SwiGLU MLP of 352 (sllm's default
for 128 wide: 8/3 x 128 rounded up to a multiple of 32), no biases, tied head; init N(0, 0.02)
with the attention output and MLP down projections at 0.02/sqrt(2L), norms at 1.

usage: /usr/bin/python3 bench/shakespeare_char_torch.py [--data PATH] [--seed N] [--threads 2]
         [--arch gpt2|llama]
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, elementwise_affine=True)
        self.ln_1.bias = None
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.c_proj = nn.Linear(C, C, bias=False)
        self.ln_2 = nn.LayerNorm(C)
        self.ln_2.bias = None
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.mlp_proj = nn.Linear(4 * C, C, bias=False)
        self.H = H

    def forward(self, x, mask):
        B, T, C = x.shape
        h = F.layer_norm(x, (C,), self.ln_1.weight, None, 1e-5)
        q, k, v = self.c_attn(h).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        h = F.layer_norm(x, (C,), self.ln_2.weight, None, 1e-5)
        return x + self.mlp_proj(F.gelu(self.c_fc(h)))


class GPT(nn.Module):
    def __init__(self, V, L, H, C, T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.ln_f.bias = None
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril())
        for name, p in self.named_parameters():
            if p.dim() == 1:
                torch.nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        T, C = idx.shape[1], self.wte.weight.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x, self.mask)
        logits = F.layer_norm(x, (C,), self.ln_f.weight, None, 1e-5) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def rms_norm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, cos, sin):
    """x [B, H, T, hd]: pairs (2i, 2i+1) rotate by position * theta^(-2i/hd)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class LlamaBlock(nn.Module):
    def __init__(self, C, H, F_):
        super().__init__()
        self.attn_norm = nn.Parameter(torch.ones(C))
        self.q, self.k, self.v = (nn.Linear(C, C, bias=False) for _ in range(3))
        self.o = nn.Linear(C, C, bias=False)
        self.mlp_norm = nn.Parameter(torch.ones(C))
        self.gate, self.up = nn.Linear(C, F_, bias=False), nn.Linear(C, F_, bias=False)
        self.down = nn.Linear(F_, C, bias=False)
        self.H = H

    def forward(self, x, mask, cos, sin):
        B, T, C = x.shape
        h = rms_norm(x, self.attn_norm)
        q, k, v = (m(h).view(B, T, self.H, C // self.H).transpose(1, 2) for m in (self.q, self.k, self.v))
        q, k = rope(q, cos[:T], sin[:T]), rope(k, cos[:T], sin[:T])
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~mask[:T, :T], float("-inf")).softmax(dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).contiguous().view(B, T, C))
        h = rms_norm(x, self.mlp_norm)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, V, L, H, C, T, F_=352):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.h = nn.ModuleList(LlamaBlock(C, H, F_) for _ in range(L))
        self.norm = nn.Parameter(torch.ones(C))
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril())
        hd = C // H
        inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos())
        self.register_buffer("sin", ang.sin())
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("o.weight", "down.weight")) else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        x = self.wte(idx)
        for b in self.h:
            x = b(x, self.mask, self.cos, self.sin)
        logits = rms_norm(x, self.norm) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/tinyshakespeare.txt")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--arch", choices=["gpt2", "llama"], default="gpt2")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    B, T, L, H, C = 12, 64, 4, 4, 128
    lr, min_lr, warmup, decay_iters = 1e-3, 1e-4, 100, a.iters

    def get_lr(it):
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        ratio = (it - warmup) / (decay_iters - warmup)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)

    def batch(split):
        d = train if split == "train" else val
        ix = torch.randint(len(d) - T, (B,))
        return torch.stack([d[i:i + T] for i in ix]), torch.stack([d[i + 1:i + 1 + T] for i in ix])

    model = (GPT if a.arch == "gpt2" else Llama)(len(chars), L, H, C, T)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))

    @torch.no_grad()
    def val_all():
        starts = list(range(0, len(val) - 1 - T + 1, T))
        total = 0.0
        for i in range(0, len(starts), B):
            s = starts[i:i + B]
            x = torch.stack([val[j:j + T] for j in s])
            y = torch.stack([val[j + 1:j + 1 + T] for j in s])
            total += model(x, y).item() * len(s)
        return total / len(starts)

    @torch.no_grad()
    def val_20():
        return sum(model(*batch("val")).item() for _ in range(20)) / 20

    t0 = time.time()
    for it in range(a.iters):
        for g in opt.param_groups:
            g["lr"] = get_lr(it)
        loss = model(*batch("train"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if it % 250 == 0:
            print(f"iter {it}: train loss {loss.item():.4f}, {time.time() - t0:.0f} s", flush=True)
    wall = time.time() - t0
    print(f"torch shakespeare_char ({a.arch}): seed {a.seed}, {a.iters} iters in {wall:.0f} s, "
          f"val loss (whole split) {val_all():.4f}, val loss (20 random batches, nanoGPT) {val_20():.4f}, "
          f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
