"""The crowd an image is judged against when it has none: in a folder of fewer than `evidence.CANDIDATE_K` + 1 images no
image has a 20th neighbour, and `evidence.pair_candidates` takes the tuning family's median crowd instead
(`evidence.CROWD_PRIOR`, `CROWD_PRIOR_SCALE`, `CORRELATION_PRIOR`). This prints those medians, seed by seed, on the
tuning family only (as `train_judge.py` builds it).

Run: python bench/crowd_priors.py [--data /tmp/fastdupe-judge] [--seeds 5]
"""
import argparse, logging, sys, warnings
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))

def crowds(f):
    "Each image's crowd level (cosine to its 20th nearest), crowd tail scale and detail-correlation crowd level."
    from fastdupe import evidence as E
    from fastdupe.score import crowd_levels, crowd_tail, detail_vectors, detail_correlation, CORRELATION_K
    v, n = f.vectors, len(f.vectors)
    wide = E.candidate_pairs(v, E.TAIL_K, None, 'exact', None)
    near = wide[E.neighbour_ranks(n, wide.i, wide.j, wide.sim) < E.CANDIDATE_K]
    level = crowd_levels(n, near.i, near.j, near.sim, E.CANDIDATE_K)
    _, scale = crowd_tail(n, wide.i, wide.j, wide.sim, E.CANDIDATE_K, E.TAIL_K)
    # the detail crowd is drawn from the pairs `pair_candidates` proposes (embeddings, hashes, parts; none matched)
    from fastdupe.finders import fused_codes, FUSED_HASH
    codes, _ = fused_codes(f, f.items, progress=False)
    c = E.pair_candidates(f, codes[FUSED_HASH], codes[FUSED_HASH+'@turns'], to_match=lambda q: np.zeros(len(q), bool))
    corr = detail_correlation(None, c.i, c.j, vectors=detail_vectors(f.thumbnails))
    return level, scale, crowd_levels(n, c.i, c.j, corr, CORRELATION_K)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='/tmp/fastdupe-judge', help='folder that keeps the built tuning families')
    ap.add_argument('--seeds', type=int, default=5)
    a = ap.parse_args(argv)
    warnings.filterwarnings('ignore'); logging.disable(logging.CRITICAL)
    from train_judge import family_seed
    from fastdupe import evidence as E
    rows = []
    print(f"{'seed':<6}{'images':>8}{'cosine level':>14}{'tail scale':>12}{'detail level':>14}   (medians)")
    for s in range(a.seeds):
        f, _ = family_seed(Path(a.data), s)
        med = [float(np.median(x[np.isfinite(x)])) for x in crowds(f)]
        rows.append(med)
        print(f"{s:<6}{len(f.vectors):>8}" + ''.join(f'{m:>{w}.3f}' for m, w in zip(med, (14, 12, 14))))
    m = np.median(rows, 0)
    print(f"{'all':<14}" + ''.join(f'{x:>{w}.3f}' for x, w in zip(m, (14, 12, 14))))
    print(f"{'shipped':<14}" + ''.join(f'{x:>{w}.3f}' for x, w in
                                     zip((E.CROWD_PRIOR, E.CROWD_PRIOR_SCALE, E.CORRELATION_PRIOR), (14, 12, 14))))

if __name__ == '__main__': main()
