#!/usr/bin/env bash
# sllm train against PyTorch over a whole short run: both start from the same weights (an sllm
# run of --max-iters 0) and draw the same windows (bench/shakespeare_char_torch.py --twin); every
# train loss of 60 steps (warmup, cosine, clipping, AdamW, biases) and the final whole-split val
# loss must agree within 1e-3.  Usage: twin_vs_torch.sh SLLM_BINARY DATA_DIR WORK_DIR
set -euo pipefail
sllm=$1 data=$2/tinyshakespeare.txt work=$3
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$data" ]; then echo "skipped: $data not found"; exit 0; fi
rm -rf "$work" && mkdir -p "$work"
for arch in gpt2 llama; do
  flags="--arch $arch --tokenizer char --data $data --n-layer 4 --n-head 4 --n-embd 128 --block-size 64
    --batch-size 12 --seed 7 --threads 1 --lr 1e-3 --min-lr 1e-4 --warmup-iters 20 --lr-decay-iters 60
    --weight-decay 0.1 --beta1 0.9 --beta2 0.99 --grad-clip 1.0 --eval-iters -1 --eval-interval 60
    --sample-tokens 0 --quiet"
  torch_flags="--arch $arch --no-embedding-decay"
  if [ "$arch" = gpt2 ]; then flags="$flags --bias true"; torch_flags="$torch_flags --bias"; fi
  # shellcheck disable=SC2086
  "$sllm" train $flags --max-iters 0 --out "$work/$arch-init" > /dev/null
  # shellcheck disable=SC2086
  "$sllm" train $flags --max-iters 60 --out "$work/$arch-run" > /dev/null
  # shellcheck disable=SC2086
  /usr/bin/python3 "$here/bench/shakespeare_char_torch.py" $torch_flags --data "$data" --seed 7 \
    --threads 1 --iters 60 --warmup 20 --twin "$work/$arch-init" \
    --metrics "$work/$arch-run/metrics.jsonl" --max-diff 1e-3
done
