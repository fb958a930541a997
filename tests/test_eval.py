"The benchmark builder writes real, readable photos whose copies really are the transformations the truth file names."
import hashlib, json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from fastdupe.eval import (PIP_SOURCES, TRANSFORMS, Truth, build_benchmark, load_sample_truth, load_truth,
                           pairwise_scores, recall_by_transform, sample_dir)


@pytest.fixture(scope='module')
def truth(tmp_path_factory) -> Truth:
    # every transformation on every original that gets copies, on a seeded subset of the photos pip installs
    return build_benchmark(tmp_path_factory.mktemp('bench')/'b', n_originals=10, copies_per_original=len(TRANSFORMS),
                           n_negatives=2, seed=3, sources=PIP_SOURCES)


def _rgb(p) -> np.ndarray:
    with Image.open(p) as im: return np.asarray(im.convert('RGB')).astype(np.float32)

def _mad(a, b) -> float:
    assert a.shape==b.shape, (a.shape, b.shape)
    return float(np.abs(a-b).mean())

def _matches(expected, copy, wrong, tol=6.):
    "`copy` is close to `expected`, and much closer to it than to `wrong` (so the test would catch a wrong transform)."
    good, bad = _mad(expected, copy), _mad(wrong, copy)
    assert good < tol and good < 0.5*bad, (good, bad)

def _corr(a, b) -> float: return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

def _params(s:str) -> dict:
    "'crop:box=1,2,3,4;color:saturation=1.5,brightness=0.8' -> {'box': [1,2,3,4], 'saturation': 1.5, 'brightness': 0.8}"
    out, key = {}, None
    for part in s.replace(';', ',').split(','):
        part = part.split(':', 1)[-1] if ':' in part and '=' in part.split(':', 1)[1] else part
        if '=' in part: key, v = part.split('=', 1); out[key] = [v]
        elif key: out[key].append(part)
    return {k: (v[0] if len(v)==1 else v) for k,v in out.items()}

def _box(p) -> tuple[int,int,int,int]: return tuple(int(x) for x in p['box'])

def _quant_mean(p) -> float:
    with Image.open(p) as im: return float(np.mean(im.quantization[0]))

def _rows(truth, t): return [r for r in truth.table.to_dict('records') if r['transform']==t]


def test_params_parser():
    assert _params('crop:box=1,2,3,4;color:saturation=1.50,brightness=0.80') == {'box': ['1','2','3','4'], 'saturation': '1.50', 'brightness': '0.80'}


def test_files_and_truth_rows(truth):
    on_disk = sorted((truth.root/'images').iterdir())
    assert sorted(truth.paths) == on_disk
    assert len(set(truth.table['path'])) == len(truth.table)
    for p in on_disk:
        with Image.open(p) as im: im.load(); assert min(im.size) >= 32, p
    assert set(truth.table['transform']) == {'original', *TRANSFORMS}
    assert len(truth.negatives) == 2
    assert (truth.table['transform']=='original').sum() == 10
    # the original of every copy is an original row of the same group
    orig = truth.table[truth.table['transform']=='original'].set_index('group')['path']
    assert (truth.table['original'] == truth.table['group'].map(orig)).all()
    assert load_truth(truth.root).table.equals(truth.table)


def test_originals_are_small_and_distinct(truth):
    o = truth.table[truth.table['transform']=='original']
    digests = set()
    for p in o['path']:
        with Image.open(truth.root/p) as im: assert max(im.size) <= 512
        digests.add(hashlib.md5((truth.root/p).read_bytes()).hexdigest())
    assert len(digests) == len(o)


def test_exact_and_jpeg(truth):
    for r in _rows(truth, 'exact'):
        assert (truth.root/r['path']).read_bytes() == (truth.root/r['original']).read_bytes()
    for t in ('jpeg', 'downscale+jpeg'):
        for r in _rows(truth, t):
            c = truth.root/r['path']
            assert c.suffix == '.jpg' and _quant_mean(c) > 40  # quality 30 tables; quality 90 ones average about 5
    for r in _rows(truth, 'jpeg'):
        a, b = _rgb(truth.root/r['original']), _rgb(truth.root/r['path'])
        assert _mad(a, b) > 0 and _corr(a, b) > 0.9


def test_geometric(truth):
    for r in _rows(truth, 'hflip'):
        a, b = _rgb(truth.root/r['original']), _rgb(truth.root/r['path'])
        _matches(a[:, ::-1], b, a)
    for r in _rows(truth, 'rot90'):
        a, b = _rgb(truth.root/r['original']), _rgb(truth.root/r['path'])
        _matches(np.rot90(a), b, np.rot90(a, -1))
    for t in ('downscale', 'downscale+jpeg'):
        for r in _rows(truth, t):
            with Image.open(truth.root/r['original']) as o, Image.open(truth.root/r['path']) as c:
                assert c.size == (round(o.width/2), round(o.height/2))
                small = np.asarray(o.convert('RGB').resize(c.size, Image.LANCZOS)).astype(np.float32)
                c = np.asarray(c.convert('RGB')).astype(np.float32)
                if 'jpeg' in t: assert _corr(small, c) > 0.9  # quality 30 on fine texture is far off pixel by pixel
                else: assert _mad(small, c) < 4
    for r in _rows(truth, 'crop'):
        box = _box(_params(r['params']))
        with Image.open(truth.root/r['original']) as o:
            area = (box[2]-box[0])*(box[3]-box[1])/(o.width*o.height)
            assert 0.84 < area < 0.91
            o = o.convert('RGB'); shifted = (box[0]+4, box[1]+4, box[2]+4, box[3]+4)
            _matches(np.asarray(o.crop(box)).astype(np.float32), _rgb(truth.root/r['path']), np.asarray(o.crop(shifted)).astype(np.float32))


def test_small_rotation(truth):
    for r in _rows(truth, 'rotate_small'):
        p = _params(r['params']); ang = float(p['angle']); box = _box(p)
        assert 4 <= abs(ang) <= 6
        with Image.open(truth.root/r['original']) as o:
            o = o.convert('RGB')
            rotated = np.asarray(o.rotate(ang, resample=Image.BICUBIC).crop(box)).astype(np.float32)
            straight = np.asarray(o.crop(box)).astype(np.float32)
        c = _rgb(truth.root/r['path'])
        assert _mad(rotated, c) < 4 < _mad(straight, c)
        # no black corners left by the rotation
        for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)): assert abs(c[y, x]-rotated[y, x]).max() < 60


def test_colour_grayscale_blur(truth):
    for t in ('color', 'crop+color'):
        for r in _rows(truth, t):
            p = _params(r['params'])
            with Image.open(truth.root/r['original']) as o:
                o = o.convert('RGB')
                if 'box' in p: o = o.crop(_box(p))
                plain = np.asarray(o).astype(np.float32)
                redo = ImageEnhance.Brightness(ImageEnhance.Color(o).enhance(float(p['saturation']))).enhance(float(p['brightness']))
            c = _rgb(truth.root/r['path'])
            m_redo, m_plain = _mad(np.asarray(redo).astype(np.float32), c), _mad(plain, c)
            assert m_redo < 6 and m_redo < m_plain - 1  # the recorded edit explains the copy; the original does not (JPEG noise aside)
            assert abs(c.mean()/plain.mean() - float(p['brightness'])) < 0.12
    rows = _rows(truth, 'grayscale')
    assert rows
    for r in rows:
        c = _rgb(truth.root/r['path'])
        assert np.abs(c[..., 0]-c[..., 1]).max() <= 2 and np.abs(c[..., 1]-c[..., 2]).max() <= 2
        o = _rgb(truth.root/r['original'])
        assert np.abs(o[..., 0]-o[..., 2]).mean() > 3  # the original had colour
        with Image.open(truth.root/r['original']) as im: lum = np.asarray(im.convert('L')).astype(np.float32)
        assert _mad(lum, c[..., 0]) < 3
    for r in _rows(truth, 'blur'):
        def lap_var(a): g = a.mean(-1); return float(np.var(g[1:-1, 1:-1]*4-g[:-2, 1:-1]-g[2:, 1:-1]-g[1:-1, :-2]-g[1:-1, 2:]))
        o, c = _rgb(truth.root/r['original']), _rgb(truth.root/r['path'])
        assert lap_var(c) < 0.9*lap_var(o)  # less fine detail (a smooth photo has little to lose; JPEG adds some back)
        with Image.open(truth.root/r['original']) as im:
            redo = np.asarray(im.convert('RGB').filter(ImageFilter.GaussianBlur(float(_params(r['params'])['radius'])))).astype(np.float32)
        assert _mad(redo, c) < 3


def test_text_and_pad(truth):
    for r in _rows(truth, 'text'):
        x0, y0, x1, y1 = _box(_params(r['params']))
        o, c = _rgb(truth.root/r['original']), _rgb(truth.root/r['path'])
        d = np.abs(o-c).mean(-1)
        inside = d[y0:y1, x0:x1]
        outside = d.copy(); outside[max(0, y0-2):y1+2, max(0, x0-2):x1+2] = 0
        assert (inside > 60).mean() > 0.1  # the letters are there
        assert outside.mean() < 3  # and nothing else changed
    for r in _rows(truth, 'pad'):
        p = _params(r['params']); b = int(p['border'][0])
        o, c = _rgb(truth.root/r['original']), _rgb(truth.root/r['path'])
        if p['border'][1] == 'top-bottom': bars, inner = np.concatenate([c[:b-1], c[-b+1:]]), c[b:-b]
        else: bars, inner = np.concatenate([c[:, :b-1], c[:, -b+1:]], 1), c[:, b:-b]
        assert bars.mean() < 6
        assert _mad(o, inner) < 4


def test_metrics_on_benchmark(truth):
    perfect = truth.scores(truth.groups)
    assert (perfect.precision, perfect.recall, perfect.fp, perfect.fn) == (1., 1., 0, 0)
    # a finder that groups files by identical bytes finds the exact copies and nothing else
    by_md5 = {}
    for p in truth.paths: by_md5.setdefault(hashlib.md5(p.read_bytes()).hexdigest(), []).append(p)
    rt = recall_by_transform(list(by_md5.values()), truth)
    assert list(rt.index) == list(TRANSFORMS)
    assert rt.loc['exact', 'recall'] == 1. and rt.drop('exact')['found'].sum() == 0
    s = truth.scores(list(by_md5.values()))
    assert s.precision == 1. and s.tp == rt.loc['exact', 'n'] and s.recall < 0.2
    # indices into the path list work as well as paths; relative and absolute paths compare equal
    idx = {p: k for k, p in enumerate(truth.paths)}
    pairs = [(idx[o], idx[c]) for o, c, _ in truth.copies[:5]]
    assert truth.scores(pairs, items=truth.paths).tp == 5


@pytest.mark.filterwarnings('ignore:Parameter num_enc_workers:RuntimeWarning')  # imagededup warns on every encoding_map call
def test_pairwise_scores_agree_with_imagededup():
    "On the shipped sample, our pairwise scores of imagededup's PHash equal imagededup's own classification metrics."
    from imagededup.evaluation import evaluate
    from imagededup.methods import PHash
    sd = sample_dir()
    groups = json.loads((sd/'groups.json').read_text(encoding='utf-8'))
    files = [f for g in groups for f in g]
    ph = PHash(verbose=False)
    enc = {f: ph.encode_image(image_file=str(sd/f)) for f in files}
    found = ph.find_duplicates(encoding_map=enc, max_distance_threshold=10)
    gt = {f: [x for x in g if x != f] for g in groups for f in g}
    theirs = evaluate(gt, found, metric='classification')
    ours = pairwise_scores(found, load_sample_truth(), key=lambda p: Path(p).name)
    assert 0 < ours.tp and ours.fn > 0  # PHash misses the EXIF-rotated copy, so the check is not trivial
    assert ours.precision == pytest.approx(theirs['precision'][1])
    assert ours.recall == pytest.approx(theirs['recall'][1])
    assert ours.f1 == pytest.approx(theirs['f1_score'][1])
