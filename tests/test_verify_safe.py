"""Verifier files that cannot run code (issue 24): a verifier is written as weights and a JSON description
(`.safetensors`) and read without unpickling anything; a pickle (an older verifier, a Learner's export for --learner)
is read only with --trust-pickle / trusted=True, and refused unread otherwise; data that cannot teach both classes and
an --out that cannot be written are refused before training. Real processes (the installed `fastdupe`), real files."""
import os, pickle, shutil, subprocess, time
from pathlib import Path
import numpy as np, pytest, torch
from torch import nn
from conftest import run_cli, SAMPLE
from fastdupe.intake import get_items
from fastdupe.finders import FUSED_HASH
from fastdupe.verify import (train_verifier, load_verifier, save_verifier, pair_probabilities, pair_evidence, PairHead,
                             body_recipe, EVIDENCE)

class _Payload:
    "What a hostile pickle holds: unpickling it creates the file `marker`."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))

def _evil_files(d:Path) -> dict:
    "A plain pickle and a torch.save file, each with a payload that would create its own marker file."
    d.mkdir(parents=True, exist_ok=True)
    (d/'evil.pkl').write_bytes(pickle.dumps(_Payload(d/'pickle-ran')))
    torch.save({'model': _Payload(d/'torch-ran')}, d/'evil.pth')
    return {d/'evil.pkl': d/'pickle-ran', d/'evil.pth': d/'torch-ran'}

@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "The sample's images (real photos with planted copies), in a folder of their own."
    d = tmp_path_factory.mktemp('photos')
    for p in get_items(SAMPLE): shutil.copy(p, d/p.name)
    return d

@pytest.fixture(scope='module')
def trained(photos):
    "A self-supervised verifier trained on the photos (one epoch: the file format is what is tested here)."
    return train_verifier(photos, epochs=1, progress=False)

def test_the_payloads_are_real(tmp_path):
    "The crafted files do run code when unpickled: the tests below would see it."
    for evil, marker in _evil_files(tmp_path).items():
        if evil.suffix == '.pkl': pickle.loads(evil.read_bytes())
        else: torch.load(evil, weights_only=False)
        assert marker.exists()

@pytest.mark.parametrize('kind', ['.pkl', '.pth'])
def test_find_verify_refuses_a_pickle_unread(photos, tmp_path, kind):
    evil, marker = next((e, m) for e, m in _evil_files(tmp_path/'m').items() if e.suffix == kind)
    r = run_cli('find', photos, '--verify', evil, '--out', tmp_path/'o.csv', '--quiet')
    assert r.returncode != 0 and '--trust-pickle' in r.stderr and 'runs whatever code' in r.stderr, (r.returncode, r.stderr)
    assert 'Traceback' not in r.stderr and not (tmp_path/'o.csv').exists()
    assert not marker.exists(), "the payload ran"
    # in Python: the same refusal, before anything is unpickled
    for call in (lambda: load_verifier(evil), lambda: save_verifier(evil, tmp_path/'x.safetensors')):
        with pytest.raises(ValueError, match='trusted=True'): call()
    from fastdupe.pipeline import find_duplicates
    with pytest.raises(ValueError, match='trusted=True'): find_duplicates(photos, verify=evil, progress=False)
    assert not marker.exists(), "the payload ran"

@pytest.mark.parametrize('kind', ['.pkl', '.pth'])
def test_train_verifier_refuses_a_pickled_learner_unread(photos, tmp_path, kind):
    evil, marker = next((e, m) for e, m in _evil_files(tmp_path/'m').items() if e.suffix == kind)
    t0 = time.perf_counter()
    r = run_cli('train-verifier', photos, '--out', tmp_path/'v.safetensors', '--learner', evil, '--quiet')
    assert r.returncode == 2 and '--trust-pickle' in r.stderr and 'runs whatever' in r.stderr, (r.returncode, r.stderr)
    assert not marker.exists() and not (tmp_path/'v.safetensors').exists()
    assert time.perf_counter() - t0 < 30  # refused before training
    with pytest.raises(ValueError, match='trusted=True'): train_verifier(photos, model=evil, progress=False)
    assert not marker.exists(), "the payload ran"

def _no_unpickling(monkeypatch):
    "Every way to unpickle, made to fail: what loads under it loads without unpickling."
    def refuse(*a, **k): raise AssertionError('something was unpickled')
    class Refuse(pickle.Unpickler):
        def __init__(self, *a, **k): refuse()
    for name in ('load', 'loads'): monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, 'Unpickler', Refuse)
    monkeypatch.setattr(torch, 'load', refuse)

def test_verifier_file_round_trips_without_unpickling(trained, photos, tmp_path, monkeypatch):
    fn = save_verifier(trained, tmp_path/'verifier.safetensors')
    from safetensors import safe_open
    with safe_open(str(fn), 'pt') as f: assert 'fastdupe.verifier' in f.metadata()  # weights and a JSON description
    from fastdupe.features import image_features
    f = image_features(get_items(photos), hashes=FUSED_HASH, keypoints=True, progress=False)
    ev = pair_evidence(f)
    with monkeypatch.context() as m:
        _no_unpickling(m)
        head = load_verifier(fn)
    assert len(ev) > 10
    np.testing.assert_allclose(pair_probabilities(head, f.vectors, ev), pair_probabilities(load_verifier(trained), f.vectors, ev), atol=1e-6)

class Mine(nn.Module):
    "A body of the user's own architecture: weights alone cannot rebuild it."
    def __init__(self): super().__init__(); self.c = nn.Conv2d(3, 4, 3)
    def forward(self, x): return self.c(x).relu()

def _resnet18_body():
    import torchvision
    return nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])

def test_bodies_rebuilt_from_weights_or_kept_only_for_trusted_loads(tmp_path, monkeypatch):
    "A verifier with its own body: a known architecture is rebuilt from weights (nothing unpickled); any other needs trust."
    from fastdupe.backbone import pretrained_model
    import copy
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    tuned = copy.deepcopy(pretrained_model())  # as fine_tune= makes it
    with torch.no_grad(): next(tuned.parameters()).add_(0.01)
    for body, kind in ((_resnet18_body(), 'torchvision-body'), (tuned, 'lite0'), (Mine(), None)):
        body.eval()
        head = PairHead(0); head.set_body(body)
        fn = save_verifier(head, tmp_path/f'{kind}.safetensors')
        assert (body_recipe(body) or {}).get('kind') == kind
        if kind is None:
            with pytest.raises(ValueError, match='trusted=True'): load_verifier(fn)
            back = load_verifier(fn, trusted=True).body
        else:
            with monkeypatch.context() as m:
                _no_unpickling(m)
                back = load_verifier(fn).body
        assert back is not body and type(back) is type(body)
        with torch.no_grad(): torch.testing.assert_close(back(x), body(x))

def test_trust_pickle_reads_a_real_learner_and_an_old_verifier(trained, photos, tmp_path):
    from fastai.data.core import DataLoaders, Datasets
    from fastai.learner import Learner
    torch.manual_seed(0)
    yours = Learner(DataLoaders.from_dsets(Datasets([0, 1]), Datasets([0, 1]), bs=1),
                    nn.Sequential(_resnet18_body(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 3))),
                    loss_func=nn.CrossEntropyLoss())
    yours.export(tmp_path/'yours.pkl')
    out = tmp_path/'own.safetensors'
    r = run_cli('train-verifier', photos, '--out', out, '--learner', tmp_path/'yours.pkl', '--epochs', 1, '--quiet')
    assert r.returncode == 2 and '--trust-pickle' in r.stderr and not out.exists(), r.stderr
    r = run_cli('train-verifier', photos, '--out', out, '--learner', tmp_path/'yours.pkl', '--trust-pickle', '--epochs', 1, '--quiet')
    assert r.returncode == 0, r.stderr
    head = load_verifier(out)  # the body is a torchvision resnet18's: rebuilt from weights, no trust needed
    want = yours.model[0].state_dict()
    assert all(torch.equal(t, want[k]) for k, t in head.body.state_dict().items())
    # an older verifier, fastai's export: refused by find --verify, read with --trust-pickle
    trained.export(tmp_path/'old.pkl')
    r = run_cli('find', photos, '--verify', tmp_path/'old.pkl', '--quiet')
    assert r.returncode != 0 and '--trust-pickle' in r.stderr, r.stderr
    r = run_cli('find', photos, '--verify', tmp_path/'old.pkl', '--trust-pickle', '--out', tmp_path/'o.csv', '--quiet')
    assert r.returncode == 0 and (tmp_path/'o.csv').exists(), r.stderr
    # --trust-pickle alone says what it goes with
    r = run_cli('find', photos, '--trust-pickle')
    assert r.returncode == 2 and 'give --verify too' in r.stderr

def test_train_verifier_command_writes_a_safe_file(photos, tmp_path):
    out = tmp_path/'verifier.safetensors'
    r = run_cli('train-verifier', photos, '--out', out, '--epochs', 1, '--quiet')
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[8:9] == b'{'  # a safetensors header, not a pickle
    r = run_cli('find', photos, '--verify', out, '--out', tmp_path/'o.csv', '--quiet')
    assert r.returncode == 0 and (tmp_path/'o.csv').exists(), r.stderr

def test_too_few_images_refused_before_training(photos, tmp_path):
    three = tmp_path/'three'; three.mkdir()
    for p in get_items(photos)[:3]: shutil.copy(p, three/p.name)
    t0 = time.perf_counter()
    r = run_cli('train-verifier', three, '--out', tmp_path/'v.safetensors', '--quiet')
    assert r.returncode != 0 and 'too few' in r.stderr and 'Traceback' not in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert not (tmp_path/'v.safetensors').exists() and 'ROC-AUC' not in r.stdout
    assert time.perf_counter() - t0 < 30
    with pytest.raises(ValueError, match='too few'): train_verifier(three, progress=False)
    # labelled: two groups of two cannot hold out a group and still show the training side two groups
    items = get_items(photos)[:4]
    with pytest.raises(ValueError, match='too few'): train_verifier(items, groups=['a', 'a', 'b', 'b'], progress=False)

def _without_root(cmd):
    "`cmd` run as an ordinary user would: root writes read-only files, so as root it runs without that power."
    if os.geteuid() != 0: return cmd
    if not shutil.which('setpriv'): pytest.skip('running as root without setpriv: a read-only file is writable here')
    return ['setpriv', '--inh-caps=-dac_override', '--bounding-set=-dac_override', *cmd]

def test_read_only_out_refused_before_training(photos, tmp_path):
    out = tmp_path/'v.safetensors'; out.write_text('precious\n'); os.chmod(out, 0o444)
    t0 = time.perf_counter()
    r = subprocess.run(_without_root([shutil.which('fastdupe'), 'train-verifier', str(photos), '--out', str(out), '--quiet']),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and 'read-only' in r.stderr and 'usage: fastdupe train-verifier' in r.stderr, (r.returncode, r.stderr)
    assert out.read_text() == 'precious\n' and time.perf_counter() - t0 < 20
