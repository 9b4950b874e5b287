#!/usr/bin/python3
"""Plots validation-loss curves of several sllm finetune/distill runs into one SVG (no
matplotlib needed). Each run's metrics.jsonl (the trainer's) holds per step "step", "tokens" and
"train_s" (before the step's update), "loss" and, on evaluations, "val_loss".

usage: plot.py OUT.svg "TITLE" X_KEY [--y Y_KEY] LABEL=path/metrics.jsonl[@OFFSET] [LABEL=path ...]
Y_KEY (default val_loss) is any numeric key of the records, e.g. eval_rewards/accuracies.
X_KEY is tokens, seconds or step; @OFFSET shifts that run's x values (e.g. the seconds a run
spent before training, such as building its teacher cache)."""
import json
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def load(path, xkey, ykey="val_loss"):
    offset = 0.0
    if "@" in path:
        path, off = path.rsplit("@", 1)
        offset = float(off)
    pts = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get(ykey) is not None:
                key = {"seconds": "train_s"}.get(xkey, xkey)
                pts.append((float(r[key]) + offset, float(r[ykey])))
    return pts


def main():
    out, title, xkey = sys.argv[1], sys.argv[2], sys.argv[3]
    args, ykey = sys.argv[4:], "val_loss"
    if args[:1] == ["--y"]:
        ykey, args = args[1], args[2:]
    runs = []
    for arg in args:
        label, path = arg.split("=", 1)
        runs.append((label, load(path, xkey, ykey)))
    xs = [x for _, p in runs for x, _ in p]
    ys = [y for _, p in runs for _, y in p]
    x0, x1 = min(0.0, min(xs)), max(xs) or 1.0
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.05 or 0.1
    y0, y1 = y0 - pad, y1 + pad
    W, H, L, R, T, B = 860, 460, 70, 20, 40, 50
    sx = lambda x: L + (x - x0) / ((x1 - x0) or 1) * (W - L - R)
    sy = lambda y: T + (y1 - y) / ((y1 - y0) or 1) * (H - T - B)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">{xkey}</text>',
         f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 {(T + H - B) / 2})">{"validation loss" if ykey == "val_loss" else ykey}</text>']
    for i in range(6):
        xv = x0 + (x1 - x0) * i / 5
        yv = y0 + (y1 - y0) * i / 5
        s.append(f'<text x="{sx(xv)}" y="{H - B + 16}" text-anchor="middle">{xv:.3g}</text>')
        s.append(f'<text x="{L - 6}" y="{sy(yv) + 4}" text-anchor="end">{yv:.3f}</text>')
        s.append(f'<line x1="{L}" y1="{sy(yv)}" x2="{W - R}" y2="{sy(yv)}" stroke="#eee"/>')
    for k, (label, pts) in enumerate(runs):
        c = COLORS[k % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        s.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{path}"/>')
        for x, y in pts:
            s.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{c}"/>')
        last = f"{pts[-1][1]:.3f}" if pts else "-"
        s.append(f'<rect x="{W - R - 400}" y="{T + 8 + 18 * k}" width="12" height="4" fill="{c}"/>')
        s.append(f'<text x="{W - R - 382}" y="{T + 14 + 18 * k}">{label} (final {last})</text>')
    s.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
