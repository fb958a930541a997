"""Crowds of distinct look-alikes (star fields and dark blurred skies, made from real photos) are not grouped,
while a planted copy among them is still found; grouping never chains."""
import shutil
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from fastdupe.pipeline import find_duplicates
from fastdupe.hard import build_hard_benchmark

@pytest.fixture(scope='module')
def sky(tmp_path_factory):
    d = tmp_path_factory.mktemp('sky')
    t = build_hard_benchmark(d/'b', n_originals=0, lookalikes=False, crowd=dict(stars=36, blur_sky=24),
                             crowd_copy_share=0)
    imgs = sorted((d/'b'/'images').iterdir())
    assert len(imgs) == 60 and len(t.groups) == 60  # all distinct, by construction
    # plant one copy: a star field re-saved as a JPEG of quality 40
    src = next(p for p in imgs if 'stars' in p.name)
    Image.open(src).save(d/'b'/'images'/'planted_copy.jpg', quality=40)
    return d/'b'/'images', src

def test_crowd_not_grouped_but_planted_copy_found(sky):
    folder, src = sky
    res = find_duplicates(folder, progress=False)
    groups = [sorted(res.paths[k].name for k in g.members) for g in res.groups]
    assert groups == [sorted([src.name, 'planted_copy.jpg'])]

def test_without_crowd_rule_the_crowd_chains(sky):
    "The failure the crowd rule fixes: the plain threshold with single-link groups puts distinct star fields together."
    folder, _ = sky
    res = find_duplicates(folder, 'fused', progress=False, crowd=False, threshold=0.8, link='single')
    assert max(len(g) for g in res.groups) > 2

def test_crowd_option_checked():
    with pytest.raises(ValueError, match='crowd applies to the model methods'):
        find_duplicates('.', method='phash', crowd=True)
    with pytest.raises(TypeError, match='crowd must be'):
        find_duplicates('.', 'fused', crowd='yes')
