"""A verifier trained on a collection's own images, on top of the shipped pair judge: one run, the same files.

For each set, a verifier is trained self-supervised on that set's own images, labels unseen
(`train_verifier(folder)`: an edited copy of every image), as a user would on theirs. It starts from the shipped judge
(`pairhead.PairHead` adds a learnt correction to the judge's log-odds). Then, side by side on the same files:

- the default (`find_duplicates(folder)`: the judge alone) and the default with the verifier
  (`find_duplicates(folder, verify=learner)`), at the verifier's default threshold (`finders.VERIFY_THRESHOLD`) and
  at each `--thresholds`;
- precision, recall, F1, the largest group beside the largest true group, the lowest recall per edit, and the most
  false pairs per 100 images of any crowd-zoo kind.

Sets: the tuning family (choose thresholds here), the report family (quote these) and the first benchmark, kept under
`--data` as `bench/families_bench.py` keeps them (DIR/tuning, DIR/report, DIR/first). Then the training time on
1,000 distinct real JPEGs (`bench/photoset.py`; `--n-timing 0` skips it).

Goal (issue 23): the verifier adds to the judge: on the report family its F1 is at least the default's, with no
group larger than the largest true group.

Run: python bench/verify_bench.py [--data DIR] [--sets tuning,report,first] [--thresholds 0.5,0.9,0.98] [--json FILE]
"""
import argparse, json, logging, sys, tempfile, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))


def build(name: str, folder: Path, seed: int):
    "The set's truth, built once into `folder`."
    from fastdupe.eval import build_benchmark, load_truth
    from fastdupe.hard import build_hard_benchmark, FAMILIES
    if (folder/'truth.csv').exists(): return load_truth(folder)
    if name == 'first': return build_benchmark(folder, seed=seed)
    return build_hard_benchmark(folder, seed=seed, family=FAMILIES[name])


def score(r, truth) -> dict:
    "What the bench prints of one result."
    from fastdupe.eval import recall_by_transform
    from families_bench import zoo_false_pairs
    groups = [[r.paths[k] for k in g.members] for g in r.groups]
    s = truth.scores(groups)
    edits = recall_by_transform(groups, truth).recall
    zoo = zoo_false_pairs(groups, truth) if 'kind' in truth.table else None
    worst_zoo = (zoo.idxmax(), float(zoo.max())) if zoo is not None and len(zoo) else ('-', 0.0)
    return dict(P=round(s.precision, 4), R=round(s.recall, 4), F1=round(s.f1, 4),
                largest=max(map(len, groups), default=1), true_largest=int(truth.table.groupby('group').size().max()),
                worst_edit=f"{edits.min():.2f} ({edits.idxmin()})" if len(edits) else '-',
                worst_zoo=f"{worst_zoo[1]:.1f} ({worst_zoo[0]})")


def run_set(name: str, folder: Path, truth, seed: int, copies: int, thresholds: list) -> list:
    from fastdupe.pipeline import find_duplicates
    from fastdupe.verify import train_verifier
    from fastdupe.finders import VERIFY_THRESHOLD
    images = folder/'images'
    t0 = time.perf_counter()
    learn = train_verifier(images, copies=copies, seed=seed, progress=False)
    took = time.perf_counter() - t0
    with learn.no_bar(): _, acc, auc = learn.validate()
    print(f"{name}: {len(truth.table)} images; trained in {took:.0f} s; {learn.dls}; held-out pairs: accuracy "
          f"{acc:.3f}, ROC-AUC {auc:.3f}", flush=True)
    rows = []
    t0 = time.perf_counter(); r = find_duplicates(images, progress=False)
    rows.append(dict(set=name, method='default (judge)', seconds=round(time.perf_counter() - t0, 1), **score(r, truth)))
    for t in dict.fromkeys([VERIFY_THRESHOLD] + thresholds):
        t0 = time.perf_counter(); r = find_duplicates(images, verify=learn, verify_threshold=t, progress=False)
        mark = ' (its default)' if t == VERIFY_THRESHOLD else ''
        took_t = round(time.perf_counter() - t0, 1)
        rows.append(dict(set=name, method=f'default + verifier at {t}{mark}', seconds=took_t,
                         **score(r, truth)))
    for row in rows: row['train_seconds'] = round(took, 1)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=None, help='folder that keeps the sets (default: a temporary one)')
    ap.add_argument('--sets', default='tuning,report,first')
    ap.add_argument('--thresholds', default='', help='other verifier thresholds to print, comma-separated')
    ap.add_argument('--copies', type=int, default=3,
                    help='folders the self-supervised copies are spread over (one copy per image)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--n-timing', type=int, default=1000, help='images for the training-time figure (0: skip)')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    logging.disable(logging.CRITICAL); warnings.filterwarnings('ignore')
    import pandas as pd
    root = Path(a.data or tempfile.mkdtemp(prefix='verify-bench-'))
    thresholds = [float(x) for x in a.thresholds.split(',') if x]
    rows = []
    for name in a.sets.split(','):
        truth = build(name, root/name, a.seed)
        rows += run_set(name, root/name, truth, a.seed, a.copies, thresholds)
        print(pd.DataFrame([r for r in rows if r['set'] == name]).to_string(index=False), flush=True)
    t = pd.DataFrame(rows)
    pd.set_option('display.width', 250)
    print(); print(t.to_string(index=False))
    rep = t[t.set == 'report']
    if len(rep) > 1:
        base, mine = rep.iloc[0], rep.iloc[1]
        ok = mine.F1 >= base.F1 and mine.largest <= mine.true_largest
        print(f"\ngoal (report family, verifier at its default): F1 {mine.F1:.4f} >= default's {base.F1:.4f}, largest "
              f"group {mine.largest} <= {mine.true_largest}: {'PASS' if ok else 'FAIL'}")
    timing = None
    if a.n_timing:
        from photoset import make_photos
        from fastdupe.verify import train_verifier
        ts = root/'timing'
        if not ts.exists() or len(list(ts.iterdir())) < a.n_timing: make_photos(ts, a.n_timing, seed=a.seed)
        t0 = time.perf_counter()
        train_verifier(ts, copies=a.copies, seed=a.seed, progress=False)
        timing = time.perf_counter() - t0
        print(f"self-supervised training on {a.n_timing} images (a copy of each, {a.copies} folders): {timing:.0f} s")
    if a.json: Path(a.json).write_text(json.dumps(dict(rows=rows, train_seconds=timing), indent=1, default=str))


if __name__ == '__main__': main()
