#!/usr/bin/env bash
# bench/quant/ggml_agreement.sh: sllm against llama.cpp on k-quant GGUF files written by llama.cpp
# itself (issue 23's acceptance). Opt-in: it needs the benchmarks built and node-llama-cpp's
# libraries (npm install --omit=optional in bench/decode; this script does it when missing).
#   1. decode_bench --write-gguf writes bench/decode's random-weight stories110M as F32 GGUF;
#   2. llama_cpp_bench --quantize runs llama_model_quantize() on it for each --types mix
#      (llama.cpp's own quantizer and per-tensor rules);
#   3. llama_cpp_bench --greedy: llama.cpp's greedy 128 tokens and every step's logits;
#   4. decode_bench --compare-greedy: sllm on the same file, following llama.cpp's tokens: its
#      greedy choice must equal llama.cpp's at every step and every logit be within --max-diff.
#   5. llama.cpp against itself (flash attention on vs off) on the first type: the drift that
#      float summation order and f16 rounding inside llama.cpp's own two attention paths give;
#   6. with an importance matrix (sllm imatrix on tinyshakespeare): llama.cpp's quantize and
#      sllm's quantize + export write the same q4_k_m tensors byte for byte.
#   Then the same for sllm's own export (sllm export --type q4_k_m) loaded by llama.cpp.
#
# usage: bench/quant/ggml_agreement.sh build [--types q4_k_m,q5_k_m,q6_k,iq4_xs] [--tokens 128]
#          [--max-diff 1e-3]
set -euo pipefail
usage="usage: $0 path/to/build [--types q4_k_m,q5_k_m,q6_k,iq4_xs] [--tokens 128] [--max-diff 1e-3]"
[[ $# -ge 1 ]] || { echo "$usage" >&2; exit 2; }
build=$(realpath "$1")
shift
types=q4_k_m,q5_k_m,q6_k,iq4_xs tokens=128 max_diff=1e-3
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || { echo "$0: $1 needs a value" >&2; exit 2; }
  case $1 in
    --types) types=$2 ;;
    --tokens) tokens=$2 ;;
    --max-diff) max_diff=$2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift 2
done
for b in bench/decode_bench bench/llama_cpp_bench sllm; do
  [[ -x $build/$b ]] || { echo "$0: $build/$b is missing (build sllm and the benchmarks)" >&2; exit 2; }
done
decode=$(cd "$(dirname "$0")/../decode" && pwd)
lib=$decode/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
[[ -f $lib/libllama.v0.5.0.so ]] || (cd "$decode" && npm install --omit=optional --no-audit --no-fund)
llama=("$build/bench/llama_cpp_bench" --lib "$lib")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/bench/decode_bench" --write-gguf "$tmp" --shapes 110M --types f32 | grep -v '^wrote .*json'
status=0
check() {  # FILE LABEL
  "${llama[@]}" --greedy "$1" --dump "$tmp/llama.bin" --tokens "$tokens" > /dev/null
  "$build/bench/decode_bench" --compare-greedy "$1" --dump "$tmp/llama.bin" --max-diff "$max_diff" ||
    status=1
}
for t in ${types//,/ }; do
  echo "== llama.cpp's $t"
  "${llama[@]}" --quantize "$tmp/stories110M-$t.gguf" --from "$tmp/stories110M-f32.gguf" --ftype "$t"
  check "$tmp/stories110M-$t.gguf"
done
echo "== llama.cpp against itself on q4_k_m: flash attention on, fed the tokens of the run above"
t=${types%%,*}
"${llama[@]}" --greedy "$tmp/stories110M-$t.gguf" --dump "$tmp/llama.bin" --tokens "$tokens" > /dev/null
"${llama[@]}" --greedy "$tmp/stories110M-$t.gguf" --follow "$tmp/llama.bin" --tokens "$tokens"
echo "== with an importance matrix: sllm imatrix, then llama.cpp's and sllm's q4_k_m from it"
data=$(cd "$(dirname "$0")/../.." && pwd)/../shared/data/tinyshakespeare.txt
head -c 60000 "$data" > "$tmp/calibration.txt"
"$build/sllm" imatrix -m "$tmp/stories110M-f32.gguf" --data "$tmp/calibration.txt" \
  --out "$tmp/imatrix.dat" --chunk-size 128 --chunks 8 2>&1 | tail -1
"${llama[@]}" --quantize "$tmp/llama-q4_k_m-imatrix.gguf" --from "$tmp/stories110M-f32.gguf" \
  --ftype q4_k_m --imatrix "$tmp/imatrix.dat"
"$build/sllm" quantize -m "$tmp/stories110M-f32.gguf" -o "$tmp/sllm-q4_k_m-imatrix" --type q4_k_m \
  --imatrix "$tmp/imatrix.dat" 2>&1 | tail -1
"$build/sllm" export --model "$tmp/sllm-q4_k_m-imatrix" --out "$tmp/sllm-q4_k_m-imatrix.gguf" >/dev/null
"${llama[@]}" --same-tensors "$tmp/sllm-q4_k_m-imatrix.gguf" --as "$tmp/llama-q4_k_m-imatrix.gguf" |
  tail -1 || status=1
echo "== sllm's q4_k_m (sllm export), in llama.cpp"
"$build/sllm" export --model "$tmp/stories110M-f32.gguf" --out "$tmp/sllm-q4_k_m.gguf" --type q4_k_m
check "$tmp/sllm-q4_k_m.gguf"
exit $status
