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

--twin DIR: start from the weights an sllm run saved before its first step (`sllm train ...
--max-iters 0 --out DIR` with the same seed and model flags) and draw the same training windows
sllm draws (its splitmix64 stream for that seed), so the two runs differ only in arithmetic:
fp32 rounding, and where the two libraries sum in another order. --metrics FILE (an sllm run's
metrics.jsonl) then prints both loss curves side by side and the largest difference.

--evaluate DIR: no training; PyTorch's val loss of the model an sllm run saved in DIR, over the
whole split and as nanoGPT's 20-batch estimate drawn --draws times, to show that estimate's spread.

usage: /usr/bin/python3 bench/shakespeare_char_torch.py [--data PATH] [--seed N] [--threads 2]
         [--arch gpt2|llama] [--bias] [--no-embedding-decay] [--twin DIR [--metrics FILE]]
         [--evaluate DIR [--draws 200]]
"""
import argparse
import json
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.mlp_proj = nn.Linear(4 * C, C, bias=bias)
        if not bias:
            self.ln_1.bias = self.ln_2.bias = None
        self.H = H

    def forward(self, x, mask):
        B, T, C = x.shape
        h = F.layer_norm(x, (C,), self.ln_1.weight, self.ln_1.bias, 1e-5)
        q, k, v = self.c_attn(h).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        h = F.layer_norm(x, (C,), self.ln_2.weight, self.ln_2.bias, 1e-5)
        return x + self.mlp_proj(F.gelu(self.c_fc(h)))


class GPT(nn.Module):
    def __init__(self, V, L, H, C, T, bias=False, init_std=0.02):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, H, bias) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        if not bias:
            self.ln_f.bias = None
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril())
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                torch.nn.init.zeros_(p)
            elif p.dim() == 1:
                torch.nn.init.ones_(p)
            else:
                resid = name.endswith(("c_proj.weight", "mlp_proj.weight"))
                std = init_std / math.sqrt(2 * L) if resid else init_std
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        T, C = idx.shape[1], self.wte.weight.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x, self.mask)
        logits = F.layer_norm(x, (C,), self.ln_f.weight, self.ln_f.bias, 1e-5) @ self.wte.weight.t()
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
    def __init__(self, V, L, H, C, T, F_=352, init_std=0.02):
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
                resid = name.endswith(("o.weight", "down.weight"))
                std = init_std / math.sqrt(2 * L) if resid else init_std
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        x = self.wte(idx)
        for b in self.h:
            x = b(x, self.mask, self.cos, self.sin)
        logits = rms_norm(x, self.norm) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class SllmRng:
    """sllm's data-order generator (src/train/rng.cpp): splitmix64, one stream per purpose."""

    def __init__(self, seed, stream):
        self.state = mix64(mix64(seed) ^ ((stream * GAMMA + 0x632BE59BD9B4E019) & M64))

    def below(self, n):
        self.state = (self.state + GAMMA) & M64
        return (mix64(self.state) * n) >> 64


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}, expected F32"
        b, e = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(blob[b:e]), dtype=torch.float32).view(t["shape"])
    return out


def load_sllm_weights(model, path, arch):
    """Copies an sllm model.safetensors into this module; every tensor on both sides is used."""
    w = read_safetensors(path)
    own = dict(model.named_parameters())

    def take(name):
        if name not in w:
            raise SystemExit(f"{path} has no tensor {name}: not an sllm {arch} model with these flags")
        return w.pop(name)

    pairs = {"wte.weight": take("tok_embeddings.weight")}
    if arch == "gpt2":
        pairs["wpe.weight"] = take("pos_embeddings.weight")
        pairs["ln_f.weight"] = take("norm.weight")
        if "norm.bias" in w:
            pairs["ln_f.bias"] = take("norm.bias")
        for i in range(len(model.h)):
            for kind in ("weight", "bias"):
                src = lambda n: take(f"layers.{i}.{n}.{kind}")
                if f"layers.{i}.attn.q.{kind}" not in w:  # bias=False
                    continue
                pairs[f"h.{i}.c_attn.{kind}"] = torch.cat([src("attn.q"), src("attn.k"), src("attn.v")])
                for mine, theirs in (("ln_1", "attn_norm"), ("c_proj", "attn.o"), ("ln_2", "mlp_norm"),
                                     ("c_fc", "mlp.up"), ("mlp_proj", "mlp.down")):
                    pairs[f"h.{i}.{mine}.{kind}"] = src(theirs)
    else:
        pairs["norm"] = take("norm.weight")
        for i in range(len(model.h)):
            for mine, theirs in (("attn_norm", "attn_norm.weight"), ("mlp_norm", "mlp_norm.weight"),
                                 ("q.weight", "attn.q.weight"), ("k.weight", "attn.k.weight"),
                                 ("v.weight", "attn.v.weight"), ("o.weight", "attn.o.weight"),
                                 ("gate.weight", "mlp.gate.weight"), ("up.weight", "mlp.up.weight"),
                                 ("down.weight", "mlp.down.weight")):
                pairs[f"h.{i}.{mine}"] = take(f"layers.{i}.{theirs}")
    extra, missing = sorted(set(w) | (set(pairs) - set(own))), sorted(set(own) - set(pairs))
    if extra or missing:
        raise SystemExit(f"{path} does not match this model (--bias? --arch?): it has {extra} "
                         f"that this model lacks, and lacks {missing}")
    with torch.no_grad():
        for name, t in pairs.items():
            assert own[name].shape == t.shape, f"{name}: {tuple(t.shape)} vs {tuple(own[name].shape)}"
            own[name].copy_(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/tinyshakespeare.txt")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--decay-iters", type=int, help="end of the cosine (default: --iters)")
    ap.add_argument("--arch", choices=["gpt2", "llama"], default="gpt2")
    ap.add_argument("--init-std", type=float, default=0.02,
                    help="std of the matrices' and embeddings' N(0, std) init, residual projections "
                         "at std/sqrt(2L) (nanoGPT: 0.02; sllm train's default: 0.02*sqrt(768/128))")
    ap.add_argument("--bias", action="store_true",
                    help="gpt2: GPT-2's biases in every linear layer and LayerNorm (sllm's --bias true)")
    ap.add_argument("--no-embedding-decay", action="store_true",
                    help="weight decay on the linear layers' matrices only, as sllm and nanoGPT's first "
                         "versions do (nanoGPT today decays every 2-D tensor, the embeddings too)")
    ap.add_argument("--twin", metavar="DIR",
                    help="start from DIR/model.safetensors (an sllm run of --max-iters 0) and draw sllm's windows")
    ap.add_argument("--metrics", metavar="FILE", help="with --twin: the sllm run's metrics.jsonl to compare with")
    ap.add_argument("--max-diff", type=float,
                    help="with --metrics: exit 1 when a train loss or the final val loss differs by more")
    ap.add_argument("--evaluate", metavar="DIR", help="only evaluate DIR/model.safetensors, a trained sllm model")
    ap.add_argument("--draws", type=int, default=200, help="with --evaluate: how many 20-batch estimates")
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
    lr, min_lr, warmup, decay_iters = 1e-3, 1e-4, a.warmup, a.decay_iters or a.iters

    def get_lr(it):
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        ratio = (it - warmup) / (decay_iters - warmup)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)

    sllm_rng = SllmRng(a.seed, 1000) if a.twin else None

    def batch(split):
        d = train if split == "train" else val
        if split == "train" and sllm_rng:
            ix = [sllm_rng.below(len(d) - T) for _ in range(B)]
        else:
            ix = torch.randint(len(d) - T, (B,))
        return torch.stack([d[i:i + T] for i in ix]), torch.stack([d[i + 1:i + 1 + T] for i in ix])

    model = (GPT(len(chars), L, H, C, T, a.bias, a.init_std) if a.arch == "gpt2"
             else Llama(len(chars), L, H, C, T, init_std=a.init_std))
    if a.twin:
        load_sllm_weights(model, os.path.join(a.twin, "model.safetensors"), a.arch)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decays = [p.dim() >= 2 and not (a.no_embedding_decay and n.startswith(("wte", "wpe"))) for n, p in params]
    groups = [{"params": [p for (_, p), d in zip(params, decays) if d], "weight_decay": 0.1},
              {"params": [p for (_, p), d in zip(params, decays) if not d], "weight_decay": 0.0}]
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

    if a.evaluate:
        load_sllm_weights(model, os.path.join(a.evaluate, "model.safetensors"), a.arch)
        est = sorted(val_20() for _ in range(a.draws))
        q = lambda f: est[min(len(est) - 1, int(f * len(est)))]
        print(f"torch evaluates {a.evaluate}: val loss (whole split) {val_all():.4f}; nanoGPT's 20-batch "
              f"estimate over {a.draws} draws: min {est[0]:.4f}, 5% {q(0.05):.4f}, median {q(0.5):.4f}, "
              f"95% {q(0.95):.4f}, max {est[-1]:.4f}, <= 1.88 in {sum(e <= 1.88 for e in est)} of {a.draws}")
        return

    sllm_loss, sllm_val = {}, None
    if a.metrics:
        for line in open(a.metrics):
            r = json.loads(line)
            if "loss" in r:
                sllm_loss[r["step"]] = r["loss"]
            if r.get("step") == a.iters and "val_loss" in r:
                sllm_val = r["val_loss"]
    worst, compared = (0.0, -1), 0
    t0 = time.time()
    for it in range(a.iters):
        for g in opt.param_groups:
            g["lr"] = get_lr(it)
        loss = model(*batch("train"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if it in sllm_loss:
            worst, compared = max(worst, (abs(loss.item() - sllm_loss[it]), it)), compared + 1
        if it % 250 == 0 or it == a.iters - 1:
            theirs = f", sllm {sllm_loss[it]:.4f}" if it in sllm_loss else ""
            print(f"iter {it}: train loss {loss.item():.4f}{theirs}, {time.time() - t0:.0f} s", flush=True)
    wall = time.time() - t0
    final_val = val_all()
    diffs = [worst[0]]
    if compared:
        print(f"largest |torch - sllm| train loss over {compared} steps: {worst[0]:.6f} at iter {worst[1]}")
    if sllm_val is not None:
        diffs.append(abs(final_val - sllm_val))
        print(f"final val loss: torch {final_val:.6f}, sllm {sllm_val:.6f}, |difference| {diffs[-1]:.6f}")
    print(f"torch shakespeare_char ({a.arch}{', bias' if a.bias else ''}): seed {a.seed}, {a.iters} iters in {wall:.0f} s, "
          f"val loss (whole split) {final_val:.4f}, val loss (20 random batches, nanoGPT) {val_20():.4f}, "
          f"load {os.getloadavg()}")
    if a.max_diff is not None:
        if not compared:
            raise SystemExit(f"--max-diff: {a.metrics} has no train loss for steps 0..{a.iters - 1}")
        if max(diffs) > a.max_diff:
            raise SystemExit(f"FAIL: torch and sllm differ by {max(diffs):.6f} > --max-diff {a.max_diff}")


if __name__ == "__main__":
    main()
