#!/usr/bin/env bash
# Adaptation benchmark (issue 6), short enough for a 2-core machine. Steps:
#  1. teacher: `sllm train` a char-level GPT-2, 6 layers x 384, on tinyshakespeare (short: this
#     is a 2-core machine; reused from OUT/teacher when present);
#  2. logit distillation: a 2 layer x 128 student learns from the teacher's top-k logits (cached
#     once) vs the same student from scratch on the same limited real data (SUB characters), for
#     the same steps: same tokens and, since a cached teacher costs the student nothing per step,
#     about the same wall time (the cache's one-off teacher time is printed apart);
#  3. synthetic data: the teacher writes a corpus from prompts cut from that limited data and
#     the student learns it, vs from scratch, for the same student steps (equal student compute);
#  4. LoRA: adapters (r 8) move the from-scratch Shakespeare student (a model sllm pretrained) to
#     a new domain, the King James Bible reduced to its characters: the Bible val loss must fall.
# Every student is validated on the same held-out Shakespeare (the last 10%, which the teacher
# never saw). Curves go to OUT/*.svg; the script prints the numbers and exits 1 on a miss.
# Env: SLLM (binary), DATA (tinyshakespeare.txt), OUT, THREADS, TEACHER_ITERS, STUDENT_ITERS,
# LORA_ITERS, SUB.
set -euo pipefail
cd "$(dirname "$0")/../.."
SLLM=${SLLM:-build/sllm}
DATA=${DATA:-../shared/data/tinyshakespeare.txt}
OUT=${OUT:-runs/bench-adapt}
THREADS=${THREADS:-2}
TEACHER_ITERS=${TEACHER_ITERS:-150}
STUDENT_ITERS=${STUDENT_ITERS:-200}
LORA_ITERS=${LORA_ITERS:-100}
SUB=${SUB:-12000}
PY=/usr/bin/python3
if [ ! -f "$DATA" ]; then
  echo "bench/adapt: skipped, $DATA not found (the shared reference data)"
  exit 0
fi
[ -x "$SLLM" ] || { echo "bench/adapt: $SLLM not built (ninja -C build sllm)" >&2; exit 2; }
mkdir -p "$OUT"
echo "load before: $(uptime)"
$PY bench/adapt/make_data.py "$DATA" "$OUT" "$SUB" 60 16

# 1. Teacher (reused when present: delete OUT/teacher to retrain).
if [ ! -f "$OUT/teacher/model.safetensors" ]; then
  "$SLLM" train --arch gpt2 --tokenizer char --data "$DATA" --out "$OUT/teacher" \
    --n-layer 6 --n-head 6 --n-embd 384 --block-size 64 --batch-size 8 --max-iters "$TEACHER_ITERS" \
    --lr 2e-3 --min-lr 2e-4 --warmup-iters 15 --weight-decay 0.1 --eval-interval 50 --eval-iters 10 \
    --sample-tokens 0 --seed 1337 --threads "$THREADS" | grep -v '^step [0-9]*/' || true
fi

# 2 + 3. Students: 2 layers x 128, 4 heads, all with the same steps, batch, schedule and seed.
COMMON=(--teacher "$OUT/teacher" --student-shape layers=2,embd=128,heads=4 --val-data "$OUT/shakespeare_val.txt"
  --seq-len 64 --batch-size 8 --max-iters "$STUDENT_ITERS" --lr 2e-3 --min-lr 2e-4 --warmup-iters 20
  --eval-interval 25 --eval-rows 128 --seed 7 --threads "$THREADS")
rm -rf "$OUT/scratch" "$OUT/kd" "$OUT/synthetic" "$OUT/teacher.topk"
"$SLLM" distill --mode ce --data "$OUT/shakespeare_sub.txt" --out "$OUT/scratch" "${COMMON[@]}" | grep -v '^distill step'
"$SLLM" distill --mode logits --data "$OUT/shakespeare_sub.txt" --out "$OUT/kd" --teacher-cache "$OUT/teacher.topk" \
  --topk 16 --temperature 1.0 --alpha 0.9 "${COMMON[@]}" | grep -v '^distill step'
"$SLLM" distill --mode synthetic --data "$OUT/shakespeare_sub.txt" --out "$OUT/synthetic" --prompts "$OUT/prompts.txt" \
  --samples-per-prompt 2 --gen-tokens 48 --gen-temperature 0.8 "${COMMON[@]}" | grep -v '^distill step'
# 4. LoRA to the Bible domain, on the from-scratch student.
rm -rf "$OUT/lora"
"$SLLM" finetune --base "$OUT/scratch" --data "$OUT/bible.txt" --out "$OUT/lora" --seq-len 64 \
  --lora-r 8 --lora-alpha 16 --lora-targets q,k,v,o,up,down --batch-size 8 --max-iters "$LORA_ITERS" \
  --lr 2e-3 --min-lr 2e-4 --warmup-iters 10 --eval-interval 20 --eval-rows 64 --threads "$THREADS" | grep -v '^finetune step'

echo "load after: $(uptime)"

$PY bench/adapt/plot.py "$OUT/lora.svg" "LoRA (r=8) moves a Shakespeare char model (2x128) to the KJV Bible" step \
  "LoRA, Bible val loss=$OUT/lora/metrics.jsonl"
$PY bench/adapt/plot.py "$OUT/distill_tokens.svg" "Student 2x128: distilled from a 6x384 teacher vs from scratch" tokens \
  "logit distillation (top-16 cache)=$OUT/kd/metrics.jsonl" "from scratch=$OUT/scratch/metrics.jsonl" \
  "synthetic data from the teacher=$OUT/synthetic/metrics.jsonl"
$PY bench/adapt/plot.py "$OUT/distill_seconds.svg" "Student 2x128: validation loss against student training time" seconds \
  "logit distillation (top-16 cache)=$OUT/kd/metrics.jsonl" "from scratch=$OUT/scratch/metrics.jsonl" \
  "synthetic data from the teacher=$OUT/synthetic/metrics.jsonl"
$PY bench/adapt/report.py "$OUT"
