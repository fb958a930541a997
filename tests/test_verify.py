"""The learned pair verifier (`fastdupe.verify`): labelled groups from file names on real photos, a verifier that
separates held-out same-group pairs from other pairs, and the messages for bad input."""
import numpy as np, pandas as pd, pytest
from pathlib import Path
from fastdupe.eval import build_benchmark
from fastdupe.intake import get_items
from fastdupe.verify import groups_from_pattern, train_verifier, load_verifier, pair_probabilities, PairHead

PATTERN = r'(?P<group>\d+)_'  # the benchmark names each file after its original's number

@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp('verify')/'bench'
    build_benchmark(d, n_originals=30, copies_per_original=8, seed=3)
    return d

def test_pattern_gives_the_true_groups(bench):
    items = get_items(bench/'images')
    found = groups_from_pattern(items, PATTERN)
    truth = pd.read_csv(bench/'truth.csv')
    true = dict(zip((str(bench/p) for p in truth.path), truth.group))
    # one-to-one: each pattern group is exactly one true group
    assert len({(f, true[str(p)]) for f, p in zip(found, items)}) == len(set(found)) == len(set(true.values()))

def test_verifier_separates_held_out_groups(bench, tmp_path):
    learn = train_verifier(bench/'images', groups=PATTERN, progress=False)
    _, acc, auc = learn.validate()
    print(f"held-out groups: {learn.dls.valid_pairs}, accuracy {acc:.3f}, ROC-AUC {auc:.3f}")
    assert auc > 0.85, auc  # chance is 0.5
    assert acc > 0.75, acc
    # exported like any fastai model, loaded back, the same probabilities
    learn.export(tmp_path/'v.pkl')
    head = load_verifier(tmp_path/'v.pkl')
    from fastdupe.features import image_features
    f = image_features(get_items(bench/'images')[:20], progress=False)
    a, b = np.arange(19), np.arange(1, 20)
    np.testing.assert_allclose(pair_probabilities(head, f.vectors, a, b), pair_probabilities(load_verifier(learn), f.vectors, a, b), atol=1e-6)

def test_bad_input(bench, tmp_path):
    with pytest.raises(ValueError, match='has no field named group'):
        train_verifier(bench/'images', groups=r'(\d+)_', progress=False)
    csv = tmp_path/'groups.csv'
    csv.write_text('path,group\n' + ''.join(f'{p},{k}\n' for k, p in enumerate(get_items(bench/'images')[:5])))
    with pytest.raises(ValueError, match='no group has two members'):
        train_verifier(bench/'images', groups=csv, progress=False)
    (tmp_path/'model.pkl').write_bytes(b'\x80\x04 not a pickle of anything')
    with pytest.raises(ValueError, match='is not a fastdupe verifier'):
        load_verifier(tmp_path/'model.pkl')
    import torch
    torch.save(torch.nn.Linear(3, 1), tmp_path/'linear.pth')
    with pytest.raises(ValueError, match='is not a fastdupe verifier'):
        load_verifier(tmp_path/'linear.pth')
    with pytest.raises(ValueError, match='copies must be a whole number'):
        train_verifier(bench/'images', copies=0, progress=False)
