#!/usr/bin/python3
"""PyTorch reference for sllm's preference losses (src/adapt/preference_loss.cpp) as TRL defines
them: DPO (sigmoid), cDPO (label smoothing), IPO and ORPO on a tiny Llama model (model_ref.py's
forward), in float64 from float32 parameters. P pairs are 2P rows, chosen first; prompt positions
have target -1. Writes OUT_DIR/<case>.safetensors with the parameters, the batch, the reference
model's log-probs (sum and mean), the loss, TRL's reward metrics, d(loss)/d(logits) and every
parameter gradient.

usage: /usr/bin/python3 tests/reference/preference_ref.py OUT_DIR
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import forward, init_params, write_safetensors  # noqa: E402

CONFIG = dict(model_type="llama", vocab_size=37, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, hidden_size=32, intermediate_size=64, max_position_embeddings=16,
              rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)
P, T = 3, 10
CASES = {"dpo": ("dpo", 0.1, 0.0), "cdpo": ("dpo", 0.5, 0.2), "ipo": ("ipo", 0.1, 0.0),
         "orpo": ("orpo", 0.1, 0.0)}


def row_logps(logits, targets, average):
    mask = targets >= 0
    lp = F.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).long().unsqueeze(-1)).squeeze(-1)
    s = (lp * mask).sum(-1)
    return s / mask.sum(-1) if average else s


def loss_of(kind, beta, ls, logits, targets, ref):
    pi = row_logps(logits, targets, kind != "dpo")
    pc, pr = pi[:P], pi[P:]
    m = {}
    if kind == "orpo":
        lo = (pc - pr) - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
        nll = F.cross_entropy(logits[:P].reshape(-1, logits.shape[-1]), targets[:P].reshape(-1).long(),
                              ignore_index=-1)
        loss = nll - (beta * F.logsigmoid(lo)).mean()
        wc, wr = beta * pc, beta * pr
        m["nll_loss"], m["log_odds_ratio"] = nll, lo.mean()
    else:
        rc, rr = ref[:P], ref[P:]
        z = (pc - pr) - (rc - rr)
        if kind == "dpo":
            losses = -F.logsigmoid(beta * z) * (1 - ls) - F.logsigmoid(-beta * z) * ls
        else:
            losses = (z - 1 / (2 * beta)) ** 2
        loss = losses.mean()
        wc, wr = beta * (pc - rc), beta * (pr - rr)
    m["rewards/chosen"], m["rewards/rejected"] = wc.mean(), wr.mean()
    m["rewards/margins"] = (wc - wr).mean()
    m["rewards/accuracies"] = (wc > wr).double().mean()
    m["logps/chosen"], m["logps/rejected"] = pc.mean(), pr.mean()
    return loss, {k: float(v) for k, v in m.items()}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(4321)
    V = CONFIG["vocab_size"]
    tokens = torch.randint(0, V, (2 * P, T), generator=gen, dtype=torch.int32)
    targets = torch.randint(0, V, (2 * P, T), generator=gen, dtype=torch.int32)
    for r in range(2 * P):  # prompts of 2..4 tokens, and padding after a shorter completion
        targets[r, : 2 + r % 3] = -1
        if r % 2:
            targets[r, T - 2:] = -1
    params32 = init_params(CONFIG, gen)
    ref32 = init_params(CONFIG, gen)
    with torch.no_grad():
        ref_logits = forward(CONFIG, {k: v.double() for k, v in ref32.items()}, tokens)
    ref_sum = row_logps(ref_logits, targets, False).float()
    ref_mean = row_logps(ref_logits, targets, True).float()
    for name, (kind, beta, ls) in CASES.items():
        Pm = {k: v.double().requires_grad_(True) for k, v in params32.items()}
        logits = forward(CONFIG, Pm, tokens)
        logits.retain_grad()
        ref = (ref_sum if kind == "dpo" else ref_mean).double()
        loss, metrics = loss_of(kind, beta, ls, logits, targets, ref)
        loss.backward()
        out = {"tokens": tokens, "targets": targets, "ref_sum": ref_sum, "ref_mean": ref_mean,
               "loss": loss.detach().float().reshape(1), "dlogits": logits.grad.float()}
        for k, v in params32.items():
            out["param." + k] = v
        for k, v in Pm.items():
            out["grad." + k] = v.grad.float()
        meta = {"config": json.dumps(CONFIG), "P": str(P), "T": str(T), "loss_type": kind,
                "beta": str(beta), "label_smoothing": str(ls), "metrics": json.dumps(metrics)}
        write_safetensors(f"{sys.argv[1]}/{name}.safetensors", out, meta)


if __name__ == "__main__":
    main()
