"Decisions that cannot be lost, and Undo that always does what it can: two processes clicking at once, trashed files removed by hand, corrupt manifests, taken paths, an Apply stopped part-way."
import hashlib, json, multiprocessing as mp, os, shutil, time
from pathlib import Path
import pandas as pd
import pytest
from fastdupe.eval import split_sample
from fastdupe.decisions import Decisions, DECISIONS_NAME, CSV_NAME
from fastdupe.trash import apply_deletions, undo_deletions, restore_files, trash_manifests, TRASH_DIR

def _digest(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()

def _clicker(path, names, seed, start):
    "A second kernel: its own cleaner on the same folder, marking `names` one by one, as fast as it can."
    import random
    from fastdupe.formatter import DatasetFormatter
    from fastdupe.widgets import ImageCleaner
    ds, idxs = DatasetFormatter.from_hashes(path, progress=False, n_workers=0)
    w = ImageCleaner(ds, list(range(len(ds))), path, display=False)
    rnd = random.Random(seed)
    while time.time() < start: time.sleep(0.001)
    for n in names:
        w.delete(w.names.index(n))
        time.sleep(rnd.random()*0.003)

@pytest.mark.parametrize('trial', range(3))
def test_two_processes_keep_every_mark(tmp_path, trial):
    d = split_sample(tmp_path/'data')
    names = sorted(p.relative_to(d).as_posix() for p in d.rglob('*') if p.is_file())
    a, b = names[0::2][:6], names[1::2][:6]
    ctx = mp.get_context('spawn')
    start = time.time() + 8  # both cleaners built before either clicks
    ps = [ctx.Process(target=_clicker, args=(d, ns, trial*2 + q, start)) for q, ns in enumerate((a, b))]
    for p in ps: p.start()
    for p in ps: p.join(120)
    assert all(p.exitcode == 0 for p in ps)
    assert Decisions.load(d).deleted == set(a + b)                     # no mark lost
    kept = set(pd.read_csv(d/CSV_NAME).name)
    assert not kept & set(a + b) and len(kept) == len(names) - 12     # cleaned.csv agrees with the decisions

@pytest.fixture
def applied(tmp_path):
    d = split_sample(tmp_path/'data')
    before = {p.relative_to(d).as_posix(): _digest(p) for p in d.rglob('*') if p.is_file()}
    names = ['train/coffee/coffee.jpg', 'train/clock/clock.jpg', 'valid/rocket/rocket small.jpg']
    Decisions(set(names)).save(d)
    m = apply_deletions(d)
    assert m is not None and not any((d/n).exists() for n in names)
    return d, names, before, m

def test_undo_with_a_file_removed_from_the_trash(applied):
    d, names, before, m = applied
    gone = m.parent/names[1]
    gone.unlink()                                                     # a person cleaned the trash by hand
    res = undo_deletions(d)
    assert sorted(p.relative_to(d).as_posix() for p in res) == [names[0], names[2]]
    assert [n for n, _ in res.problems] == [names[1]] and 'missing from the trash' in res.explain() and str(m) in res.explain()
    assert all(_digest(d/n) == before[n] for n in (names[0], names[2]))
    again = undo_deletions(d)                                         # not stuck: nothing more to do, nothing fails
    assert list(again) == [] and again.problems == []

def test_corrupt_manifest_is_named_and_skipped(applied):
    d, names, before, m = applied
    Decisions({'train/hubble/hubble.jpg'}).save(d)
    time.sleep(0.01)
    m2 = apply_deletions(d)
    m2.write_text('{"version": 1, "files": [')                        # the latest Apply's manifest is damaged
    res = undo_deletions(d)
    assert sorted(p.relative_to(d).as_posix() for p in res) == sorted(names)   # the earlier Apply is undone
    assert res.problems and res.problems[0][0] == str(m2) and 'cannot be read' in res.problems[0][1]

def test_taken_path_is_reported_and_the_rest_restored(applied):
    d, names, before, m = applied
    (d/names[0]).write_bytes(b'a new file at the old place')
    res = undo_deletions(d)
    assert sorted(p.relative_to(d).as_posix() for p in res) == sorted(names[1:])
    assert [n for n, _ in res.problems] == [names[0]] and 'another file is now at' in res.explain()
    assert (d/names[0]).read_bytes() == b'a new file at the old place'   # never overwritten
    os.remove(d/names[0])
    assert [p.relative_to(d).as_posix() for p in undo_deletions(d)] == [names[0]]
    assert _digest(d/names[0]) == before[names[0]]

def test_unmark_in_the_widget_when_the_path_is_taken(applied):
    from fastdupe.formatter import DatasetFormatter
    from fastdupe.widgets import ImageCleaner
    d, names, before, m = applied
    ds, idxs = DatasetFormatter.from_hashes(d, progress=False, n_workers=0)
    w = ImageCleaner(ds, idxs, d, duplicates=True, display=False)
    (d/names[0]).write_bytes(b'new')
    # the cleaner's dataset no longer lists the moved files; build one that does, as a notebook still open would have
    from fastdupe.formatter import CleanerDataset
    items = [d/n for n in names] + list(ds.items)
    ds2 = CleanerDataset(items, d, [None]*len(items), [None]*len(items))
    w2 = ImageCleaner(ds2, [0, 1], d, display=False)
    w2._in_callback = True                                            # as a button click runs it
    w2.delete(0, False)
    assert 'stays marked' in w2.status.value and 'another file is now at' in w2.status.value
    assert names[0] in Decisions.load(d).deleted
    w2.delete(1, False)                                               # the other one comes back, and is unmarked
    assert _digest(d/names[1]) == before[names[1]] and names[1] not in Decisions.load(d).deleted

def test_apply_stopped_part_way_says_what_moved(tmp_path):
    d = split_sample(tmp_path/'data')
    other = Path('/dev/shm')
    if not other.is_dir() or os.stat(other).st_dev == os.stat(d).st_dev: pytest.skip('needs a second filesystem (/dev/shm)')
    ext = Path(shutil.copytree(d/'train/clock', other/f'fastdupe-test-{os.getpid()}'))
    try:
        os.symlink(ext, d/'train/zz_elsewhere')                        # a sub-folder on another filesystem
        names = ['train/coffee/coffee.jpg', 'train/hubble/hubble.jpg', 'train/zz_elsewhere/clock.jpg']
        with pytest.raises(OSError) as e: apply_deletions(d, names)
        msg = str(e.value)
        assert 'Apply stopped at train/zz_elsewhere/clock.jpg' in msg and '2 of 3 files had been moved' in msg
        assert 'train/coffee/coffee.jpg' in msg and 'Undo puts them back' in msg
        assert (d/'train/zz_elsewhere/clock.jpg').exists()             # the file that could not move is where it was
        assert sorted(p.relative_to(d).as_posix() for p in undo_deletions(d)) == names[:2]
    finally: shutil.rmtree(ext)
