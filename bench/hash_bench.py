"""Hash methods, fastdupe against imagededup, on the same files in one run.

Builds the benchmark set (real photos that install offline plus transformed copies with known ground truth, see
`fastdupe.eval.build_benchmark`), then for each hash kind runs fastdupe's `hash_items` + `hamming_pairs` and
imagededup's `encode_images` + `find_duplicates` at the same thresholds, and prints side by side: images/s for hashing,
search time, pairwise precision, recall and F1 (don't-care pairs excluded), and recall per transformation.

Run: python bench/hash_bench.py [--data DIR] [--n-originals N] [--workers 2]
"""
import argparse, json, logging, os, shutil, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

def _quiet():
    logging.disable(logging.CRITICAL); warnings.filterwarnings('ignore')

def run(args):
    from fastdupe.eval import build_benchmark, load_truth, recall_by_transform
    from fastdupe.hashing import hash_items, hamming_pairs, combined_pairs, identical_pairs, turned_pairs, DEFAULT_THRESHOLDS
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix='fastdupe-bench-'))
    if (data/'truth.csv').exists(): truth = load_truth(data)
    else: truth = build_benchmark(data, n_originals=args.n_originals, seed=args.seed)
    img_dir = data/'images'
    paths = sorted(img_dir.iterdir())
    n = len(paths)
    print(truth); print(f"hashing {n} files with {args.workers} worker processes each (fastdupe and imagededup alike)\n")
    from imagededup.methods import AHash, PHash, DHash, WHash
    peers = dict(ahash=AHash, phash=PHash, dhash=DHash, whash=WHash)
    # warm both up (imports, process pools) on a few files so one-off costs do not count
    hash_items(paths[:40], list(peers), n_workers=args.workers, progress=False)
    wd = Path(tempfile.mkdtemp()); [shutil.copy(p, wd/p.name) for p in paths[:40]]
    for c in peers.values(): c(verbose=False).encode_images(str(wd), num_enc_workers=args.workers)

    rows, per_t = [], {}
    for kind in ['ahash', 'phash', 'dhash', 'whash']:
        t0 = time.perf_counter(); res = hash_items(paths, kind, n_workers=args.workers, progress=False); fd_hash = time.perf_counter()-t0
        peer = peers[kind](verbose=False)
        t0 = time.perf_counter(); enc = peer.encode_images(str(img_dir), num_enc_workers=args.workers); id_hash = time.perf_counter()-t0
        for t in sorted(set(args.thresholds) | {DEFAULT_THRESHOLDS[kind]}):
            t0 = time.perf_counter(); p = hamming_pairs(res.codes[kind], t); fd_search = time.perf_counter()-t0
            fd = truth.scores(p, items=res.paths)
            t0 = time.perf_counter()
            dup = peer.find_duplicates(encoding_map=enc, max_distance_threshold=t, num_dist_workers=args.workers)
            id_search = time.perf_counter()-t0
            dup = {str(img_dir/k): [str(img_dir/v) for v in vs] for k, vs in dup.items()}
            idd = truth.scores(dup)
            rows.append(dict(kind=kind, threshold=t, fd_img_s=n/fd_hash, id_img_s=n/id_hash, speedup=id_hash/fd_hash,
                             fd_search_s=fd_search, id_search_s=id_search,
                             fd_P=fd.precision, fd_R=fd.recall, fd_F1=fd.f1, id_P=idd.precision, id_R=idd.recall, id_F1=idd.f1))
            if t == DEFAULT_THRESHOLDS[kind]:
                per_t[f'fastdupe {kind}'] = recall_by_transform(p, truth, items=res.paths).recall
                per_t[f'imagededup {kind}'] = recall_by_transform(dup, truth).recall
    # fastdupe-only methods (imagededup has no equivalent with a threshold)
    extra = []
    for kind in ['colorhash', 'combined', 'exact', 'phash+turns']:
        base, turns = kind.split('+')[0], kind.endswith('+turns')
        t0 = time.perf_counter(); res = hash_items(paths, base, n_workers=args.workers, progress=False, turns=turns); h = time.perf_counter()-t0
        t = DEFAULT_THRESHOLDS[base]
        t0 = time.perf_counter()
        p = identical_pairs(res) if kind == 'exact' else combined_pairs(res.codes, t) if kind == 'combined' else \
            turned_pairs(res.codes[base], res.codes[base+'@turns'], t) if turns else hamming_pairs(res.codes[kind], t)
        s = time.perf_counter()-t0
        sc = truth.scores(p, items=res.paths)
        extra.append(dict(kind=kind, threshold=t, img_s=n/h, search_s=s, P=sc.precision, R=sc.recall, F1=sc.f1))
        if kind in ('combined', 'phash+turns'): per_t[f'fastdupe {kind}'] = recall_by_transform(p, truth, items=res.paths).recall

    df = pd.DataFrame(rows)
    pd.set_option('display.width', 200); pd.set_option('display.max_columns', 30)
    print("fastdupe (fd) vs imagededup (id), same files, same threshold; images/s for hashing, seconds for search")
    print(df.to_string(index=False, float_format=lambda x: f'{x:.3f}' if abs(x) < 10 else f'{x:.0f}'))
    print("\nfastdupe-only methods at their default thresholds")
    print(pd.DataFrame(extra).to_string(index=False, float_format=lambda x: f'{x:.3f}' if abs(x) < 10 else f'{x:.0f}'))
    print("\nrecall per transformation, default thresholds")
    print(pd.DataFrame(per_t).to_string(float_format=lambda x: f'{x:.2f}'))
    ok_speed = bool((df.speedup >= 2).all()); ok_f1 = bool((df.fd_F1 >= df.id_F1 - 1e-9).all())
    print(f"\nhashing throughput >= 2x imagededup for every kind: {'PASS' if ok_speed else 'FAIL'} "
          f"(min {df.speedup.min():.2f}x, median {df.speedup.median():.2f}x)")
    print(f"F1 >= imagededup's for the same kind and threshold: {'PASS' if ok_f1 else 'FAIL'}")
    out = dict(n_images=n, rows=rows, extra=extra, speed_pass=ok_speed, f1_pass=ok_f1)
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='benchmark folder (built there if it has no truth.csv; default: a temporary folder)')
    ap.add_argument('--n-originals', type=int, default=None, help='originals to use (default: all)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workers', type=int, default=2, help='processes for hashing, both libraries')
    ap.add_argument('--thresholds', type=lambda s: [int(x) for x in s.split(',')], default=[8, 10, 12],
                    help="thresholds both run at, comma-separated (imagededup's default is 10); fastdupe's default is added")
    ap.add_argument('--json', help='also write the figures here')
    _quiet()
    return run(ap.parse_args(argv))

if __name__ == '__main__': main()
