#!/usr/bin/python3
"""Prints the adaptation benchmark's figures and checks its claims. usage: report.py OUT"""
import json
import sys

out = sys.argv[1]


def curve(name):
    return [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl")]


def val(points):
    return [p for p in points if "val_loss" in p]


def summary(name, file):
    return json.load(open(f"{out}/{name}/{file}"))


ok = True
lora = val(curve("lora"))
ft = summary("lora", "finetune.json")
print(f"LoRA: Bible val loss {lora[0]['val_loss']:.4f} -> {lora[-1]['val_loss']:.4f} in {ft['steps']} steps, "
      f"{ft['trainable_params']} of {ft['total_params']} params trained, {ft['train_seconds']:.1f} s, "
      f"peak RSS {ft['peak_rss_bytes'] / 2**20:.0f} MB")
ok &= lora[-1]["val_loss"] < lora[0]["val_loss"] - 0.1

runs = {}
for name in ["scratch", "kd", "synthetic"]:
    v = val(curve(name))
    s = summary(name, "distill.json")
    runs[name] = (v, s)
    print(f"{name:9s}: final val loss {v[-1]['val_loss']:.4f} after {s['steps']} steps, {s['tokens']:.0f} tokens, "
          f"{s['train_seconds']:.1f} s student time, {s['teacher_seconds']:.1f} s teacher time, "
          f"peak RSS {s['peak_rss_bytes'] / 2**20:.0f} MB")
scratch = runs["scratch"][0][-1]["val_loss"]
kd = runs["kd"][0][-1]["val_loss"]
syn = runs["synthetic"][0][-1]["val_loss"]
t_ratio = runs["kd"][1]["train_seconds"] / runs["scratch"][1]["train_seconds"]
# Equal wall time: the scratch student's val loss at the KD run's training time (its last eval
# at or before that time), so a slower KD step cannot hide behind equal step counts.
sc = runs["scratch"][0]
at_time = [p for p in sc if p["seconds"] <= runs["kd"][1]["train_seconds"] + 1e-9]
scratch_at_time = min(p["val_loss"] for p in at_time) if at_time else scratch
print(f"distillation vs scratch, same tokens: {kd:.4f} vs {scratch:.4f} ({kd - scratch:+.4f}); "
      f"student time ratio {t_ratio:.2f}; scratch best at the KD run's time: {scratch_at_time:.4f}")
print(f"synthetic data vs scratch, same student steps: {syn:.4f} vs {scratch:.4f} ({syn - scratch:+.4f})")
ok &= kd < scratch and kd < scratch_at_time
ok &= syn < scratch
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
