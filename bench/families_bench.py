"""The two hard-benchmark families side by side: the tuning family (every constant is chosen on it) and the report
family (the README quotes it), built from disjoint sources (`fastdupe.hard.TUNING`, `fastdupe.hard.REPORT`).

For each family, on the same files: fastdupe's `fused` (the rules) and `verified` (the pair judge), each timed, the
default marked, imagededup's CNN with the
same backbone (EfficientNet-Lite0, offline weights, through `CustomModel`, at its default 0.9) and imagededup's PHash
(default 10). Printed: precision, recall, F1, the largest group beside the largest true group, recall per edit, and
for every crowd-zoo kind the false pairs per 100 images of that kind (a false pair counts for the kind of each of its
two images). Then the first benchmark (`fastdupe.eval.build_benchmark`) with both (goal F1 >= 0.995).

Every source is named with its package; a package that is not installed is skipped with a line saying what to
install. The two families must share no package and no file (checked by content).

Run: python bench/families_bench.py [--family tuning|report|both] [--data DIR] [--json FILE] [--no-imagededup]
(DIR keeps the built benchmarks, DIR/tuning, DIR/report and DIR/first, for the next run.)
"""
import argparse, hashlib, json, logging, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).parent))
from cnn_bench import Clock
from hard_bench import _imagededup_cnn, _largest_component

from fastdupe.options import DEFAULT_METHOD
NAMES = {m: f'fastdupe {m}' + (' (default)' if m == DEFAULT_METHOD else '') for m in ('fused', 'verified')}
GOALS = "report family: F1 >= 0.85, largest group <= largest true group, recall >= 0.7 per edit, <= 1 false pair per 100 per zoo kind"

def describe(fam):
    "Lines naming every source of a family with its package, and what to install for those missing."
    from fastdupe.hard import expand_sources, source_package, install_hint, _installed
    lines = []
    def one(what, srcs):
        srcs = expand_sources(srcs); by = {}
        for s in srcs: by.setdefault(source_package(s), []).append(s)
        for p, ss in by.items():
            ok = sum(map(_installed, ss))
            lines.append(f"  {what:<15} {p:<28} {ok:>4} files" + ('' if ok else f"   MISSING: {install_hint([p])}"))
    one('originals', fam.originals); one('look-alikes', fam.lookalikes); one('hosts', fam.hosts)
    for k, z in fam.zoo.items(): one(f'zoo:{k}', z.sources); lines.append(f"  {'':<15} ({z.what}; {z.n} images)")
    return lines

def _file_digests(truth) -> set:
    "Digests of the source files a benchmark drew from (`deb:`/`mpl:` files; pip's photos by name)."
    from fastdupe.hard import _file_of
    out = set()
    for s in truth.table['source'].unique():
        f = _file_of(s.split('@cell:')[0])
        out.add(hashlib.md5(f.read_bytes()).hexdigest() if f is not None and f.exists() else s.split('@')[0])
    return out

def zoo_false_pairs(pred, truth) -> pd.Series:
    "False pairs per 100 images of each crowd-zoo kind (a pair touching two kinds counts for both)."
    from fastdupe.eval import as_pairs, _abspath
    P = as_pairs(pred, key=_abspath)
    T, D = as_pairs(truth.groups, key=_abspath), as_pairs(truth.dont_care, key=_abspath)
    kind = dict(zip(map(_abspath, truth.paths), truth.table['kind']))
    n = truth.table['kind'].value_counts()
    fp = {}
    for p in P - T - D:
        for k in {kind.get(x, '') for x in p}:
            if k.startswith('crowd:'): fp[k] = fp.get(k, 0) + 1
    ks = sorted(k for k in n.index if k.startswith('crowd:'))
    return pd.Series({k[6:]: 100*fp.get(k, 0)/n[k] for k in ks})

def run_family(name, data, seed, idd):
    from fastdupe.eval import load_truth, recall_by_transform, _abspath, as_pairs
    from fastdupe.hard import build_hard_benchmark, FAMILIES
    from fastdupe.pipeline import find_duplicates
    fam = FAMILIES[name]
    print(f"== {name} family: sources (package, files installed)"); print('\n'.join(describe(fam)))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        truth = load_truth(data) if (data/'truth.csv').exists() else build_hard_benchmark(data, seed=seed, family=fam)
    for x in w: print(f"  SKIPPED: {x.message}")
    img_dir = data/'images'; n = len(truth.table)
    true_max = int(truth.table.groupby('group').size().max())
    print(f"  {truth}; largest true group {true_max}\n")
    for f in img_dir.iterdir(): f.read_bytes()  # the page cache: no run pays for the first read
    find_duplicates(sorted(img_dir.iterdir())[:24], progress=False)  # warm-up: model, kernels, imports
    find_duplicates(sorted(img_dir.iterdir())[:24], 'verified', progress=False)
    res = {}
    for method in ('fused', 'verified'):
        with Clock() as t: r = find_duplicates(img_dir, method, progress=False)
        groups = [[r.paths[k] for k in g.members] for g in r.groups]
        res[NAMES[method]] = (groups, max(map(len, groups), default=1), t.wall)
    if idd:
        cnn = _imagededup_cnn(img_dir)
        def conv(dup): return {str(img_dir/k): [str(img_dir/v) for v in vs] for k, vs in dup.items()}
        with Clock() as t:
            d = conv(cnn.find_duplicates(encoding_map=cnn.encode_images(image_dir=str(img_dir)), min_similarity_threshold=0.9))
        res['imagededup CNN 0.9'] = (d, _largest_component(as_pairs(d, key=_abspath)), t.wall)
        from imagededup.methods import PHash
        with Clock() as t: d = conv(PHash(verbose=False).find_duplicates(image_dir=str(img_dir), max_distance_threshold=10))
        res['imagededup PHash 10'] = (d, _largest_component(as_pairs(d, key=_abspath)), t.wall)
    out = {}
    for m, (pred, big, wall) in res.items():
        s = truth.scores(pred)
        out[m] = dict(P=s.precision, R=s.recall, F1=s.f1, largest_group=big, largest_true_group=true_max, wall_s=wall,
                      images=n, per_edit=recall_by_transform(pred, truth).recall.to_dict(),
                      zoo_fp_per_100=zoo_false_pairs(pred, truth).to_dict())
    return truth, out

def show(results):
    "The figures of every family and method side by side."
    cols = {(f, m): r for f, ms in results.items() if not f.startswith('first') for m, r in ms.items()}
    def table(key):
        return pd.DataFrame({f'{f}: {m}': pd.Series(r[key]) for (f, m), r in cols.items()})
    top = pd.DataFrame({f'{f}: {m}': {k: r[k] for k in ('images', 'P', 'R', 'F1', 'largest_group', 'largest_true_group', 'wall_s')}
                        for (f, m), r in cols.items()})
    pd.set_option('display.width', 250); pd.set_option('display.max_columns', 20)
    fmt = lambda x: f'{x:.3f}' if isinstance(x, float) and abs(x) < 10 else f'{x:.0f}' if isinstance(x, (int, float)) else str(x)
    print(top.map(fmt).to_string()); print("\nrecall per edit"); print(table('per_edit').map(lambda x: f'{x:.2f}').to_string())
    print("\nfalse pairs per 100 images, per crowd-zoo kind"); print(table('zoo_fp_per_100').map(lambda x: '' if pd.isna(x) else f'{x:.1f}').to_string())

def check_goals(r, method):
    "The issue's goals, on the report family's `method`."
    d = r[method]; worst_edit = min(d['per_edit'].items(), key=lambda x: x[1]); worst_zoo = max(d['zoo_fp_per_100'].items(), key=lambda x: x[1])
    for what, ok in [(f"F1 {d['F1']:.3f} >= 0.85", d['F1'] >= 0.85),
                     (f"largest group {d['largest_group']} <= largest true group {d['largest_true_group']}", d['largest_group'] <= d['largest_true_group']),
                     (f"lowest recall per edit {worst_edit[1]:.2f} ({worst_edit[0]}) >= 0.7", worst_edit[1] >= 0.7),
                     (f"most false pairs per 100 {worst_zoo[1]:.1f} ({worst_zoo[0]}) <= 1", worst_zoo[1] <= 1)]:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--family', choices=['tuning', 'report', 'both'], default='both')
    ap.add_argument('--data', help='folder that keeps the built benchmarks (DIR/tuning, DIR/report, DIR/first); default: a temporary one')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-imagededup', action='store_true', help='fastdupe only (faster, for tuning loops)')
    ap.add_argument('--json')
    a = ap.parse_args(argv)
    logging.disable(logging.CRITICAL); warnings.filterwarnings('ignore')
    from fastdupe.eval import build_benchmark, load_truth
    from fastdupe.hard import FAMILIES, family_packages
    from fastdupe.pipeline import find_duplicates
    data = Path(a.data) if a.data else Path(tempfile.mkdtemp(prefix='fastdupe-families-'))
    names = ['tuning', 'report'] if a.family == 'both' else [a.family]
    shared = set(family_packages(FAMILIES['tuning'])) & set(family_packages(FAMILIES['report']))
    print(f"packages in both families: {sorted(shared) or 'none'}")
    results, truths = {}, {}
    for name in names: truths[name], results[name] = run_family(name, data/name, a.seed, not a.no_imagededup)
    if len(names) == 2:
        both = _file_digests(truths['tuning']) & _file_digests(truths['report'])
        print(f"source files (by content) in both families: {len(both) or 'none'}")
    print(); show(results)
    if 'report' in results:
        for m in NAMES.values(): print(f"\ngoals, {m} ({GOALS}):"); check_goals(results['report'], m)
    od = data/'first'
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ot = load_truth(od) if (od/'truth.csv').exists() else build_benchmark(od, seed=a.seed)
    for x in w: print(f"first benchmark: {x.message}")
    for method, name in NAMES.items():
        with Clock() as t: r = find_duplicates(od/'images', method, progress=False)
        s = ot.scores([[r.paths[k] for k in g.members] for g in r.groups])
        verdict = 'PASS' if s.f1 >= 0.995 else 'FAIL'
        print(f"\nfirst benchmark ({len(ot.table)} images), {name}: {s}, {t.wall:.1f} s (goal F1 >= 0.995): {verdict}")
        results[f'first {method}'] = dict(images=len(ot.table), wall_s=t.wall, **s.as_dict())
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1, default=float))
    return results

if __name__ == '__main__': main()
