#!/usr/bin/env bash
# Preference-tuning benchmark (issue 26), opt-in: synthetic preference pairs from the King James
# Bible (bench/adapt/make_dpo_data.py: chosen is the true next verse, rejected the same verse
# with its words shuffled or a verse from another book), then LoRA DPO on a char-level model
# pretrained on the training verses. Prints and writes to OUT/dpo_summary.json:
#   - held-out reward accuracy (eval_rewards/accuracies, TRL's definition: chosen reward
#     strictly above rejected; 0 at step 0, where the policy is the reference) before and after;
#   - acc / acc_norm on a 4-way next-verse multiple-choice task (sllm eval --tasks), base vs DPO;
#   - held-out perplexity (sllm eval --perplexity), base vs DPO;
# and the DPO curves as SVG (OUT/dpo_*.svg). Exits 1 when an acceptance claim does not hold.
# Env: SLLM, OUT, THREADS, BASE_ITERS, BLOCK (the base's context and DPO's sequence length:
# a longer pair loses the start of its prompt), DPO_ITERS, PAIRS, LR, BETA.
set -euo pipefail
cd "$(dirname "$0")/../.."
SLLM=${SLLM:-build/sllm}
OUT=${OUT:-runs/bench-dpo}
THREADS=${THREADS:-2}
BASE_ITERS=${BASE_ITERS:-600}
BLOCK=${BLOCK:-256}
DPO_ITERS=${DPO_ITERS:-300}
PAIRS=${PAIRS:-4000}
LR=${LR:-1e-3}
BETA=${BETA:-0.1}
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
command -v bible >/dev/null || { echo "bench/adapt/dpo: needs the bible-kjv package (scripts/setup)" >&2; exit 2; }
[ -x "$SLLM" ] || { echo "bench/adapt/dpo: $SLLM not built (ninja -C build sllm)" >&2; exit 2; }
mkdir -p "$OUT"
echo "load before: $(uptime)"
$PY bench/adapt/make_dpo_data.py "$OUT" "$PAIRS" 100 200

# The base: a byte-level Llama-style model pretrained on the training verses (reused if present).
if [ ! -f "$OUT/base/model.safetensors" ]; then
  "$SLLM" train --arch llama --tokenizer byte --data "$OUT/corpus.txt" --out "$OUT/base" \
    --n-layer 4 --n-head 4 --n-embd 128 --block-size "$BLOCK" --batch-size 16 --max-iters "$BASE_ITERS" \
    --lr 2e-3 --min-lr 2e-4 --warmup-iters 100 --eval-interval 250 --eval-iters 10 \
    --sample-tokens 0 --seed 1337 --threads "$THREADS" --quiet
fi

rm -rf "$OUT/dpo" "$OUT/dpo_merged"
start=$(date +%s)
"$SLLM" finetune --method dpo --beta "$BETA" --base "$OUT/base" --data "$OUT/train.jsonl" \
  --val-data "$OUT/val.jsonl" --out "$OUT/dpo" --seq-len "$BLOCK" --lora-r 8 --lora-alpha 16 \
  --batch-size 4 --max-iters "$DPO_ITERS" --lr "$LR" --min-lr "$LR" --warmup-iters 20 \
  --eval-interval 50 --eval-rows 100 --threads "$THREADS" | grep -v "^step [0-9]*/"
dpo_s=$(( $(date +%s) - start ))
"$SLLM" merge --base "$OUT/base" --adapter "$OUT/dpo" --out "$OUT/dpo_merged" >/dev/null

for m in base dpo_merged; do
  "$SLLM" eval --model "$OUT/$m" --tasks "$OUT/next_verse.jsonl" --out "$OUT/tasks_$m.json" --threads "$THREADS"
  "$SLLM" eval --model "$OUT/$m" --perplexity "$OUT/heldout.txt" --ctx "$BLOCK" --max-tokens 50000 \
    --json --threads "$THREADS" > "$OUT/ppl_$m.json"
done

for y in eval_rewards/accuracies eval_rewards/margins rewards/accuracies val_loss; do
  name=$(echo "$y" | tr '/' '_')
  $PY bench/adapt/plot.py "$OUT/dpo_$name.svg" "LoRA DPO on KJV next-verse pairs: $y" step \
    --y "$y" "DPO=$OUT/dpo/metrics.jsonl"
done
$PY - "$OUT" "$dpo_s" <<'PYEOF'
import json, sys
out, secs = sys.argv[1], int(sys.argv[2])
recs = [json.loads(l) for l in open(f"{out}/dpo/metrics.jsonl")]
ev = [r for r in recs if "eval_rewards/accuracies" in r]
t = {m: json.load(open(f"{out}/tasks_{m}.json"))["results"]["next_verse"] for m in ("base", "dpo_merged")}
p = {m: json.load(open(f"{out}/ppl_{m}.json"))["perplexity"] for m in ("base", "dpo_merged")}
s = {"dpo_seconds": secs, "steps": ev[-1]["step"],
     "heldout_reward_accuracy": [ev[0]["eval_rewards/accuracies"], ev[-1]["eval_rewards/accuracies"]],
     "heldout_reward_margin": [ev[0]["eval_rewards/margins"], ev[-1]["eval_rewards/margins"]],
     "next_verse_acc": [t["base"]["acc"], t["dpo_merged"]["acc"]],
     "next_verse_acc_norm": [t["base"]["acc_norm"], t["dpo_merged"]["acc_norm"]],
     "heldout_perplexity": [p["base"], p["dpo_merged"]]}
s["perplexity_change"] = p["dpo_merged"] / p["base"] - 1
json.dump(s, open(f"{out}/dpo_summary.json", "w"), indent=2)
print(json.dumps(s, indent=2))
ok = (s["heldout_reward_accuracy"][1] >= 0.9 and s["next_verse_acc"][1] - s["next_verse_acc"][0] >= 0.2
      and s["perplexity_change"] < 0.05 and secs <= 600)
print("claims:", "hold" if ok else "DO NOT all hold")
sys.exit(0 if ok else 1)
PYEOF
