"""Feature-vector similarity search: fastdupe's exact tiled engine against a plain matmul, fastai v1's per-pair loop,
Annoy and FAISS, on clustered L2-normalised vectors (a stand-in for image features).

- exact top-10 per item at n = 2,000 and at --n (default 100,000) × --d (1,280): seconds, useful GFLOP/s (n(n-1)·d
  operations for the n(n-1)/2 distinct pairs), the rate of one 4096×d by d×4096 float32 torch.mm measured in the same
  process (the bar: at least half of it), and peak RSS (each size runs in its own process);
- fastai v1's `comb_similarity` loop, timed on the first m rows and scaled by the pair count to all n = 2,000 rows,
  at --d and at 16,384-d, against the exact engine on the same vectors;
- Annoy and FAISS (HNSW, IVF): build and query times and recall of the exact top-10 pairs, at --ann-n items.

Run: python bench/search_bench.py [--n 100000] [--d 1280] [--quick]. The last line is the figures as JSON.
"""
import argparse, json, resource, subprocess, sys, time
import numpy as np
import torch
from torch import nn
from fastdupe.search import similar_pairs, build_index

def peak_rss_mb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def clustered(n, d, seed=0, per_cluster=20, noise=1.0) -> np.ndarray:
    "n unit vectors scattered around n/per_cluster random centres, made in chunks (no full-size temporaries)."
    g = np.random.default_rng(seed)
    c = g.standard_normal((max(1, n // per_cluster), d), dtype=np.float32)
    x = np.empty((n, d), np.float32)
    for a in range(0, n, 8192):
        b = min(a + 8192, n)
        x[a:b] = c[g.integers(0, len(c), b - a)] + noise * g.standard_normal((b - a, d), dtype=np.float32)
        x[a:b] /= np.linalg.norm(x[a:b], axis=1, keepdims=True)
    return x

def comb_similarity(t1, t2, sim_func=nn.CosineSimilarity(dim=0)):
    "fastai v1 (vision/interpret.py), verbatim: every pair in a Python loop, into a dense n×n array."
    self_sim = False
    if torch.equal(t1, t2): self_sim = True
    sims = np.zeros((t1.shape[0], t2.shape[0]))
    for idx1 in range(t1.shape[0]):
        for idx2 in range(t2.shape[0]):
            if not self_sim or idx1>idx2:
                ex1 = t1[idx1,:]; ex2 = t2[idx2,:]
                sims[idx1][idx2] = sim_func(ex1,ex2)
    return sims

def matmul_window(d, seconds, size=4096) -> float:
    "GFLOP/s of back-to-back size×d by d×size float32 torch.mm over `seconds` (at least one)."
    a, b = torch.randn(size, d), torch.randn(size, d)
    torch.mm(a, b.T)
    t0, count = time.perf_counter(), 0
    while not count or time.perf_counter() - t0 < seconds:
        torch.mm(a, b.T); count += 1
    return 2 * size * size * d * count / 1e9 / (time.perf_counter() - t0)

def exact_case(n, d, k, reps, window):
    """Runs in its own process (for its peak RSS): exact top-k on n clustered vectors; prints one JSON line.
    The reference matmul is measured right before and right after each run and the run is compared with the mean of
    the two, so both see the same machine load (other processes come and go); with several runs, the run with the
    median ratio is reported. reps > 1: one matmul before/after each run; reps = 1: `window` seconds of them."""
    x = clustered(n, d)
    size = 4096 if d <= 4096 else 2048
    w = window if reps == 1 else 0
    refs, runs = [matmul_window(d, w, size)], []
    for _ in range(reps):
        t0 = time.perf_counter(); p = similar_pairs(x, k); runs.append(time.perf_counter() - t0)
        refs.append(matmul_window(d, w, size))
    useful_gf = n * (n - 1) * d / 1e9
    rows = sorted((useful_gf / s / ((r0 + r1) / 2), s, (r0 + r1) / 2) for s, r0, r1 in zip(runs, refs, refs[1:]))
    ratio, secs, ref = rows[len(rows) // 2]
    print(json.dumps(dict(n=n, d=d, k=k, seconds=secs, reps=reps, pairs=len(p), useful_gflops=useful_gf / secs,
                          matmul_gflops=ref, ratio=ratio, run_seconds=runs, matmul_samples=refs,
                          best_seconds=min(runs), best_ratio=rows[-1][0], peak_rss_mb=peak_rss_mb(),
                          threads=torch.get_num_threads(), dense_nxn_gb=n * n * 4 / 1e9)))

def run_case(n, d, k, reps, window=0) -> dict:
    cmd = [sys.executable, __file__, '--worker', f'{n},{d},{k},{reps},{window}']
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode: raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])

def fastai_loop(x, budget_s) -> dict:
    "Time comb_similarity on the first m rows (m doubling until it takes budget_s), scaled to all rows by pair count."
    t = torch.from_numpy(x)
    m = 16
    while True:
        m = min(m, len(x))
        t0 = time.perf_counter(); comb_similarity(t[:m], t[:m]); secs = time.perf_counter() - t0
        if secs >= budget_s or m == len(x): break
        m *= 2
    n = len(x)
    return dict(m=m, pairs_timed=m * (m - 1) // 2, seconds_timed=secs, seconds_scaled=secs * (n * (n - 1)) / (m * (m - 1)))

def ann_case(n, d, k=10) -> list[dict]:
    x = clustered(n, d, seed=1)
    rows = []
    t0 = time.perf_counter(); ex = build_index(x).search_pairs(k); te = time.perf_counter() - t0
    rows.append(dict(backend='exact', build_s=0.0, query_s=te, recall=1.0))
    ref = ex.as_set()
    for name, backend, kw in [('annoy (50 trees)', 'annoy', dict(n_trees=50)), ('faiss hnsw (M=32)', 'faiss', dict(kind='hnsw')),
                              ('faiss ivf (nprobe=16)', 'faiss', dict(kind='ivf')), ('faiss flat', 'faiss', dict(kind='flat'))]:
        t0 = time.perf_counter(); idx = build_index(x, backend, **kw); tb = time.perf_counter() - t0
        t0 = time.perf_counter(); p = idx.search_pairs(k); tq = time.perf_counter() - t0
        rows.append(dict(backend=name, build_s=tb, query_s=tq, recall=len(p.as_set() & ref) / len(ref)))
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=None, help='items in the large exact run (default 100,000; --quick: 20,000)')
    ap.add_argument('--d', type=int, default=1280, help='feature dimension')
    ap.add_argument('--small-n', type=int, default=2000, help='items in the small exact run and the fastai v1 comparison')
    ap.add_argument('--big-d', type=int, default=16384, help='second dimension for the fastai v1 comparison (0: skip)')
    ap.add_argument('--ann-n', type=int, default=None, help='items for Annoy/FAISS (default 20,000; --quick: 5,000)')
    ap.add_argument('--k', type=int, default=10)
    ap.add_argument('--window', type=float, default=None, help='seconds of reference matmuls before and after the large run (default 20; --quick: 3)')
    ap.add_argument('--quick', action='store_true', help='smaller sizes and shorter timings')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        n, d, k, reps, window = a.worker.split(',')
        return exact_case(int(n), int(d), int(k), int(reps), float(window))
    n = a.n or (20_000 if a.quick else 100_000)
    ns = min(a.small_n, n)
    ann_n = min(a.ann_n or (5_000 if a.quick else 20_000), n)
    budget = 0.5 if a.quick else 2.0

    cases = [run_case(ns, a.d, a.k, 3 if a.quick else 9)]
    if n > ns: cases.append(run_case(n, a.d, a.k, 1, a.window or (3 if a.quick else 20)))
    loops = []
    for d in [a.d] + ([a.big_d] if a.big_d else []):
        ex = cases[0] if d == a.d else run_case(ns, d, a.k, 3)
        if d != a.d: cases.append(ex)
        lp = fastai_loop(clustered(ns, d), budget)
        loops.append(dict(d=d, n=ns, **lp, exact_s=ex['seconds'], speedup=lp['seconds_scaled'] / ex['seconds']))
    ann = ann_case(ann_n, a.d, a.k)

    print(f"Exact top-{a.k} per item (fastdupe.search.similar_pairs, backend='exact'), {cases[0]['threads']} torch threads, "
          f"clustered unit vectors. useful GFLOP/s counts n(n-1)·d for the n(n-1)/2 distinct pairs. matmul = one 4096×d by "
          f"d×4096 float32 torch.mm in the same process, measured just before and just after each run (one matmul each; "
          f"for a single run, {a.window or (3 if a.quick else 20):g} s of them) and averaged, so other processes on the "
          f"machine slow both alike; with several runs, the run with the median ratio is shown.")
    print(f"{'n':>8} {'d':>6} {'runs':>4} {'seconds':>9} {'useful GF/s':>12} {'matmul GF/s':>12} {'ratio':>6} "
          f"{'peak RSS MB':>12} {'dense n×n GB':>13}")
    for c in cases:
        print(f"{c['n']:>8,} {c['d']:>6} {c['reps']:>4} {c['seconds']:>9.3f} {c['useful_gflops']:>12.1f} {c['matmul_gflops']:>12.1f} "
              f"{c['ratio']:>6.2f} {c['peak_rss_mb']:>12.0f} {c['dense_nxn_gb']:>13.2f}")
    print(f"\nfastai v1 comb_similarity (per-pair Python loop) on the same {ns:,} vectors: timed on the first m rows, "
          "scaled to all rows by pair count")
    print(f"{'d':>6} {'m':>5} {'pairs timed':>12} {'loop s (timed)':>15} {'loop s (all, scaled)':>21} {'exact s':>8} {'speed-up':>9}")
    for l in loops:
        print(f"{l['d']:>6} {l['m']:>5} {l['pairs_timed']:>12,} {l['seconds_timed']:>15.2f} {l['seconds_scaled']:>21.1f} "
              f"{l['exact_s']:>8.3f} {l['speedup']:>8.0f}×")
    print(f"\nApproximate backends, {ann_n:,} × {a.d}-d, top-{a.k}: recall of the exact top-{a.k} pairs")
    print(f"{'backend':24s} {'build s':>8} {'query s':>8} {'recall':>7}")
    for r in ann: print(f"{r['backend']:24s} {r['build_s']:>8.2f} {r['query_s']:>8.2f} {r['recall']:>7.3f}")
    bar = [c for c in cases if c['d'] == a.d]
    ok = all(c['ratio'] >= 0.5 for c in bar) and all(c['peak_rss_mb'] <= 2048 for c in bar)
    sizes = ', '.join(f"{c['n']:,}" for c in bar)
    print(f"\nbar: useful GFLOP/s >= 0.5 × matmul at n = {sizes} ({a.d}-d) and peak RSS <= 2048 MB "
          f"-> {'PASS' if ok else 'FAIL'}")
    print(json.dumps(dict(exact=cases, fastai_loop=loops, ann=ann, ann_n=ann_n, bar_pass=ok)))

if __name__ == '__main__': main()
