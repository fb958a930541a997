"""The fingerprint store (`fastdupe.store`): incremental indexing, `find --db`, and queries against a large collection, one run.

Builds `--n` (default 5,000) distinct images from real photos that install offline (scikit-image, scikit-learn,
Debian's opencv-doc and wallpaper packages: the sources of `fastdupe.hard`), each a random crop (3-40 % of the
picture), scaled to a random long side (160-480 px), saved as JPEG at a random quality (60-95), with the benchmark
helpers of `fastdupe.eval` and `fastdupe.hard`; crops of one photo that overlap are real near-duplicates. Then runs
the installed `fastdupe` command as a user would (default method, `fused`), and prints:

- `fastdupe index DIR`: the first run, and a second run over the unchanged folder (bar: at least 20x faster);
- after `--new` (100) more images are copied in, `fastdupe index DIR` (the update) against `fastdupe index NEW` of those
  images alone into a fresh database (bar: the update takes at most 1.5x as long); each is run `--repeats` times,
  alternating, from the same starting state, and the fastest runs are compared (the machine is shared and noisy);
- `fastdupe find DIR --db FILE` against `fastdupe find DIR` (bar: the same groups, the same kept images);
- queries: a store of `--sizes` synthetic collections (10k, 100k, 1M random unit vectors with random phashes, under
  the real model key), each queried in a fresh process with real photos through `Store.query`: the model's load
  time, the first query (which loads the saved index), and the median of the next queries (bar: one image against
  100,000 vectors in under 0.5 s after the model is loaded).

Run: python bench/store_bench.py [--n 5000] [--new 100] [--sizes 10000,100000,1000000] [--data DIR] [--repeats 2]
The last line is the figures as JSON.
"""
import argparse, functools, json, os, shutil, sqlite3, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
from cnn_bench import _cli  # one way to run the command for every bench

print = functools.partial(print, flush=True)  # figures appear as they are measured, also in a log file

def _sources() -> list[str]:
    from fastdupe.hard import HARD_ORIGINALS, HARD_LOOKALIKES, _installed
    return [s for s in dict.fromkeys(HARD_ORIGINALS + HARD_LOOKALIKES) if _installed(s)]

def _make(job):
    "Image `k`: a random crop of one photo, rescaled, saved at a random JPEG quality."
    from PIL import Image
    from fastdupe.eval import seeded_rng, save_image
    from fastdupe.edits import crop as crop_edit
    k, src, dest, seed = job
    rng = seeded_rng(seed, 'store', str(k))
    img = _photo(src)
    # cut as the hard benchmark cuts its crops
    crop, _ = crop_edit(img, rng, (0.03, 0.4), log_aspect=True, area_exact=True, min_side=0)
    side = int(rng.integers(160, 481)); s = side/max(crop.size)
    crop = crop.resize((max(8, round(crop.width*s)), max(8, round(crop.height*s))), Image.LANCZOS)
    save_image(crop, Path(dest), int(rng.integers(60, 96)))

_PHOTOS = {}
def _photo(src):
    from fastdupe.hard import _load_any
    if src not in _PHOTOS: _PHOTOS[src] = _load_any(src, 1024)
    return _PHOTOS[src]

def build_images(dest:Path, first:int, n:int, seed:int=0) -> list[Path]:
    "Images `first` .. `first+n-1` (each from the photo `k % len(sources)`), written under `dest`."
    import multiprocessing as mp
    srcs = _sources()
    dest.mkdir(parents=True, exist_ok=True)
    jobs = [(k, srcs[k % len(srcs)], dest/f'{k:06d}.jpg', seed) for k in range(first, first+n)]
    jobs.sort(key=lambda j: j[1])  # one photo per worker at a time: each is decoded once per worker
    with mp.get_context('fork').Pool(2) as pool: list(pool.imap_unordered(_make, jobs, chunksize=32))
    return sorted(j[2] for j in jobs)

def _groups(csv_fn:Path, root:Path) -> set:
    import pandas as pd
    df = pd.read_csv(csv_fn)
    return {frozenset((Path(p).relative_to(root).as_posix(), a) for p, a in zip(g.path, g.action)) for _, g in df.groupby('group')}

def _backup(src:Path, dest:Path):
    "A copy of a database (SQLite's backup API: consistent, whatever its WAL holds)."
    if dest.exists(): dest.unlink()
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b: a.backup(b)

def index_bars(args, work:Path) -> dict:
    from fastdupe.store import Store
    data = Path(args.data) if args.data else work/'images'
    root, extra = data/'collection', data/'new'
    if not root.exists():
        t0 = time.perf_counter()
        build_images(root, 0, args.n, args.seed); build_images(extra, args.n, args.new, args.seed)
        print(f"built {args.n:,} + {args.new} images from {len(_sources())} photos in {time.perf_counter()-t0:.0f} s under {data}")
    db, added = work/'store.db', root/'added'
    shutil.rmtree(added, ignore_errors=True)  # left by an earlier run that was stopped
    res = {}
    t1, r = _cli('index', root, '--db', db, '--quiet'); print('first index: ', r.stdout.strip())
    t2, r = _cli('index', root, '--db', db, '--quiet'); print('second index:', r.stdout.strip())
    res.update(first_index_s=t1, unchanged_index_s=t2, unchanged_speedup=t1/t2)
    # the update: the 100 new images copied in; against indexing them alone, from the same state each time
    _backup(db, work/'before.db')
    upd, alone = [], []
    for rep in range(args.repeats):
        shutil.rmtree(added, ignore_errors=True); shutil.rmtree(db.with_name(db.name + '.index'), ignore_errors=True)
        for f in work.glob('store.db-*'): f.unlink()
        _backup(work/'before.db', db)
        _cli('index', root, '--db', db, '--quiet')  # the saved index as the first runs left it (the backup has none)
        shutil.copytree(extra, added)
        t, r = _cli('index', root, '--db', db, '--quiet'); upd.append(t)
        if rep == 0: print('update:      ', r.stdout.strip())
        for f in work.glob('alone.db*'): shutil.rmtree(f) if f.is_dir() else f.unlink()
        t, r = _cli('index', extra, '--db', work/'alone.db', '--quiet'); alone.append(t)
        if rep == 0: print('alone:       ', r.stdout.strip())
    res.update(update_s=min(upd), alone_s=min(alone), update_runs_s=upd, alone_runs_s=alone, update_ratio=min(upd)/min(alone))
    # find with and without the store
    t, _ = _cli('find', root, '--db', db, '--out', work/'with_db.csv', '--quiet'); res['find_db_s'] = t
    t, _ = _cli('find', root, '--out', work/'without_db.csv', '--quiet'); res['find_s'] = t
    a, b = _groups(work/'with_db.csv', root), _groups(work/'without_db.csv', root)
    res.update(groups_with_db=len(a), groups_without_db=len(b), same_groups=a == b, groups_differing=len(a ^ b))
    with Store(db, readonly=True) as st:
        res['db_mb'] = db.stat().st_size/1e6
        res['images_indexed'] = st.con.execute('SELECT count(*) FROM files').fetchone()[0]
        res['integrity'] = st.con.execute('PRAGMA integrity_check').fetchone()[0]
    shutil.rmtree(added, ignore_errors=True)
    return res

def synthetic_store(path:Path, n:int, seed:int=0) -> float:
    "A store of `n` synthetic images (random unit vectors and phashes under the real model key and hash recipe, blank thumbnails, no keypoints), its index saved; seconds to build the index."
    from fastdupe.store import Store, hash_recipe
    from fastdupe.hashing import DECODE_DIGEST  # fused reads each image's decode digest beside its phashes
    root = path.parent/'synthetic'; root.mkdir(parents=True, exist_ok=True)
    st = Store(path, root=root)
    model, recipe = st._model_source(dict(tta=False, keypoints=True)), hash_recipe('phash', turns=True)
    # what the scores use besides the vector: a uniform thumbnail and no keypoints (a synthetic image shows nothing)
    blank = (np.zeros((32, 32), '<f2').tobytes(), np.zeros(2, '<i4').tobytes())
    g = np.random.default_rng(seed)
    with st.writing(), st._txn():
        st.con.executemany('INSERT OR IGNORE INTO sources(name, dim) VALUES (?, ?)', [(model, 1280), (recipe, None)])
        st.con.execute("UPDATE sources SET backend = 'exact' WHERE name = ?", (model,))
        st._set_meta('indexed', json.dumps(dict(method='fused', tta=False, turns=False)))
    for a in range(0, n, 20000):
        b = min(n, a + 20000)
        v = g.standard_normal((b - a, 1280), dtype=np.float32); v /= np.linalg.norm(v, axis=1, keepdims=True)
        v = v.astype('<f4'); codes = g.integers(0, 2**63, (b - a, 10), dtype=np.uint64)  # phash, 7 turns, decode digest
        with st.writing(), st._txn():
            st.con.executemany('INSERT INTO files(id, path, size, mtime_ns, digest, width, height) VALUES (?, ?, 1000, 0, ?, 256, 256)',
                               [(i + 1, f'{i:07d}.jpg', i.to_bytes(16, 'big')) for i in range(a, b)])
            st.con.executemany('INSERT INTO readings VALUES (?, ?, NULL, 10.0)',
                               [(i + 1, s) for i in range(a, b) for s in (model, recipe)])
            st.con.executemany('INSERT INTO vectors VALUES (?, ?, ?)', [(i + 1, model, v[i - a].tobytes()) for i in range(a, b)])
            st.con.executemany('INSERT INTO extras VALUES (?, ?, ?, ?)', [(i + 1, model, *blank) for i in range(a, b)])
            st.con.executemany('INSERT INTO hashes VALUES (?, ?, ?, ?)',
                               [(i + 1, recipe, k, w) for i in range(a, b)
                                for k, w in (('phash', codes[i - a, :1].tobytes()), ('phash@turns', codes[i - a, 1:8].tobytes()),
                                             (DECODE_DIGEST, codes[i - a, 8:].tobytes()))])
    t0 = time.perf_counter()
    st._searchable('fused', load=False)
    t = time.perf_counter() - t0
    st.close()
    return t

def query_worker(db:str, images:list[str]) -> dict:
    "In a fresh process: load the model, then query one image at a time."
    from fastdupe.store import Store
    from fastdupe.backbone import pretrained_model
    t0 = time.perf_counter(); pretrained_model(); t_model = time.perf_counter() - t0
    st = Store(db, readonly=True)
    times = []
    for im in images:
        t0 = time.perf_counter(); r = st.query([im]); times.append(time.perf_counter() - t0)
    return dict(model_load_s=t_model, first_query_s=times[0], next_queries_s=times[1:], query_s=float(np.median(times[1:])))

def query_bars(args, work:Path) -> list[dict]:
    from fastdupe.eval import sample_dir
    images = [str(p) for p in sorted(sample_dir().glob('*.jpg'))][:6]
    rows = []
    for n in args.sizes:
        d = work/f'synthetic-{n}'; shutil.rmtree(d, ignore_errors=True); d.mkdir()
        t0 = time.perf_counter(); t_index = synthetic_store(d/'store.db', n, args.seed); t_build = time.perf_counter() - t0
        out = subprocess.run([sys.executable, __file__, '--query-worker', str(d/'store.db'), *images], capture_output=True, text=True)
        if out.returncode: raise SystemExit(out.stderr[-4000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r.update(vectors=n, store_build_s=t_build, index_build_s=t_index)
        rows.append(r)
        print(f"{n:>9,} vectors: model load {r['model_load_s']:.2f} s; first query (loads the saved index) {r['first_query_s']:.2f} s; "
              f"each next query {r['query_s']:.3f} s (median of {len(r['next_queries_s'])}); index build {t_index:.1f} s")
        shutil.rmtree(d, ignore_errors=True)
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=5000, help='images in the collection')
    ap.add_argument('--new', type=int, default=100, help='images added for the update')
    ap.add_argument('--sizes', default='10000,100000,1000000', help='synthetic collection sizes for the query timings')
    ap.add_argument('--data', default=None, help='a folder with collection/ and new/ from an earlier run (built when missing)')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--skip-index', action='store_true', help='only the query timings')
    ap.add_argument('--query-worker', nargs='+', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.query_worker:
        print(json.dumps(query_worker(args.query_worker[0], args.query_worker[1:]))); return
    args.sizes = [int(s) for s in args.sizes.split(',') if s]
    work = Path(tempfile.mkdtemp(prefix='fastdupe-store-bench-'))
    res = {}
    if not args.skip_index:
        res = index_bars(args, work)
        print(f"\nfirst index of {args.n:,} images: {res['first_index_s']:.1f} s; second, unchanged: {res['unchanged_index_s']:.2f} s; "
              f"{res['unchanged_speedup']:.0f}x faster (bar >= 20x): {'PASS' if res['unchanged_speedup'] >= 20 else 'FAIL'}")
        print(f"update with {args.new} new images: {res['update_s']:.1f} s; those {args.new} alone: {res['alone_s']:.1f} s; "
              f"ratio {res['update_ratio']:.2f} (bar <= 1.5): {'PASS' if res['update_ratio'] <= 1.5 else 'FAIL'}")
        print(f"find --db: {res['groups_with_db']} groups in {res['find_db_s']:.1f} s; without: {res['groups_without_db']} groups in "
              f"{res['find_s']:.1f} s; same groups and kept images: {'PASS' if res['same_groups'] else 'FAIL'} "
              f"({res['groups_differing']} differ); integrity {res['integrity']}; database {res['db_mb']:.0f} MB for {res['images_indexed']:,} images\n")
    q = query_bars(args, work)
    res['queries'] = q
    at = {r['vectors']: r for r in q}
    if 100_000 in at:
        r = at[100_000]
        print(f"\none image against 100,000 vectors after the model is loaded: {r['query_s']:.3f} s per query "
              f"(bar < 0.5 s): {'PASS' if r['query_s'] < 0.5 else 'FAIL'}; the first query, which also loads the saved index: "
              f"{r['first_query_s']:.2f} s")
    if len(q) > 1:
        print('growth: ' + ' -> '.join(f"{r['vectors']:,}: {r['query_s']:.3f} s" for r in q))
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res))

if __name__ == '__main__': main()
