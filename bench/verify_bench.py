"""The learned pair verifier beside fused's own rules, one run, the same files.

Builds the hard benchmark (`fastdupe.hard.build_hard_benchmark`: every original with 15 hard edits, among them a crop
to half the area, a copy pasted at 60 % onto another photo, a heavy colour change, JPEG quality 10 and a meme caption;
look-alike hard negatives such as stereo pairs and frames of one video; crowds of distinct star fields, skies and
textures) and the first benchmark (`fastdupe.eval.build_benchmark`, the easy part). On each, a verifier is trained
self-supervised on that set's own images, labels unseen (`train_verifier(folder)`), and then printed side by side:

- `fused` alone (`find_duplicates(folder)`), and `fused --verify` (`find_duplicates(folder, verify=learner)`);
- precision, recall and F1 on the hard part as the hard benchmark scores it (pairs between look-alikes of one scene
  count neither way), on the hard part with those look-alikes counted as negatives, and on the easy part;
- the training time, and the training time on 1,000 distinct real JPEGs (`bench/photoset.py`).

Goal (issue 9): verify raises F1 on the hard part by at least 0.05, without lowering it on the easy part by more than
0.005; training on 1,000 images under 10 minutes on this 2-core machine.

`--fine-tune N` also tunes the body first (`train_verifier(fine_tune=N)`; slower: the body then runs in PyTorch).

Run: python bench/verify_bench.py [--data DIR] [--copies 3] [--fine-tune 0] [--json FILE]
"""
import argparse, json, sys, tempfile, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))

def _scores(r, truth, dont_care=True):
    from fastdupe.eval import pairwise_scores, _abspath
    groups = [[r.paths[k] for k in g.members] for g in r.groups]
    return pairwise_scores(groups, truth.groups, truth.dont_care if dont_care else (), key=_abspath)

def run_part(name, folder, truth, copies, seed, rows, fine_tune=0):
    from fastdupe.pipeline import find_duplicates
    from fastdupe.verify import train_verifier
    images = folder/'images'
    t0 = time.perf_counter()
    learn = train_verifier(images, copies=copies, seed=seed, progress=False, fine_tune=fine_tune)
    took = time.perf_counter() - t0
    with learn.no_bar(): _, acc, auc = learn.validate()
    print(f"{name}: trained on {len(truth.table)} images in {took:.0f} s; {learn.dls}; held-out copies: accuracy {acc:.3f}, ROC-AUC {auc:.3f}", flush=True)
    res = {}
    for method, kw in (('fused', {}), ('fused --verify', dict(verify=learn))):
        t0 = time.perf_counter()
        r = find_duplicates(images, progress=False, **kw)
        res[method] = dict(seconds=time.perf_counter() - t0, scores=_scores(r, truth), strict=_scores(r, truth, False))
    for method, v in res.items():
        print(f"  {method:15s} {v['scores']}  (look-alikes as negatives: F1 {v['strict'].f1:.4f})  {v['seconds']:.1f} s", flush=True)
        rows.append(dict(part=name, method=method, **{k: round(getattr(v['scores'], k), 4) for k in ('precision', 'recall', 'f1')},
                         f1_lookalikes_negative=round(v['strict'].f1, 4), seconds=round(v['seconds'], 1), train_seconds=round(took, 1)))
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=None, help='folder for the benchmarks (default: a temporary one)')
    ap.add_argument('--copies', type=int, default=3, help='edited copies per image for self-supervised training')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--fine-tune', type=int, default=0, help='epochs of fine-tuning the body first (default 0)')
    ap.add_argument('--n-timing', type=int, default=1000, help='images for the training-time figure')
    ap.add_argument('--json', default=None)
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    import pandas as pd
    from fastdupe.eval import build_benchmark, load_truth
    from fastdupe.hard import build_hard_benchmark
    root = Path(a.data or tempfile.mkdtemp(prefix='verify-bench-'))
    hard, easy = root/'hard', root/'easy'
    if not (hard/'truth.csv').exists(): build_hard_benchmark(hard)
    if not (easy/'truth.csv').exists(): build_benchmark(easy)
    rows = []
    parts = {name: run_part(name, d, load_truth(d), a.copies, a.seed, rows, a.fine_tune) for name, d in (('hard', hard), ('easy', easy))}
    # the training time on 1,000 distinct real photos
    from photoset import make_photos
    from fastdupe.verify import train_verifier
    ts = root/'timing'
    if not ts.exists() or len(list(ts.iterdir())) < a.n_timing: make_photos(ts, a.n_timing, seed=a.seed)
    t0 = time.perf_counter()
    train_verifier(ts, copies=a.copies, seed=a.seed, progress=False, fine_tune=a.fine_tune)
    timing = time.perf_counter() - t0
    t = pd.DataFrame(rows)
    print(t.to_string(index=False))
    gain = {p: parts[p]['fused --verify']['scores'].f1 - parts[p]['fused']['scores'].f1 for p in parts}
    gain_strict = parts['hard']['fused --verify']['strict'].f1 - parts['hard']['fused']['strict'].f1
    print(f"\nF1 change with --verify: hard {gain['hard']:+.4f} (goal >= +0.05; look-alikes as negatives {gain_strict:+.4f}), "
          f"easy {gain['easy']:+.4f} (goal >= -0.005)")
    print(f"self-supervised training on {a.n_timing} images ({a.copies} copies each{f', fine-tuned {a.fine_tune} epoch(s)' if a.fine_tune else ''}): {timing:.0f} s (goal < 600 s)")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(rows=rows, gain=gain, gain_lookalikes_negative=gain_strict, train_1000_seconds=timing), indent=1))

if __name__ == '__main__': main()
