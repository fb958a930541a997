"""The pair judge shipped in the package (issue 23): it loads without unpickling anything, a file that is not a judge
is refused before anything in it is read as code, and `fastdupe find --method verified` decides by its probability
(`--threshold` is that probability; the rules' options are refused with a pointer to `--method fused`). Real photos (the
package's sample), real processes."""
import pickle, shutil
from pathlib import Path
from unittest import mock
import numpy as np, pytest
from conftest import run_cli, SAMPLE
from fastdupe.judge import load_judge, JUDGE_PATH
from fastdupe.evidence import MEASURES
from fastdupe.pipeline import find_duplicates

class _Payload:
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))

def test_shipped_judge_loads_without_unpickling():
    "Loading the shipped judge never reaches pickle or torch: safetensors arrays and JSON metadata only."
    def refuse(*a, **k): raise AssertionError("the judge must load without unpickling")
    import torch
    with mock.patch.object(pickle, 'load', refuse), mock.patch.object(pickle, 'loads', refuse), \
         mock.patch.object(torch, 'load', refuse):
        j = load_judge()
    assert JUDGE_PATH.is_file() and JUDGE_PATH.suffix == '.safetensors'
    assert 0 < j.threshold < 1 and j.about['family'] == 'tuning'
    # the trees read every measure the evidence computes, and give a probability for any row
    x = np.zeros((3, len(MEASURES)))
    p = j.probability(type('C', (), {'measures': x, '__len__': lambda self: 3})())
    assert p.shape == (3,) and ((0 <= p) & (p <= 1)).all()

def test_a_pickle_named_as_a_judge_is_refused_unread(tmp_path):
    "A pickle with a payload, renamed `.safetensors`, is refused with a message and its payload never runs."
    bad = tmp_path/'judge.safetensors'
    bad.write_bytes(pickle.dumps(_Payload(tmp_path/'ran')))
    with pytest.raises(Exception) as e: load_judge(bad)
    assert not (tmp_path/'ran').exists()
    assert 'Traceback' not in str(e.value)

@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp('photos')
    for p in sorted(Path(SAMPLE).rglob('*')):
        if p.is_file() and p.suffix.lower() in ('.jpg', '.jpeg', '.png'): shutil.copy(p, d/p.name)
    return d

def test_verified_decides_by_the_judges_probability(photos):
    "`verified`'s distances are 1 - the judge's probability, and a threshold is that probability."
    r = find_duplicates(photos, 'verified', progress=False)
    j = load_judge()
    assert r.method == 'verified' and len(r.groups)
    assert len(r.pairs) and (r.pairs.dist <= 1 - j.threshold + 1e-9).all()
    strict = find_duplicates(photos, 'verified', progress=False, threshold=0.999)
    assert len(strict.pairs) <= len(r.pairs) and (strict.pairs.dist <= 0.001 + 1e-9).all()
    with pytest.raises(ValueError, match='probability'): find_duplicates(photos, 'verified', progress=False, threshold=1.5)
    with pytest.raises(ValueError, match="method='fused'"): find_duplicates(photos, 'verified', progress=False, crowd=False)

def test_cli_threshold_is_a_probability(photos, tmp_path):
    "On the command line too: --threshold 1.5 is a usage error naming the probability; --no-keypoints points to fused."
    r = run_cli('find', photos, '--method', 'verified', '--threshold', '1.5')
    assert r.returncode == 2 and 'probability' in r.stderr
    r = run_cli('find', photos, '--method', 'verified', '--threshold', '0.99', '--out', tmp_path/'out.csv')
    assert r.returncode == 0, r.stderr
    r = run_cli('find', photos, '--method', 'verified', '--no-keypoints')
    assert r.returncode == 2 and 'fused' in r.stderr and 'Traceback' not in r.stderr
