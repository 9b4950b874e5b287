#!/usr/bin/env bash
# Memory of fine-tuning a 110M-parameter model (Llama layout: 12 layers x 768, FFN 2048, vocab
# 32000, like llama2.c's stories110M; random init): LoRA (r 8 on q,k,v,o,gate,up,down) must peak
# at <= 1.5 GB RSS, with the frozen base kept as Q8_0 and as F32; full fine-tuning's peak is
# reported. A few steps each on Bible text, batch 1 x 128 tokens. Peak RSS is the kernel's
# (GNU time %M). Writes OUT/memory.json. Env: SLLM, OUT, THREADS.
set -euo pipefail
cd "$(dirname "$0")/../.."
SLLM=${SLLM:-build/sllm}
OUT=${OUT:-runs/bench-adapt-memory}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
if [ ! -f "$OUT/base110m/model.safetensors" ]; then
  bible -l0 Gen1:1-Exo40:38 | sed -E 's/^ *[0-9]+ //' > "$OUT/text.txt"
  # A byte-level tokenizer file from a throwaway one-step model.
  "$SLLM" train --tokenizer byte --data "$OUT/text.txt" --out "$OUT/tok" --n-layer 1 --n-head 1 --n-embd 8 \
    --block-size 8 --batch-size 1 --max-iters 1 --eval-iters 1 --sample-tokens 0 --threads "$THREADS" >/dev/null
  /usr/bin/python3 bench/adapt/make_model.py "$OUT/base110m" "$OUT/tok/tokenizer.sllmtok" 12 768 12 2048 32000 256
fi
echo "memory: $(uptime)"
run() {
  local name=$1; shift
  /usr/bin/time -f "%M" -o "$OUT/$name.rss" "$SLLM" finetune --base "$OUT/base110m" --data "$OUT/text.txt" \
    --out "$OUT/$name" --seq-len 128 --batch-size 1 --max-iters 3 --eval-interval 3 --eval-rows 2 \
    --threads "$THREADS" "$@" | grep -v '^finetune step' || true
  echo "$name: peak RSS $(( $(cat "$OUT/$name.rss") / 1024 )) MB"
}
run lora_q8 --lora-r 8 --lora-alpha 16 --base-dtype q8_0
run lora_f32 --lora-r 8 --lora-alpha 16 --base-dtype f32
run full
/usr/bin/python3 - "$OUT" "$(uptime)" <<'PY'
import json, sys
out = sys.argv[1]
runs = {}
for name in ["lora_q8", "lora_f32", "full"]:
    ft = json.load(open(f"{out}/{name}/finetune.json"))
    runs[name] = {"peak_rss_mb": int(open(f"{out}/{name}.rss").read()) / 1024, "trainable_params": ft["trainable_params"],
                  "total_params": ft["total_params"], "steps": ft["steps"], "train_seconds": ft["train_seconds"],
                  "initial_val_loss": ft["initial_val_loss"], "final_val_loss": ft["final_val_loss"]}
runs["uptime"] = sys.argv[2]
runs["lora_limit_mb"] = 1536
runs["pass"] = runs["lora_q8"]["peak_rss_mb"] <= 1536 and runs["lora_f32"]["peak_rss_mb"] <= 1536
json.dump(runs, open(f"{out}/memory.json", "w"), indent=2)
PY
lora_mb=$(( $(cat "$OUT/lora_q8.rss") / 1024 ))
f32_mb=$(( $(cat "$OUT/lora_f32.rss") / 1024 ))
if [ "$lora_mb" -le 1536 ] && [ "$f32_mb" -le 1536 ]; then
  echo "PASS: LoRA 110M peak RSS $lora_mb MB (Q8_0 base), $f32_mb MB (F32 base) <= 1536 MB"
else
  echo "FAIL: LoRA 110M peak RSS $lora_mb MB (Q8_0 base), $f32_mb MB (F32 base); limit 1536 MB"; exit 1
fi
