"""Small folders, as users' often are, where no image has a crowd of its own (the judge reads the tuning family's
typical crowd instead: `evidence.CROWD_PRIOR`). `fused` (the rules) and `verified` (the pair judge, the default) on the
same folders: the share of copy pairs found, per edit, and the false pairs.
- Small folders: 10 to 50 distinct images of the report family (one per group, crowds included) and one to three plain
  copies of a few of them (mirrored, halved, a third, JPEG 30, cropped to 90 % or 75 %, turned, grey, brighter, darker,
  tilted, framed: `train_judge.PLAIN_EDITS`).
- Tiny folders: 5 to 20 images of the report family, 1 to 3 originals with one or two of their edited copies each
  (stickers, pasted, crops, turns... as the family made them) and one image of each of other groups
  (`train_judge.tiny_pick`).
- Tiny folders of one look-alike kind: 5 to 20 distinct images of one crowd kind (deep-sky photos, flags, icons...),
  where any pair found is false.

Run: python bench/small_folders_bench.py [--report DIR] [--folders 12] [--tiny 40] [--alike 2] [--out DIR]
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
    ap.add_argument('--tiny', type=int, default=40, help='tiny folders (5 to 20 images) of the report family')
    ap.add_argument('--alike', type=int, default=2, help='tiny folders of each look-alike kind')
    ap.add_argument('--out', help='where the folders of copies are written (default: a temporary folder)')
    ap.add_argument('--show-false', action='store_true', help="name each false pair's files")
    a = ap.parse_args(argv)
    warnings.filterwarnings('ignore'); logging.disable(logging.CRITICAL)
    import train_judge
    from fastdupe.eval import load_truth
    from fastdupe.hard import build_hard_benchmark, FAMILIES
    report = Path(a.report) if a.report else Path(tempfile.mkdtemp(prefix='fastdupe-report-'))
    built = (report/'truth.csv').exists()
    truth = load_truth(report) if built else build_hard_benchmark(report, family=FAMILIES['report'])
    train_judge.PLAIN_DRAWS = a.folders
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix='fastdupe-small-'))
    plain = []
    for _, files, g in train_judge.plain_collections(out, truth, 7):
        files = [Path(f) for f in files]
        edit = lambda a_, b: next((x.stem.split('__')[1] for x in (files[a_], files[b]) if '__' in x.stem), None)
        plain.append((files, g, {pr: ('copy and copy' if all('__' in files[q].stem for q in pr) else edit(*pr))
                                 for pr in true_pairs(g)}))
    print(f"small folders of report images with plain copies of a few ({len(plain)} folders):")
    compare(plain, a.show_false)
    # tiny folders: an original or a few with one or two of the report family's own copies each, and distinct images
    t = truth.table; rng = np.random.default_rng(7)
    files_all = np.array([truth.root/p for p in t.path]); g_all = t.group.to_numpy()
    made = {(str(o), str(c)): e for o, c, e in truth.copies}
    original = np.isin([str(f) for f in files_all], [o for o, _ in made])
    tiny = []
    for _ in range(a.tiny):
        idx = train_judge.tiny_pick(g_all, original, rng); files, g = list(files_all[idx]), g_all[idx]
        label = lambda a_, b: made.get((str(files[b]), str(files[a_]))) or made.get((str(files[a_]), str(files[b])))
        tiny.append((files, g, {pr: label(*pr) or 'copy and copy' for pr in true_pairs(g)}))
    print(f"\ntiny folders of the report family: 1 to 3 originals with 1 or 2 of their copies each, distinct images "
          f"({len(tiny)} folders):")
    compare(tiny, a.show_false)
    # tiny folders of one look-alike kind (deep-sky photos only, flags only...): every pair found is false
    alike = []
    for kind in sorted(k for k in t.kind.unique() if k.startswith('crowd:')):
        heads = t[t.kind == kind].drop_duplicates('group')
        for _ in range(a.alike):
            pick = heads.iloc[rng.permutation(len(heads))[:int(rng.integers(5, 21))]]
            alike.append(([truth.root/p for p in pick.path], pick.group.to_numpy(), {}))
    print(f"\ntiny folders of one look-alike kind ({a.alike} of each of the {len(alike)//max(a.alike, 1)} crowd kinds, "
          "5 to 20 distinct images):")
    compare(alike, a.show_false)

def true_pairs(g) -> set:
    "The pairs (a, b), a > b, of a folder's images in one group."
    return {(a, b) for a in range(len(g)) for b in range(a) if g[a] == g[b]}

def compare(folders, show_false:bool=False):
    """Each method's share of copy pairs found per edit, and its false pairs, over `folders` of (files, groups, edits);
    `show_false`: name each false pair's files."""
    from fastdupe.pipeline import find_duplicates
    if not folders: return
    found_by = {m: collections.Counter() for m in METHODS}; false = collections.Counter(); pairs = collections.Counter()
    for files, g, edit in folders:
        true = set(edit); pairs.update(edit.values())
        for m in METHODS:
            r = find_duplicates(files, m, progress=False)
            at = {Path(p).resolve(): k for k, p in enumerate(r.paths)}
            back = {at[Path(f).resolve()]: q for q, f in enumerate(files)}
            got = {(max(back[x], back[y]), min(back[x], back[y])) for grp in r.groups
                   for x in grp.members for y in grp.members if x != y}
            for pr in true & got: found_by[m][edit[pr]] += 1
            false[m] += len(got - true)
            if show_false: print(m, 'false:', [(files[x].name, files[y].name) for x, y in got - true])
    sizes = [len(f) for f, _, _ in folders]
    print(f"{len(sizes)} folders of {min(sizes)} to {max(sizes)} images, {sum(pairs.values())} copy pairs")
    print(f"{'edit':<15}{'pairs':>6}" + ''.join(f'{m:>10}' for m in METHODS))
    for e in sorted(pairs):
        print(f"{e:<15}{pairs[e]:>6}" + ''.join(f'{found_by[m][e]/pairs[e]:>10.2f}' for m in METHODS))
    total = sum(pairs.values())
    if total: print(f"{'all':<15}{total:>6}" + ''.join(f'{sum(found_by[m].values())/total:>10.3f}' for m in METHODS))
    print(f"{'false pairs':<21}" + ''.join(f'{false[m]:>10}' for m in METHODS))

if __name__ == '__main__': main()
