#!/usr/bin/python3
"""PyTorch reference for sllm eval --tasks (src/infer/multiple_choice.cpp): scores the same
multiple-choice requests with the same exported weights as lm-evaluation-harness does, in float64.

DIR holds an sllm model directory (DIR/model: config.json, model.safetensors with sllm's
parameter names) and DIR/requests.json: {"items": [{"gold": g, "choices": [{"context": [ids],
"continuation": [ids], "bytes": n}, ...]}, ...]}. Writes DIR/reference.json with each choice's
log-likelihood, acc, acc_norm and their standard errors (lm-eval's mean_stderr).

usage: /usr/bin/python3 tests/reference/choice_ref.py DIR
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import forward  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        assert h["dtype"] == "F32", (name, h["dtype"])
        a, b = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(h["shape"])
        out[name] = t.double()
    return out


def stderr(x):
    n = len(x)
    if n < 2:
        return None
    mu = sum(x) / n
    return math.sqrt(sum((v - mu) ** 2 for v in x) / (n - 1)) / math.sqrt(n)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    d = sys.argv[1]
    config = json.load(open(os.path.join(d, "model", "config.json")))
    P = read_safetensors(os.path.join(d, "model", "model.safetensors"))
    L = config["max_position_embeddings"]
    req = json.load(open(os.path.join(d, "requests.json")))
    lls, acc, norm = [], [], []
    for item in req["items"]:
        ll = []
        for c in item["choices"]:
            full = c["context"] + c["continuation"]
            inp = full[-(L + 1):][:-1]
            with torch.no_grad():
                logits = forward(config, P, torch.tensor([inp], dtype=torch.int32))[0]
            lp = torch.log_softmax(logits, -1)
            n = len(c["continuation"])
            ll.append(float(sum(lp[len(inp) - n + i, c["continuation"][i]] for i in range(n))))
        normed = [v / max(c["bytes"], 1) for v, c in zip(ll, item["choices"])]
        acc.append(1.0 if max(range(len(ll)), key=lambda i: (ll[i], -i)) == item["gold"] else 0.0)
        norm.append(1.0 if max(range(len(ll)), key=lambda i: (normed[i], -i)) == item["gold"] else 0.0)
        lls.append(ll)
    out = {"loglikelihoods": lls, "acc": sum(acc) / len(acc), "acc_norm": sum(norm) / len(norm),
           "acc_stderr": stderr(acc), "acc_norm_stderr": stderr(norm)}
    json.dump(out, open(os.path.join(d, "reference.json"), "w"))


if __name__ == "__main__":
    main()
