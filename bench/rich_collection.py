"""A duplicate-rich collection for the throughput bench: real photos from what pip installs, most of them in groups.

`fastdupe.eval.build_benchmark` over `PIP_SOURCES` (scikit-image's and scikit-learn's photos, 512 px): every original
with 14 transformed copies (JPEG, resizing, crops, flips, turns, colour, text, blur, padding...), about one original
in six without copies. Beside them, as distinct images, the cells of two of the hard benchmark's crowd-zoo kinds that
pip installs (`fastdupe.hard.TUNING`): 72-px cells of the Hubble deep field and 96-px cells of the brick, gravel and
grass photos, each resized to 320 px. 292 of the 527 images (55 %) are in groups.
"""
import shutil
from pathlib import Path
import numpy as np
import pandas as pd
from PIL import Image

def _cells(a:np.ndarray, cell:int) -> list[np.ndarray]:
    h, w = a.shape[:2]
    return [a[y:y+cell, x:x+cell] for y in range(0, h - cell + 1, cell) for x in range(0, w - cell + 1, cell)]

def build_rich(dest:Path) -> Path:
    "Write `dest/images`, `dest/truth.csv` and `dest/dont_care.csv` (as `build_benchmark` does) once; return `dest`."
    from fastdupe.eval import build_benchmark, PIP_SOURCES
    from skimage import data as sk
    dest = Path(dest)
    if (dest/'truth.csv').exists(): return dest
    t = build_benchmark(dest, sources=PIP_SOURCES, copies_per_original=14, seed=0)
    rows, g = t.table.to_dict('records'), int(t.table['group'].max()) + 1
    for name, cell in (('hubble_deep_field', 72), ('brick', 96), ('gravel', 96), ('grass', 96)):
        for k, c in enumerate(_cells(getattr(sk, name)(), cell)):
            p = f'images/cell_{name}_{k:03d}.jpg'
            Image.fromarray(c).convert('RGB').resize((320, 320), Image.Resampling.LANCZOS).save(dest/p, quality=90)
            rows.append(dict(path=p, group=g, original=p, transform='original', params='',
                             source=f'skimage:{name}#{k}'))
            g += 1
    pd.DataFrame(rows).to_csv(dest/'truth.csv', index=False)
    return dest

# Per-stage time of fastdupe's default in one process, by timing the functions each stage runs: thread-seconds for the
# stages that run in the loader threads (decode, hashes, keypoints), wall seconds for the others. `search` is the
# candidate search (nearest embeddings, close hashes, shared parts), `matching` the keypoint matching of the candidates
# the judge's quick trees leave in doubt, `verification` the judge itself.
STAGES = ('decode', 'model', 'hashes', 'keypoints', 'search', 'matching', 'verification', 'grouping', 'output')

def stage_times(img_dir:Path, out_csv:Path) -> dict:
    import threading, time, functools
    import fastdupe.features as F, fastdupe.hashing as H, fastdupe.pipeline as P, fastdupe.evidence as E
    import fastdupe.judge as J
    tot, lock = dict.fromkeys(STAGES, 0.0), threading.Lock()
    counts = dict(candidates=0, matched=0)
    def timed(stage, fn):
        @functools.wraps(fn)
        def w(*a, **k):
            t = time.perf_counter()
            try: return fn(*a, **k)
            finally:
                with lock: tot[stage] += time.perf_counter() - t
        return w
    where = {(F, 'read_image'): 'decode', (H, 'hash_one'): 'hashes', (F, '_with_keypoints'): 'keypoints',
             (F, 'embed'): 'model', (E, 'candidate_pairs'): 'search', (E, 'turned_pairs'): 'search',
             (E, 'part_candidates'): 'search', (E, '_match'): 'matching', (P, 'group_pairs'): 'grouping'}
    old = {mn: getattr(*mn) for mn in where}
    old_prob, old_to_match, old_save = J.Judge.probability, J.Judge.to_match, P.Duplicates.save
    def to_match(self, q):
        m = old_to_match(self, q); counts['candidates'] += len(m); counts['matched'] += int(m.sum()); return m
    try:
        for (m, n), st in where.items(): setattr(m, n, timed(st, old[(m, n)]))
        J.Judge.probability, J.Judge.to_match = timed('verification', old_prob), timed('verification', to_match)
        P.Duplicates.save = timed('output', old_save)
        t = time.perf_counter()
        r = P.find_duplicates(img_dir, progress=False)
        r.save(out_csv)
        wall = time.perf_counter() - t
    finally:
        for (m, n), f in old.items(): setattr(m, n, f)
        J.Judge.probability, J.Judge.to_match, P.Duplicates.save = old_prob, old_to_match, old_save
    return dict(wall=wall, **tot, **counts)
