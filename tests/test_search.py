"Similarity search: saved index files, bad arguments, real photos, and the benchmark script at a tiny size."
import io, json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from fastdupe.core import Pairs
from fastdupe.search import (build_index, load_index, similar_pairs, exact_similar_pairs, normalize_vectors,
                             ExactIndex, AnnoyIndex, FaissIndex)

ROOT = Path(__file__).resolve().parents[1]

def clustered(n, d=32, centres=40, noise=1.0, seed=0):
    g = np.random.default_rng(seed)
    c = g.standard_normal((centres, d))
    return (c[g.integers(0, centres, n)] + noise * g.standard_normal((n, d))).astype(np.float32)

def dense_topk(x, k):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    S = x.astype(np.float64) @ x.T.astype(np.float64); np.fill_diagonal(S, -np.inf)
    nb = np.argsort(-S, axis=1, kind='stable')[:, :k]
    return {(max(a, b), min(a, b)) for a in range(len(x)) for b in nb[a]}

BACKENDS = [('exact', {}), ('annoy', dict(n_trees=10)), ('faiss', dict(kind='flat')), ('faiss', dict(kind='hnsw')),
            ('faiss', dict(kind='ivf'))]

@pytest.mark.parametrize('backend,kw', BACKENDS)
def test_save_load_files(tmp_path, backend, kw):
    x, new = clustered(600), clustered(20, seed=5)
    idx = build_index(x, backend, **kw)
    fn = idx.save(tmp_path / 'sub' / 'feats.index')
    assert fn.exists() and fn.stat().st_size > 0
    meta = json.loads((tmp_path / 'sub' / 'feats.index.json').read_text())
    assert meta['backend'] == backend and meta['n'] == 600 and meta['d'] == 32
    back = load_index(fn)
    assert type(back) is type(idx) and (back.n, back.d) == (600, 32)
    p1, p2 = idx.search_pairs(5), back.search_pairs(5)
    assert p1.as_set() == p2.as_set() and np.allclose(p1.sim, p2.sim)
    q1, q2 = idx.query(new, 4), back.query(new, 4)
    assert list(q1) == list(q2) and len(q1) == 20 * 4

def test_exact_file_is_plain_npy(tmp_path):
    x = clustered(50)
    fn = build_index(x).save(tmp_path / 'exact.npy')
    a = np.load(fn)
    assert np.allclose(a, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-6)
    (tmp_path / 'exact.npy.json').unlink()  # a bare .npy still loads as an exact index
    assert isinstance(load_index(fn), ExactIndex)
    (tmp_path / 'other.bin').write_bytes(b'\0' * 10)
    with pytest.raises(FileNotFoundError, match='which backend'): load_index(tmp_path / 'other.bin')
    with pytest.raises(FileNotFoundError, match='no index'): load_index(tmp_path / 'missing.npy')

def test_half_precision_index_saves_half(tmp_path):
    x = torch.from_numpy(clustered(300)).half()
    idx = build_index(x)
    assert idx.x.dtype == torch.float16
    back = load_index(idx.save(tmp_path / 'h.npy'))
    assert back.x.dtype == torch.float16
    assert back.search_pairs(3).as_set() == idx.search_pairs(3).as_set()

@pytest.mark.parametrize('call,err,msg', [
    (lambda x: similar_pairs(x, 0), ValueError, 'at least 1'),
    (lambda x: similar_pairs(x, -3), ValueError, 'at least 1'),
    (lambda x: similar_pairs(x, 2.5), TypeError, 'k must be an int'),
    (lambda x: similar_pairs(x, None), ValueError, 'give k'),
    (lambda x: similar_pairs(x, 5, 1.5), ValueError, r'\[-1, 1\]'),
    (lambda x: similar_pairs(x, 5, float('nan')), ValueError, r'\[-1, 1\]'),
    (lambda x: similar_pairs(x, 5, '0.9'), TypeError, 'threshold must be a number'),
    (lambda x: similar_pairs(x[0]), ValueError, '2-D'),
    (lambda x: similar_pairs(x[None]), ValueError, '2-D'),
    (lambda x: similar_pairs(np.where(np.arange(len(x))[:, None] == 7, np.inf, x)), ValueError, 'row 7'),
    (lambda x: similar_pairs(x, backend='scann'), ValueError, 'unknown backend'),
    (lambda x: similar_pairs(x, None, 0.9, backend='annoy'), ValueError, 'pass k'),
    (lambda x: similar_pairs(x, None, 0.9, backend='faiss', kind='hnsw'), ValueError, 'pass k'),
    (lambda x: similar_pairs(x, backend='faiss', kind='lsh'), ValueError, 'unknown faiss kind'),
    (lambda x: similar_pairs(x, backend='annoy', n_trees=0), ValueError, 'n_trees'),
    (lambda x: similar_pairs(x, tile_rows=0), ValueError, 'tile_rows'),
    (lambda x: build_index(x).query(x[:, :5]), ValueError, 'has 32'),
    (lambda x: exact_similar_pairs(normalize_vectors(x), None, -1.0, max_pairs=10), ValueError, 'max_pairs'),
])
def test_bad_arguments(call, err, msg):
    with pytest.raises(err, match=msg): call(clustered(40))

def test_exact_matches_dense_reference_awkward_tiles():
    x = clustered(1000, d=48, centres=100)
    ref = dense_topk(x, 7)
    for tr, tc in [(100, 333), (999, 1000), (1, 4096), (None, None)]:
        res = similar_pairs(x, 7, tile_rows=tr, tile_cols=tc)
        assert res.as_set() == ref, (tr, tc)
        assert (res.i > res.j).all() and len(res.as_set()) == len(res) and (np.diff(res.sim) <= 0).all()

def test_exact_threshold_every_pair_once():
    x = clustered(700, d=16, centres=10)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    S = xn.astype(np.float64) @ xn.T.astype(np.float64)
    ii, jj = np.nonzero(np.tril(S >= 0.5, -1))
    res = similar_pairs(x, None, 0.5, tile_rows=128, tile_cols=300)
    assert res.as_set() == set(zip(ii.tolist(), jj.tolist()))
    assert isinstance(res, Pairs) and np.allclose(res.dist, 1 - res.sim) and (res.dist >= 0).all()

def photo_vectors():
    "32×32 RGB thumbnails of real photos as vectors (centred), plus a JPEG-recompressed and a brightened coffee."
    from skimage import data
    imgs = [Image.fromarray(getattr(data, n)()).convert('RGB') for n in ('coffee', 'chelsea', 'astronaut', 'rocket', 'camera')]
    buf = io.BytesIO(); imgs[0].save(buf, 'JPEG', quality=40); buf.seek(0)
    imgs.append(Image.open(buf).convert('RGB'))
    imgs.append(Image.fromarray(np.clip(np.asarray(imgs[0], np.int16) + 20, 0, 255).astype(np.uint8)))
    v = np.stack([np.asarray(im.resize((32, 32), Image.BILINEAR), np.float32).ravel() / 255 for im in imgs])
    return v - v.mean(1, keepdims=True)

@pytest.mark.parametrize('backend,kw', BACKENDS[:3])
def test_real_photos_copies_are_nearest(backend, kw):
    v = photo_vectors()
    res = similar_pairs(v, 2, backend=backend, **kw)
    assert {(i, j) for i, j, s in zip(res.i.tolist(), res.j.tolist(), res.sim.tolist()) if s > 0.95} == {(5, 0), (6, 0), (6, 5)}
    # a new copy of the cat, queried against an index of the other photos
    idx = build_index(v[:5], backend, **kw)
    m = idx.query(v[5:6], 2)
    assert m.item[0] == 0 and m.sim[0] > 0.95 and m.sim[1] < 0.9

def test_bench_runs_tiny():
    out = subprocess.run([sys.executable, str(ROOT / 'bench' / 'search_bench.py'), '--n', '500', '--d', '64', '--quick',
                          '--big-d', '256'], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for head in ('useful GF/s', 'matmul GF/s', 'peak RSS MB', 'comb_similarity', 'speed-up', 'recall', 'bar:'):
        assert head in text, head
    res = json.loads(text.strip().splitlines()[-1])
    ex = res['exact']
    assert [(c['n'], c['d']) for c in ex] == [(500, 64), (500, 256)]
    for c in ex:
        assert c['seconds'] > 0 and c['useful_gflops'] > 0 and c['matmul_gflops'] > 0 and c['peak_rss_mb'] > 0
        assert abs(c['ratio'] - c['useful_gflops'] / c['matmul_gflops']) < 1e-9
        assert c['pairs'] >= 500 * 10 / 2
    assert [l['d'] for l in res['fastai_loop']] == [64, 256]
    for l in res['fastai_loop']: assert l['pairs_timed'] > 0 and l['speedup'] > 1
    names = [r['backend'] for r in res['ann']]
    assert names[0] == 'exact' and any('annoy' in b for b in names) and any('hnsw' in b for b in names)
    assert all(0.5 <= r['recall'] <= 1 for r in res['ann'])
    assert isinstance(res['bar_pass'], bool)
