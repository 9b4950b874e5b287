#!/usr/bin/python3
"""Synthetic preference data from the King James Bible (Debian's bible-kjv) for the DPO
benchmark (bench/adapt/dpo.sh). Each pair's prompt is a verse; chosen is the true next verse;
rejected is that verse with its words shuffled, or (every other pair) a verse from another book.
The first 90% of the verse pairs train, the rest are held out:
  train.jsonl, val.jsonl   {"prompt", "chosen", "rejected"} rows (TRL's standard layout)
  next_verse.jsonl         a 4-way multiple-choice task on held-out verses (sllm eval --tasks):
                           the true next verse, it shuffled, and two verses from other books
  heldout.txt              the held-out verses as plain text (perplexity)
  corpus.txt               the training verses as plain text (pretraining the base model)
usage: make_dpo_data.py OUT_DIR N_TRAIN N_VAL N_TASK [SEED]"""
import json
import random
import re
import subprocess
import sys

out, n_train, n_val, n_task = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
kjv = subprocess.run(["bible", "-l0", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
verses, book = [], None
for line in kjv.splitlines():
    m = re.match(r"^\s*\d+\s+(.*)$", line)
    if m:
        verses.append((book, m.group(1).strip()))
    elif line.strip():
        book = line.strip().rsplit(" ", 1)[0]
MAX_CHARS = 160  # completions and choices fit the benchmark's 256-byte context whole
cut = int(len(verses) * 0.9)
train_v, held_v = verses[:cut], verses[cut:]


def shuffled(text):
    words = text.split()
    for _ in range(10):
        rng.shuffle(words)
        if " ".join(words) != text:
            break
    return " ".join(words)


def other_book(pool, b):
    while True:
        v = rng.choice(pool)
        if v[0] != b and len(v[1]) <= MAX_CHARS:
            return v[1]


def pairs(pool, n):
    rows = []
    for k in range(n):
        i = rng.randrange(len(pool) - 1)
        (b, prompt), (b2, nxt) = pool[i], pool[i + 1]
        if b != b2 or len(nxt.split()) < 4 or len(nxt) > MAX_CHARS:
            continue
        rej = shuffled(nxt) if k % 2 == 0 else other_book(pool, b)
        rows.append({"prompt": prompt + "\n", "chosen": nxt + "\n", "rejected": rej + "\n"})
    return rows


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


write_jsonl(f"{out}/train.jsonl", pairs(train_v, n_train))
write_jsonl(f"{out}/val.jsonl", pairs(held_v, n_val))
task = []
while len(task) < n_task:
    i = rng.randrange(len(held_v) - 1)
    (b, prompt), (b2, nxt) = held_v[i], held_v[i + 1]
    if b != b2 or len(nxt.split()) < 4 or len(nxt) > MAX_CHARS:
        continue
    choices = [nxt, shuffled(nxt), other_book(held_v, b), other_book(held_v, b)]
    order = list(range(4))
    rng.shuffle(order)
    task.append({"context": prompt, "choices": [choices[o] + "\n" for o in order], "gold": order.index(0),
                 "target_delimiter": "\n"})
write_jsonl(f"{out}/next_verse.jsonl", task)
open(f"{out}/heldout.txt", "w").write("\n".join(v for _, v in held_v) + "\n")
open(f"{out}/corpus.txt", "w").write("\n".join(v for _, v in train_v) + "\n")
print(f"dpo data: {len(train_v)} train verses, {len(held_v)} held out; {n_train} train pairs asked, "
      f"{n_val} val pairs asked, {len(task)} task items")
