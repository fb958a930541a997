"fastdupe.features on real photos: Learner features for every kind of fastai data, the offline pretrained model, tta."
import json, os, subprocess, sys, warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageOps
import skimage.data
from sklearn.datasets import load_sample_images
from conftest import ROOT

warnings.filterwarnings('ignore', category=FutureWarning)  # fastai.layers calls the deprecated torch.jit.script
from fastai.vision.all import (ImageDataLoaders, DataBlock, ImageBlock, CategoryBlock, MultiCategoryBlock, ColReader,
                               ColSplitter, RandomSplitter, get_image_files, parent_label, Resize, vision_learner,
                               resnet18, AdaptiveConcatPool2d)
from fastdupe.core import BadFile
from fastdupe.features import (Features, learner_features, image_features, classify, imagenet_labels, preprocess,
                               TTA_VIEWS)
from fastdupe.backbone import pretrained_model, lite0_weights_path, timm_key, LITE0_ARCHS

CATS = {'tabby', 'tiger cat', 'Egyptian cat', 'Persian cat', 'Siamese cat'}

def photos():
    ph = dict(coffee=skimage.data.coffee(), chelsea=skimage.data.chelsea(), astronaut=skimage.data.astronaut(),
              rocket=skimage.data.rocket())
    ph['china'], ph['flower'] = load_sample_images().images
    return ph

@pytest.fixture(scope='module')
def classes(tmp_path_factory):
    "Two class folders of 48-pixel crops of real photos (24 images)."
    root = tmp_path_factory.mktemp('classes')
    rng = np.random.default_rng(1)
    for name,a in photos().items():
        cls = 'animal' if name in ('chelsea', 'astronaut', 'flower') else 'thing'
        (root/cls).mkdir(exist_ok=True)
        h,w = a.shape[:2]
        for i in range(4):
            s = int(rng.integers(min(h,w)//3, min(h,w)))
            t,l = int(rng.integers(0, h-s+1)),int(rng.integers(0, w-s+1))
            Image.fromarray(a[t:t+s, l:l+s]).resize((48,48), Image.BICUBIC).save(root/cls/f'{name}_{i}.jpg', quality=90)
    return root

@pytest.fixture(scope='module')
def full(tmp_path_factory):
    "The photos at full size as JPEG files."
    d = tmp_path_factory.mktemp('full')
    for name,a in photos().items(): Image.fromarray(a).save(d/f'{name}.jpg', quality=95)
    return d

def table(root):
    df = pd.DataFrame({'fname': [p.relative_to(root).as_posix() for p in sorted(root.rglob('*.jpg'))]})
    df['label'] = df.fname.str.split('/').str[0]
    return df

def by_hand(learn, items, layer, pool_dim=4):
    "Features computed without fastdupe: the model in eval mode, the layer's output pooled and normalised."
    dl = learn.dls.test_dl(items, shuffle=False)
    out = []
    acts = []
    h = layer.register_forward_hook(lambda m,i,o: acts.append(o))
    try:
        learn.model.eval()
        with torch.no_grad():
            for b in dl:
                learn.model(*b)
                a = acts.pop()
                a = AdaptiveConcatPool2d(pool_dim)(a) if a.ndim == 4 else a
                out.append(torch.nn.functional.normalize(a.flatten(1), dim=1))
    finally: h.remove(); learn.model.train()
    return torch.cat(out).numpy()

# --- Learner features ------------------------------------------------------------------------------------------------

def check_default(learn, n_train, n_valid):
    f = learner_features(learn, progress=False)
    assert len(f) == n_train + n_valid and f.vectors.shape[0] == len(f)
    assert list(f.splits) == ['train']*n_train + ['valid']*n_valid
    assert f.labels == [p.parent.name for p in f.items]
    assert np.allclose(np.linalg.norm(f.vectors, axis=1), 1, atol=1e-5)
    assert len(learn.model[0]._forward_hooks) == 0
    return f

def test_from_folder_in_order_and_same_as_by_hand(classes):
    dls = ImageDataLoaders.from_folder(classes, valid_pct=0.25, seed=0, item_tfms=Resize(48), bs=5)
    learn = vision_learner(dls, resnet18, pretrained=False)
    f = check_default(learn, len(dls.train_ds), len(dls.valid_ds))
    assert f.items == list(dls.train_ds.items) + list(dls.valid_ds.items)
    np.testing.assert_allclose(f.vectors, by_hand(learn, f.items, learn.model[0]), atol=1e-4)
    # v1's index path: [0][7] is the last stage of the resnet body, its output is the body's output
    f7 = learner_features(learn, layer_ls=[0,7], progress=False)
    np.testing.assert_allclose(f7.vectors, f.vectors, atol=1e-6)

def test_from_csv_items_are_files(classes, tmp_path):
    df = table(classes)
    df.to_csv(tmp_path/'labels.csv', index=False)
    dls = ImageDataLoaders.from_csv(classes, tmp_path/'labels.csv', valid_pct=0.25, seed=0, item_tfms=Resize(48), bs=8)
    learn = vision_learner(dls, resnet18, pretrained=False)
    f = check_default(learn, len(dls.train_ds), len(dls.valid_ds))
    rows = pd.concat([dls.train_ds.items, dls.valid_ds.items])
    assert f.items == [classes/r for r in rows.fname]
    assert all(p.exists() for p in f.items)
    np.testing.assert_allclose(f.vectors, by_hand(learn, rows, learn.model[0]), atol=1e-4)

def test_from_df_given_rows(classes):
    df = table(classes)
    dls = ImageDataLoaders.from_df(df, path=classes, valid_pct=0.25, seed=0, item_tfms=Resize(48), bs=8)
    learn = vision_learner(dls, resnet18, pretrained=False)
    rows = df.iloc[[5, 0, 17]]
    f = learner_features(learn, items=rows, pool_dim=1, half=True, progress=False)
    assert f.items == [classes/n for n in rows.fname] and f.splits is None and f.labels is None
    assert f.vectors.dtype == np.float16 and f.vectors.shape == (3, 1024)
    np.testing.assert_allclose(f.vectors.astype(np.float32), by_hand(learn, rows, learn.model[0], 1), atol=2e-3)

def test_datablock_with_pref_and_multilabel(classes):
    df = table(classes)
    df['tags'] = df.label + np.where(df.fname.str.contains('coffee|chelsea'), ' favourite', '')
    df['is_valid'] = np.arange(len(df)) % 4 == 0
    db = DataBlock((ImageBlock, MultiCategoryBlock), get_x=ColReader('fname', pref=classes),
                   get_y=ColReader('tags', label_delim=' '), splitter=ColSplitter(), item_tfms=Resize(48))
    learn = vision_learner(db.dataloaders(df, bs=8), resnet18, pretrained=False)
    f = learner_features(learn, progress=False)
    order = list(df.index[~df.is_valid]) + list(df.index[df.is_valid])
    assert f.items == [classes/df.fname[i] for i in order]
    assert list(f.splits) == ['train']*18 + ['valid']*6
    assert f.labels == [' '.join(sorted(df.tags[i].split())) for i in order]  # space-separated, as cleaned.csv promises

def test_datablock_folder(classes):
    db = DataBlock((ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                   splitter=RandomSplitter(0.25, seed=1), item_tfms=Resize(48))
    dls = db.dataloaders(classes, bs=8)
    learn = vision_learner(dls, resnet18, pretrained=False)
    f = check_default(learn, 18, 6)
    assert f.items == list(dls.train_ds.items) + list(dls.valid_ds.items)

def test_2d_body_used_as_is(classes):
    "A timm ViT body gives one vector per image: no pooling, the vectors are the body's output normalised."
    dls = ImageDataLoaders.from_folder(classes, valid_pct=0.25, seed=0, item_tfms=Resize(32), bs=8)
    learn = vision_learner(dls, 'vit_tiny_patch16_224', pretrained=False, img_size=32)
    f = learner_features(learn, progress=False)
    assert f.dim == 192
    np.testing.assert_allclose(f.vectors, by_hand(learn, f.items, learn.model[0]), atol=1e-4)

def test_hook_removed_and_modes_restored_when_forward_raises(classes):
    dls = ImageDataLoaders.from_folder(classes, valid_pct=0.25, seed=0, item_tfms=Resize(48), bs=8)
    learn = vision_learner(dls, resnet18, pretrained=False)
    learn.model.train(); learn.model[0][1].eval()  # a mixed state (a frozen batch norm) must come back as it was
    modes = [m.training for m in learn.model.modules()]
    def boom(m, i, o): raise RuntimeError('boom in the head')
    h = learn.model[1].register_forward_hook(boom)
    with pytest.raises(RuntimeError, match='boom'): learner_features(learn, progress=False)
    h.remove()
    assert len(learn.model[0]._forward_hooks) == 0
    assert [m.training for m in learn.model.modules()] == modes
    learner_features(learn, items=list(dls.train_ds.items)[:3], progress=False)
    assert [m.training for m in learn.model.modules()] == modes

def test_bad_arguments(classes):
    dls = ImageDataLoaders.from_folder(classes, valid_pct=0.25, seed=0, item_tfms=Resize(48), bs=8)
    learn = vision_learner(dls, resnet18, pretrained=False)
    with pytest.raises(ValueError, match='not both'): learner_features(learn, layer=learn.model[0], layer_ls=[0])
    with pytest.raises(ValueError, match='no items'): learner_features(learn, items=[])
    with pytest.raises(ValueError, match=r'learn.model\[1\]\[99\] does not exist'): learner_features(learn, layer_ls=[1, 99])

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_learner_on_gpu(classes):
    dls = ImageDataLoaders.from_folder(classes, valid_pct=0.25, seed=0, item_tfms=Resize(48), bs=8, device='cuda')
    learn = vision_learner(dls, resnet18, pretrained=False)
    learn.model.cuda()
    f = learner_features(learn, progress=False)
    assert isinstance(f.vectors, np.ndarray) and len(f) == 24
    np.testing.assert_allclose(f.vectors, by_hand(learn, f.items, learn.model[0]), atol=1e-3)

# --- the offline pretrained model ------------------------------------------------------------------------------------

def test_import_builds_nothing_and_run_needs_no_network(full, tmp_path):
    code = f"""
import socket, sys
def no_net(*a, **k): raise OSError('network access attempted')
socket.socket.connect = no_net; socket.create_connection = no_net; socket.getaddrinfo = no_net
import fastdupe.features as F, fastdupe.backbone as B
assert B.pretrained_model.cache_info().currsize == 0 and 'timm' not in sys.modules
f = F.image_features({str(full)!r}, progress=False)
print(len(f), f.dim, F.classify([{str(full/'coffee.jpg')!r}])[0][0][0])
"""
    env = {**os.environ, 'HF_HUB_OFFLINE': '0', 'TORCH_HOME': str(tmp_path/'torch'), 'HF_HOME': str(tmp_path/'hf')}
    r = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ['6', '1280', 'espresso']
    assert not (tmp_path/'torch').exists() and not (tmp_path/'hf').exists()  # nothing cached: nothing downloaded

@pytest.mark.parametrize('arch', LITE0_ARCHS)
def test_weights_map_onto_timm_exactly(arch):
    import timm
    sd = torch.load(lite0_weights_path(), map_location='cpu', weights_only=True)
    assert {timm_key(k) for k in sd} == set(timm.create_model(arch, pretrained=False).state_dict())
    m = pretrained_model(arch)
    assert not m.training
    # the weights really are the package's (batch norms folded into the convolutions): the same outputs as timm's
    # model with the package's state dict loaded, not a random initialisation
    ref = timm.create_model(arch, pretrained=False).eval()
    ref.load_state_dict({timm_key(k): v for k, v in sd.items()}, strict=True)
    x = torch.randn(2, 3, 160, 160)
    with torch.inference_mode(): assert torch.allclose(m(x), ref(x), atol=1e-3)
    rnd = timm.create_model(arch, pretrained=False).eval()
    with torch.inference_mode(): assert not torch.allclose(rnd(x), ref(x), atol=1e-1)

@pytest.mark.parametrize('arch', LITE0_ARCHS)
def test_classify_real_photos(arch, full):
    top = classify([full/'coffee.jpg', full/'chelsea.jpg', full/'rocket.jpg'], k=5, model=arch)
    assert 'espresso' in [c for c,_ in top[0]]
    assert CATS & {c for c,_ in top[1]}
    assert {'missile', 'projectile', 'space shuttle'} & {c for c,_ in top[2]}
    assert all(all(0 < p <= 1 for _,p in t) and t == sorted(t, key=lambda o: -o[1]) for t in top)
    assert top[0][0][1] > 0.5  # a confident, trained classifier: espresso is clear on the coffee photo
    assert len(set(imagenet_labels())) == 998  # 'crane' and 'maillot' name two classes each

def test_bad_files_are_skipped_and_order_kept(full, tmp_path):
    (tmp_path/'empty.jpg').write_bytes(b'')
    (tmp_path/'text.jpg').write_text('not an image')
    (tmp_path/'cut.jpg').write_bytes((full/'coffee.jpg').read_bytes()[:2000])
    items = [full/'rocket.jpg', tmp_path/'empty.jpg', full/'coffee.jpg', tmp_path/'missing.jpg', tmp_path/'text.jpg',
             full/'chelsea.jpg', tmp_path/'cut.jpg', full/'china.jpg']
    f = image_features(items, bs=3, progress=False)
    assert [p.name for p in f.items] == ['rocket.jpg', 'coffee.jpg', 'chelsea.jpg', 'china.jpg']
    assert all(isinstance(b, BadFile) for b in f.bad)
    reasons = {b.path.name: b.reason for b in f.bad}
    assert set(reasons) == {'empty.jpg', 'missing.jpg', 'text.jpg', 'cut.jpg'}
    assert 'empty' in reasons['empty.jpg'] and 'not found' in reasons['missing.jpg'] and 'not an image' in reasons['text.jpg']
    # the same vectors whatever the batch size and reading threads
    g = image_features([p for p in items if p.exists() and p.stat().st_size > 5000], bs=1, n_workers=0, progress=False)
    np.testing.assert_allclose(f.vectors, g.vectors, atol=1e-5)
    only_bad = image_features([tmp_path/'empty.jpg'], progress=False)
    assert len(only_bad) == 0 and only_bad.vectors.shape == (0, 1280) and len(only_bad.bad) == 1

def test_copies_are_nearest(full, tmp_path):
    "Shrunk, recompressed, cropped and recoloured copies find their original; other photos stay far."
    src = Image.open(full/'chelsea.jpg')
    w,h = src.size
    src.resize((w//3, h//3), Image.LANCZOS).save(tmp_path/'small.jpg', quality=30)
    src.crop((w//20, h//20, w-w//20, h-h//20)).save(tmp_path/'crop.jpg', quality=85)
    ImageOps.autocontrast(ImageOps.grayscale(src)).save(tmp_path/'grey.png')
    f = image_features(sorted(full.glob('*.jpg')) + sorted(tmp_path.iterdir()), progress=False)
    names = [p.name for p in f.items]
    cat = names.index('chelsea.jpg')
    for copy in ('small.jpg', 'crop.jpg', 'grey.png'):
        (j,s), = f.nearest(names.index(copy), 1)
        assert names[j] in ('chelsea.jpg', 'small.jpg', 'crop.jpg', 'grey.png'), (copy, names[j])
    S = f.vectors[:6] @ f.vectors[:6].T
    assert (S[~np.eye(6, dtype=bool)] < 0.5).all()  # six different photos
    assert f.vectors[names.index('small.jpg')] @ f.vectors[cat] > 0.7

@pytest.mark.parametrize('tta,invariant,not_invariant', [
    ('flip', ['mirror'], ['rot90']),
    ('rot', ['rot90', 'rot180', 'rot270'], ['mirror']),
    (True, ['mirror', 'rot90', 'rot180', 'rot270', 'flip_tb', 'transpose', 'transverse'], []),
])
@pytest.mark.parametrize('photo', ['chelsea', 'rocket'])  # 451x300 (odd margins after resizing) and 427x640
def test_tta_invariance(tta, invariant, not_invariant, photo, full, tmp_path):
    src = Image.open(full/f'{photo}.jpg')
    T = Image.Transpose
    ops = dict(mirror=T.FLIP_LEFT_RIGHT, rot90=T.ROTATE_90, rot180=T.ROTATE_180, rot270=T.ROTATE_270,
               flip_tb=T.FLIP_TOP_BOTTOM, transpose=T.TRANSPOSE, transverse=T.TRANSVERSE)
    src.save(tmp_path/'orig.png')  # lossless like the copies, so only the geometry differs
    for k,op in ops.items(): src.transpose(op).save(tmp_path/f'{k}.png')
    f = image_features([tmp_path/'orig.png'] + [tmp_path/f'{k}.png' for k in ops], tta=tta, progress=False)
    cos = dict(zip(['orig'] + list(ops), f.vectors @ f.vectors[0]))
    # not bit-exact: intake box-reduces large images by a whole factor, which drops the odd last row of a turned copy
    for k in invariant: assert cos[k] > 0.99, (k, cos[k])
    if photo == 'rocket':  # not symmetric at all: views outside the group stay apart
        for k in not_invariant: assert cos[k] < 0.985, (k, cos[k])
    plain = image_features([full/f'{photo}.jpg', tmp_path/'rot90.png'], progress=False)
    assert plain.vectors[1] @ plain.vectors[0] < 0.95  # without tta a turned copy is not the same vector

def test_tta_mirrored_and_turned_copies_found_among_others(full, tmp_path):
    imgs = sorted(full.glob('*.jpg'))
    Image.open(full/'rocket.jpg').transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path/'rocket_mirror.jpg', quality=85)
    Image.open(full/'china.jpg').transpose(Image.Transpose.ROTATE_270).save(tmp_path/'china_rot.jpg', quality=85)
    f = image_features(imgs + [tmp_path/'rocket_mirror.jpg', tmp_path/'china_rot.jpg'], tta=True, progress=False)
    names = [p.name for p in f.items]
    assert names[f.nearest(names.index('rocket_mirror.jpg'), 1)[0][0]] == 'rocket.jpg'
    assert names[f.nearest(names.index('china_rot.jpg'), 1)[0][0]] == 'china.jpg'

def test_preprocess_and_arguments(full):
    x = preprocess(Image.open(full/'rocket.jpg'), size=160)
    assert x.shape == (3, 160, 160) and x.dtype == torch.float32 and -1 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ValueError, match='tta must be'): image_features([full/'coffee.jpg'], tta='mirror', progress=False)
    with pytest.raises(ValueError, match='arch must be'): pretrained_model('efficientnet_b0')
    with pytest.raises(ValueError, match='bs must be'): image_features([full/'coffee.jpg'], bs=0, progress=False)
    assert set(TTA_VIEWS) == {'flip', 'rot', 'd8'}

def test_features_bench_quick(tmp_path):
    r = subprocess.run([sys.executable, '-W', 'ignore', str(ROOT/'bench'/'features_bench.py'), '--quick', '--data', tmp_path/'b'],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for arch in LITE0_ARCHS:
        assert res['archs'][arch]['top5'] == res['archs'][arch]['n_labelled'] == 3
        assert res['archs'][arch]['model_ms']['1x2'] > 0 and res['archs'][arch]['model_cpu_ms']['1x2'] > 0
    for k,v in res['tta'].items():
        assert v['n_bad'] == 0 and v['recall']['exact'] == 1.0 and v['cosine']['exact'] > 0.999 and 0 < v['best_f1'] <= 1
        assert v['cpu_ms_per_image'] > 0
    # tta makes a mirrored copy the same vector as its original
    if 'hflip' in res['tta']['efficientnet_lite0:True']['cosine']:
        assert res['tta']['efficientnet_lite0:True']['cosine']['hflip'] > 0.99
    assert 'per transformation' in r.stdout
