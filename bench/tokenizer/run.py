#!/usr/bin/env python3
"""bench/tokenizer: sllm's tokenizer against npm's gpt-tokenizer, in one go, with ratios.

  bench/tokenizer/run.py [--build build] [--seconds 2]

1. Encode throughput, r50k and o200k, on tinyshakespeare and on 2 MB of Korean (NSMC):
   sllm with 1 and 2 threads vs gpt-tokenizer (node, 1 thread). Target: >= 3x single-threaded.
2. Training: a 32,000-token BPE vocabulary on the whole 62 MB Korean corpus, 2 threads.
   Target: <= 60 s, peak RSS <= 2 GB.
3. Korean quality: 32k trained on the first 90% of NSMC's lines; bytes per token on the last
   10% vs cl100k and o200k. Target: fewer tokens than o200k.
Needs node + npm (installs gpt-tokenizer into bench/tokenizer/node_modules, gitignored).
"""
import argparse, json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
DATA = os.path.abspath(os.path.join(ROOT, '..', 'shared', 'data'))


def run_json(cmd, cwd=None):
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--seconds', type=float, default=2.0, help='minimum timing window per measurement')
    args = ap.parse_args()
    env = dict(os.environ, OPENBLAS_CORETYPE='SkylakeX')
    os.environ.update(env)
    subprocess.run(['ninja', '-C', args.build, 'tokenizer_bench'], check=True, capture_output=True)
    bench = os.path.join(args.build, 'bench', 'tokenizer_bench')
    if not os.path.isdir(os.path.join(HERE, 'node_modules', 'gpt-tokenizer')):
        subprocess.run(['npm', 'install', '--no-audit', '--no-fund'], cwd=HERE, check=True)
    print('load average:', ' '.join(f'{x:.1f}' for x in os.getloadavg()), f'({os.cpu_count()} cores; timings are noisy when others build)')

    with tempfile.TemporaryDirectory() as tmp:
        ko = subprocess.run(['xz', '-dc', os.path.join(DATA, 'nsmc-ko.txt.xz')], check=True, capture_output=True).stdout
        ko_all = os.path.join(tmp, 'nsmc.txt')
        open(ko_all, 'wb').write(ko)
        lines = ko.splitlines(keepends=True)
        cut = len(lines) * 9 // 10
        ko_train, ko_test, ko_small = (os.path.join(tmp, n) for n in ('train.txt', 'test.txt', 'ko-2mb.txt'))
        open(ko_train, 'wb').write(b''.join(lines[:cut]))
        open(ko_test, 'wb').write(b''.join(lines[cut:]))
        small, size = [], 0
        for l in lines:  # the peer needs ~0.1 MB/s on Korean o200k here: keep its input small
            if size >= 2_000_000:
                break
            small.append(l)
            size += len(l)
        open(ko_small, 'wb').write(b''.join(small))

        print('\n== encode throughput (MB/s), sllm vs gpt-tokenizer (node)')
        print(f'{"corpus":<16}{"encoding":<12}{"tokens":>10}{"peer 1t":>10}{"sllm 1t":>10}{"sllm 2t":>10}{"1t ratio":>10}{"2t ratio":>10}')
        corpora = [('tinyshakespeare', os.path.join(DATA, 'tinyshakespeare.txt')), ('nsmc-ko 2MB', ko_small)]
        for cname, path in corpora:
            for enc in ('r50k_base', 'o200k_base'):
                tok = os.path.join(DATA, 'tokenizers', enc + '.tiktoken')
                s = str(args.seconds)
                one = run_json([bench, 'encode', tok, path, '1', s])
                two = run_json([bench, 'encode', tok, path, '2', s])
                peer = run_json(['node', 'peer.mjs', enc, path, s], cwd=HERE)
                same = '' if one['tokens'] == peer['tokens'] == two['tokens'] else '  TOKEN COUNTS DIFFER'
                print(f'{cname:<16}{enc:<12}{one["tokens"]:>10}{peer["mb_per_s"]:>10.2f}{one["mb_per_s"]:>10.2f}'
                      f'{two["mb_per_s"]:>10.2f}{one["mb_per_s"] / peer["mb_per_s"]:>9.1f}x{two["mb_per_s"] / peer["mb_per_s"]:>9.1f}x{same}')

        print('\n== training: 32k vocab on the whole Korean corpus, 2 threads (target <= 60 s, <= 2 GB)')
        tr = run_json([bench, 'train', ko_all, '32000', '2', os.path.join(tmp, 'ko32k.sllmtok')])
        print(f'{tr["bytes"] / 1e6:.1f} MB: {tr["seconds"]:.1f} s (counting {tr["count_seconds"]:.1f} s, '
              f'merging {tr["merge_seconds"]:.1f} s), peak RSS {tr["peak_rss_mb"]:.0f} MB')

        print('\n== Korean quality: 32k trained on 90% of NSMC, held-out 10%')
        ours = os.path.join(tmp, 'ko90.sllmtok')
        run_json([bench, 'train', ko_train, '32000', '2', ours])
        rows = [('sllm bpe 32k', ours)] + [(e, os.path.join(DATA, 'tokenizers', e + '.tiktoken')) for e in ('cl100k_base', 'o200k_base')]
        counts = {}
        for name, tok in rows:
            c = run_json([bench, 'count', tok, ko_test])
            counts[name] = c
        o200k = counts['o200k_base']['tokens']
        print(f'{"tokenizer":<16}{"vocab":>8}{"tokens":>10}{"bytes/token":>13}{"vs o200k":>10}')
        for name, c in counts.items():
            print(f'{name:<16}{c["vocab"]:>8}{c["tokens"]:>10}{c["bytes"] / c["tokens"]:>13.3f}{c["tokens"] / o200k:>9.2f}x')


if __name__ == '__main__':
    main()
