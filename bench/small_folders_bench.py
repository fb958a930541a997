"""Small folders, as users' often are: 10 to 50 distinct images of the report family (one per group, crowds included)
and one to three plain copies of a few of them (mirrored, halved, a third, JPEG 30, cropped to 90 % or 75 %, turned,
grey, brighter, darker, tilted, framed: `train_judge.PLAIN_EDITS`). `fused` (the rules) and `verified` (the pair judge)
on the same folders: the share of copy pairs found, per edit, and the false pairs.

The judge decides each pair against the image's crowd; a folder of a few dozen images has none, and the judge is then
less sure of plain copies than the rules are (why `verified` is not the default yet).

Run: python bench/small_folders_bench.py [--report DIR] [--folders 12] [--out DIR]
(DIR: the report family as `families_bench.py --data D` builds it, D/report; built in a temporary folder when missing.)
"""
import argparse, collections, logging, sys, tempfile, warnings
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))

METHODS = ('fused', 'verified')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--report', help="the report family's folder (built when missing)")
    ap.add_argument('--folders', type=int, default=12)
    ap.add_argument('--out', help='where the folders of copies are written (default: a temporary folder)')
    a = ap.parse_args(argv)
    warnings.filterwarnings('ignore'); logging.disable(logging.CRITICAL)
    import train_judge
    from fastdupe.eval import load_truth
    from fastdupe.hard import build_hard_benchmark, FAMILIES
    from fastdupe.pipeline import find_duplicates
    report = Path(a.report) if a.report else Path(tempfile.mkdtemp(prefix='fastdupe-report-'))
    built = (report/'truth.csv').exists()
    truth = load_truth(report) if built else build_hard_benchmark(report, family=FAMILIES['report'])
    train_judge.PLAIN_DRAWS = a.folders
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix='fastdupe-small-'))
    found_by = {m: collections.Counter() for m in METHODS}; false = collections.Counter(); pairs = collections.Counter()
    sizes = []
    for _, files, g in train_judge.plain_collections(out, truth, 7):
        files = [Path(f) for f in files]; sizes.append(len(files))
        true = {(a_, b) for a_ in range(len(g)) for b in range(a_) if g[a_] == g[b]}
        edit = {}
        for a_, b in true:
            ea, eb = (x.stem.split('__')[1] if '__' in x.stem else None for x in (files[a_], files[b]))
            edit[a_, b] = 'copy and copy' if ea and eb else ea or eb
            pairs[edit[a_, b]] += 1
        for m in METHODS:
            r = find_duplicates(files, m, progress=False)
            at = {Path(p).resolve(): k for k, p in enumerate(r.paths)}
            back = {at[f.resolve()]: q for q, f in enumerate(files)}
            got = {(max(back[x], back[y]), min(back[x], back[y])) for grp in r.groups
                   for x in grp.members for y in grp.members if x != y}
            for pr in true & got: found_by[m][edit[pr]] += 1
            false[m] += len(got - true)
    print(f"{len(sizes)} folders of {min(sizes)} to {max(sizes)} images, {sum(pairs.values())} copy pairs")
    print(f"{'edit':<15}{'pairs':>6}" + ''.join(f'{m:>10}' for m in METHODS))
    for e in sorted(pairs):
        print(f"{e:<15}{pairs[e]:>6}" + ''.join(f'{found_by[m][e]/pairs[e]:>10.2f}' for m in METHODS))
    total = sum(pairs.values())
    print(f"{'all':<15}{total:>6}" + ''.join(f'{sum(found_by[m].values())/total:>10.3f}' for m in METHODS))
    print(f"{'false pairs':<21}" + ''.join(f'{false[m]:>10}' for m in METHODS))

if __name__ == '__main__': main()
