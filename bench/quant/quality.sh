#!/usr/bin/env bash
# bench/quant/quality.sh: how much each quantization costs a model sllm trained, against f32:
# perplexity change, mean KL(f32 || quantized) over the held-out text's next-token
# distributions, and bits per weight.
#   1. the uniform types at load (eval -q): issue 4's targets, Q8_0 within +0.5% of f32's
#      perplexity and the best 4-bit type within +5%;
#   2. llama.cpp's mixes written by `sllm quantize` (q4_0, q4_k_m, q5_k_m, q6_k), each without
#      and with an importance matrix from `sllm imatrix` on the training text: issue 23's
#      targets, Q4_K_M's KL below Q4_0's at no more than 1.15x its size, and the imatrix
#      cutting Q4_K_M's KL by 10% or more.
#
# usage: bench/quant/quality.sh [MODEL_DIR] [TEXT] [CALIBRATION]
#   MODEL_DIR    an sllm model directory (default: trains one on tinyshakespeare into
#                build/bench-quant/model256: llama, 4 layers, d=256, MLP 768 so every matrix
#                row is whole 256-blocks, char tokenizer, 1000 steps)
#   TEXT         held-out text (default: the last 10% of tinyshakespeare, which training held out)
#   CALIBRATION  imatrix text (default: 200 kB of tinyshakespeare's training part)
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
CALIB=${3:-}
if [[ -z "$TEXT" || -z "$CALIB" ]]; then
  [[ -f $DATA ]] || { echo "needs $DATA (or pass MODEL_DIR TEXT CALIBRATION)" >&2; exit 1; }
  n=$(stat -c %s "$DATA")
fi
if [[ -z "$TEXT" ]]; then
  tail -c $((n - n * 9 / 10)) "$DATA" > "$WORK/val.txt"
  TEXT=$WORK/val.txt
fi
if [[ -z "$CALIB" ]]; then
  head -c 200000 "$DATA" > "$WORK/calibration.txt"
  CALIB=$WORK/calibration.txt
fi
if [[ -z "$MODEL" ]]; then
  MODEL=$WORK/model256
  [[ -f $MODEL/model.safetensors ]] || "$SLLM" train --arch llama --n-layer 4 --n-head 4 \
    --n-embd 256 --intermediate-size 768 --block-size 128 --batch-size 12 --max-iters 1000 \
    --lr 1e-3 --min-lr 1e-4 --tokenizer char --data "$DATA" --out "$MODEL" --threads "$THREADS" \
    --quiet
fi
echo "uptime: $(uptime)"
echo "model $MODEL, text $TEXT, calibration $CALIB"

echo "== 1. uniform types, quantized at load"
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

echo "== 2. llama.cpp's mixes by sllm quantize, without and with an importance matrix"
"$SLLM" imatrix -m "$MODEL" --data "$CALIB" --out "$WORK/imatrix.dat" --chunk-size 128 \
  --threads "$THREADS" 2>&1 | tail -1
rows=$WORK/mixes.jsonl
: > "$rows"
for t in q4_0 q4_k_m q5_k_m q6_k; do
  for im in no yes; do
    out=$WORK/$t-imatrix-$im
    args=(quantize -m "$MODEL" -o "$out" --type "$t")
    [[ $im == yes ]] && args+=(--imatrix "$WORK/imatrix.dat")
    log=$("$SLLM" "${args[@]}" 2>&1) || { echo "$t ($im imatrix): quantize failed: $log"; continue; }
    bpw=$(grep -o '[0-9.]* bits/weight' <<<"$log" | cut -d' ' -f1)
    bytes=$(stat -c %s "$out/model.gguf")
    j=$("$SLLM" eval -m "$out" --reference "$MODEL" --perplexity "$TEXT" --threads "$THREADS" \
      --json 2>/dev/null) || { echo "$t ($im imatrix): eval failed"; continue; }
    echo "{\"type\": \"$t\", \"imatrix\": \"$im\", \"bpw\": $bpw, \"bytes\": $bytes, \"eval\": $j}" >> "$rows"
  done
done
/usr/bin/python3 - "$rows" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["type"], r["imatrix"]): r for r in rows}
print(f'{"type":<8} {"imatrix":>7} {"bits/w":>7} {"perplexity":>11} {"change":>9} {"mean_KL":>10} {"top1":>8}')
for r in rows:
    e = r["eval"]
    print(f'{r["type"]:<8} {r["imatrix"]:>7} {r["bpw"]:7.3f} {e["perplexity"]:11.4f} '
          f'{100*e["perplexity_change"]:+8.3f}% {e["mean_kl"]:10.6f} {100*e["top1_agreement"]:7.2f}%')
def kl(t, im): return by[(t, im)]["eval"]["mean_kl"]
if ("q4_0", "no") in by and ("q4_k_m", "no") in by:
    size = by[("q4_k_m", "no")]["bytes"] / by[("q4_0", "no")]["bytes"]
    ok = kl("q4_k_m", "no") < kl("q4_0", "no") and size <= 1.15
    print(f'Q4_K_M vs Q4_0: KL {kl("q4_k_m", "no"):.6f} vs {kl("q4_0", "no"):.6f} '
          f'({kl("q4_0", "no") / kl("q4_k_m", "no"):.2f}x lower), size {size:.3f}x: '
          f'{"ok" if ok else "MISS"} (target: lower KL at <= 1.15x the size)')
for t in ("q4_0", "q4_k_m", "q5_k_m", "q6_k"):
    if (t, "no") in by and (t, "yes") in by:
        cut = 1 - kl(t, "yes") / kl(t, "no")
        target = "  (target >= 10%: " + ("ok" if cut >= 0.10 else "MISS") + ")" if t == "q4_k_m" else ""
        print(f'imatrix cuts {t} KL by {100*cut:.1f}%{target}')
PY
