"""`options.check_find_options`, the one check of a method, its options and its threshold: any combination passes or is
a `ValueError` with a message (a rule of another type for crowd or keypoints is a `TypeError`, not drawn here), and
what it refuses `find_duplicates` and `Store.query` refuse with the same message before any image is read."""
import math
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from fastdupe.options import (check_find_options, check_threshold, METHODS, MODEL_METHODS, HASH_OPTIONS, MODEL_OPTIONS,
                              hash_threshold)
from fastdupe.hashing import HASH_METHODS, HASH_BITS
from fastdupe.group import LINKS
from fastdupe.pipeline import find_duplicates
from fastdupe.store import Store

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.floats(-2, 2), st.floats(allow_nan=True),
                   st.sampled_from(['auto', 'exact', 'annoy', 'faiss', 'ivf', 'onnx', 'torch', 'flip', '', 'x']))
NAMES = st.sampled_from(HASH_OPTIONS + MODEL_OPTIONS + ('kinds', 'min_agree', 'bs', 'model', 'first'))
RULES = ('crowd', 'keypoints')
OPTIONS = st.dictionaries(NAMES, VALUES, max_size=3).map(
    lambda d: {k: (bool(v) if k in RULES else v) for k, v in d.items()})
CASES = dict(method=st.one_of(st.sampled_from(METHODS), st.sampled_from(['md5', 'CNN', ''])),
             threshold=VALUES, link=st.one_of(st.none(), st.sampled_from(LINKS + ('chain',))), options=OPTIONS)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

def _outcome(f):
    "None when `f()` passes, else its `ValueError`'s message."
    try: f()
    except ValueError as e:
        assert len(str(e)) > 10, str(e)  # a message a person can act on
        return str(e)
    return None

@SETTINGS
@given(**CASES)
def test_passes_or_says_why(method, threshold, link, options):
    msg = _outcome(lambda: check_find_options(method, threshold, link, **options))
    if msg is not None: return
    # what it accepts, the finders' own readings of the threshold accept: in the method's range
    if method in HASH_METHODS:
        assert 0 <= hash_threshold(method, threshold) <= (0 if method == 'exact' else HASH_BITS.get(method, 64))
    elif threshold is not None:
        assert 0 <= float(threshold) <= 1 and not math.isnan(float(threshold))
    assert method in METHODS and (link is None or link in LINKS)
    if method in HASH_METHODS: assert not set(options) - set(HASH_OPTIONS) - {'kinds', 'min_agree'}

@SETTINGS
@given(**CASES)
def test_find_duplicates_refuses_alike(method, threshold, link, options, tmp_path_factory):
    "What the check refuses, `find_duplicates` refuses with the same message, before it looks for the images."
    msg = _outcome(lambda: check_find_options(method, threshold, link, **options))
    if msg is None: return
    missing = tmp_path_factory.getbasetemp()/'no such folder'
    with pytest.raises(ValueError) as e: find_duplicates(missing, method, threshold, link, progress=False, **options)
    assert str(e.value) == msg

@pytest.fixture(scope='module')
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp('store')
    with Store(d/'s.db', root=d) as s: yield s

@SETTINGS
@given(method=CASES['method'], threshold=VALUES)
def test_store_query_refuses_alike(store, method, threshold):
    "`Store.query` reads its threshold by the same rule: refused alike, with the same message."
    msg = _outcome(lambda: check_find_options(method, threshold))
    if msg is None: assert check_threshold(method, threshold) is not None or method in MODEL_METHODS; return
    with pytest.raises(ValueError) as e: store.query([], method=method, threshold=threshold)
    assert str(e.value) == msg
