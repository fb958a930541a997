"""Folders of distinct real JPEGs for throughput benchmarks: random crops, scales and JPEG qualities of every real photo
installed (scikit-image, scikit-learn, Debian's opencv-doc and wallpaper packages), so each file is different.

Run: python bench/photoset.py DEST N [--seed 0] [--workers 2]
"""
import argparse, os, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np
from PIL import Image

_SOURCES = None

def photo_sources() -> list[str]:
    "Every installed real photo, as `fastdupe.hard` sources (`skimage:`, `sklearn:`, `opencv:`, `wall:`)."
    from fastdupe.eval import BENCH_SOURCES
    from fastdupe.hard import _installed
    s = [src for _, src in BENCH_SOURCES]
    cv = Path('/usr/share/doc/opencv-doc/examples/data'); wall = Path('/usr/share/backgrounds')
    if cv.exists(): s += ['opencv:'+p.name for p in sorted(cv.iterdir()) if p.suffix.lower() in ('.jpg', '.png')]
    if wall.exists(): s += ['wall:'+str(p.relative_to(wall)) for p in sorted(wall.rglob('*')) if p.suffix.lower() in ('.jpg', '.png')]
    return list(dict.fromkeys(x for x in s if _installed(x)))

def _photos():
    "The source photos: every installed one, or those in the folder `$FASTDUPE_PHOTO_SOURCES` (for a machine without them)."
    global _SOURCES
    if _SOURCES is None:
        if d := os.environ.get('FASTDUPE_PHOTO_SOURCES'):
            _SOURCES = [Image.open(f).convert('RGB') for f in sorted(Path(d).iterdir())]
        else:
            from fastdupe.hard import _load_any
            _SOURCES = [im for im in map(lambda s: _load_any(s, 1600), photo_sources()) if min(im.size) >= 200]
    return _SOURCES

def _one(args):
    dest, i, seed, side = args
    rng = np.random.default_rng([seed, i])
    photos = _photos()
    img = photos[int(rng.integers(len(photos)))]
    a, r = rng.uniform(0.3, 1.0), np.exp(rng.uniform(-0.3, 0.3))
    w = min(img.width, round((a*img.width*img.height*r)**0.5)); h = min(img.height, round(a*img.width*img.height/w))
    x, y = int(rng.integers(0, img.width-w+1)), int(rng.integers(0, img.height-h+1))
    out = img.crop((x, y, x+w, y+h))
    s = rng.uniform(*side)/max(out.size)
    out = out.resize((max(16, round(out.width*s)), max(16, round(out.height*s))), Image.BICUBIC)
    if rng.random() < 0.5: out = out.transpose(Image.FLIP_LEFT_RIGHT)
    fn = Path(dest)/f'{i//1000:03d}'/f'photo_{i:06d}.jpg'
    out.save(fn, 'JPEG', quality=int(rng.integers(80, 96)))
    return fn.stat().st_size

def make_photos(dest, n:int, seed:int=0, workers:int=2, side=(560, 900)) -> list[Path]:
    "`n` distinct JPEGs under `dest` (1,000 per sub-folder), made once: an existing complete folder is reused."
    dest = Path(dest)
    files = sorted(dest.rglob('*.jpg')) if dest.exists() else []
    if len(files) == n: return files
    for k in range((n+999)//1000): (dest/f'{k:03d}').mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as ex: sizes = list(ex.map(_one, [(dest, i, seed, side) for i in range(n)], chunksize=64))
    print(f"made {n:,} JPEGs in {dest}: {np.mean(sizes)/1e3:.0f} KB each on average")
    return sorted(dest.rglob('*.jpg'))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('dest'); p.add_argument('n', type=int)
    p.add_argument('--seed', type=int, default=0); p.add_argument('--workers', type=int, default=2)
    a = p.parse_args()
    make_photos(a.dest, a.n, a.seed, a.workers)
