#!/usr/bin/env bash
# Checks `sllm plan` against a real CPU training run: calibrates this CPU into a scratch
# catalog (with a probe of the run's own model and batch), trains a small GPT-2 with `sllm train`, and compares the plan's predicted training
# time for the same model and tokens with the measured step time (the sum of the logged
# per-step times, i.e. without tokenization, evaluation and checkpoint writes).
# Target: within 25%. Usage: bench/plan_vs_train.sh [BUILD_DIR] [extra sllm train args...]
# On a shared machine the CPU share changes from minute to minute: the load is printed before
# and after, and AFTER=1 calibrates again after the run and also prints the ratio for that
# calibration and for the mean of the two (the pass/fail stays on the calibration before).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
SLLM=$BUILD/sllm
DATA=../shared/data/tinyshakespeare.txt
[ -f "$DATA" ] || { echo "plan_vs_train: $DATA not found (shared data); skipping"; exit 0; }
WORK=$(mktemp -d /tmp/sllm-plan-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PY=/usr/bin/python3
LAYERS=${LAYERS:-4} EMBD=${EMBD:-128} HEADS=${HEADS:-4} T=${T:-64} B=${B:-12} STEPS=${STEPS:-150}
THREADS=${THREADS:-0}

echo "== load: $(uptime)"
echo "== sllm plan --calibrate"
# The generic probes per width, plus sllm's training step of exactly the run's model and batch
# (the char tokenizer of tinyshakespeare has 65 symbols).
"$SLLM" plan --calibrate --catalog "$WORK/hw.json" --threads "$THREADS" \
  --layers "$LAYERS" --width "$EMBD" --heads "$HEADS" --vocab "${VOCAB:-65}" --ctx "$T" --batch "$B" |
  sed 's/^/   /'

echo "== sllm train: gpt2 ${LAYERS}x${EMBD}, ${HEADS} heads, batch $B x $T, $STEPS steps"
/usr/bin/time -f "%e" -o "$WORK/wall" "$SLLM" train --arch gpt2 --n-layer "$LAYERS" --n-head "$HEADS" \
  --n-embd "$EMBD" --block-size "$T" --batch-size "$B" --max-iters "$STEPS" --eval-interval "$STEPS" \
  --eval-iters 5 --sample-tokens 0 --tokenizer char --data "$DATA" --threads "$THREADS" \
  --out "$WORK/run" --quiet "$@"

echo "== load after the run: $(uptime)"

TOKENS=$((B * T * STEPS))
"$SLLM" plan --config "$WORK/run" --tokens "$TOKENS" --hardware cpu --ctx "$T" --batch "$B" \
  --catalog "$WORK/hw.json" --json > "$WORK/plan.json"
if [ "${AFTER:-0}" = 1 ]; then
  "$SLLM" plan --calibrate --catalog "$WORK/hw_after.json" --threads "$THREADS" --config "$WORK/run" \
    --ctx "$T" --batch "$B" | grep "training step of" | sed 's/^/   after: /'
  "$SLLM" plan --config "$WORK/run" --tokens "$TOKENS" --hardware cpu --ctx "$T" --batch "$B" \
    --catalog "$WORK/hw_after.json" --json > "$WORK/plan_after.json"
fi
"$SLLM" plan --config "$WORK/run" --tokens "$TOKENS" --hardware cpu --ctx "$T" --batch "$B" \
  --catalog "$WORK/hw.json" | sed -n '1,12p' | sed 's/^/   /'

$PY - "$WORK" "$B" "$T" "$(cat "$WORK/wall")" <<'PYEOF'
import json, sys
work, B, T, wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
steps = [json.loads(l) for l in open(f"{work}/run/metrics.jsonl") if l.strip()]
steps = [s for s in steps if s.get("loss") is not None and s.get("tokens_per_s")]
# The first steps pay for page faults and thread-pool start-up; they count, as they would in a real run.
measured = sum(B * T / s["tokens_per_s"] for s in steps)
plan = json.load(open(f"{work}/plan.json"))
pred = plan["seconds"]
ratio = pred / measured
print(f"== measured: {len(steps)} steps, {measured:.2f} s of training steps ({wall:.2f} s wall incl. tokenize/eval/save)")
print(f"== planned:  {pred:.2f} s (modelled MFU {plan['mfu']:.3f})")
print(f"== plan / measured = {ratio:.3f}  ({'within' if abs(ratio - 1) <= 0.25 else 'OUTSIDE'} 25%)")
try:
    after = json.load(open(f"{work}/plan_after.json"))["seconds"]
    print(f"== calibrated after the run: plan / measured = {after / measured:.3f}; "
          f"mean of both calibrations: {(pred + after) / 2 / measured:.3f}")
except FileNotFoundError:
    pass
sys.exit(0 if abs(ratio - 1) <= 0.25 else 1)
PYEOF
