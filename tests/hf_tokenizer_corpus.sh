#!/usr/bin/env bash
# The tokenizer.json acceptance check on whole corpora: for each real tokenizer, every line of
# tinyshakespeare, the first 20,000 lines of NSMC (Korean) and the stress cases, encoded with
# and without special tokens, must equal @lenml/tokenizers' ids (transformers.js).
#   tests/hf_tokenizer_corpus.sh [BUILD_DIR] [TOKENIZER...]
# Needs node and `npm ci` in tests/node. Writes its scratch files to a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(llama3 qwen3 gemma3 llama2 deepseek_v3 gptoss)
DATA=../shared/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp "$DATA/tinyshakespeare.txt" "$TMP/shakespeare.txt"
xz -dc "$DATA/nsmc-ko.txt.xz" | head -n 20000 > "$TMP/nsmc.txt"

status=0
for m in "${MODELS[@]}"; do
  for corpus in shakespeare nsmc; do
    node tests/node/hf_tokenizer_reference.mjs corpus "$m" "$TMP/$corpus.txt" "$TMP/$m.$corpus.jsonl"
    if ! SLLM_HF_CORPUS_TEXT="$TMP/$corpus.txt" SLLM_HF_CORPUS_IDS="$TMP/$m.$corpus.jsonl" \
        SLLM_HF_CORPUS_MODEL="$m" "$BUILD/sllm_tests" --gtest_filter='HfTokenizerCorpus.*' \
        | grep -E "lines,|FAILED|Failure|line [0-9]+:"; then
      status=1
    fi
  done
done
exit $status
