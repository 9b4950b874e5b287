#!/usr/bin/env python3
"""bench/decode/compare.py: the side-by-side table of bench/decode/run.sh's rounds.

Reads ROUNDS_DIR/r<k>/{sllm,llama}-<shape>-<type>.json (decode_bench --json and llama_cpp_bench
--json of one cell, run one right after the other in round k) and prints, per cell and thread
count: each side's median tokens/s over the rounds, the sllm/llama.cpp ratio as the median of
the per-round ratios (both sides of a ratio measured within the same minute: this shared VM's
speed drifts by tens of percent between minutes) with its lowest and highest round, decode as a
fraction of the DRAM bound, and sllm against issue 4's llama-bench table (2 threads; taken on a
different machine). Standard library only.

usage: compare.py ROUNDS_DIR
"""
import json
import pathlib
import statistics
import sys


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"compare.py: cannot read {path}: {e}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1])
    rounds = sorted(p for p in root.glob("r*") if p.is_dir())
    if not rounds:
        sys.exit(f"compare.py: no rounds (r1, r2, ...) under {root}")
    # cell ("15M/q8_0/2") -> list over rounds of (sllm record, llama record)
    pairs = {}
    order = []
    for r in rounds:
        for s_file in sorted(r.glob("sllm-*.json")):
            l_file = r / s_file.name.replace("sllm-", "llama-", 1)
            if not l_file.exists():
                sys.exit(f"compare.py: {s_file} has no llama.cpp counterpart {l_file}")
            ours, theirs = load(s_file), load(l_file)
            for cell, rec in ours.items():
                if cell not in theirs:
                    sys.exit(f"compare.py: {l_file} lacks the cell {cell}")
                if cell not in pairs:
                    pairs[cell] = []
                    order.append(cell)
                pairs[cell].append((rec, theirs[cell]))

    def key(cell):
        shape, typ, th = cell.split("/")
        types = ["f32", "q8_0", "q4_0", "q4_1"]
        return (shape != "15M", types.index(typ) if typ in types else 9, int(th))

    med = statistics.median
    print(f"{len(rounds)} round(s); tokens/s are medians over the rounds; x llama.cpp is the median "
          "of the per-round ratios [lowest-highest round]")
    head = (f"{'shape':5} {'type':5} {'thr':>3} {'sllm pp':>8} {'sllm tg':>8} {'llama pp':>8} "
            f"{'llama tg':>8} {'pp x llama':>17} {'tg x llama':>17} {'tg/bound':>8} "
            f"{'x table pp/tg':>13} {'fa pp/tg':>8}")
    print(head)
    for cell in sorted(order, key=key):
        shape, typ, th = cell.split("/")
        rows = pairs[cell]
        s_pp, s_tg = med(o["pp"] for o, _ in rows), med(o["tg"] for o, _ in rows)
        l_pp, l_tg = med(t["pp"] for _, t in rows), med(t["tg"] for _, t in rows)
        pp_r = [o["pp"] / t["pp"] for o, t in rows]
        tg_r = [o["tg"] / t["tg"] for o, t in rows]
        bound = [o["bandwidth_gbs"] * 1e9 / o["bytes_per_token"] for o, _ in rows]
        frac = med(o["tg"] / b for (o, _), b in zip(rows, bound))
        table = rows[0][0].get("issue4_table")
        xt = f"{s_pp / table[0]:.2f}/{s_tg / table[1]:.2f}" if table else "-"
        fa = ",".join(sorted({t.get("fa", "?") for _, t in rows}))
        print(f"{shape:5} {typ:5} {th:>3} {s_pp:8.0f} {s_tg:8.1f} {l_pp:8.0f} {l_tg:8.1f} "
              f"{med(pp_r):5.2f} [{min(pp_r):4.2f}-{max(pp_r):4.2f}] "
              f"{med(tg_r):5.2f} [{min(tg_r):4.2f}-{max(tg_r):4.2f}] {100 * frac:7.0f}% "
              f"{xt:>13} {fa:>8}")


if __name__ == "__main__":
    main()
