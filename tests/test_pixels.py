"""`match = pixels` from the decode hashing already made: identical pixels in other bytes are `pixels`, a one-pixel
change is `near`."""
import io
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from fastdupe.hashing import hash_items, pixels_differ, DECODE_DIGEST
from fastdupe.pipeline import find_duplicates
from fastdupe.finders import identical_pixels

def _with_comment(jpeg:bytes, text:bytes) -> bytes:
    "The same JPEG (same coefficients, so the same pixels) with a COM segment after SOI: other bytes."
    return jpeg[:2] + b'\xff\xfe' + (len(text) + 2).to_bytes(2, 'big') + text + jpeg[2:]

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp('pixels')
    coffee = Image.fromarray(skdata.coffee())
    coffee.save(d/'coffee.png', compress_level=9)
    coffee.save(d/'coffee_fast.png', compress_level=1)  # other bytes, the same pixels
    coffee.save(d/'coffee_lossless.webp', lossless=True)
    a = np.asarray(coffee).copy(); a[200, 300] = 255 - a[200, 300]  # one pixel changed
    Image.fromarray(a).save(d/'coffee_one_pixel.png')
    buf = io.BytesIO(); Image.fromarray(skdata.astronaut()).save(buf, 'JPEG', quality=90)
    (d/'astronaut.jpg').write_bytes(buf.getvalue())
    (d/'astronaut_comment.jpg').write_bytes(_with_comment(buf.getvalue(), b'copied by a tool'))
    Image.open(d/'astronaut.jpg').save(d/'astronaut_decoded.png')  # the JPEG's pixels, as a PNG: another decoder
    for name in ('chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field'):  # unrelated photos
        Image.fromarray(getattr(skdata, name)()).save(d/f'{name}.jpg', quality=90)
    (d/'chelsea_copy.jpg').write_bytes((d/'chelsea.jpg').read_bytes())  # the same bytes
    # the premise: which files really hold the same pixels
    px = lambda f: np.asarray(Image.open(d/f).convert('RGB'))
    assert (px('coffee.png') == px('coffee_lossless.webp')).all() and (px('coffee.png') == px('coffee_fast.png')).all()
    assert (px('coffee.png') != px('coffee_one_pixel.png')).any(axis=-1).sum() == 1
    assert (px('astronaut.jpg') == px('astronaut_comment.jpg')).all()
    assert (px('astronaut.jpg') == px('astronaut_decoded.png')).all()
    assert (d/'coffee.png').read_bytes() != (d/'coffee_fast.png').read_bytes()
    return d

def _matches(r) -> dict:
    "file name -> (its group's kept file, how it matches it)."
    return {r.paths[m].name: (r.paths[g.members[0]].name, k) for g in r.groups for m, k in zip(g.members, g.match)}

def _without(folder:Path, tmp:Path, name:str) -> Path:
    for f in folder.iterdir():
        if f.name != name: (tmp/f.name).write_bytes(f.read_bytes())
    return tmp

@pytest.mark.parametrize('method', ['phash', 'fused', 'exact'])
def test_identical_pixels_other_bytes(folder, method, tmp_path):
    # fused: the model sees a JPEG through its scaled decode, so a JPEG and a PNG of its pixels are 2.7e-4 apart,
    # beyond IDENTICAL_DISTANCE, and never compared (test_fused_jpeg_and_its_png below); here without that PNG
    src = _without(folder, tmp_path, 'astronaut_decoded.png') if method == 'fused' else folder
    got = _matches(find_duplicates(src, method=method, progress=False))
    coffee = {f: got[f] for f in got if f.startswith('coffee') and f != 'coffee_one_pixel.png'}
    astro = {f: got[f] for f in got if f.startswith('astronaut')}
    assert len(coffee) == 3 and len(astro) == (2 if method == 'fused' else 3), got
    assert len({k for k, _ in coffee.values()}) == 1 and len({k for k, _ in astro.values()}) == 1, got
    assert sorted(m for _, m in coffee.values()) == ['', 'pixels', 'pixels'], got
    assert sorted(m for _, m in astro.values()) == ['', 'pixels', 'pixels'][:len(astro)], got
    assert sorted(got[f][1] for f in ('chelsea.jpg', 'chelsea_copy.jpg')) == ['', 'exact'], got
    if method == 'exact': assert 'coffee_one_pixel.png' not in got  # not the same pixels: no exact copy
    else: assert got['coffee_one_pixel.png'] == (coffee['coffee.png'][0], 'near'), got  # a near copy, never pixels

def test_decode_digests(folder):
    "The small decode's digests: equal for the same pixels decoded alike; JPEGs marked as scaled by their decoder."
    r = hash_items(sorted(folder.iterdir()), 'phash', n_workers=0, progress=False)
    k = {p.name: i for i, p in enumerate(r.paths)}
    d = r.codes[DECODE_DIGEST]
    same = lambda a, b: (d[k[a]] == d[k[b]]).all()
    assert same('coffee.png', 'coffee_fast.png') and same('coffee.png', 'coffee_lossless.webp')
    assert same('astronaut.jpg', 'astronaut_comment.jpg')
    jpeg = lambda a: bool(d[k[a], 0] >> np.uint64(63))
    assert jpeg('astronaut.jpg') and not jpeg('astronaut_decoded.png') and not jpeg('coffee.png')
    # a JPEG's small decode and a PNG's are made differently: their digests rule nothing out, the full decode decides
    i, j = np.array([k['astronaut.jpg'], k['coffee.png']]), np.array([k['astronaut_decoded.png'], k['chelsea.jpg']])
    assert pixels_differ(d, i, j).tolist() == [False, False]
    # two PNGs, or two JPEGs, whose small decodes differ: ruled out without a full decode
    assert pixels_differ(d, np.array([k['coffee.png']]), np.array([k['coffee_one_pixel.png']])).tolist() == [True]
    assert pixels_differ(d, np.array([k['astronaut.jpg']]), np.array([k['rocket.jpg']])).tolist() == [True]

def test_digests_spare_the_full_decode(folder):
    "Where the digests differ the files are not decoded again: digests claiming two identical files differ decide it."
    r = hash_items([folder/'coffee.png', folder/'coffee_fast.png'], 'phash', n_workers=0, progress=False)
    from fastdupe.core import Pairs
    pair = Pairs.from_unordered(np.array([0]), np.array([1]), np.array([0.0]))
    assert identical_pixels(r.paths, r.infos, pair, 0, r.codes[DECODE_DIGEST]) == {0: 0, 1: 0}
    told = r.codes[DECODE_DIGEST].copy(); told[1, 1] ^= np.uint64(1)  # a digest that says the pixels differ
    assert identical_pixels(r.paths, r.infos, pair, 0, told) == {}  # believed: no full decode
    assert identical_pixels(r.paths, r.infos, pair, 0) == {0: 0, 1: 0}  # without digests: decoded and compared

@pytest.mark.xfail(strict=True, reason="fused compares pixels only within IDENTICAL_DISTANCE (1e-4) of cosine; a JPEG, "
                                       "seen through its scaled decode, and a PNG of its full decode are 2.7e-4 apart")
def test_fused_jpeg_and_its_png(folder):
    got = _matches(find_duplicates(folder, method='fused', progress=False))
    assert sorted(m for f, (_, m) in got.items() if f.startswith('astronaut')) == ['', 'pixels', 'pixels'], got
