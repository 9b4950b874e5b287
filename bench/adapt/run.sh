#!/usr/bin/env bash
# Adaptation benchmark (issue 6): one script runs every experiment, writes the curves as SVG
# and a summary (OUT/summary.md + OUT/summary.json), and exits 1 when a claim does not hold.
# Short enough for a shared 2-core machine:
#  1. teacher: `sllm train` a char-level GPT-2, 6 layers x 384, on tinyshakespeare (reused from
#     OUT/teacher when present, or TEACHER=DIR names one);
#  2. students, 2 layers x 128, all on the same limited real data (the first SUB characters),
#     validated on the same held-out Shakespeare (the last 10%, which no model trains on):
#       scratch    the student alone (cross-entropy), STUDENT_ITERS steps;
#       kd         logit distillation from the teacher's top-16 logits (cached once), the same
#                  steps, batch and schedule: the same tokens;
#       scratch_wall  the student alone for as many steps as fit in kd's wall time INCLUDING the
#                  teacher cache (its schedule is sized from scratch's measured step rate);
#       synthetic  the teacher writes a corpus from prompts cut from the limited data (batched
#                  KV-cache sampling) and the student learns it for STUDENT_ITERS steps: the same
#                  student compute as scratch;
#  3. LoRA: adapters (r 8) move a Shakespeare model sllm pretrained (the scratch student) to a
#     new domain, the King James Bible reduced to Shakespeare's characters;
#  4. memory: bench/adapt/memory.sh (LoRA and full fine-tuning of a 110M model), unless MEMORY=0.
# Env: SLLM, DATA, OUT, THREADS, TEACHER, TEACHER_ITERS, STUDENT_ITERS, LORA_ITERS, SUB,
# SAMPLES (synthetic samples per prompt), MEMORY, MEM_THREADS. On a crowded machine THREADS=1 is
# faster: with 2 threads every parallel region waits for the other thread to be scheduled again.
set -euo pipefail
cd "$(dirname "$0")/../.."
SLLM=${SLLM:-build/sllm}
DATA=${DATA:-../shared/data/tinyshakespeare.txt}
OUT=${OUT:-runs/bench-adapt}
THREADS=${THREADS:-2}
TEACHER=${TEACHER:-$OUT/teacher}
TEACHER_ITERS=${TEACHER_ITERS:-1000}
STUDENT_ITERS=${STUDENT_ITERS:-300}
LORA_ITERS=${LORA_ITERS:-100}
SUB=${SUB:-12000}
SAMPLES=${SAMPLES:-4}
MEMORY=${MEMORY:-1}
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
if [ ! -f "$DATA" ]; then
  echo "bench/adapt: skipped, $DATA not found (the shared reference data)"
  exit 0
fi
command -v bible >/dev/null || { echo "bench/adapt: needs the bible-kjv package (scripts/setup)" >&2; exit 2; }
[ -x "$SLLM" ] || { echo "bench/adapt: $SLLM not built (ninja -C build sllm)" >&2; exit 2; }
mkdir -p "$OUT"
echo "{\"start\": \"$(date -u +%FT%TZ)\", \"uptime_start\": \"$(uptime)\", \"teacher\": \"$TEACHER\", \"threads\": $THREADS, \"sub_chars\": $SUB, \"student_iters\": $STUDENT_ITERS, \"synthetic_samples_per_prompt\": $SAMPLES}" > "$OUT/load.json"
echo "load before: $(uptime)"
$PY bench/adapt/make_data.py "$DATA" "$OUT" "$SUB" 60 16

# 1. Teacher (reused when present: delete OUT/teacher to retrain).
if [ ! -f "$TEACHER/model.safetensors" ]; then
  "$SLLM" train --arch gpt2 --tokenizer char --data "$DATA" --out "$TEACHER" \
    --n-layer 6 --n-head 6 --n-embd 384 --block-size 64 --batch-size 12 --max-iters "$TEACHER_ITERS" \
    --lr 1e-3 --min-lr 1e-4 --warmup-iters 100 --weight-decay 0.1 --eval-interval 50 --eval-iters 10 \
    --sample-tokens 0 --seed 1337 --threads "$THREADS" --quiet
fi

# The teacher's loss on the students' validation rows (a LoRA run that evaluates before its one
# negligible step).
rm -rf "$OUT/teacher_eval"
"$SLLM" finetune --base "$TEACHER" --data "$OUT/shakespeare_sub.txt" --val-data "$OUT/shakespeare_val.txt" \
  --out "$OUT/teacher_eval" --seq-len 64 --lora-r 1 --lora-targets q --max-iters 1 --lr 1e-9 --min-lr 1e-9 \
  --warmup-iters 0 --eval-interval 1 --eval-rows 128 --threads "$THREADS" | grep -v '^finetune step' || true

# 2. Students: 2 layers x 128, 4 heads, the same batch, schedule and seed.
STUDENT=(--teacher "$TEACHER" --student-shape layers=2,embd=128,heads=4 --val-data "$OUT/shakespeare_val.txt"
  --data "$OUT/shakespeare_sub.txt" --seq-len 64 --batch-size 8 --lr 2e-3 --min-lr 2e-4 --warmup-iters 20
  --eval-rows 128 --seed 7 --threads "$THREADS")
EVAL=$((STUDENT_ITERS / 10))
quiet() { grep -v '^distill step' || true; }
rm -rf "$OUT/scratch" "$OUT/kd" "$OUT/scratch_wall" "$OUT/synthetic" "$OUT/teacher.topk"
"$SLLM" distill --mode ce --out "$OUT/scratch" --max-iters "$STUDENT_ITERS" --eval-interval "$EVAL" "${STUDENT[@]}" | quiet
"$SLLM" distill --mode logits --out "$OUT/kd" --teacher-cache "$OUT/teacher.topk" --topk 16 --temperature 1.0 \
  --alpha 0.9 --max-iters "$STUDENT_ITERS" --eval-interval "$EVAL" "${STUDENT[@]}" | quiet
# Equal wall time: kd's training + teacher-cache seconds is a hard cap (--max-seconds) for a
# scratch run whose schedule is sized from the last measured step rate. The machine's load
# changes the rate, so a run that finished its steps in under 90% of the budget is resized and
# run again (at most 3 tries); report.py checks the time it actually got.
BUDGET=$($PY -c "import json; k=json.load(open('$OUT/kd/distill.json')); print(k['train_seconds'] + k['teacher_seconds'])")
RATE_FROM=$OUT/scratch
for try in 1 2 3; do
  WALL_ITERS=$($PY -c "import json; s=json.load(open('$RATE_FROM/distill.json'))
print(max(1, round(s['steps'] / s['train_seconds'] * $BUDGET)))")
  rm -rf "$OUT/scratch_wall"
  "$SLLM" distill --mode ce --out "$OUT/scratch_wall" --max-iters "$WALL_ITERS" --max-seconds "$BUDGET" \
    --eval-interval $((WALL_ITERS / 10 + 1)) "${STUDENT[@]}" | quiet
  $PY -c "import json, sys; s=json.load(open('$OUT/scratch_wall/distill.json')); sys.exit(s['train_seconds'] < 0.9 * $BUDGET)" && break
  cp "$OUT/scratch_wall/distill.json" "$OUT/scratch_wall_rate.json"
  mkdir -p "$OUT/rate" && mv "$OUT/scratch_wall_rate.json" "$OUT/rate/distill.json"
  RATE_FROM=$OUT/rate
done
"$SLLM" distill --mode synthetic --out "$OUT/synthetic" --prompts "$OUT/prompts.txt" --samples-per-prompt "$SAMPLES" \
  --gen-tokens 60 --gen-temperature 1.0 --gen-batch 32 --max-iters "$STUDENT_ITERS" --eval-interval "$EVAL" \
  "${STUDENT[@]}" | quiet

# 3. LoRA to the Bible domain, on the Shakespeare student sllm trained from scratch.
rm -rf "$OUT/lora"
"$SLLM" finetune --base "$OUT/scratch" --data "$OUT/bible.txt" --out "$OUT/lora" --seq-len 64 \
  --lora-r 8 --lora-alpha 16 --lora-targets q,k,v,o,up,down --batch-size 8 --max-iters "$LORA_ITERS" \
  --lr 2e-3 --min-lr 2e-4 --warmup-iters 10 --eval-interval $((LORA_ITERS / 10)) --eval-rows 64 \
  --threads "$THREADS" | grep -v '^finetune step' || true

# 4. Memory of a 110M-parameter model.
if [ "$MEMORY" = 1 ]; then OUT="$OUT/memory" THREADS="${MEM_THREADS:-$THREADS}" SLLM="$SLLM" bash bench/adapt/memory.sh || true; fi

echo "load after: $(uptime)"
$PY - "$OUT/load.json" "$(uptime)" <<'EOF'
import json, sys, datetime
j = json.load(open(sys.argv[1]))
j["end"] = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
j["uptime_end"] = sys.argv[2]
json.dump(j, open(sys.argv[1], "w"))
EOF

$PY bench/adapt/plot.py "$OUT/lora.svg" "LoRA (r=8) moves a Shakespeare char model (2x128) to the KJV Bible" step \
  "LoRA, Bible val loss=$OUT/lora/metrics.jsonl"
RUNS=("logit distillation (top-16 cache)=$OUT/kd/metrics.jsonl" "from scratch, same steps=$OUT/scratch/metrics.jsonl"
  "from scratch, same wall time=$OUT/scratch_wall/metrics.jsonl" "synthetic data from the teacher=$OUT/synthetic/metrics.jsonl")
$PY bench/adapt/plot.py "$OUT/distill_tokens.svg" "Student 2x128: distilled from a 6x384 teacher vs from scratch" tokens "${RUNS[@]}"
KD_TEACHER_S=$($PY -c "import json; print(json.load(open('$OUT/kd/distill.json'))['teacher_seconds'])")
RUNS[0]="logit distillation, after building its top-16 cache=$OUT/kd/metrics.jsonl@$KD_TEACHER_S"
$PY bench/adapt/plot.py "$OUT/distill_seconds.svg" "Student 2x128: val loss against wall time (teacher cache included)" seconds "${RUNS[@]}"
$PY bench/adapt/report.py "$OUT"
