#!/usr/bin/env bash
# Bounded load test of `sllm serve` on loopback, on the stories15M-shape model:
#  1. wrk: SECONDS of completions from 16 connections, sampling the server's RSS every 2 s;
#  2. pipelined keep-alive clients (4 requests per write, answered in order);
#  3. HTTP/1.0 clients (plain and streamed completions, bodies ended by the close);
#  4. 100 slowloris connections beyond --max-connections while a normal client asks /health
#     every 100 ms and must get 200 or 503 within 1 s;
#  5. the ledger: a server with a key, streams of which a third hang up early, and a kill -9
#     halfway; the ledger must equal what the clients received (see http_clients.py ledger).
# Each phase reports errors and p99 latency; RSS is printed before and after. Memory must stay
# flat and no phase may see an error. (bench/serve/http_clients.py is phases 2-4.)
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
status=0
if grep -q "Non-2xx\|Socket errors" "$WORK/wrk"; then echo "wrk: ERRORS"; status=1; fi
PHASE=$((SECS / 3 + 1))
CLIENTS="$ROOT/bench/serve/http_clients.py"
/usr/bin/python3 "$CLIENTS" pipeline "$PORT" "$PHASE" 8 || status=1
/usr/bin/python3 "$CLIENTS" http10 "$PORT" "$PHASE" 8 || status=1
/usr/bin/python3 "$CLIENTS" slow "$PORT" "$PHASE" $((64 + 100)) || status=1
echo "RSS before the extra phases $(tail -1 "$WORK/rss") KiB, after $(ps -o rss= -p $PID) KiB"
KEY=$("$BUILD/sllm" keys --db "$WORK/keys.db" create load 2>/dev/null)
"$BUILD/sllm" serve --model "m=$WORK/model" --port 0 --threads 2 --max-batch 16 --keys "$WORK/keys.db" 2> "$WORK/log2" &
PID2=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/log2" && break; sleep 0.1; done
PORT2=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$WORK/log2")
/usr/bin/python3 "$CLIENTS" ledger "$PORT2" "$SECS" 16 "$KEY" "$WORK/keys.db" > "$WORK/ledger" &
CLIENT=$!
sleep $((SECS / 2)); kill -9 $PID2
wait $CLIENT || status=1
cat "$WORK/ledger"
if [ $status != 0 ]; then echo "load test: ERRORS"; exit 1; fi
echo "load test: no errors"
