"""The pair judge against the rules it replaced, in one run: time on 2,000 images, and how well its probability is
calibrated on the report family (a reliability diagram).

- **Time**: `find_duplicates(DIR, method='verified')` (the judge) and `find_duplicates(DIR, method='fused')` (the
  rules, the default) on the same 2,000 real JPEGs
  (`bench/photoset.py`), each the faster of two runs after a warm-up, files in the page cache.
- **Reliability** on the report family (`fastdupe.hard.REPORT`, never used to train or tune the judge): every
  candidate pair's probability against whether it is a copy, in bins; written as a table and, with `--plot FILE`,
  as a PNG (the docs show it).

Run: python bench/judge_bench.py [--data DIR] [--report DIR] [--plot FILE.png] [--json FILE]
"""
import argparse, json, logging, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).parent))

def timed(images, **kw):
    from fastdupe.pipeline import find_duplicates
    best = None
    for _ in range(2):
        t = time.perf_counter(); r = find_duplicates(images, progress=False, **kw); dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, r

def reliability(report:Path, bins=(0, .1, .3, .5, .7, .9, .95, .98, .99, 1.0001)):
    "Predicted probability against the observed share of copies, per bin, over the report family's candidates."
    from fastdupe.eval import load_truth
    from fastdupe.features import image_features
    from fastdupe.finders import extraction_options, fused_codes, FUSED_HASH
    from fastdupe.judge import load_judge, judged_pairs
    truth = load_truth(report); j = load_judge()
    f = image_features(sorted((report/'images').iterdir()), progress=False, **extraction_options('fused', False, True))
    codes, m = fused_codes(f, f.items)
    _, _, c = judged_pairs(j, f, codes[FUSED_HASH], codes[FUSED_HASH+'@turns'], j.threshold)
    p = j.probability(c)
    t = truth.table; group = dict(zip([str(truth.root/q) for q in t.path], t.group))
    g = np.array([group[str(Path(str(q)).absolute())] for q in f.items])
    dc = {(a, b) for a, b in truth.dont_care_groups} | {(b, a) for a, b in truth.dont_care_groups}
    keep = np.array([(a, b) not in dc for a, b in zip(g[c.i], g[c.j])])
    y, p = (g[c.i] == g[c.j])[keep], p[keep]
    b = pd.cut(p, bins, right=False)
    tab = pd.DataFrame(dict(p=p, y=y)).groupby(b, observed=True).agg(pairs=('y', 'size'), predicted=('p', 'mean'), observed=('y', 'mean'))
    return tab, float(np.mean((p - y) ** 2))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='folder of the 2,000 photos (made by bench/photoset.py when missing)')
    ap.add_argument('--report', help="the report family's folder (families_bench.py --data DIR writes DIR/report)")
    ap.add_argument('--plot'); ap.add_argument('--json')
    a = ap.parse_args(argv)
    logging.disable(logging.CRITICAL); warnings.filterwarnings('ignore')
    out = {}
    from photoset import make_photos
    data = Path(a.data) if a.data else Path('/tmp/fastdupe-photos-2000')
    if not data.exists() or not any(data.rglob("*.jpg")): make_photos(data, 2000)
    images = sorted(data.rglob('*.jpg'))[:2000]
    for q in images: q.read_bytes()
    from fastdupe.pipeline import find_duplicates
    find_duplicates(images[:24], method='verified', progress=False); find_duplicates(images[:24], method='fused', progress=False)
    tj, rj = timed(images, method='verified'); tr, rr = timed(images, method='fused')
    print(f"{len(images)} images: judge (verified, the default) {tj:.1f} s, rules (fused) {tr:.1f} s: {tj/tr:.2f}x; "
          f"groups {len(rj.groups)} and {len(rr.groups)}")
    out['time'] = dict(images=len(images), verified_s=tj, fused_s=tr, ratio=tj/tr)
    if a.report:
        tab, brier = reliability(Path(a.report))
        print("\nreliability on the report family (every candidate pair):"); print(tab.round(3).to_string())
        print(f"Brier score {brier:.4f}")
        out['reliability'] = dict(table=tab.reset_index(drop=True).to_dict('list'), brier=brier)
        if a.plot:
            import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(4.2, 4.2))
            ax.plot([0, 1], [0, 1], ':', c='grey'); ax.plot(tab.predicted, tab.observed, 'o-')
            for _, r in tab.iterrows(): ax.annotate(f"{int(r.pairs)}", (r.predicted, r.observed), fontsize=7, xytext=(3, -9), textcoords='offset points')
            ax.set(xlabel="the judge's probability", ylabel='share that are copies', title='Reliability, report family')
            fig.tight_layout(); fig.savefig(a.plot, dpi=110)
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1, default=str))

if __name__ == '__main__': main()
