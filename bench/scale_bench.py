"""Past one machine: the search over Parquet shards at a million vectors and a million hashes, and Dask's per-worker
extraction rate, the figures behind the scaling page (`nbs/scaling.ipynb`).

One run prints, side by side:

- **vectors**: 1,000,000 synthetic 1,280-d vectors (clusters of look-alikes, as image embeddings are: 50,000 centres,
  members at cosine 0.5-0.95 of each other), written as 20 float16 Parquet shards through `cluster.ShardFolder`, read
  back with `cluster.read_vectors` into a float16 memory map, then `search.IVFIndex` (FAISS IVF, SQ8, trained on a
  sample, added and searched a block at a time): write, read, build and self-search (k=10) times, peak RSS, and the
  recall of the exact top-10 on a 10,000-vector sample (exact: float32 matrix products over all 1M); the same with
  `encoding='PQ64'` when asked (`--pq`);
- **hashes**: 1,000,000 64-bit hashes (100,000 originals, the rest copies a few bits away, as phashes of near copies
  are) through the same shards (`cluster.read_hashes`), searched by `hashing.hamming_neighbours` (multi-index hashing,
  each image's 10 closest within 10 bits): read and search times, peak RSS, recall of the exact top-10 on a 10,000 sample;
- **extraction on Dask**: `cluster.extract_shards` of 2,000 real JPEGs (`bench/photoset.py`) on a `LocalCluster` of one
  and of two single-threaded worker processes: images/s in all and per worker.

Each part runs in a process of its own, so its peak RSS is its own.
Run: python bench/scale_bench.py [--n 1000000] [--pq] [--photos DIR] [--parts vectors,hashes,extract] [--json FILE]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

D, SHARDS, K, SAMPLE = 1280, 20, 10, 10_000

def _rss_gb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

def _vectors(n:int, shard:int, seed:int=0) -> np.ndarray:
    "Shard `shard` of n synthetic embeddings: members of 50,000 clusters (cosine to their centre 0.7-0.96), unit rows, float16."
    rng = np.random.default_rng(seed)
    C = max(1, n // 20)
    centres = rng.standard_normal((C, D), dtype=np.float32)
    spread = rng.uniform(0.3, 1.0, C).astype(np.float32)
    per = -(-n // SHARDS); a, b = shard * per, min(n, (shard + 1) * per)
    r = np.random.default_rng([seed, shard])
    lab = r.integers(0, C, b - a)
    x = centres[lab] + spread[lab, None] * r.standard_normal((b - a, D), dtype=np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)

def _hashes(n:int, seed:int=0) -> np.ndarray:
    "n 64-bit codes: 10% originals, the rest copies of one with 0-6 bits flipped."
    rng = np.random.default_rng(seed)
    m = max(1, n // 10)
    orig = rng.integers(0, 2**63, m, dtype=np.int64).astype(np.uint64) ^ (rng.integers(0, 2, m).astype(np.uint64) << np.uint64(63))
    src = np.concatenate([np.arange(m), rng.integers(0, m, n - m)])
    codes = orig[src].copy()
    for _ in range(6):  # up to 6 flips per copy (some land on the same bit)
        flip = rng.random(n) < 0.5
        flip[:m] = False
        codes[flip] ^= np.uint64(1) << rng.integers(0, 64, flip.sum()).astype(np.uint64)
    return codes[rng.permutation(n)]

def _write_shards(folder, n:int, with_vectors:bool, codes=None) -> tuple[float, list[str]]:
    "Shards with the real schema (`cluster.shard_table`'s columns); returns (seconds, names)."
    import pyarrow as pa
    from fastdupe.cluster import ShardFolder, SHARD_FORMAT
    sf = ShardFolder(folder).check()
    per, names, t0 = -(-n // SHARDS), [], time.time()
    for s in range(SHARDS):
        a, b = s * per, min(n, (s + 1) * per)
        if a >= b: break
        m = b - a
        v = _vectors(n, s) if with_vectors else None
        cols = dict(path=[f'img/{i:07d}.jpg' for i in range(a, b)], size=[1] * m, mtime=[0.0] * m, digest=[None] * m,
                    width=[640] * m, height=[480] * m, error=[None] * m,
                    vector=[r.tobytes() for r in v] if v is not None else [None] * m, thumbnail=[None] * m, detail=[10.0] * m,
                    keypoints=[None] * m, hash=codes[a:b].tolist() if codes is not None else [None] * m,
                    hash_turns=[[0] * 7] * m if codes is not None else [None] * m)
        schema = pa.schema([('path', pa.string()), ('size', pa.int64()), ('mtime', pa.float64()), ('digest', pa.binary(16)),
                            ('width', pa.int32()), ('height', pa.int32()), ('error', pa.string()), ('vector', pa.binary()),
                            ('thumbnail', pa.binary()), ('detail', pa.float32()), ('keypoints', pa.binary()),
                            ('hash', pa.uint64()), ('hash_turns', pa.list_(pa.uint64(), 7))])
        meta = {b'fastdupe': json.dumps(dict(format=SHARD_FORMAT, dim=D if with_vectors else 0, hashes='phash' if codes is not None else None)).encode()}
        names.append(sf.write(f'shard-{s:06d}-bench.parquet', pa.Table.from_pydict(cols, schema=schema).replace_schema_metadata(meta)))
    return time.time() - t0, names

def _exact_top(v, rows, k:int=K) -> np.ndarray:
    "Exact top-k (by cosine, itself excluded) of `rows` over all of `v`, with float32 matrix products a block at a time."
    import torch
    q = torch.from_numpy(v[rows].astype(np.float32))
    best_s, best_i = torch.full((len(rows), k), -9.0), torch.zeros((len(rows), k), dtype=torch.long)
    own = torch.from_numpy(rows)
    for a in range(0, len(v), 16384):
        blk = torch.from_numpy(np.asarray(v[a:a+16384], np.float32))
        s = q @ blk.T
        mine = (own >= a) & (own < a + len(blk))
        s[torch.nonzero(mine)[:, 0], own[mine] - a] = -9  # not its own neighbour
        bs, bi = s.topk(min(k, len(blk)), 1)  # the block's best, then merged with the best so far
        s2, i2 = torch.cat([best_s, bs], 1), torch.cat([best_i, bi + a], 1)
        best_s, o = s2.topk(k, 1)
        best_i = i2.gather(1, o)
    return best_i.numpy()

def part_vectors(n:int, encoding:str) -> dict:
    from fastdupe.cluster import read_vectors
    from fastdupe.search import IVFIndex
    with tempfile.TemporaryDirectory(prefix='fastdupe-scale-') as tmp:
        t_write, names = _write_shards(f'{tmp}/shards', n, True)
        t0 = time.time(); items, v = read_vectors(f'{tmp}/shards', names, memmap=True); t_read = time.time() - t0
        t0 = time.time(); ivf = IVFIndex(v, encoding=encoding); t_build = time.time() - t0
        t0 = time.time(); p = ivf.search_pairs(k=K); t_search = time.time() - t0
        rss = _rss_gb()  # the search's peak: the exact answer below is the benchmark's, not fastdupe's
        # recall: each sampled vector's exact top-10 against what the self-search paired it with
        rows = np.sort(np.random.default_rng(1).choice(len(v), SAMPLE, replace=False))
        t0 = time.time(); truth = _exact_top(v, rows); t_exact = time.time() - t0
        found = {}
        for i, j in zip(p.i.tolist(), p.j.tolist()): found.setdefault(i, set()).add(j); found.setdefault(j, set()).add(i)
        recall = float(np.mean([len(found.get(int(r), set()) & set(t.tolist())) / K for r, t in zip(rows, truth)]))
        return dict(part=f'vectors IVF {encoding}', n=len(v), nlist=ivf.nlist, nprobe=ivf.nprobe, write_s=t_write, read_s=t_read,
                    build_s=t_build, search_s=t_search, search_per_s=len(v) / t_search, pairs=len(p), exact_sample_s=t_exact,
                    recall_at_10=recall, peak_rss_gb=rss)

def part_hashes(n:int) -> dict:
    from fastdupe.cluster import read_hashes
    from fastdupe.hashing import hamming_neighbours
    codes = _hashes(n)
    with tempfile.TemporaryDirectory(prefix='fastdupe-scale-') as tmp:
        t_write, names = _write_shards(f'{tmp}/shards', n, False, codes)
        t0 = time.time(); items, h = read_hashes(f'{tmp}/shards', names); t_read = time.time() - t0
        c = h['phash']
        assert (c == codes).all()
        t0 = time.time(); qi, jj, d = hamming_neighbours(c, c, 10, k=K); t_search = time.time() - t0
        rss = _rss_gb()
        rows = np.sort(np.random.default_rng(1).choice(n, SAMPLE, replace=False))
        t0 = time.time()
        found = {}
        for a, b in zip(qi.tolist(), jj.tolist()): found.setdefault(a, set()).add(b)
        hits = tot = 0
        for r in rows:  # exact: every code's distance, the 10 closest within 10 bits (ties: the earlier image)
            dist = np.bitwise_count(c ^ c[r]).astype(np.int32); dist[r] = 99
            cand = np.flatnonzero(dist <= 10)
            top = cand[np.lexsort((cand, dist[cand]))][:K]
            # a tie at the 10th distance may be broken either way: count a found row at the same distance as a hit
            kth = dist[top[-1]] if len(top) else -1
            got = found.get(int(r), set())
            hits += sum(1 for x in top if x in got or (dist[x] == kth and len([g for g in got if dist[g] == kth]) >= (top[dist[top] == kth].size)))
            tot += len(top)
        t_exact = time.time() - t0
        return dict(part='hashes MIH', n=n, write_s=t_write, read_s=t_read, build_s=0.0, search_s=t_search, search_per_s=n / t_search,
                    pairs=len(qi), exact_sample_s=t_exact, recall_at_10=hits / max(tot, 1), peak_rss_gb=rss)

def _warm():
    from fastdupe.engine import onnx_model
    onnx_model()

def _worker_rss() -> float: return _rss_gb()

def part_extract(photos:str, workers:int) -> dict:
    from dask.distributed import LocalCluster, Client
    from fastdupe.cluster import extract_shards
    from fastdupe.finders import extraction_options
    from fastdupe.intake import get_items
    files = get_items(photos)
    with tempfile.TemporaryDirectory(prefix='fastdupe-scale-') as tmp, \
         LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl, Client(cl) as client:
        client.run(_warm)  # the model loaded once per worker, before the clock
        t0 = time.time()
        names, new = extract_shards(files, client, f'{tmp}/shards', progress=False, **extraction_options('fused'))
        t = time.time() - t0
        worker_rss = max(client.run(_worker_rss).values())
    return dict(part=f'extract on {workers} worker(s)', n=len(files), seconds=t, images_per_s=len(files) / t,
                per_worker=len(files) / t / workers, shards=len(names), peak_rss_gb=_rss_gb(), worker_peak_rss_gb=worker_rss)

def _run_part(args:list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, '--part', *args], capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"part {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=1_000_000)
    ap.add_argument('--pq', action='store_true', help='also IVF with PQ64 codes')
    ap.add_argument('--photos', default=None, help='folder of JPEGs for the extraction rate (default: 2,000 made by bench/photoset.py)')
    ap.add_argument('--skip-extract', action='store_true')
    ap.add_argument('--parts', default='vectors,hashes,extract', help='which parts to run (comma-separated)')
    ap.add_argument('--json', default=None)
    ap.add_argument('--part', nargs='+', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.part:
        kind, *rest = a.part
        res = part_vectors(int(rest[0]), rest[1]) if kind == 'vectors' else part_hashes(int(rest[0])) if kind == 'hashes' else part_extract(rest[0], int(rest[1]))
        print(json.dumps(res)); return
    print(f"machine: {os.cpu_count()} cores; n = {a.n:,}", flush=True)
    results, parts = [], a.parts.split(',')
    if 'vectors' in parts:
        for enc in ['SQ8'] + (['PQ64'] if a.pq else []):
            results.append(_run_part(['vectors', str(a.n), enc])); print(results[-1], flush=True)
    if 'hashes' in parts: results.append(_run_part(['hashes', str(a.n)])); print(results[-1], flush=True)
    if 'extract' in parts and not a.skip_extract:
        photos = a.photos
        if photos is None:
            sys.path.insert(0, str(Path(__file__).parent))
            from photoset import make_photos
            photos = tempfile.mkdtemp(prefix='fastdupe-photos-')
            make_photos(photos, 2000, seed=0)
        for w in (1, 2):
            results.append(_run_part(['extract', photos, str(w)])); print(results[-1], flush=True)
    searched = [r for r in results if not r['part'].startswith('extract')]
    if searched: print(f"\n{'part':<24}{'items':>11}{'write s':>9}{'read s':>8}{'build s':>9}{'search s':>10}{'items/s':>10}{'recall@10':>11}{'peak RSS GB':>13}")
    for r in searched:
        print(f"{r['part']:<24}{r['n']:>11,}{r['write_s']:>9.1f}{r['read_s']:>8.1f}{r['build_s']:>9.1f}{r['search_s']:>10.1f}"
              f"{r['search_per_s']:>10,.0f}{r['recall_at_10']:>11.4f}{r['peak_rss_gb']:>13.2f}")
    ex = [r for r in results if r['part'].startswith('extract')]
    if ex:
        print(f"\n{'extraction (fused, Dask)':<30}{'images':>8}{'s':>8}{'images/s':>10}{'per worker':>12}{'worker peak RSS GB':>20}")
        for r in ex: print(f"{r['part']:<30}{r['n']:>8,}{r['seconds']:>8.1f}{r['images_per_s']:>10.1f}{r['per_worker']:>12.1f}{r['worker_peak_rss_gb']:>20.2f}")
    goal = [r for r in results if r['part'] == 'vectors IVF SQ8']
    if goal: print(f"\ngoal: recall of the exact top-10 >= 0.95 at {a.n:,} vectors: {goal[0]['recall_at_10']:.4f} "
                   f"({'met' if goal[0]['recall_at_10'] >= 0.95 else 'NOT met'})")
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1))

if __name__ == '__main__': main()
