#!/usr/bin/python3
"""PyTorch reference for sllm's adaptation math (src/adapt): LoRA linear layer gradients and the
distillation losses. Writes tests/reference/adapt_reference.json, read by tests/adapt_*_test.cpp.
Run: /usr/bin/python3 tests/reference/adapt_reference.py"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
out = {}

def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]

# LoRA: y = x W^T + s (x A^T) B^T ; loss = sum(y * G) for a fixed random G so dy = G.
N, IN, OUT, R, ALPHA = 5, 7, 6, 3, 4.0
x = torch.randn(N, IN, requires_grad=True)
W = torch.randn(OUT, IN)
A = torch.randn(R, IN, requires_grad=True)
B = torch.randn(OUT, R, requires_grad=True)  # non-zero so every gradient path is exercised
G = torch.randn(N, OUT)
s = ALPHA / R
y = x @ W.T + s * (x @ A.T) @ B.T
(y * G).sum().backward()
out["lora"] = dict(N=N, IN=IN, OUT=OUT, R=R, alpha=ALPHA, x=flat(x), W=flat(W), A=flat(A), B=flat(B), G=flat(G),
                   y=flat(y), dx=flat(x.grad), dA=flat(A.grad), dB=flat(B.grad),
                   merged=flat(W + s * B @ A))

# Distillation: student/teacher logits [N, V], some targets masked (-1).
N, V = 6, 11
zs0 = torch.randn(N, V) * 2
zt = torch.randn(N, V) * 2
targets = torch.tensor([3, -1, 0, 10, 5, -1])
mask = targets >= 0
cases = []
for tau, alpha, reverse, k in [(2.0, 0.5, False, 0), (1.0, 1.0, False, 0), (3.0, 0.3, True, 0),
                               (2.0, 0.7, False, 4), (0.5, 0.5, False, 11)]:
    zs = zs0.clone().requires_grad_(True)
    ls = F.log_softmax(zs / tau, -1)
    if k == 0:
        lt = F.log_softmax(zt / tau, -1)
        if reverse:
            kl = (ls.exp() * (ls - lt)).sum(-1)
        else:
            kl = (lt.exp() * (lt - ls)).sum(-1)
        ids, vals = None, None
    else:
        vals, ids = zt.topk(k, -1)
        lt = F.log_softmax(vals / tau, -1)
        kl = (lt.exp() * (lt - ls.gather(-1, ids))).sum(-1)
    kd = (tau * tau * kl)[mask].mean()
    ce = F.cross_entropy(zs, targets, ignore_index=-1)
    total = alpha * kd + (1 - alpha) * ce
    total.backward()
    c = dict(tau=tau, alpha=alpha, reverse=reverse, k=k, kd=float(kd), ce=float(ce), total=float(total),
             grad=flat(zs.grad))
    if k:
        c["ids"] = [int(v) for v in ids.reshape(-1)]
        c["vals"] = flat(vals)
    cases.append(c)
out["distill"] = dict(N=N, V=V, student=flat(zs0), teacher=flat(zt), targets=[int(t) for t in targets], cases=cases)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "adapt_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
