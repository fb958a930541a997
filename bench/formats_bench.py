"""What files that are not images cost a run: the same N photos alone, and among 1,000 other files (text, CSV, JSON,
SVG, PDF-like, camera raw, files with no extension), which the listing skips and counts by extension and reason.

Prints, for `--method phash` (hashing is fast, so listing overhead shows most) and the default method on fewer photos:
the time of `find_duplicates` on each folder (best of `--repeat` interleaved runs), their ratio, and the same with
`sniff=True` (the first 32 bytes of every file that is not named as an image are read). On a busy shared machine the
whole runs' ratio drifts either way by more than the effect, so the listing alone is timed too: what the other files
add to it, as a ratio to the run without them, is the overhead.

Run: python bench/formats_bench.py [--n 1000] [--n-fused 300] [--others 1000] [--workers 2] [--repeat 3]
"""
import argparse, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from photoset import make_photos

KINDS = [('.txt', b'some notes\n'*20), ('.csv', b'path,label\na.jpg,1\n'*10), ('.json', b'{"a": 1}'),
         ('.svg', b'<svg xmlns="http://www.w3.org/2000/svg"/>'), ('.pdf', b'%PDF-1.7\n' + bytes(300)),
         ('.zip', b'PK\x03\x04' + bytes(400)), ('', b'#!/bin/sh\necho hi\n'), ('.xml', b'<a/>'), ('.md', b'# notes\n')]

def folders(root:Path, n:int, others:int) -> tuple[Path, Path]:
    "`root/photos`: n JPEGs; `root/mixed`: the same files (hard links) among `others` files that are not images."
    photos = make_photos(root/f'src{n}', n)
    alone, mixed = root/f'photos{n}', root/f'mixed{n}'
    if not alone.exists():
        for d in (alone, mixed):
            for i, p in enumerate(photos):
                (d/p.parent.name).mkdir(parents=True, exist_ok=True); os.link(p, d/p.parent.name/p.name)
        for i in range(others):
            ext, data = KINDS[i % len(KINDS)]
            sub = mixed/f'{i % 3:03d}'; sub.mkdir(exist_ok=True)
            (sub/f'other_{i:05d}{ext}').write_bytes(data)
    return alone, mixed

def best(fns, repeat:int) -> list[float]:
    "Best time of each function; the runs interleaved, so a busy spell on a shared machine slows all alike."
    ts = [[] for _ in fns]
    for _ in range(repeat):
        for f, t in zip(fns, ts):
            t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return [min(t) for t in ts]

def main(a):
    from fastdupe.pipeline import find_duplicates
    from fastdupe.intake import find_images
    root = Path(a.data or tempfile.mkdtemp(prefix='fastdupe-formats-bench-'))
    print(f"{a.others:,} files that are not images; {a.workers} worker processes; best of {a.repeat}")
    for method, n in (('phash', a.n), ('fused', a.n_fused)):
        alone, mixed = folders(root, n, a.others)
        find_duplicates(alone, method, n_workers=a.workers, progress=False)  # warm: imports, the model, the page cache
        r = find_duplicates(mixed, method, n_workers=a.workers, progress=False, sniff=True)
        assert len(r.paths) == n and len(r.skipped) == a.others, (len(r.paths), len(r.skipped))
        t0, t1, t2 = best([lambda: find_duplicates(alone, method, n_workers=a.workers, progress=False),
                           lambda: find_duplicates(mixed, method, n_workers=a.workers, progress=False),
                           lambda: find_duplicates(mixed, method, n_workers=a.workers, progress=False, sniff=True)], a.repeat)
        print(f"{method:>6}, {n:,} photos: alone {t0:.2f} s; among the other files {t1:.2f} s ({t1/t0:.3f}x); "
              f"with sniff {t2:.2f} s ({t2/t0:.3f}x)")
        # the whole runs' ratio drifts with the machine's load; what the other files add is the listing's extra work
        l0, l1, l2 = best([lambda: find_images(alone), lambda: find_images(mixed, skipped=[]),
                           lambda: find_images(mixed, skipped=[], sniff=True)], max(a.repeat, 5))
        print(f"        listing: alone {l0*1e3:.1f} ms; counting the other files {l1*1e3:.1f} ms, sniffing them {l2*1e3:.1f} ms: "
              f"{1 + (l1 - l0)/t0:.4f}x and {1 + (l2 - l0)/t0:.4f}x the run alone")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--n', type=int, default=1000); p.add_argument('--n-fused', type=int, default=300)
    p.add_argument('--others', type=int, default=1000); p.add_argument('--workers', type=int, default=2)
    p.add_argument('--repeat', type=int, default=3); p.add_argument('--data', default=None)
    main(p.parse_args())
