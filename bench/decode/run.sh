#!/usr/bin/env bash
# bench/decode/run.sh: sllm's decode_bench and llama.cpp side by side on this machine, on the same
# random models, with ratios sllm/llama.cpp for every cell. Builds nothing: pass the built
# decode_bench. It
#   1. writes the models decode_bench runs as GGUF files to a temp dir (decode_bench --write-gguf),
#   2. installs the llama.cpp peer (node-llama-cpp's prebuilt CPU binaries) here when it is not
#      installed yet (npm install --omit=optional from package-lock.json: no CUDA/Vulkan builds;
#      not npm ci, which refuses a lock file without the mac/win optional packages this
#      registry lacks),
#   3. checks that llama.cpp's greedy next token on the f32 models is sllm's (llama_cpp_peer.mjs
#      --check),
#   4. runs the llama.cpp peer, then decode_bench --peer with its numbers (one after the other,
#      never both at once), which prints the side-by-side table.
#
# usage: bench/decode/run.sh build/bench/decode_bench [--shapes 15M,110M]
#          [--types f32,q8_0,q4_0,q4_1] [--threads 1,2] [--tokens 128] [decode_bench flags...]
#   --shapes/--types/--threads/--tokens go to both sides; anything else (--bandwidth GBs) to
#   decode_bench only. Needs node (18+) and npm; the first run downloads about 85 MB from npm.
set -euo pipefail
if [[ $# -lt 1 || ! -x $1 ]]; then
  echo "usage: $0 path/to/decode_bench [--shapes S] [--types T] [--threads N,M] [--tokens N] [...]" >&2
  exit 2
fi
bench=$(realpath "$1")
shift
here=$(cd "$(dirname "$0")" && pwd)
common=() extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --shapes | --types | --threads | --tokens) common+=("$1" "$2"); shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench" --write-gguf "$tmp" "${common[@]}" | grep -v '^wrote .*gguf:' || true
ls "$tmp"/*.gguf > /dev/null

if [[ ! -d $here/node_modules/node-llama-cpp || ! -d $here/node_modules/@node-llama-cpp/linux-x64 ]]; then
  (cd "$here" && npm install --omit=optional --no-audit --no-fund)
fi

peer=(node "$here/llama_cpp_peer.mjs" --dir "$tmp" "${common[@]}")
if [[ -f $tmp/sllm_reference.json ]]; then
  echo "== correctness: llama.cpp vs sllm, f32, last-position logits"
  "${peer[@]}" --check
fi
echo "== llama.cpp (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"${peer[@]}" --json "$tmp/llama_cpp.json"
echo
echo "== sllm decode_bench with llama.cpp's numbers from above (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$bench" --peer "$tmp/llama_cpp.json" "${common[@]}" "${extra[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
