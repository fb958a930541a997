"""Dataset health, fastdupe against cleanvision, on the same files in one run.

Builds the two families of planted issues (`fastdupe.health.health_benchmark`): the tuning family from scikit-image's
photos (the thresholds were calibrated on it) and the report family from scikit-learn's and matplotlib's photos (no
photo and no package in both). On each, runs `fastdupe health FOLDER --out rows.csv` and cleanvision's
`Imagelab(data_path=FOLDER).find_issues(...)` for the same seven issues, each as its own process, and prints per issue
precision, recall and F1 side by side (each planted image's second, genuine issue counts neither way), then the
wall time of each process (best of --repeat runs, alternating). cleanvision's default `find_issues()` (which also looks
for duplicates) is timed once on the report family, for reference.

Then `fastdupe find` against `fastdupe find --health` (the same run plus every image's health flags, measured from the
decode the model already makes) on --find-n real photos (`bench/photoset.py`: crops, scales and JPEG qualities of every
real photo installed), each as a process, alternating, best of --repeat: wall and CPU (user + system) time side by side,
their ratios, and whether the health flags equal `fastdupe health`'s on the same files. The target is 1.1x.

Run: python bench/health_bench.py [--data DIR] [--repeat 3] [--find-n 300] [--find-only]
"""
import argparse, csv, subprocess, sys, tempfile, time
from pathlib import Path

ISSUES = ('blurry', 'dark', 'light', 'low_information', 'odd_aspect_ratio', 'odd_size', 'grayscale')

CLEANVISION = r'''
import sys, logging, warnings
logging.disable(logging.CRITICAL); warnings.filterwarnings('ignore')
from cleanvision import Imagelab
lab = Imagelab(data_path=sys.argv[1])
issues = sys.argv[3].split(',') if len(sys.argv) > 3 else None
lab.find_issues({i: {} for i in issues} if issues else None, verbose=False)
lab.issues.to_csv(sys.argv[2])
'''

def _timed(cmd, cpu:bool=False):
    "Wall seconds of the process `cmd` (with `cpu`: and its user + system CPU seconds)."
    import resource
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return (dt, c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) if cpu else dt

def fastdupe_flags(rows_csv:Path) -> dict:
    with open(rows_csv, newline='') as f: rows = list(csv.DictReader(f))
    return {i: {Path(r['path']).name for r in rows if r['issue'] == i} for i in ISSUES}

def cleanvision_flags(issues_csv:Path) -> dict:
    import pandas as pd
    df = pd.read_csv(issues_csv, index_col=0)
    return {i: {Path(p).name for p in df.index[df[f'is_{i}_issue'].astype(bool)]} for i in ISSUES}

def family(name, folder, sources, clean, repeat, out):
    from fastdupe.health import health_benchmark, HealthTruth, issue_scores
    folder = Path(folder)
    built = (folder/'truth.json').exists()
    truth = HealthTruth.load(folder/'truth.json') if built else health_benchmark(folder, sources, clean=clean)
    imgs = truth.folder
    n_planted = sum(v is not None for v in truth.issue.values())
    print(f"\n{name} family: {len(truth.issue)} images ({len(truth.issue) - n_planted} clean, {n_planted} planted) "
          f"from {', '.join(sources)}", flush=True)
    fd_csv, cv_csv = out/f'{name}_fastdupe.csv', out/f'{name}_cleanvision.csv'
    fd_cmd = ['fastdupe', 'health', str(imgs), '--out', str(fd_csv), '--quiet']
    cv_cmd = [sys.executable, '-c', CLEANVISION, str(imgs), str(cv_csv), ','.join(ISSUES)]
    fd_t, cv_t = [], []
    for _ in range(repeat):  # alternating, so both see the same machine load
        fd_t.append(_timed(fd_cmd)); cv_t.append(_timed(cv_cmd))
    fd, cv = fastdupe_flags(fd_csv), cleanvision_flags(cv_csv)
    print(f"{'issue':<17} | {'fastdupe P':>10} {'R':>5} {'F1':>5} | {'cleanvision P':>13} {'R':>5} {'F1':>5} | planted")
    res = {}
    for i in ISSUES:
        a, b = issue_scores(fd[i], truth, i), issue_scores(cv[i], truth, i)
        res[i] = (a.f1, b.f1)
        print(f"{i:<17} | {a.precision:>10.3f} {a.recall:>5.3f} {a.f1:>5.3f} | {b.precision:>13.3f} {b.recall:>5.3f} "
              f"{b.f1:>5.3f} | {a.tp + a.fn}")
    print(f"time (process, best of {repeat}): fastdupe health {min(fd_t):.2f} s, "
          f"cleanvision (same 7 issues) {min(cv_t):.2f} s ({len(truth.issue)} images)")
    return res, min(fd_t), min(cv_t), imgs

def find_vs_health(folder:Path, out:Path, repeat:int):
    "`fastdupe find` and `fastdupe find --health` on the same photos, each a process, alternating: best wall and CPU."
    import csv as _csv
    n = sum(1 for _ in folder.rglob('*.jpg'))
    plain = ['fastdupe', 'find', str(folder), '--out', str(out/'find.csv'), '--quiet']
    health = ['fastdupe', 'find', str(folder), '--out', str(out/'find_health.json'), '--health', '--quiet']
    _timed(plain)  # the model exported and the files in the page cache before anything is timed
    t = {'find': [], 'find --health': []}
    for _ in range(repeat):
        t['find'].append(_timed(plain, cpu=True)); t['find --health'].append(_timed(health, cpu=True))
    print(f"\nfastdupe find vs find --health on {n} real photos ({folder}), each a process, best of {repeat}:")
    print(f"{'':<14} {'wall s':>7} {'CPU s':>7}")
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in t.items()}
    for k, (w, c) in best.items(): print(f"{k:<14} {w:>7.2f} {c:>7.2f}")
    rw, rc = (best['find --health'][i]/best['find'][i] for i in (0, 1))
    print(f"{'ratio':<14} {rw:>6.3f}x {rc:>6.3f}x   (target: at most 1.1x)")
    import json
    got = json.loads((out/'find_health.json').read_text())['health']['rows']
    _timed(['fastdupe', 'health', str(folder), '--out', str(out/'health.csv'), '--quiet'])
    with open(out/'health.csv', newline='') as f: own = list(_csv.DictReader(f))
    same = sorted((r['path'], r['issue']) for r in got) == sorted((r['path'], r['issue']) for r in own)
    print(f"find --health flags {len(got)} (image, issue) pairs; fastdupe health on the same files: {len(own)}; "
          f"the same: {'yes' if same else 'NO'}")
    return rw, rc, same

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=None, help='folder for the two families (reused when already built)')
    ap.add_argument('--repeat', type=int, default=3, help='timed runs of each tool per family (best counts)')
    ap.add_argument('--find-n', type=int, default=300, help='photos for find against find --health')
    ap.add_argument('--find-only', action='store_true', help='only time find against find --health')
    a = ap.parse_args()
    from fastdupe.health import TUNING_SOURCES, REPORT_SOURCES
    data = Path(a.data) if a.data else Path(tempfile.mkdtemp(prefix='fastdupe-health-'))
    out = data/'results'; out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).parent))
    from photoset import make_photos
    make_photos(data/f'photos{a.find_n}', a.find_n)
    rw, rc, same = find_vs_health(data/f'photos{a.find_n}', out, a.repeat)
    if a.find_only: return 0 if rc <= 1.1 and same else 1
    family('tuning', data/'tuning', TUNING_SOURCES, 8, a.repeat, out)
    res, fd_t, cv_t, imgs = family('report', data/'report', REPORT_SOURCES, 12, a.repeat, out)
    cv_all = _timed([sys.executable, '-c', CLEANVISION, str(imgs), str(out/'report_cleanvision_all.csv')])
    print(f"cleanvision's default find_issues() (duplicates too) on the report family: {cv_all:.2f} s")
    ok_f1 = all(f >= 0.8 and f >= c for f, c in res.values())
    print(f"\nreport family: every issue's F1 >= 0.8 and >= cleanvision's: {'yes' if ok_f1 else 'NO'}; "
          f"time at most cleanvision's: {'yes' if fd_t <= cv_t else 'NO'}")
    print(f"find --health within 1.1x of find (CPU): {'yes' if rc <= 1.1 else 'NO'} ({rc:.3f}x; wall {rw:.3f}x)")
    return 0 if ok_f1 and fd_t <= cv_t and rc <= 1.1 and same else 1

if __name__ == '__main__': sys.exit(main())
