"""Copies found by their parts, at scale: `evidence.part_candidates` (the LSH over each image's ORB descriptors that
proposes the pairs whose images share local patches) on N images, its time, its peak memory and the pairs it proposes.

The descriptors are real: ORB keypoints of the photos that install with scikit-image and scikit-learn (`hard` bench
sources), each of the N images taking one photo's descriptors (and its mirror image's) with a quarter of their bits
flipped at random, so that no two images are copies but every image's patches look like a photo's. Each image
contributes `PART_PER_IMAGE` descriptors per view, as at run time.

Run: python bench/parts_scale_bench.py [--n 100000]
"""
import argparse, resource, sys, time
from pathlib import Path
import numpy as np

class _Views:
    "What `part_candidates` reads of an image's keypoints: its descriptors and its mirror image's."
    def __init__(self, d, m): self.descriptors, self.mirror_descriptors = d, m
    def __len__(self): return len(self.descriptors)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=100_000)
    ap.add_argument('--flip', type=float, default=0.25, help='share of descriptor bits flipped per image')
    a = ap.parse_args(argv)
    from PIL import Image
    import skimage.data as sk
    from fastdupe.keypoints import image_keypoints
    from fastdupe.evidence import part_candidates, PART_PER_IMAGE, PART_TOP
    names = ('astronaut', 'coffee', 'chelsea', 'rocket', 'camera', 'hubble_deep_field', 'immunohistochemistry',
             'retina', 'coins', 'moon', 'page', 'text', 'brick', 'grass', 'gravel', 'cell', 'clock', 'motorcycle_left')
    photos = [Image.fromarray(getattr(sk, x)()).convert('RGB') for x in names if hasattr(sk, x)]
    base = [k for k in (image_keypoints(p) for p in photos) if k is not None and len(k)]
    rng = np.random.default_rng(0)
    def noisy(d):
        d = np.ascontiguousarray(d[:PART_PER_IMAGE])
        flips = np.packbits(rng.random((len(d), d.shape[1] * 8)) < a.flip, axis=1)
        return d ^ flips
    t = time.time()
    picks = (base[q % len(base)] for q in range(a.n))
    views = [_Views(noisy(b.descriptors), noisy(b.mirror_descriptors)) for b in picks]
    made, rss0 = time.time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    desc_gb = sum(v.descriptors.nbytes + v.mirror_descriptors.nbytes for v in views) / 1e9
    t = time.time(); i, j, votes = part_candidates(views); took = time.time() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{a.n:,} images ({len(base)} real photos' ORB descriptors, {a.flip:.0%} of bits flipped per image; "
          f"{desc_gb:.2f} GB of descriptors, made in {made:.0f} s)")
    print(f"part_candidates: {took:.1f} s, peak RSS {peak:.2f} GB ({peak - rss0:+.2f} GB over the descriptors), "
          f"{len(i):,} pairs ({len(i) / a.n:.2f} per image, at most {2 * PART_TOP} by PART_TOP)")

if __name__ == '__main__': main()
