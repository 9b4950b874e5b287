#!/usr/bin/env bash
# bench/quant/quality.sh: perplexity and mean KL divergence of each quantization type against
# f32 on a model sllm trained, checked against issue 4's targets (Q8_0 within +0.5% of f32's
# perplexity, the best 4-bit type within +5%).
#
# usage: bench/quant/quality.sh [MODEL_DIR] [TEXT]
#   MODEL_DIR  an sllm model directory (default: trains one on tinyshakespeare into
#              build/bench-quant/model: llama, 4 layers, d=128, char tokenizer, 1500 steps)
#   TEXT       held-out text (default: the last 10% of tinyshakespeare, which training held out)
# Environment: SLLM (the binary, default build/sllm), THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
SLLM=${SLLM:-build/sllm}
THREADS=${THREADS:-2}
DATA=../shared/data/tinyshakespeare.txt
WORK=build/bench-quant
mkdir -p "$WORK"
MODEL=${1:-}
TEXT=${2:-}
if [[ -z "$TEXT" ]]; then
  [[ -f $DATA ]] || { echo "needs $DATA (or pass MODEL_DIR TEXT)" >&2; exit 1; }
  n=$(stat -c %s "$DATA")
  tail -c $((n - n * 9 / 10)) "$DATA" > "$WORK/val.txt"
  TEXT=$WORK/val.txt
fi
if [[ -z "$MODEL" ]]; then
  MODEL=$WORK/model
  [[ -f $MODEL/model.safetensors ]] || "$SLLM" train --arch llama --n-layer 4 --n-head 4 \
    --n-embd 128 --block-size 128 --batch-size 12 --max-iters 1500 --lr 1e-3 --min-lr 1e-4 \
    --tokenizer char --data "$DATA" --out "$MODEL" --threads "$THREADS" --quiet
fi
echo "uptime: $(uptime)"
echo "model $MODEL, text $TEXT"
printf '%-6s %12s %10s %12s %10s %8s\n' type perplexity change mean_KL top1 target
for t in q8_0 q4_0 q4_1; do
  j=$("$SLLM" eval -m "$MODEL" --perplexity "$TEXT" -q "$t" --threads "$THREADS" --json 2>/dev/null) ||
    { printf "%-6s eval failed\n" "$t"; continue; }
  /usr/bin/python3 - "$t" "$j" <<'PY'
import json, sys
t, j = sys.argv[1], json.loads(sys.argv[2])
limit = 0.005 if t == "q8_0" else 0.05
ok = "ok" if j["perplexity_change"] <= limit else "MISS"
print(f'{t:<6} {j["perplexity"]:12.4f} {100*j["perplexity_change"]:+9.3f}% {j["mean_kl"]:12.6f} '
      f'{100*j["top1_agreement"]:9.2f}% {ok:>5} (<= +{100*limit:.1f}%)  f32 {j["reference_perplexity"]:.4f}')
PY
done
