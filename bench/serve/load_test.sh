#!/usr/bin/env bash
# Bounded wrk load test of `sllm serve` on loopback: 30 s of completions from 16 connections on
# the stories15M-shape model, sampling the server's RSS every 2 s. Memory must stay flat and
# wrk must see no errors (no non-2xx, no socket errors).
# Usage: bench/serve/load_test.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BUILD/bench/serve_bench" --write-model "$WORK/model" >/dev/null
"$BUILD/sllm" serve --model "m=$WORK/model" --port 0 --threads 2 --max-batch 16 --max-queue 64 --open 2> "$WORK/log" &
PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$WORK/log")
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"m","prompt":"Once upon a time","max_tokens":16,"temperature":0.8}'
LUA
echo "sllm serve pid $PID on port $PORT; wrk -t2 -c16 -d${SECS}s POST /v1/completions (16 tokens each)"
( for _ in $(seq $((SECS / 2 + 1))); do ps -o rss= -p $PID; sleep 2; done ) > "$WORK/rss" &
SAMPLER=$!
wrk -t2 -c16 -d"${SECS}s" --timeout 30s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/v1/completions" | tee "$WORK/wrk"
wait $SAMPLER
echo "RSS (KiB) every 2 s: $(tr '\n' ' ' < "$WORK/rss")"
awk 'NR==2{first=$1} {last=$1; if ($1>max) max=$1} END {printf "RSS after warm-up %d KiB, at end %d KiB, max %d KiB (growth %.1f%%)\n", first, last, max, 100*(last-first)/first}' "$WORK/rss"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^sllm_requests_total|^sllm_batch_size_(sum|count)|^sllm_time_to_first_token_seconds_(sum|count)'
if grep -q "Non-2xx\|Socket errors" "$WORK/wrk"; then echo "load test: ERRORS"; exit 1; fi
echo "load test: no errors"
