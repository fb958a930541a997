"""Pretrained features: which EfficientNet-Lite0 definition, and what `tta` costs and buys.

For `efficientnet_lite0` and `tf_efficientnet_lite0` (same ImageNet weights) prints, side by side:
- ImageNet top-1/top-5 on labelled real photos (skimage, sklearn and OpenCV samples with the class a person would give);
- model time per image (forward pass only; one thread with batches of 8, all threads with batches of 32 and 1;
  interleaved runs): the fastest wall-clock and CPU time of `--reps` runs. On a shared machine the one-thread CPU time
  is the steady figure;
- full `image_features` wall and CPU time per image (reading, decoding, preprocessing, model) on a benchmark folder of real photos
  with known copies (`fastdupe.eval.build_benchmark`), for each `tta` mode, and its cost factor (in CPU time);
- the best pairwise F1 over cosine thresholds and, at that threshold, the recall per transformation; and the mean
  cosine between each kind of copy and its original.
Run: python bench/features_bench.py [--n-originals 24] [--reps 5]
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

OPENCV = Path('/usr/share/doc/opencv-doc/examples/data')
# (photo, ImageNet classes a person would accept): only photos whose subject is an ImageNet class
LABELLED = [
    ('skimage:coffee', {'espresso', 'cup', 'coffee mug'}),
    ('skimage:chelsea', {'tabby', 'tiger cat', 'Egyptian cat', 'Persian cat', 'Siamese cat'}),
    ('skimage:rocket', {'missile', 'projectile', 'space shuttle'}),
    ('sklearn:china.jpg', {'palace', 'monastery'}),
    ('opencv:baboon.jpg', {'baboon'}),  # a mandrill: ImageNet's nearest class
    ('opencv:apple.jpg', {'Granny Smith'}),  # ImageNet's only apple class
    ('opencv:orange.jpg', {'orange'}),
    ('opencv:butterfly.jpg', {'admiral', 'ringlet', 'monarch', 'cabbage butterfly', 'sulphur butterfly', 'lycaenid'}),
    ('opencv:squirrel_cls.jpg', {'fox squirrel'}),
    ('opencv:fruits.jpg', {'orange', 'lemon'}),
    ('opencv:messi5.jpg', {'soccer ball'}),
    ('opencv:home.jpg', {'palace'}),
]
# opencv-doc is an optional extra: without it the photos that pip installs are used
LABELLED = [(s, ok) for s, ok in LABELLED if not s.startswith('opencv:') or (OPENCV/s.split(':', 1)[1]).exists()]
ARCHS = ('efficientnet_lite0', 'tf_efficientnet_lite0')
TTAS = (False, 'flip', 'rot', True)

def photo(src):
    from PIL import Image
    kind,_,name = src.partition(':')
    if kind == 'skimage':
        import skimage.data
        return Image.fromarray(getattr(skimage.data, name)())
    if kind == 'sklearn':
        import sklearn.datasets
        return Image.open(Path(sklearn.datasets.__file__).parent/'images'/name).convert('RGB')
    return Image.open(OPENCV/name).convert('RGB')

def accuracy(arch, labelled):
    from fastdupe.features import classify
    top = classify([photo(s) for s,_ in labelled], k=5, model=arch)
    t1 = [t[0][0] in ok for t,(_,ok) in zip(top, labelled)]
    t5 = [bool({c for c,_ in t} & ok) for t,(_,ok) in zip(top, labelled)]
    return sum(t1), sum(t5), [t[0][0] for t in top]

def model_times(reps, configs=((1, 8), (0, 32), (0, 1))):
    """ms per image of the forward pass to pooled features, per arch and `(threads, batch size)` (threads 0: torch's
    default): `(fastest wall-clock, fastest CPU time)` of `reps` interleaved runs. With one thread the CPU time is the
    steady figure on a shared machine; with several, busy threads spinning while they wait inflate it."""
    from fastdupe.backbone import pretrained_model
    from fastdupe.features import preprocess, embed
    x1 = torch.stack([preprocess(photo(s)) for s,_ in LABELLED])
    res, default = {}, torch.get_num_threads()
    try:
        for th,bs in configs:
            torch.set_num_threads(th or default)
            x = x1.repeat((bs+len(x1)-1)//len(x1), 1, 1, 1)[:bs]
            n = max(1, 8//bs)
            wall,cpu = {a: [] for a in ARCHS},{a: [] for a in ARCHS}
            with torch.inference_mode():
                for a in ARCHS: embed(pretrained_model(a), x, (0,))  # warm up
                for _ in range(reps):
                    for a in ARCHS:  # interleaved, so a busy spell on the machine hits both
                        m = pretrained_model(a)
                        t,c = time.perf_counter(),time.process_time()
                        for _ in range(n): embed(m, x, (0,))
                        wall[a].append((time.perf_counter()-t)*1000/(n*bs))
                        cpu[a].append((time.process_time()-c)*1000/(n*bs))
            for a in ARCHS: res[(a, th or default, bs)] = (min(wall[a]), min(cpu[a]))
    finally: torch.set_num_threads(default)
    return res

def quality(feats, truth):
    "Best pairwise F1 over cosine thresholds, its threshold, recall per transformation there, and mean cosine copy-original."
    from fastdupe.core import Pairs
    from fastdupe.eval import recall_by_transform
    idx = {os.path.abspath(p): i for i,p in enumerate(feats.items)}
    S = feats.vectors @ feats.vectors.T
    iu,ju = np.tril_indices(len(S), -1)
    s = S[iu,ju]
    best = (-1., None, None)
    for thr in np.arange(0.3, 0.99, 0.02):
        keep = s >= thr
        pairs = Pairs(iu[keep], ju[keep], 1-s[keep])
        f1 = truth.scores(pairs, items=feats.items).f1
        if f1 > best[0]: best = (f1, float(thr), pairs)
    f1,thr,pairs = best
    rec = recall_by_transform(pairs, truth, items=feats.items)['recall'].to_dict()
    cos = {}
    for o,c,t in truth.copies: cos.setdefault(t, []).append(float(S[idx[os.path.abspath(o)], idx[os.path.abspath(c)]]))
    return f1, thr, rec, {t: float(np.mean(v)) for t,v in cos.items()}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-originals', type=int, default=24, help='benchmark originals (each gets up to 11 copies)')
    ap.add_argument('--reps', type=int, default=5, help='timing repetitions (min and median are printed)')
    ap.add_argument('--data', type=Path, default=None, help='benchmark folder to write (default: a temporary one)')
    ap.add_argument('--quick', action='store_true', help='tiny run that checks the script (for tests)')
    ap.add_argument('--no-folder', action='store_true', help='skip the benchmark folder (accuracy and model time only)')
    a = ap.parse_args(argv)
    from fastdupe.features import image_features
    from fastdupe.eval import build_benchmark
    labelled = LABELLED[:3] if a.quick else LABELLED
    print(f"torch threads: {torch.get_num_threads()}, CPU cores: {os.cpu_count()}, GPU: {torch.cuda.is_available()}")
    out = dict(archs={}, tta={})

    print(f"\nImageNet accuracy on {len(labelled)} labelled real photos")
    print(f"{'arch':24s} {'top-1':>6s} {'top-5':>6s}  top-1 classes")
    for arch in ARCHS:
        t1,t5,names = accuracy(arch, labelled)
        out['archs'][arch] = dict(top1=t1, top5=t5, n_labelled=len(labelled))
        print(f"{arch:24s} {t1:>3d}/{len(labelled):<2d} {t5:>3d}/{len(labelled):<2d}  {', '.join(names)}")

    mt = model_times(1 if a.quick else a.reps, ((1, 2),) if a.quick else ((1, 8), (0, 32), (0, 1)))
    cfgs = sorted({k[1:] for k in mt}, key=lambda c: (c[0], -c[1]))
    print("\nModel time per image, ms (forward pass to pooled features): fastest wall-clock / fastest CPU time")
    print(f"{'arch':24s} " + ' '.join(f'{f"{th} thread(s), bs={bs}":>22s}' for th,bs in cfgs))
    for arch in ARCHS:
        print(f"{arch:24s} " + ' '.join(f'{mt[(arch,*c)][0]:>12.1f} / {mt[(arch,*c)][1]:<7.1f}' for c in cfgs))
        out['archs'][arch]['model_ms'] = {f'{th}x{bs}': mt[(arch,th,bs)][0] for th,bs in cfgs}
        out['archs'][arch]['model_cpu_ms'] = {f'{th}x{bs}': mt[(arch,th,bs)][1] for th,bs in cfgs}
    if a.no_folder: print(json.dumps(out)); return
    tmp = a.data or Path(tempfile.mkdtemp())/'bench'
    truth = build_benchmark(tmp, n_originals=3 if a.quick else a.n_originals, seed=0)
    paths = truth.paths
    print(f"\nBenchmark: {truth}")
    print("Per transformation: recall at the best-F1 cosine threshold, and (in brackets) the mean cosine of copy and original")
    print(f"{'arch':24s} {'tta':6s} {'ms/img':>7s} {'CPU ms':>7s} {'cost':>5s} {'best F1':>8s} {'at cos':>6s}  per transformation")
    ttas = (False, True) if a.quick else TTAS
    for arch in ARCHS:
        base = None
        for tta in (ttas if arch == ARCHS[0] else (False, True)):
            image_features(paths[:2], model=arch, tta=tta, progress=False)  # warm up
            t,c = time.perf_counter(),time.process_time()
            f = image_features(paths, model=arch, tta=tta, progress=False)
            ms,cms = (time.perf_counter()-t)*1000/len(paths),(time.process_time()-c)*1000/len(paths)
            base = base or cms
            f1, thr, rec, cos = quality(f, truth)
            out['tta'][f'{arch}:{tta}'] = dict(ms_per_image=ms, cpu_ms_per_image=cms, cost=cms/base, best_f1=f1, threshold=thr,
                                             recall=rec, cosine=cos, n_images=len(f), n_bad=len(f.bad))
            print(f"{arch:24s} {str(tta):6s} {ms:>7.1f} {cms:>7.1f} {cms/base:>4.1f}x {f1:>8.3f} {thr if thr else 0:>6.2f}  "
                  + ' '.join(f'{k} {v:.2f} ({cos[k]:.2f})' for k,v in rec.items()))
    print(json.dumps(out))

if __name__ == '__main__': main()
