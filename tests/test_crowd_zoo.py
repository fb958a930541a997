"""The crowd zoo in small: distinct real images of six look-alike kinds, all from what pip installs (scikit-image's
photos and its LFW faces). The default groups no two distinct images, and a planted copy in each kind (one member
shrunk to 85 % and re-saved as a JPEG of quality 50) is found. One run of the default over all kinds together."""
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

def _cells(arr, rows, cols):
    "The non-overlapping cells of an image, as RGB images: distinct images that share no pixel."
    img = Image.fromarray(arr).convert('RGB'); w, h = img.width//cols, img.height//rows
    return [img.crop((c*w, r*h, c*w+w, r*h+h)) for r in range(rows) for c in range(cols)]

def _zoo() -> dict:
    import skimage.data as d
    faces = [Image.fromarray((f*255).astype(np.uint8)).convert('RGB').resize((100, 100), Image.BICUBIC)
             for f in d.lfw_subset()[:16]]  # its first 100 images are faces
    return {
        'stars': _cells(d.hubble_deep_field(), 4, 4),  # distinct cells of a deep field: galaxies on black
        'documents': _cells(d.page(), 2, 4) + _cells(d.text(), 2, 4),  # printed and handwritten text
        'textures': [c for f in (d.brick, d.grass, d.gravel) for c in _cells(f(), 2, 2)],
        'microscopy': _cells(d.immunohistochemistry(), 2, 2) + _cells(d.cell(), 2, 2) + _cells(d.retina(), 3, 3),
        'greyscale': [c for f in (d.camera, d.moon, d.coins) for c in _cells(f(), 2, 2)],
        'faces': faces,  # LFW faces, 25 px upscaled: the blurriest look-alikes here
    }

# kinds whose assertions today's default fails, with why (strict: an unexpected pass fails, so flip it when fixed)
XFAIL_DISTINCT = {}  # documents, microscopy and faces were grouped by the rules (`fused`); the judge refuses them
XFAIL_COPY = {}

@pytest.fixture(scope='module')
def zoo(tmp_path_factory):
    from fastdupe.pipeline import find_duplicates
    d = tmp_path_factory.mktemp('zoo')
    kinds = _zoo()
    for kind, imgs in kinds.items():
        for k, img in enumerate(imgs): img.save(d/f'{kind}_{k:02d}.png')
        c = imgs[0].resize((round(imgs[0].width*0.85), round(imgs[0].height*0.85)), Image.LANCZOS)
        c.save(d/f'{kind}_00_copy.jpg', quality=50)
    res = find_duplicates(d, progress=False)
    groups = [{res.paths[k].name for k in g.members} for g in res.groups]
    return kinds, groups

def test_zoo_is_big_enough(zoo):
    kinds, _ = zoo
    assert len(kinds) >= 5 and all(len(v) >= 12 for v in kinds.values())

def _mark(kind, table):
    return pytest.param(kind, marks=pytest.mark.xfail(strict=True, reason=table[kind])) if kind in table else kind

KINDS = ('stars', 'documents', 'textures', 'microscopy', 'greyscale', 'faces')

@pytest.mark.parametrize('kind', [_mark(k, XFAIL_DISTINCT) for k in KINDS])
def test_distinct_images_not_grouped(zoo, kind):
    "No group holds two distinct images of the kind (the planted copy counts as its original)."
    _, groups = zoo
    for g in groups:
        members = {n.replace('_copy.jpg', '.png') for n in g if n.startswith(kind + '_')}
        assert len(members) <= 1, f"distinct {kind} images grouped: {sorted(g)}"

@pytest.mark.parametrize('kind', [_mark(k, XFAIL_COPY) for k in KINDS])
def test_planted_copy_found(zoo, kind):
    _, groups = zoo
    assert any({f'{kind}_00.png', f'{kind}_00_copy.jpg'} <= g for g in groups), f"the planted {kind} copy was missed"
