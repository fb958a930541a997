"""Cross-set search: `fastdupe find TRAIN --against TEST` beside `fastdupe find` on the union, one run, same files.

Takes the hard benchmark's images (`fastdupe.hard.build_hard_benchmark`, real photos with planted copies) and the
previous benchmark's (`fastdupe.eval.build_benchmark`), about 2,700 in all (built in temporary folders unless
`--data` names them), puts 2,000 of them in `train/` and 200 others in `test/` (symbolic
links, drawn at random with `--seed`, so copies of one picture fall on both sides), and runs the installed
`fastdupe` command as a user would:

- `fastdupe find train --against test`: one set's index queried with the other; only pairs across the sets;
- `fastdupe find union --splits none`: the same 2,200 images searched as one set (every pair, then grouped).

Each is run `--repeats` times, alternating, and the fastest run of each is compared (the machine is shared and noisy).
Printed side by side: wall time, groups, and what each finds across the sets: the training images flagged as copies
of a test image (what a user removes), and the cross-set pairs inside groups, against the ground truth.

End to end, both runs embed the same 2,200 images, which is nearly all of the time; so the search stage is also timed
alone, on the same feature vectors: the union's self-join (every image's top 20 among all) against the two cross
queries (each set's index queried with the other), at this size and with the vectors repeated to 20x the size.

Run: python bench/against_bench.py [--data HARD_DIR --data OLD_DIR] [--train 2000] [--test 200] [--repeats 2]
"""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).parent))
from cnn_bench import _cli  # one way to run the command for every bench

def _across(csv_fn: Path, side: dict) -> tuple[set, set]:
    "From a run's CSV: the pairs (frozensets of names) inside one group with one image on each side, and the training images that share a group with a test image."
    pairs, flagged = set(), set()
    for _, g in pd.read_csv(csv_fn).groupby('group'):
        names = [Path(p).name for p in g.path]
        train = [n for n in names if side[n] == 'train']
        test = [n for n in names if side[n] == 'test']
        pairs |= {frozenset((a, b)) for a in train for b in test}
        if test: flagged |= set(train)
    return pairs, flagged

def _search_times(work: Path, scale: int) -> dict:
    "Seconds for the search stage alone: union self-join vs cross queries, on the real vectors (tiled `scale` times with noise)."
    import torch
    from fastdupe.features import image_features
    from fastdupe.evidence import candidate_pairs as _candidates
    tr = image_features(sorted((work/'train').iterdir()), progress=False).vectors
    te = image_features(sorted((work/'test').iterdir()), progress=False).vectors
    rng = np.random.default_rng(0)
    def grow(v):
        v = np.concatenate([v + (rng.standard_normal(v.shape).astype(np.float32)*0.02 if r else 0) for r in range(scale)])
        return v/np.linalg.norm(v, axis=1, keepdims=True)
    tr, te = grow(tr), grow(te)
    v = np.concatenate([tr, te]); side = np.r_[np.ones(len(tr), bool), np.zeros(len(te), bool)]
    res = {}
    for name, s in (('union self-join', None), ('cross queries', side)):
        t0 = time.perf_counter(); _candidates(v, 20, None, 'exact', s); res[name] = time.perf_counter() - t0
    return res

def run(args):
    from fastdupe.eval import load_truth, build_benchmark
    from fastdupe.hard import build_hard_benchmark
    datas = [Path(d) for d in args.data] if args.data else [Path(tempfile.mkdtemp(prefix=f'fastdupe-{k}-')) for k in ('hard', 'old')]
    imgs, grp = [], {}
    for q, (data, build) in enumerate(zip(datas, (build_hard_benchmark, build_benchmark))):
        truth = load_truth(data) if (data/'truth.csv').exists() else build(data, seed=args.seed)
        g = dict(zip([Path(p).name for p in truth.table.path], truth.table.group))
        for f in sorted((data/'images').iterdir()):
            imgs.append((f, f'{q}_{f.name}')); grp[f'{q}_{f.name}'] = (q, g[f.name])
    if len(imgs) < args.train + args.test: raise SystemExit(f"need {args.train + args.test} images, {datas} have {len(imgs)}")
    pick = np.random.default_rng(args.seed).permutation(len(imgs))
    train, test = [imgs[q] for q in pick[:args.train]], [imgs[q] for q in pick[args.train:args.train + args.test]]
    work = Path(tempfile.mkdtemp(prefix='fastdupe-against-'))
    for sub, files in (('train', train), ('test', test), ('union/a', train), ('union/b', test)):
        (work/sub).mkdir(parents=True)
        for f, name in files: os.symlink(f.resolve(), work/sub/name)
    side = {n: 'train' for _, n in train} | {n: 'test' for _, n in test}
    true_cross = {frozenset((a, b)) for _, a in train for _, b in test if grp[a] == grp[b]}
    print(f"{len(train)} train + {len(test)} test images from {', '.join(map(str, datas))}; "
          f"{len(true_cross)} true cross-set copy pairs\n")
    _cli('find', work/'test', '--method', 'phash', '--quiet')  # warm the page cache and imports
    times = {'against': [], 'union': []}
    for r in range(args.repeats):
        t, _ = _cli('find', work/'train', '--against', work/'test', '--out', work/'against.csv', '--quiet')
        times['against'].append(t)
        t, _ = _cli('find', work/'union', '--splits', 'none', '--out', work/'union.csv', '--quiet')
        times['union'].append(t)
    true_flag = {a for p in true_cross for a in p if side[a] == 'train'}
    rows = []
    for name, fn in (('find TRAIN --against TEST', work/'against.csv'), ('find UNION (all pairs)', work/'union.csv')):
        got, flag = _across(fn, side)
        tp, ftp = len(got & true_cross), len(flag & true_flag)
        key = 'against' if 'against' in name else 'union'
        rows.append(dict(run=name, wall_s=round(min(times[key]), 1), all_runs_s=' '.join(f'{t:.1f}' for t in times[key]),
                         groups=pd.read_csv(fn).group.nunique(),
                         train_flagged=len(flag), flagged_recall=round(ftp/max(1, len(true_flag)), 3),
                         flagged_precision=round(ftp/max(1, len(flag)), 3),
                         cross_pairs_in_groups=len(got), pair_recall=round(tp/max(1, len(true_cross)), 3)))
    df = pd.DataFrame(rows).set_index('run')
    print(df.to_string())
    ratio = df.wall_s.iloc[0]/df.wall_s.iloc[1]
    print(f"\nend to end, against / union wall time: {ratio:.2f} (goal < 1): {'PASS' if ratio < 1 else 'FAIL'}")
    for scale in (1, 20):
        st = _search_times(work, scale)
        n = (args.train + args.test)*scale
        print(f"search stage alone, {args.train*scale:,} + {args.test*scale:,} vectors: "
              + ', '.join(f'{k} {v:.2f} s' for k, v in st.items())
              + f" (cross / union {st['cross queries']/st['union self-join']:.2f})")
    shutil.rmtree(work)
    return df

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', action='append', help='the hard, then the previous benchmark folder (each built there if it '
                    'has no truth.csv; default: temporary folders); give it twice')
    ap.add_argument('--train', type=int, default=2000)
    ap.add_argument('--test', type=int, default=200)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    run(ap.parse_args(argv))

if __name__ == '__main__': main()
