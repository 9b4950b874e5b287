#!/usr/bin/python3
"""Checks the adaptation benchmark's claims and writes OUT/summary.md and OUT/summary.json
(also printed). usage: report.py OUT"""
import json
import os
import sys

out = sys.argv[1]


def curve(name):
    return [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl")]


def val(points):
    return [p for p in points if p.get("val_loss") is not None]


def summary(name, file):
    return json.load(open(f"{out}/{name}/{file}"))


lines, checks, result = [], [], {}
load = json.load(open(f"{out}/load.json"))
result["load"] = load
lines += ["# sllm adaptation benchmark (bench/adapt/run.sh)", "",
          f"Run {load['start']} .. {load.get('end', '?')} on a shared 2-core machine with {load.get('threads', '?')} thread(s); "
          "timings are noisy.",
          f"- uptime at start: `{load['uptime_start'].strip()}`",
          f"- uptime at end:   `{load.get('uptime_end', '?').strip()}`", ""]

teacher_dir = load.get("teacher", f"{out}/teacher")
teacher_val = summary("teacher_eval", "finetune.json")["initial_val_loss"]
result["teacher_val_loss"] = teacher_val
lines += [f"Teacher {teacher_dir} (6 layers x 384, char-level GPT-2 from `sllm train` on tinyshakespeare's training "
          f"split): val loss {teacher_val:.4f} on the students' validation rows.", ""]

# Distillation.
runs = {}
lines += [f"## Distillation: student 2 layers x 128 on the first {load.get('sub_chars', 'SUB')} characters of Shakespeare", "",
          "| run | steps | tokens | train s | teacher s | final val loss | best val loss |", "|---|---|---|---|---|---|---|"]
for name in ["scratch", "kd", "scratch_wall", "synthetic"]:
    v = val(curve(name))
    s = summary(name, "distill.json")
    runs[name] = (v, s)
    result[name] = {"steps": s["steps"], "tokens": s["tokens"], "train_seconds": s["train_seconds"],
                    "teacher_seconds": s["teacher_seconds"], "final_val_loss": v[-1]["val_loss"],
                    "best_val_loss": min(p["val_loss"] for p in v), "synthetic_tokens": s.get("synthetic_tokens", 0),
                    "peak_rss_mb": s["peak_rss_bytes"] / 2**20}
    lines.append(f"| {name} | {s['steps']} | {s['tokens']:.0f} | {s['train_seconds']:.1f} | {s['teacher_seconds']:.1f} | "
                 f"{v[-1]['val_loss']:.4f} | {result[name]['best_val_loss']:.4f} |")
lines.append("")
scratch = result["scratch"]["final_val_loss"]
kd = result["kd"]["final_val_loss"]
wall = result["scratch_wall"]["final_val_loss"]
wall_best = result["scratch_wall"]["best_val_loss"]
syn = result["synthetic"]["final_val_loss"]
kd_wall = result["kd"]["train_seconds"] + result["kd"]["teacher_seconds"]
checks.append(("logit distillation beats scratch at the same tokens",
               kd < scratch, f"{kd:.4f} vs {scratch:.4f} ({kd - scratch:+.4f}) after {result['kd']['tokens']:.0f} tokens each"))
checks.append(("logit distillation beats scratch at the same wall time (teacher cache included)",
               kd < wall and kd < wall_best,
               f"{kd:.4f} vs {wall:.4f} (best {wall_best:.4f}): scratch ran {result['scratch_wall']['steps']} steps in "
               f"{result['scratch_wall']['train_seconds']:.1f} s, kd {result['kd']['steps']} steps in "
               f"{result['kd']['train_seconds']:.1f} s + {result['kd']['teacher_seconds']:.1f} s cache = {kd_wall:.1f} s"))
checks.append(("the same-wall-time scratch run got at least 90% of kd's wall time",
               result["scratch_wall"]["train_seconds"] >= 0.9 * kd_wall,
               f"{result['scratch_wall']['train_seconds']:.1f} s of {kd_wall:.1f} s"))
checks.append(("synthetic-data distillation beats scratch at equal student compute",
               syn < scratch, f"{syn:.4f} vs {scratch:.4f} ({syn - scratch:+.4f}), both {result['synthetic']['steps']} steps "
               f"x the same batch; the teacher generated {result['synthetic']['synthetic_tokens']} tokens in "
               f"{result['synthetic']['teacher_seconds']:.1f} s"))

# LoRA.
lora = val(curve("lora"))
ft = summary("lora", "finetune.json")
result["lora"] = {"initial_val_loss": lora[0]["val_loss"], "final_val_loss": lora[-1]["val_loss"], "steps": ft["steps"],
                  "trainable_params": ft["trainable_params"], "total_params": ft["total_params"],
                  "train_seconds": ft["train_seconds"], "peak_rss_mb": ft["peak_rss_bytes"] / 2**20}
lines += ["## LoRA: the scratch student (Shakespeare) moved to the KJV Bible", "",
          f"r 8, alpha 16 on q,k,v,o,up,down: {ft['trainable_params']} of {ft['total_params']} parameters train; "
          f"Bible val loss {lora[0]['val_loss']:.4f} -> {lora[-1]['val_loss']:.4f} in {ft['steps']} steps "
          f"({ft['train_seconds']:.1f} s).", ""]
checks.append(("LoRA lowers the new domain's val loss", lora[-1]["val_loss"] < lora[0]["val_loss"] - 0.1,
               f"{lora[0]['val_loss']:.4f} -> {lora[-1]['val_loss']:.4f}"))

# Memory.
mem_path = f"{out}/memory/memory.json"
if os.path.exists(mem_path):
    mem = json.load(open(mem_path))
    result["memory"] = mem
    lines += ["## Memory: fine-tuning a 110M-parameter Llama (12 x 768, vocab 32000), batch 1 x 128", "",
              f"uptime: `{mem['uptime'].strip()}`", "", "| run | trained params | peak RSS MB |", "|---|---|---|"]
    for name in ["lora_q8", "lora_f32", "full"]:
        r = mem[name]
        lines.append(f"| {name} | {r['trainable_params']} of {r['total_params']} | {r['peak_rss_mb']:.0f} |")
    lines.append("")
    checks.append(("LoRA on 110M fits in 1.5 GB peak RSS", mem["pass"],
                   f"Q8_0 base {mem['lora_q8']['peak_rss_mb']:.0f} MB, F32 base {mem['lora_f32']['peak_rss_mb']:.0f} MB; "
                   f"full fine-tuning {mem['full']['peak_rss_mb']:.0f} MB"))

lines += ["## Claims", ""]
for what, ok, detail in checks:
    lines.append(f"- {'PASS' if ok else 'FAIL'}: {what}: {detail}")
lines += ["", "Curves: distill_tokens.svg (same tokens), distill_seconds.svg (same wall time), lora.svg."]
result["checks"] = [{"claim": w, "pass": bool(ok), "detail": d} for w, ok, d in checks]
ok = all(c[1] for c in checks)
result["pass"] = ok
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
json.dump(result, open(f"{out}/summary.json", "w"), indent=2)
print("\n".join(lines))
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
