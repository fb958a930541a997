"""Keypoints find the copies a whole-picture vector misses (a mirrored crop, a quarter turn of a crop, a photo pasted
onto another photo), on real photos, and the option is checked."""
from pathlib import Path
import pytest
from PIL import Image
import fastdupe
from fastdupe.pipeline import find_duplicates
from fastdupe.keypoints import KeypointRule

SAMPLE = Path(fastdupe.__file__).parent/'data'/'sample'
ORIGINALS = ('astronaut.jpg', 'coffee.jpg', 'chelsea.png', 'rocket.jpg', 'camera.png', 'retina.jpg', 'clock.jpg')

def _crop(img, box): w, h = img.size; return img.crop(tuple(int(f*s) for f, s in zip(box, (w, h, w, h))))

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp('partial')
    imgs = {n: Image.open(SAMPLE/n).convert('RGB') for n in ORIGINALS}
    for n, im in imgs.items(): im.save(d/Path(n).with_suffix('.jpg').name, quality=92)
    # 42 % of the astronaut, mirrored
    _crop(imgs['astronaut.jpg'], (0.3, 0.05, 0.95, 0.7)).transpose(Image.FLIP_LEFT_RIGHT).save(d/'astronaut part mirrored.jpg', quality=85)
    # the cat: cropped to half, then a quarter turn
    _crop(imgs['chelsea.png'], (0.05, 0.1, 0.75, 0.8)).rotate(90, expand=True).save(d/'chelsea part turned.jpg', quality=85)
    # the coffee cup pasted at 60 % onto the camera man
    host = imgs['camera.png'].resize((512, 512)).copy()
    cup = imgs['coffee.jpg']; cup = cup.resize((int(cup.width*0.6*512/cup.width), int(cup.height*0.6*512/cup.width)))
    host.paste(cup, (150, 60)); host.save(d/'camera with coffee pasted.jpg', quality=90)
    return d

EXPECTED = [{'astronaut.jpg', 'astronaut part mirrored.jpg'}, {'chelsea.jpg', 'chelsea part turned.jpg'},
            {'coffee.jpg', 'camera with coffee pasted.jpg'}]

def _groups(res): return [{res.paths[k].name for k in g.members} for g in res.groups]

# the judge (the default) in a folder this small, where no image has a crowd of its own: it finds the mirrored crop
# (0.997) and the turned half crop (0.988), but gives the cup pasted small onto the camera man 0.90 (24 inliers spanning
# 12 % of the host), below its 0.98; the rules find it. On 40 tiny folders of the report family the judge finds more
# copies than the rules (bench/small_folders_bench.py), but not this one.
TINY = pytest.mark.xfail(strict=True, reason="verified misses a photo pasted small into another in a 10-image folder")

@pytest.mark.parametrize('method', ['fused', pytest.param('verified', marks=TINY)])
def test_partial_copies_found(folder, method):
    got = _groups(find_duplicates(folder, method, progress=False))
    for e in EXPECTED: assert e in got, (e, got)
    assert len(got) == len(EXPECTED), got  # and nothing else: the camera man is not grouped with the coffee cup's copy's host

def test_crops_found_by_the_default_without_a_crowd(folder):
    "Ten photos, no crowd: the default (the judge) still finds the mirrored crop and the turned half crop, nothing false."
    got = _groups(find_duplicates(folder, progress=False))
    for e in EXPECTED[:2]: assert e in got, (e, got)
    assert all(g in EXPECTED for g in got), got

def test_without_keypoints_some_are_missed(folder):
    "What keypoints add: the whole-picture vector alone misses at least one of these copies."
    got = _groups(find_duplicates(folder, 'fused', progress=False, keypoints=False))
    assert any(e not in got for e in EXPECTED), got

def test_keypoints_option_checked():
    with pytest.raises(ValueError, match='keypoints applies to the model methods'):
        find_duplicates('.', method='phash', keypoints=True)
    with pytest.raises(TypeError, match='keypoints must be'):
        find_duplicates('.', 'fused', keypoints='yes')
    with pytest.raises(ValueError, match='top must be'):
        KeypointRule(top=0)

# --- issue 23: keypoint matches judged against chance (the a-contrario test, `keypoints.transform_nfa`) ---
import numpy as np
from fastdupe.intake import detail_of, read_image, LOW_DETAIL
from fastdupe.keypoints import image_keypoints, match_inliers, MAX_NFA, VETO_INLIERS, VETO_KEYPOINTS, KEYPOINT_SIDE

def _kp(img): return image_keypoints(img, flat=detail_of(img) < LOW_DETAIL)

@pytest.fixture(scope='module')
def dense_fields():
    """Sixteen distinct dense star-field-like images: the same 58 brightest objects of the Hubble deep field (a real
    photo, scikit-image), each image scattering them at its own random places in a 124-pixel square at the centre on a
    dark sky. Few distinct descriptors, packed keypoints: the case where chance agreement is largest."""
    from scipy import ndimage as ndi
    from skimage.data import hubble_deep_field
    src = np.asarray(Image.fromarray(hubble_deep_field()).convert('L'))
    bl = ndi.gaussian_filter(src.astype(float), 2)
    ys, xs = np.nonzero((bl == ndi.maximum_filter(bl, 25)) & (bl > 20))
    o = np.argsort(-bl[ys, xs])[:60]
    cut = (src[max(y-12, 0):max(y-12, 0)+24, max(x-12, 0):max(x-12, 0)+24] for y, x in zip(ys[o], xs[o]))
    patches = [p for p in cut if p.shape == (24, 24)]
    def field(seed, size=256):
        r = np.random.default_rng(seed)
        a = np.clip(r.normal(6, 2, (size, size)), 0, 255)
        for p in patches:
            y, x = (size//2 + r.uniform(-50, 50, 2) - 12).astype(int)
            a[y:y+24, x:x+24] = np.maximum(a[y:y+24, x:x+24], p)
        return Image.fromarray(a.astype(np.uint8)).convert('RGB')
    return [field(s) for s in range(16)]

def test_dense_star_fields_refused(dense_fields):
    kps = [_kp(im) for im in dense_fields]
    assert min(map(len, kps)) >= VETO_KEYPOINTS  # enough keypoints for the rule to judge every pair
    pairs = [(a, b) for a in range(len(kps)) for b in range(a)]
    old = [match_inliers(kps[a], kps[b], enough=None, max_nfa=None) for a, b in pairs]
    new = [match_inliers(kps[a], kps[b], enough=None, return_nfa=True) for a, b in pairs]
    # counted without the test, chance reaches the inliers that kept a pair the cosine or hash accepted
    assert max(old) >= VETO_INLIERS, max(old)
    # with it, almost every pair has no transform at all (0 inliers, NFA >= MAX_NFA), none reaches the veto's count
    assert sum(k == 0 and lnfa >= np.log10(MAX_NFA) for k, lnfa in new) >= len(pairs) - 2, [x for x in new if x[0]]
    assert max(k for k, _ in new) < VETO_INLIERS, new
    # so the rule refuses every pair the cosine or the hash proposed, where the counts alone kept some
    i, j = np.array(pairs).T
    yes = np.ones(len(pairs), bool)
    assert not KeypointRule().judge(kps, i, j, yes, yes, n_workers=1).any()
    assert KeypointRule(max_nfa=None).judge(kps, i, j, yes, yes, n_workers=1).any()

def test_real_copies_far_beyond_chance(dense_fields, folder):
    "Copies of a dense field (a crop, a quarter turn of a crop) and the sample's partial copies: NFA far below 1."
    f = dense_fields[3]
    copies = [f.crop((30, 20, 230, 240)), f.crop((20, 20, 236, 236)).rotate(90, expand=True)]
    for c in copies:
        k, lnfa = match_inliers(_kp(f), _kp(c), return_nfa=True)
        assert k >= 15 and lnfa < -10, (k, lnfa)
    for a, b in [('astronaut.jpg', 'astronaut part mirrored.jpg'), ('chelsea.jpg', 'chelsea part turned.jpg'),
                 ('coffee.jpg', 'camera with coffee pasted.jpg')]:
        ka, kb = (_kp(read_image(folder/x, size=KEYPOINT_SIDE)[0]) for x in (a, b))  # as the pipeline reads them
        k, lnfa = max(match_inliers(x, y, enough=None, return_nfa=True) for x, y in ((ka, kb), (kb, ka)))
        assert k >= 15 and lnfa < -3, (a, b, k, lnfa)
