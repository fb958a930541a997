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

def test_partial_copies_found(folder):
    got = _groups(find_duplicates(folder, progress=False))
    for e in EXPECTED: assert e in got, (e, got)
    assert len(got) == len(EXPECTED), got  # and nothing else: the camera man is not grouped with the coffee cup's copy's host

def test_without_keypoints_some_are_missed(folder):
    "What keypoints add: the whole-picture vector alone misses at least one of these copies."
    got = _groups(find_duplicates(folder, progress=False, keypoints=False))
    assert any(e not in got for e in EXPECTED), got

def test_keypoints_option_checked():
    with pytest.raises(ValueError, match='keypoints applies to the model methods'):
        find_duplicates('.', method='phash', keypoints=True)
    with pytest.raises(TypeError, match='keypoints must be'):
        find_duplicates('.', keypoints='yes')
    with pytest.raises(ValueError, match='top must be'):
        KeypointRule(top=0)
