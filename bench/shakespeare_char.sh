#!/usr/bin/env bash
# Quality benchmark: nanoGPT's CPU recipe on tinyshakespeare, char-level (4 layers, 4 heads,
# n_embd 128, block 64, batch 12, 2000 iters, lr 1e-3 with 100 warmup steps and a cosine to
# 1e-4, dropout 0, weight decay 0.1 on matrices, betas 0.9/0.99, grad clip 1, first 90% train /
# last 10% val), with nanoGPT's default bias=False (no biases in linear layers and LayerNorms).
# nanoGPT's published val loss for it is 1.88: sllm must reach <= 1.88. Prints the final val
# loss, the wall time and the median training speed; exits 1 if the target is missed.
# The val loss is the mean over every window of the validation split (EVAL_ITERS=-1); nanoGPT's
# CPU line estimates it from 20 random batches (EVAL_ITERS=20), which is noisy.
# Usage: bench/shakespeare_char.sh [extra sllm train flags]
#   (env: SLLM, DATA, OUT, THREADS, EVAL_ITERS, SEED, BIAS, ARCH=gpt2|llama: the recipe on Llama's
#   blocks instead, RMSNorm, RoPE, SwiGLU, an extra data point, not nanoGPT's model)
# BIAS=true: GPT-2's biases in every linear layer and LayerNorm, as the issue's GPT-2 has them.
# The weights start from sllm train's default init, GPT-2's N(0, 0.02) scaled to the width:
# N(0, 0.02*sqrt(768/128) = 0.049), residual projections at 0.049/sqrt(2 n_layer) (--init-std;
# add `--init-std 0.02` for nanoGPT's own init, tuned for GPT-2's 768 wide).
# Measured on AMD Zen 5, 2 threads, seeds 1337, 1-8, 42 (about 70 s each on an idle machine):
#   BIAS=true:  val 1.7595, 1.7587, 1.7461, 1.7809, 1.7576, 1.7605, 1.7558, 1.7557, 1.7610, 1.7652
#               (mean 1.7601, sd 0.0088; every seed below 1.88)
#   BIAS=false: val 1.7666, 1.7599, 1.7666, 1.7745, 1.7675, 1.7733, 1.7619, 1.7482, 1.7693, 1.7669
#               (mean 1.7655, sd 0.0075)
#   The init's std, BIAS=true, seed 1337: 0.02 -> 1.8899, 0.03 -> 1.8145, 0.04 -> 1.7876,
#   0.049 -> 1.7595, 0.088 (1/sqrt(128)) -> 1.7557; 0.049 only on the attention and MLP input
#   matrices -> 1.7731, on those and the embeddings -> 1.7551; zero residual projections with the
#   rest at 0.02 (4 seeds) -> 0.015 worse than 0.02.
#   PyTorch's copy, `bench/shakespeare_char_torch.py --bias --no-embedding-decay --init-std
#   0.04898979` (its own generator), seeds 1337 and 1: 1.7524, 1.7453. `--twin` from sllm's
#   seed-1337 weights and windows: train losses within 2.4e-4 over the 2000 steps, val 1.759408
#   against sllm's 1.759482. ARCH=llama, seed 1337: 1.6255 (1.6790 at 0.02). --dtype bfloat16,
#   seed 1337: 1.7594 (ARCH=llama 1.6270).
# With nanoGPT's init (--init-std 0.02): BIAS=true over the same seeds 1.8899, 1.8992, 1.9015,
# 1.8945, 1.8963, 1.9097, 1.9024, 1.8965, 1.9086, 1.9083 (mean 1.9007, the same bits on Zen 4 and
# Zen 5); bias=False, seed 1337: 1.8968 (Zen 4; 1.9079 on Zen 5, whose kernels round
# differently). PyTorch's copy of the recipe, `bench/shakespeare_char_torch.py --bias
# --no-embedding-decay`, over the same seeds (its own generator): mean 1.8949, 1.8794-1.9095.
# Started from sllm's weights and windows (`--twin`) it ends at sllm's val loss to 1e-4 (1.8898 /
# 1.8968), its train loss within 1e-3 at every step. `--evaluate` shows how noisy nanoGPT's
# 20-batch estimate is: for sllm's 1.8899 model it gives 1.869-1.911 (5-95%), <= 1.88 in a
# quarter of draws.
set -euo pipefail
cd "$(dirname "$0")/.."
SLLM=${SLLM:-build/sllm}
DATA=${DATA:-../shared/data/tinyshakespeare.txt}
OUT=${OUT:-runs/bench-shakespeare-char}
THREADS=${THREADS:-2}
TARGET=1.88
if [ ! -f "$DATA" ]; then
  echo "shakespeare_char: skipped, $DATA not found (the shared reference data)"
  exit 0
fi
[ -x "$SLLM" ] || { echo "shakespeare_char: $SLLM not built (ninja -C build sllm)" >&2; exit 2; }
rm -rf "$OUT"
echo "load before: $(uptime)"
start=$(date +%s.%N)
"$SLLM" train --arch "${ARCH:-gpt2}" --bias "${BIAS:-false}" --tokenizer char --data "$DATA" --out "$OUT" \
  --n-layer 4 --n-head 4 --n-embd 128 --block-size 64 --batch-size 12 --grad-accum 1 \
  --max-iters 2000 --lr 1e-3 --min-lr 1e-4 --warmup-iters 100 --lr-decay-iters 2000 \
  --weight-decay 0.1 --beta1 0.9 --beta2 0.99 --grad-clip 1.0 --val-fraction 0.1 \
  --eval-interval 250 --eval-iters "${EVAL_ITERS:--1}" --sample-tokens 300 --seed "${SEED:-1337}" --threads "$THREADS" "$@" |
  grep -v '^step [0-9]*/' || true
end=$(date +%s.%N)
echo "load after: $(uptime)"
/usr/bin/python3 - "$OUT/metrics.jsonl" "$start" "$end" "$TARGET" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
val = [r for r in recs if "val_loss" in r]
train = [r for r in recs if "loss" in r]
wall = float(sys.argv[3]) - float(sys.argv[2])
final = val[-1]["val_loss"]
speed = sorted(r["tokens_per_s"] for r in train)[len(train) // 2]
target = float(sys.argv[4])
print(f"shakespeare_char: steps {val[-1]['step']}, final val loss {final:.4f} (nanoGPT: {target}), "
      f"final train loss {train[-1]['loss']:.4f}, wall {wall:.1f} s, median {speed:.0f} tokens/s")
print("PASS" if final <= target else "FAIL: val loss above target")
sys.exit(0 if final <= target else 1)
PY
