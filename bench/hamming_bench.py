"""Hamming search at scale: every pair within `--threshold` bits among `--n` random 64-bit hashes.

Prints time and peak RSS for fastdupe's engine (auto: multi-index hashing at this size) and, for reference, the
brute-force tiles on a subset scaled up by the pair count. Run: python bench/hamming_bench.py [--n 1000000]
"""
import argparse, resource, sys, time, json
import numpy as np
from fastdupe.hashing import hamming_pairs, _mih_plan

def peak_rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--n', type=int, default=1_000_000)
    ap.add_argument('--threshold', type=int, default=4)
    ap.add_argument('--planted', type=int, default=1000, help='near-duplicate pairs planted at known distances')
    ap.add_argument('--brute-subset', type=int, default=50_000, help='hashes for the brute-force reference (0: skip)')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    codes = rng.integers(0, np.iinfo(np.uint64).max, a.n, dtype=np.uint64, endpoint=True)
    # plant near-duplicates: copies of random hashes with 0..threshold+2 bits flipped
    k = min(a.planted, a.n//2)
    src, dst = rng.choice(a.n, 2*k, replace=False).reshape(2, k)
    flips = rng.integers(0, a.threshold+3, k)
    for s, dd, f in zip(src, dst, flips):
        c = codes[s]
        for b in rng.choice(64, f, replace=False): c ^= np.uint64(1) << np.uint64(b)
        codes[dd] = c
    rss0 = peak_rss_mb()
    plan = _mih_plan(a.n, 64, a.threshold)
    t0 = time.perf_counter(); p = hamming_pairs(codes, a.threshold); secs = time.perf_counter() - t0
    found = p.as_set()
    planted_in = sum(((max(s, dd), min(s, dd)) in found) for s, dd, f in zip(src, dst, flips) if f <= a.threshold)
    planted_total = int((flips <= a.threshold).sum())
    rows = [('fastdupe hamming_pairs (auto)', a.n, secs, len(p), peak_rss_mb())]
    agree = None
    if a.brute_subset:
        m = min(a.brute_subset, a.n)
        t0 = time.perf_counter(); bp = hamming_pairs(codes[:m], a.threshold, engine='tiles'); bs = time.perf_counter() - t0
        agree = bp.as_set() == {(i, j) for i, j in found if i < m}  # the engine's pairs among the subset equal brute force's
        rows.append((f'brute-force tiles, {m:,} hashes, scaled to n', a.n, bs*(a.n*(a.n-1))/(m*(m-1)), None, None))
    print(f"Hamming search, {a.n:,} random 64-bit hashes, threshold {a.threshold}; engine plan (cost, chunks, radius) = {plan}")
    print(f"{'method':48s} {'n':>10s} {'seconds':>10s} {'pairs':>8s} {'peak RSS MB':>12s}")
    for name, n, s, np_, rss in rows:
        print(f"{name:48s} {n:>10,} {s:>10.1f} {'' if np_ is None else np_:>8} {'' if rss is None else f'{rss:.0f}':>12}")
    print(f"planted pairs within threshold found: {planted_in}/{planted_total}")
    if agree is not None: print(f"same pairs as brute force on the first {min(a.brute_subset, a.n):,} hashes: {agree}")
    print(f"targets: < 60 s and peak RSS < 2048 MB -> {'PASS' if secs < 60 and rows[0][4] < 2048 else 'FAIL'}")
    print(json.dumps(dict(n=a.n, threshold=a.threshold, seconds=secs, pairs=len(p), peak_rss_mb=rows[0][4],
                          planted_found=planted_in, planted_total=planted_total, agrees_with_brute_force=agree)))

if __name__ == '__main__': main()
