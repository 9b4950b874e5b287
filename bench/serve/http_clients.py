#!/usr/bin/python3
"""Raw-socket clients for bench/serve/load_test.sh: what wrk cannot do.

  http10 PORT SECONDS CONNS   HTTP/1.0 clients (plain and streamed completions, bodies ended by
                              the close), CONNS at a time
  slow PORT SECONDS CONNS     CONNS slowloris connections (heads that never end) while a normal
                              client asks /health every 100 ms: each answer must be 200 or 503
                              and come within 1 s
  pipeline PORT SECONDS CONNS keep-alive clients that write 4 requests at once and check that 4
                              responses come back in order

  ledger PORT SECONDS CONNS KEY DB
                              streamed completions with a key, a third of them hung up after
                              a random number of chunks; the server is killed (kill -9) by the
                              caller meanwhile. Then the ledger in DB must equal what the clients
                              received: every finished or hung-up stream, within each hung-up
                              stream's last chunk, and nothing else but the streams the kill cut

Each prints one line: requests, errors, p50/p99 latency. Exit status 1 on any error.
"""
import random
import sqlite3
import json
import socket
import sys
import threading
import time

BODY = json.dumps({"model": "m", "prompt": "Once upon a time", "max_tokens": 16,
                   "temperature": 0.8})


def post(path, body, version="HTTP/1.1", extra=""):
    return (f"POST {path} {version}\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n{body}").encode()


def read_to_close(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


def report(name, latencies, errors):
    latencies.sort()
    n = len(latencies)
    p = lambda q: latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")
    print(f"{name}: {n} requests, {errors} errors, latency p50 {p(0.5):.1f} ms, "
          f"p99 {p(0.99):.1f} ms, max {p(1.0):.1f} ms")
    return errors


def run_threads(conns, seconds, fn):
    lat, errs, lock = [], [0], threading.Lock()
    end = time.time() + seconds

    def loop(i):
        while time.time() < end:
            t0 = time.time()
            try:
                ok = fn(i)
            except OSError:
                ok = False
            with lock:
                lat.append(time.time() - t0)
                errs[0] += not ok

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, errs[0]


def http10(port, seconds, conns):
    def one(i):
        stream = i % 2 == 1
        body = json.loads(BODY)
        body["stream"] = stream
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(post("/v1/completions", json.dumps(body), "HTTP/1.0"))
            reply = read_to_close(s).decode(errors="replace")
        head, _, payload = reply.partition("\r\n\r\n")
        if not head.startswith("HTTP/1.1 200") or "chunked" in head:
            return False
        if stream:
            return payload.rstrip().endswith("data: [DONE]")
        return json.loads(payload)["usage"]["completion_tokens"] > 0

    return report("HTTP/1.0 clients", *run_threads(conns, seconds, one))


def pipeline(port, seconds, conns):
    socks = {}

    def one(i):
        s = socks.get(i)
        if s is None:
            s = socks[i] = socket.create_connection(("127.0.0.1", port), timeout=30)
        reqs = [b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", post("/v1/completions", BODY),
                post("/tokenize", json.dumps({"model": "m", "prompt": "abc"})),
                b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"]
        s.sendall(b"".join(reqs))
        f = s.makefile("rb")
        closing = False  # The server ends a connection after 100 requests (Connection: close).
        for _ in reqs:
            status = f.readline()
            if not status.startswith(b"HTTP/1.1 200"):
                socks.pop(i).close()
                return False
            length, chunked = None, False
            while True:
                h = f.readline().strip().lower()
                if not h:
                    break
                if h.startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
                if h.startswith(b"transfer-encoding:"):
                    chunked = True
                if h == b"connection: close":
                    closing = True
            if chunked:
                while True:
                    n = int(f.readline().strip().split(b";")[0], 16)
                    f.read(n + 2)
                    if n == 0:
                        break
            else:
                f.read(length or 0)
            if closing:
                socks.pop(i).close()
                return True
        return True

    return report("pipelined keep-alive clients (4 requests per write)",
                  *run_threads(conns, seconds, one))


def slow(port, seconds, conns):
    held = []
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(s)
    lat, errors, codes = [], 0, {}
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.time()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                code = read_to_close(s)[9:12].decode()
        except OSError:
            code = "timeout"
        dt = time.time() - t0
        lat.append(dt)
        codes[code] = codes.get(code, 0) + 1
        errors += code not in ("200", "503") or dt > 1.0
        time.sleep(0.1)
    for s in held:
        s.close()
    print(f"normal client beside {conns} slow connections: answers {codes}")
    return report("normal client /health", lat, errors)


def ledger(port, seconds, conns, key, db):
    # Per stream: (prompt + completion tokens the client saw, how it ended). A finished stream
    # says its usage; a hung-up one is counted one token per content chunk it received (true
    # when decoding is slower than the writer, as on the bench model; a model fast enough to
    # put several tokens in a chunk is billed more than this count), plus its prompt as
    # /tokenize counts it.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(post("/tokenize", json.dumps({"model": "m", "prompt": "Once upon a time"}),
                       extra=f"Authorization: Bearer {key}\r\nConnection: close\r\n"))
        prompt = json.loads(read_to_close(s).partition(b"\r\n\r\n")[2])["count"]
    results, lock = [], threading.Lock()
    end = time.time() + seconds
    rng = random.Random(1)

    def loop(i):
        while time.time() < end:
            with lock:
                hang_up_after = rng.randint(2, 12) if rng.random() < 1 / 3 else None
            body = {"model": "m", "prompt": "Once upon a time", "max_tokens": 24,
                    "temperature": 0.8, "stream": True, "stream_options": {"include_usage": True}}
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
            except OSError:
                return  # The server is gone (the kill).
            seen, usage, ended, buf = 0, None, "cut", b""

            def events(data):
                # Complete lines of the response so far: the SSE data lines (chunk-size lines
                # and keep-alive comments are skipped).
                nonlocal buf
                buf += data
                *lines, buf = buf.split(b"\n")
                return [l[6:].strip() for l in lines if l.startswith(b"data: ")]

            def take(payload):
                nonlocal seen, usage
                if payload == b"[DONE]":
                    return True
                ev = json.loads(payload)
                if ev.get("usage"):
                    usage = ev["usage"]["total_tokens"]
                elif ev["choices"] and ev["choices"][0]["text"]:
                    seen += 1
                return False

            try:
                s.sendall(post("/v1/completions", json.dumps(body),
                               extra=f"Authorization: Bearer {key}\r\n"))
                rest = []  # Events that arrived with the one the client hung up after.
                while ended == "cut":
                    data = s.recv(65536)
                    if not data:
                        break
                    got = events(data)
                    for k, payload in enumerate(got):
                        if take(payload):
                            ended = "done"
                            break
                        if hang_up_after is not None and seen >= hang_up_after:
                            ended, rest = "hung up", got[k + 1:]
                            break
                if ended == "hung up":
                    # What already arrived was received too: it is counted, then the client
                    # closes with the rest unread.
                    s.setblocking(False)
                    try:
                        while True:
                            data = s.recv(65536)
                            if not data:
                                break
                            buf += data
                    except BlockingIOError:
                        pass
                    for payload in rest + events(b""):
                        if take(payload):
                            ended = "done"
            except (OSError, ValueError):
                pass
            s.close()
            with lock:
                results.append((usage if ended == "done" else prompt + seen, ended))

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    counted = sum(n for n, e in results if e != "cut")
    hung = sum(1 for _, e in results if e == "hung up")
    cut = [n for n, e in results if e == "cut"]
    con = sqlite3.connect(db)
    billed, rows = con.execute(
        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0), COUNT(*) FROM usage").fetchone()
    # A hung-up stream may be billed the chunk in flight when it hung up; a stream the kill cut
    # may be in the ledger (up to prompt + max_tokens) or not.
    slack = 2 * hung + len(cut) * (prompt + 24)
    ok = counted <= billed <= counted + slack
    print(f"ledger: {len(results)} streams ({hung} hung up, {len(cut)} cut by the kill), "
          f"clients received {counted} tokens, ledger {billed} tokens in {rows} rows, "
          f"allowed {counted}..{counted + slack}: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    mode, port, seconds, conns = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    if mode == "ledger":
        sys.exit(ledger(port, seconds, conns, sys.argv[5], sys.argv[6]))
    sys.exit(1 if {"http10": http10, "slow": slow, "pipeline": pipeline}[mode](port, seconds, conns)
             else 0)
