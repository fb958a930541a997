"""The learned pair verifier (`fastdupe.verify`) on real photos: labelled groups from file names and a verifier that
separates held-out same-group pairs from other pairs; a self-supervised verifier in `find_duplicates(verify=)` and
`fastdupe find --verify`; `fastdupe train-verifier`; the messages for bad input."""
import contextlib, csv, io
import numpy as np, pandas as pd, pytest
from pathlib import Path
from fastdupe.cli import main
from fastdupe.eval import PIP_SOURCES, build_benchmark, load_truth
from fastdupe.intake import get_items
from fastdupe.pipeline import find_duplicates
from fastdupe.finders import FUSED_HASH, VERIFY_THRESHOLD
from fastdupe.verify import (groups_from_pattern, train_verifier, load_verifier, pair_probabilities, pair_evidence,
                             verified_pairs, verified_search, save_verifier, EVIDENCE)

PATTERN = r'(?P<group>\d+)_'  # the benchmark names each file after its original's number

@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    "184 real photos with known copies: the 24 that pip installs (the same on every machine), 20 of them with 8 copies."
    d = tmp_path_factory.mktemp('verify')/'bench'
    build_benchmark(d, sources=PIP_SOURCES, copies_per_original=8, seed=3)
    return d

@pytest.fixture(scope='module')
def few(tmp_path_factory):
    "Eight photos (four and a copy of each) and a file that is not a verifier, for the messages for bad input."
    d = tmp_path_factory.mktemp('few')/'bench'
    build_benchmark(d, sources=PIP_SOURCES[:4], copies_per_original=1, n_negatives=0, seed=3)
    (d/'model.pkl').write_bytes(b'not a verifier: the options are refused before it is read')
    return d

@pytest.fixture(scope='module')
def self_supervised(bench, tmp_path_factory):
    "A verifier trained on the benchmark's images without their labels, exported."
    learn = train_verifier(bench/'images', progress=False)
    fn = save_verifier(learn, tmp_path_factory.mktemp('model')/'verifier.safetensors')
    return learn, fn

def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()

def _groups(r): return sorted(sorted(str(r.paths[k]) for k in g.members) for g in r.groups)

def test_pattern_gives_the_true_groups(bench):
    items = get_items(bench/'images')
    found = groups_from_pattern(items, PATTERN)
    truth = pd.read_csv(bench/'truth.csv')
    true = dict(zip((str(bench/p) for p in truth.path), truth.group))
    # one-to-one: each pattern group is exactly one true group
    assert len({(f, true[str(p)]) for f, p in zip(found, items)}) == len(set(found)) == len(set(true.values()))

def test_verifier_separates_held_out_groups(bench, tmp_path):
    learn = train_verifier(bench/'images', groups=PATTERN, progress=False)
    with learn.no_bar(): _, acc, auc = learn.validate()
    print(f"{learn.dls}: held-out groups accuracy {acc:.3f}, ROC-AUC {auc:.3f}")
    assert auc > 0.9, auc  # chance is 0.5
    assert acc > 0.8, acc
    # saved (weights and a description), loaded back: the same probabilities
    save_verifier(learn, tmp_path/'v.safetensors')
    from fastdupe.features import image_features
    f = image_features(get_items(bench/'images')[:40], hashes=FUSED_HASH, keypoints=True, progress=False)
    ev = pair_evidence(f)
    assert ev.values.shape == (len(ev), len(EVIDENCE)) and len(ev) > 40
    np.testing.assert_allclose(pair_probabilities(load_verifier(tmp_path/'v.safetensors'), f.vectors, ev),
                               pair_probabilities(load_verifier(learn), f.vectors, ev), atol=1e-5)

def test_same_seed_same_verifier(bench):
    "Training is repeatable: the same images and seed give the same verifier (fastai's shuffling included); another seed another."
    import torch
    items = get_items(bench/'images')[:60]
    a, b, c = (train_verifier(items, epochs=2, seed=s, progress=False) for s in (0, 0, 1))
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)

def test_distances_beyond_the_kept_pairs(bench, self_supervised):
    "dist_fn agrees with the kept pairs, and judges a pair the search never proposed as the verifier would."
    from fastdupe.features import image_features
    head = load_verifier(self_supervised[0])
    items = get_items(bench/'images')[:60]
    f = image_features(items, hashes=FUSED_HASH, keypoints=True, progress=False)
    pairs, dist_fn = verified_search(head, f)
    assert len(pairs) > 10
    np.testing.assert_allclose([dist_fn(np.array([i]), j)[0] for i, j in zip(pairs.i.tolist(), pairs.j.tolist())], pairs.dist, atol=1e-6)
    ev = pair_evidence(f)
    proposed = set(zip(ev.i.tolist(), ev.j.tolist()))
    far = [(i, j) for i in range(len(f)) for j in range(i) if (i, j) not in proposed][:30]
    assert far, "the benchmark's 60 images should have pairs the search does not propose"
    d = np.concatenate([dist_fn(np.array([i]), j) for i, j in far])
    # images the search did not even propose are almost never copies: the verifier says so (distance near 1)
    assert ((0 <= d) & (d <= 1)).all() and np.median(d) > 0.9, d
    # either order, one answer
    i, j = far[0]
    np.testing.assert_allclose(dist_fn(np.array([j]), i), dist_fn(np.array([i]), j), atol=1e-6)

def test_self_supervised_verifier_in_the_pipeline(bench, self_supervised, tmp_path):
    "No labels: the verifier finds the benchmark's groups about as well as fused's rules, and the CSV shows 1 - probability."
    learn, fn = self_supervised
    truth = load_truth(bench)
    plain = find_duplicates(bench/'images', progress=False)
    checked = find_duplicates(bench/'images', verify=fn, progress=False)
    s_plain, s_checked = (truth.scores([[r.paths[k] for k in g.members] for g in r.groups]) for r in (plain, checked))
    print(f"fused {s_plain}\nverified {s_checked}")
    assert s_checked.f1 > 0.9, s_checked
    assert s_checked.f1 > s_plain.f1 - 0.05, (s_plain, s_checked)
    # a higher threshold keeps fewer pairs; every kept pair's distance is 1 - its probability, so below 1 - threshold
    strict = find_duplicates(bench/'images', verify=learn, verify_threshold=0.999, progress=False)
    assert len(strict.pairs) < len(checked.pairs)
    assert (checked.pairs.dist <= 1 - VERIFY_THRESHOLD + 1e-6).all() and (strict.pairs.dist <= 0.001 + 1e-6).all()
    checked.save(tmp_path/'out.csv')
    rows = list(csv.DictReader(open(tmp_path/'out.csv')))
    # each member's distance to its group's kept image is the verifier's 1 - probability: a number, never blank or NaN,
    # and where the verifier kept that very pair, the pair's own distance
    assert rows and all(0 <= float(r['distance']) <= 1 for r in rows)
    kept_pair = {(max(a, b), min(a, b)): d for a, b, d in zip(checked.pairs.i.tolist(), checked.pairs.j.tolist(), checked.pairs.dist.tolist())}
    index = {str(p): k for k, p in enumerate(checked.paths)}
    by_group = {}
    for r in rows: by_group.setdefault(r['group'], []).append(r)
    direct = 0
    for g in by_group.values():
        keeper = index[g[0]['path']]
        for r in g[1:]:
            m = index[r['path']]
            if (key := (max(keeper, m), min(keeper, m))) in kept_pair:
                assert abs(float(r['distance']) - kept_pair[key]) <= 1e-4, (r, kept_pair[key]); direct += 1
    assert direct > 0
    # a fingerprint database gives the verifier the same evidence (its hashes from the store): the same groups, twice
    for _ in range(2): assert _groups(find_duplicates(bench/'images', verify=fn, db=tmp_path/'f.db', progress=False)) == _groups(checked)
    # the CLI reads the same file and finds the same groups
    rc, out, err = _run(['find', bench/'images', '--verify', fn, '--out', tmp_path/'cli.csv', '--quiet'])
    assert rc == 0, err
    cli = pd.read_csv(tmp_path/'cli.csv')
    assert sorted(sorted(g.path) for _, g in cli.groupby('group')) == _groups(checked)

def test_train_verifier_command(bench, tmp_path):
    rc, out, err = _run(['train-verifier', bench/'images', '--out', tmp_path/'m.safetensors', '--groups', PATTERN, '--epochs', 2, '--quiet'])
    assert rc == 0, err
    assert 'ROC-AUC' in out and (tmp_path/'m.safetensors').exists()
    auc = float(out.split('ROC-AUC')[1].split()[0])
    assert auc > 0.85, out
    load_verifier(tmp_path/'m.safetensors')

def test_verifier_with_a_learners_body(bench, tmp_path):
    "A verifier trained with the body of a user's own fastai Learner keeps it, and the pipeline and the CLI embed with it."
    import torch, torchvision
    from torch import nn
    from fastai.data.core import DataLoaders, Datasets
    from fastai.learner import Learner
    from fastdupe.features import image_features
    torch.manual_seed(0)
    body = nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])  # 512 channels, pooled
    yours = Learner(DataLoaders.from_dsets(Datasets([0, 1]), Datasets([0, 1]), bs=1),   # any data: only the body is used
                    nn.Sequential(body, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 3))), loss_func=nn.CrossEntropyLoss())
    items = get_items(bench/'images')[:45]
    learn = train_verifier(items, model=yours, epochs=2, progress=False)
    assert learn.model.body is body
    save_verifier(learn, tmp_path/'own.safetensors')
    head = load_verifier(tmp_path/'own.safetensors')
    assert isinstance(head.body, nn.Sequential) and head.body is not body  # the file holds a copy of the body
    # the pipeline embeds with the verifier's body: its pairs are the verifier's pairs over that body's vectors
    r = find_duplicates(items, verify=tmp_path/'own.safetensors', progress=False)
    f = image_features(items, model=head.body, engine='torch', hashes=FUSED_HASH, keypoints=True, progress=False)
    assert f.vectors.shape[1] == 512
    want = verified_pairs(head, f)
    assert len(r.pairs) and sorted(zip(r.pairs.i.tolist(), r.pairs.j.tolist())) == sorted(zip(want.i.tolist(), want.j.tolist()))
    np.testing.assert_allclose(np.sort(r.pairs.dist), np.sort(want.dist), atol=1e-4)
    # options that cannot hold with a body of its own are refused before any work
    for bad, message in ((dict(model=body), 'model= does not apply'), (dict(engine='onnx'), 'runs in PyTorch'),
                         (dict(client='local:1'), 'client= runs the offline backbone')):
        with pytest.raises(ValueError, match=message): find_duplicates(items, verify=head, progress=False, **bad)
    with pytest.raises(TypeError, match='nn.Module'): train_verifier(items, model='resnet18', progress=False)
    # from the command line: a Learner's export as --learner
    yours.export(tmp_path/'yours.pkl')
    rc, out, err = _run(['train-verifier', bench/'images', '--out', tmp_path/'cli.safetensors', '--groups', PATTERN, '--epochs', 1,
                         '--learner', tmp_path/'yours.pkl', '--trust-pickle', '--quiet'])
    assert rc == 0, err
    assert type(load_verifier(tmp_path/'cli.safetensors').body).__name__ == 'Sequential'

def test_fine_tuned_body(bench, tmp_path):
    "fine_tune= tunes a copy of the body as a Siamese network; the verifier keeps it and the pipeline embeds with it."
    import torch, torchvision
    from torch import nn
    from fastdupe.features import image_features
    torch.manual_seed(0)
    body = nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])
    before = {k: t.clone() for k, t in body.state_dict().items()}
    items = get_items(bench/'images')[:45]
    learn = train_verifier(items, model=body, fine_tune=1, epochs=2, progress=False)
    tuned = learn.model.body
    assert tuned is not body and all(torch.equal(before[k], t) for k, t in body.state_dict().items())  # the user's body is untouched
    assert any(not torch.equal(before[k], t) for k, t in tuned.state_dict().items() if t.is_floating_point())
    r = find_duplicates(items, verify=learn, progress=False)
    want = verified_pairs(load_verifier(learn), image_features(items, model=tuned, engine='torch', hashes=FUSED_HASH, keypoints=True, progress=False))
    assert sorted(zip(r.pairs.i.tolist(), r.pairs.j.tolist())) == sorted(zip(want.i.tolist(), want.j.tolist()))
    with pytest.raises(ValueError, match='fine_tune must be a whole number'): train_verifier(items, fine_tune=-1, progress=False)

@pytest.mark.parametrize('argv, message', [
    (['find', '{b}', '--method', 'phash', '--verify', '{m}'], 'judges the candidates of verified'),
    (['find', '{b}', '--verify-threshold', '0.5'], 'give --verify too'),
    (['find', '{b}', '--verify', '{m}', '--verify-threshold', '1.5'], 'between 0 and 1'),
    (['find', '{b}', '--verify', '{m}', '--no-keypoints'], '--no-keypoints does not apply'),
    (['find', '{b}', '--verify', '{b}/missing.pkl'], 'no such file'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--groups', PATTERN, '--copies', '2'], '--copies is for self-supervised'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--column', 'room'], 'group column of a CSV'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--epochs', '0'], 'at least 1'),
    (['train-verifier', '{b}', '--out', '/proc/m.pkl'], '--out /proc/m.pkl'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--learner', '{t}/none.pkl'], '--learner'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--learner', '{m}', '--engine', 'onnx'], 'runs with --engine torch'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--fine-tune', '-1'], '--fine-tune must be 0 or more'),
    (['train-verifier', '{b}', '--out', '{t}/m.safetensors', '--learner', '{m}'], 'give --trust-pickle if you trust'),
    (['train-verifier', '{b}', '--out', '{t}/m.safetensors', '--trust-pickle'], 'give --learner too'),
    (['find', '{b}', '--trust-pickle'], 'give --verify too'),
    (['train-verifier', '{b}', '--out', '{t}/m.pkl', '--fine-tune', '1', '--engine', 'onnx'], 'a fine-tuned body runs with --engine torch'),
])
def test_bad_arguments_exit_2(few, tmp_path, argv, message):
    argv = [a.format(b=few/'images', m=few/'model.pkl', t=tmp_path) for a in argv]
    rc, out, err = _run(argv)
    assert rc == 2 and message in err, (argv, rc, err)

def test_bad_input(few, tmp_path):
    bench = few
    with pytest.raises(ValueError, match='has no field named group'):
        train_verifier(bench/'images', groups=r'(\d+)_', progress=False)
    csv_fn = tmp_path/'groups.csv'
    csv_fn.write_text('path,group\n' + ''.join(f'{p},{k}\n' for k, p in enumerate(get_items(bench/'images')[:5])))
    with pytest.raises(ValueError, match='no group has two members'):
        train_verifier(bench/'images', groups=csv_fn, progress=False)
    (tmp_path/'model.pkl').write_bytes(b'\x80\x04 not a pickle of anything')
    with pytest.raises(ValueError, match='is not a fastdupe verifier'):
        load_verifier(tmp_path/'model.pkl')
    import torch
    torch.save(torch.nn.Linear(3, 1), tmp_path/'linear.pth')
    with pytest.raises(ValueError, match='is not a fastdupe verifier'):
        load_verifier(tmp_path/'linear.pth')
    with pytest.raises(ValueError, match='copies must be a whole number'):
        train_verifier(bench/'images', copies=0, progress=False)
    # the same messages from the command line, one line, no traceback
    rc, out, err = _run(['train-verifier', bench/'images', '--out', tmp_path/'m.pkl', '--groups', r'(\d+)_'])
    assert rc == 1 and 'no field named group' in err and 'Traceback' not in err
    rc, out, err = _run(['find', bench/'images', '--verify', tmp_path/'model.pkl'])
    assert rc == 1 and 'is not a fastdupe verifier' in err and 'Traceback' not in err
