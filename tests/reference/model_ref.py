#!/usr/bin/python3
"""PyTorch reference for sllm's two architectures (GPT-2 and Llama), with sllm's parameter names.

Writes one safetensors file of test vectors per case into OUT_DIR: the config (metadata
"config", Hugging Face field names), tokens, targets (some negative = ignored), every parameter
("param.NAME"), logits, loss, the global gradient norm, every gradient ("grad.NAME"), and the
losses of 10 AdamW steps (decoupled weight decay 0.1 on matrices only) on the same batch.

The reference runs in float64 from float32 starting values, so the vectors are as exact as the
math; sllm (float32) is compared against them within a stated tolerance.

The NAME_bf16 cases repeat a case (same parameters and batch) with sllm's --dtype bfloat16
arithmetic: every linear layer's product (the LM head included) reads its input, its weight
and, backward, its output gradient rounded to bfloat16 (round to nearest even); bias gradients
sum the unrounded output gradient; everything else is unchanged. These run in float32, not
float64: rounding to bf16 is discontinuous, and a float64 value a hair from sllm's float32 one
lands on the other side of a rounding boundary often enough to move a logit by 1%; from float32
values both sides round (nearly always) the same numbers.

usage: /usr/bin/python3 tests/reference/model_ref.py OUT_DIR
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

BF16_CASES = ("gpt2", "llama_gqa_untied")
ADAMW = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
STEPS = 10

CASES = {
    "gpt2": dict(config=dict(model_type="gpt2", vocab_size=67, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=4, hidden_size=32, intermediate_size=128,
                             max_position_embeddings=16, layer_norm_epsilon=1e-5, tie_word_embeddings=True),
                 B=3, T=12),
    "llama_gqa_untied": dict(config=dict(model_type="llama", vocab_size=61, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, hidden_size=32,
                                         intermediate_size=96, max_position_embeddings=16, rms_norm_eps=1e-5,
                                         rope_theta=10000.0, tie_word_embeddings=False),
                             B=2, T=16),
    "llama_tied": dict(config=dict(model_type="llama", vocab_size=50, num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=2, hidden_size=24, intermediate_size=64,
                                   max_position_embeddings=8, rms_norm_eps=1e-6, rope_theta=500.0,
                                   tie_word_embeddings=True),
                       B=2, T=7),
    # nanoGPT's bias=False: no biases in the linear layers or LayerNorms.
    "gpt2_nobias": dict(config=dict(model_type="gpt2", vocab_size=53, num_hidden_layers=2, num_attention_heads=2,
                                    num_key_value_heads=2, hidden_size=24, intermediate_size=96,
                                    max_position_embeddings=12, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
                                    bias=False),
                        B=2, T=10),
}


def param_shapes(c):
    """sllm's param_specs(): names, shapes and whether AdamW decays them, in arena order."""
    C, V, Fd, L = c["hidden_size"], c["vocab_size"], c["intermediate_size"], c["num_hidden_layers"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = C // H
    gpt2 = c["model_type"] == "gpt2"
    bias = gpt2 and c.get("bias", True)
    out = [("tok_embeddings.weight", (V, C), False)]
    if gpt2:
        out.append(("pos_embeddings.weight", (c["max_position_embeddings"], C), False))
    for i in range(L):
        p = f"layers.{i}."
        out.append((p + "attn_norm.weight", (C,), False))
        if bias:
            out.append((p + "attn_norm.bias", (C,), False))
        out += [(p + "attn.q.weight", (H * hd, C), True), (p + "attn.k.weight", (KV * hd, C), True),
                (p + "attn.v.weight", (KV * hd, C), True)]
        if bias:
            out += [(p + "attn.q.bias", (H * hd,), False), (p + "attn.k.bias", (KV * hd,), False),
                    (p + "attn.v.bias", (KV * hd,), False)]
        out.append((p + "attn.o.weight", (C, H * hd), True))
        if bias:
            out.append((p + "attn.o.bias", (C,), False))
        out.append((p + "mlp_norm.weight", (C,), False))
        if bias:
            out.append((p + "mlp_norm.bias", (C,), False))
        if not gpt2:
            out.append((p + "mlp.gate.weight", (Fd, C), True))
        out.append((p + "mlp.up.weight", (Fd, C), True))
        if bias:
            out.append((p + "mlp.up.bias", (Fd,), False))
        out.append((p + "mlp.down.weight", (C, Fd), True))
        if bias:
            out.append((p + "mlp.down.bias", (C,), False))
    out.append(("norm.weight", (C,), False))
    if bias:
        out.append(("norm.bias", (C,), False))
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", (V, C), True))
    return out


def init_params(c, gen):
    """float32 values, larger than a real init so every gradient is well above rounding noise."""
    params = {}
    for name, shape, _ in param_shapes(c):
        if name.endswith("norm.weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=gen)
        else:
            t = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        params[name] = t.to(torch.float32)
    return params


def rope_tables(T, hd, theta):
    i = torch.arange(hd // 2, dtype=torch.float64)
    freq = torch.pow(torch.tensor(theta, dtype=torch.float64), -2.0 * i / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
    # sllm rounds its tables to float32 once.
    return torch.cos(ang).float().double(), torch.sin(ang).float().double()


def rope(x, cos, sin):
    """x [B, T, nh, hd]; rotates interleaved pairs (2i, 2i+1)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :].to(x.dtype), sin[None, :, None, :].to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def bf16(t):
    """t rounded to bfloat16 and back, in t's dtype."""
    return t.to(torch.bfloat16).to(t.dtype)


class Bf16Product(torch.autograd.Function):
    """x [..., IN] @ w[OUT, IN]^T with bf16-rounded operands, and the same rounding backward."""

    @staticmethod
    def forward(ctx, x, w):
        xb, wb = bf16(x.reshape(-1, x.shape[-1])), bf16(w)
        ctx.save_for_backward(xb, wb)
        ctx.shape = x.shape
        return (xb @ wb.t()).reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, g):
        xb, wb = ctx.saved_tensors
        gb = bf16(g.reshape(-1, g.shape[-1]))
        return (gb @ wb).reshape(ctx.shape), gb.t() @ xb


def product(x, w, bf16_mode):
    return Bf16Product.apply(x, w) if bf16_mode else x @ w.t()


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def forward(c, P, tokens, bf16_mode=False):
    B, T = tokens.shape
    C, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = C // H
    gpt2 = c["model_type"] == "gpt2"
    has_bias = gpt2 and c.get("bias", True)
    eps = c["layer_norm_epsilon"] if gpt2 else c["rms_norm_eps"]

    def norm(x, prefix):
        if gpt2:
            return F.layer_norm(x, (C,), P[prefix + ".weight"], P[prefix + ".bias"] if has_bias else None, eps)
        return rmsnorm(x, P[prefix + ".weight"], eps)

    def lin(x, prefix, bias=has_bias):
        y = product(x, P[prefix + ".weight"], bf16_mode)
        return y + P[prefix + ".bias"] if bias else y

    x = P["tok_embeddings.weight"][tokens.long()]
    if gpt2:
        x = x + P["pos_embeddings.weight"][:T][None]
    if not gpt2:
        cos, sin = rope_tables(T, hd, c["rope_theta"])
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(c["num_hidden_layers"]):
        p = f"layers.{i}."
        h = norm(x, p + "attn_norm")
        q = lin(h, p + "attn.q").view(B, T, H, hd)
        k = lin(h, p + "attn.k").view(B, T, KV, hd)
        v = lin(h, p + "attn.v").view(B, T, KV, hd)
        if not gpt2:
            q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = H // KV
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, hd]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + lin(y, p + "attn.o")
        h = norm(x, p + "mlp_norm")
        if gpt2:
            h = F.gelu(lin(h, p + "mlp.up"), approximate="tanh")
        else:
            h = F.silu(lin(h, p + "mlp.gate", False)) * lin(h, p + "mlp.up", False)
        x = x + lin(h, p + "mlp.down")
    x = norm(x, "norm")
    head = P["tok_embeddings.weight"] if c["tie_word_embeddings"] else P["lm_head.weight"]
    return product(x, head, bf16_mode)


def loss_fn(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), ignore_index=-1)


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_case(name, case, seed, bf16_mode=False):
    c, B, T = case["config"], case["B"], case["T"]
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, c["vocab_size"], (B, T), generator=gen, dtype=torch.int32)
    targets = torch.randint(0, c["vocab_size"], (B, T), generator=gen, dtype=torch.int32)
    targets[0, 1] = -1  # ignored positions, as in masked SFT losses
    targets[-1, -1] = -1
    params32 = init_params(c, gen)

    dtype = torch.float32 if bf16_mode else torch.float64
    P = {k: v.to(dtype, copy=True).requires_grad_(True) for k, v in params32.items()}
    logits = forward(c, P, tokens, bf16_mode)
    loss = loss_fn(logits, targets)
    loss.backward()
    grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in P.values()))

    out = {"tokens": tokens, "targets": targets, "logits": logits.detach().float(),
           "loss": loss.detach().float().reshape(1), "grad_norm": grad_norm.float().reshape(1)}
    for k, v in params32.items():
        out["param." + k] = v
    for k, v in P.items():
        out["grad." + k] = v.grad.float()

    decay = {n: d for n, _, d in param_shapes(c)}
    Q = {k: v.to(dtype, copy=True).requires_grad_(True) for k, v in params32.items()}
    groups = [{"params": [Q[n] for n in Q if decay[n]], "weight_decay": ADAMW["weight_decay"]},
              {"params": [Q[n] for n in Q if not decay[n]], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"])
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        l = loss_fn(forward(c, Q, tokens, bf16_mode), targets)
        l.backward()
        opt.step()
        losses.append(l.item())
    out["step_losses"] = torch.tensor(losses, dtype=torch.float32)

    meta = {"config": json.dumps(c), "B": str(B), "T": str(T), "lr": str(ADAMW["lr"]),
            "beta1": str(ADAMW["betas"][0]), "beta2": str(ADAMW["betas"][1]), "eps": str(ADAMW["eps"]),
            "weight_decay": str(ADAMW["weight_decay"]), "steps": str(STEPS)}
    write_safetensors(f"{sys.argv[1]}/{name}.safetensors", out, meta)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    for seed, (name, case) in enumerate(CASES.items()):
        make_case(name, case, 1234 + seed)
        if name in BF16_CASES:
            make_case(name + "_bf16", case, 1234 + seed, bf16_mode=True)


if __name__ == "__main__":
    main()
