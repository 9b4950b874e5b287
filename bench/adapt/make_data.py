#!/usr/bin/python3
"""Prepares the adaptation benchmark's data from public-domain text:
  shakespeare_sub.txt  the first SUB characters of tinyshakespeare (the limited real data the
                       students see) and shakespeare_val.txt (its last 10%, never trained on);
  bible.txt            the King James Bible (Debian's bible-kjv, verse numbers stripped), reduced
                       to the characters of tinyshakespeare's vocabulary: the LoRA target domain;
  prompts.txt          prompts for synthetic-data distillation, cut from shakespeare_sub.txt.
usage: make_data.py SHAKESPEARE OUT_DIR SUB N_PROMPTS PROMPT_CHARS"""
import re
import subprocess
import sys

src, out, sub, n_prompts, prompt_chars = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
text = open(src, encoding="utf-8").read()
vocab = set(text)
n_val = len(text) // 10
val, train = text[-n_val:], text[:-n_val]
open(f"{out}/shakespeare_val.txt", "w").write(val)
open(f"{out}/shakespeare_sub.txt", "w").write(train[:sub])

kjv = subprocess.run(["bible", "-l0", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
lines = [re.sub(r"^\s*\d+\s+", "", l) for l in kjv.splitlines() if re.match(r"^\s*\d+\s", l)]
bible = "\n".join(lines) + "\n"
bible = "".join(c for c in bible if c in vocab)
open(f"{out}/bible.txt", "w").write(bible[:400_000])

# Prompts: line starts of the limited real data, so the teacher continues in its style.
sub_text = train[:sub]
starts = [m.start() for m in re.finditer(r"\n[A-Z][a-z]+", sub_text)]
step = max(1, len(starts) // n_prompts)
prompts = []
for s in starts[::step][:n_prompts]:
    p = sub_text[s + 1:s + 1 + prompt_chars].split("\n")[0]
    if p.strip():
        prompts.append(p)
open(f"{out}/prompts.txt", "w").write("\n".join(prompts) + "\n")
print(f"data: {sub} real chars, {len(val)} val chars, {len(bible[:400_000])} bible chars, {len(prompts)} prompts")
