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
    # a file so deep that its place in the trash (39 characters longer) is past the longest path the OS takes
    deep = d/'train/zz'
    while len(str(deep/'clock.jpg')) + 200 < 4060: deep = deep/('d'*199)
    deep = deep/('d'*(4075 - len(str(deep/'clock.jpg')) - 1))
    deep.mkdir(parents=True)
    shutil.copy2(d/'train/clock/clock.jpg', deep/'clock.jpg')
    far = (deep/'clock.jpg').relative_to(d).as_posix()
    names = ['train/coffee/coffee.jpg', 'train/hubble/hubble.jpg', far]
    with pytest.raises(OSError) as e: apply_deletions(d, names)
    msg = str(e.value)
    assert f'Apply stopped at {far}' in msg and '2 of 3 files had been moved' in msg
    assert 'train/coffee/coffee.jpg' in msg and 'Undo puts them back' in msg
    assert (deep/'clock.jpg').exists()                                # the file that could not move is where it was
    assert sorted(p.relative_to(d).as_posix() for p in undo_deletions(d)) == names[:2]

# One boundary for every file operation (issue 24): nothing outside the dataset folder is ever moved, symlinks resolved
# first; a manifest's paths are checked like any other name, and one bad path refuses the whole Apply or manifest.

def _planted(d, entries, version=1, stamp='29990101-000000-000000'):
    "A manifest that fastdupe did not write, planted in the dataset's trash: `entries` as (name, trash, original)."
    m = d/TRASH_DIR/stamp/'manifest.json'
    m.parent.mkdir(parents=True, exist_ok=True)
    files = [dict(name=n, original=str(o), trash=str(t), sha256=_digest(t if Path(t).is_absolute() else d/t),
                  size=os.path.getsize(t if Path(t).is_absolute() else d/t), restored=None) for n, t, o in entries]
    m.write_text(json.dumps(dict(version=version, created='2999-01-01T00:00:00', path=str(d), files=files)))
    return m

@pytest.mark.parametrize('how', ['absolute-v1', 'relative-v2', 'inside-but-not-in-its-trash'])
def test_undo_refuses_a_planted_manifest(applied, tmp_path, how):
    d, names, before, m = applied
    victim = tmp_path/'outside'/'victim.jpg'; victim.parent.mkdir()
    victim.write_bytes((d/'train/hubble/hubble.jpg').read_bytes())
    inner = d/'train/hubble/hubble.jpg'
    if how == 'absolute-v1': entries, version = [('x.jpg', victim, tmp_path/'landed'/'x.jpg')], 1
    elif how == 'relative-v2': entries, version = [('x.jpg', Path('../outside/victim.jpg'), Path('../landed/x.jpg'))], 2
    else: entries, version = [('x.jpg', inner, d/'valid/moved here.jpg')], 1
    # a genuine entry beside the bad one: one bad path refuses the whole manifest, so this one must not move either
    ok = d/TRASH_DIR/'29990101-000000-000000'/'train/retina/retina.jpg'
    ok.parent.mkdir(parents=True); os.rename(d/'train/retina/retina.jpg', ok)
    pm = _planted(d, [('train/retina/retina.jpg', ok, d/'train/retina/retina.jpg')] + entries, version)
    snapshot = {p: _digest(p) for p in (victim, inner, ok)}
    first = undo_deletions(d)
    # the genuine Apply is undone: a refused manifest is skipped, not a wall
    assert sorted(p.relative_to(d).as_posix() for p in first) == sorted(names)
    assert all(_digest(d/n) == before[n] for n in names)
    for res in (first, undo_deletions(d, pm), restore_files(d, ['x.jpg', 'train/retina/retina.jpg'])):
        assert all(p.exists() and _digest(p) == h for p, h in snapshot.items())   # nothing moved
        assert not (tmp_path/'landed').exists() and not (d/'valid/moved here.jpg').exists()
        assert not (d/'train/retina/retina.jpg').exists()
        assert any(n == str(pm) and 'outside' in w for n, w in res.problems), res.explain()

def test_undo_refuses_a_manifest_outside_the_trash(applied, tmp_path):
    d, names, before, m = applied
    elsewhere = tmp_path/'elsewhere'/'manifest.json'; elsewhere.parent.mkdir()
    elsewhere.write_text(m.read_text())
    res = undo_deletions(d, elsewhere)
    assert list(res) == [] and 'outside' in res.explain()
    assert not any((d/n).exists() for n in names)

def _linked_dataset(tmp_path):
    "A dataset with a sub-folder that is a symlink to a folder outside it, holding an image."
    d = split_sample(tmp_path/'data')
    ext = tmp_path/'elsewhere'; ext.mkdir()
    shutil.copy2(d/'train/clock/clock.jpg', ext/'x.jpg')
    os.symlink(ext, d/'train/linkdir')
    return d, ext

def test_apply_in_the_widget_refuses_a_symlinked_folder_leaving_the_dataset(tmp_path):
    from fastdupe.formatter import DatasetFormatter
    from fastdupe.widgets import ImageCleaner
    d, ext = _linked_dataset(tmp_path)
    h = _digest(ext/'x.jpg')
    ds, idxs = DatasetFormatter.from_hashes(d, progress=False, n_workers=0)
    w = ImageCleaner(ds, list(range(len(ds))), d, display=False)
    assert 'train/linkdir/x.jpg' in w.names                           # the normal flow shows it, as any image
    w.delete(w.names.index('train/coffee/coffee.jpg')); w.delete(w.names.index('train/linkdir/x.jpg'))
    w._in_callback = True
    w.apply_btn.click()
    assert (ext/'x.jpg').is_file() and _digest(ext/'x.jpg') == h     # the file outside never moved
    assert (d/'train/coffee/coffee.jpg').is_file()                    # nor anything else: all checked before any move
    assert not list((d/TRASH_DIR).rglob('*.jpg')) if (d/TRASH_DIR).exists() else True
    assert 'train/linkdir/x.jpg' in w.status.value and 'outside the dataset folder' in w.status.value

@pytest.mark.parametrize('where', ['outside', 'inside'])
def test_apply_refuses_a_trash_folder_that_is_a_link(tmp_path, where):
    d = split_sample(tmp_path/'data')
    ext = tmp_path/'elsewhere' if where == 'outside' else d/'train/bin'; ext.mkdir()
    os.symlink(ext, d/TRASH_DIR)
    msg = 'outside the dataset folder' if where == 'outside' else 'the trash must be a folder of its own'
    with pytest.raises(ValueError, match=msg): apply_deletions(d, ['train/coffee/coffee.jpg'])
    assert (d/'train/coffee/coffee.jpg').is_file() and list(ext.iterdir()) == []

def test_a_symlink_is_moved_itself_never_its_target(tmp_path):
    d = split_sample(tmp_path/'data')
    target, link = d/'train/coffee/coffee.jpg', d/'train/coffee/coffee link.jpg'
    h = _digest(target)
    os.symlink('coffee.jpg', link)                                    # relative, as `ln -s` makes it
    m = apply_deletions(d, ['train/coffee/coffee link.jpg'])
    assert not link.is_symlink() and target.is_file() and _digest(target) == h
    e = json.loads(m.read_text())['files'][0]
    assert e['link'] == 'coffee.jpg' and os.readlink(d/e['trash']) == 'coffee.jpg'
    assert [p.relative_to(d).as_posix() for p in undo_deletions(d)] == ['train/coffee/coffee link.jpg']
    assert os.readlink(link) == 'coffee.jpg' and _digest(link) == h  # the link is back, pointing where it did

def test_manifest_is_relative_and_undo_follows_a_moved_dataset(applied, tmp_path):
    d, names, before, m = applied
    man = json.loads(m.read_text())
    assert man['version'] == 2
    for e in man['files']:
        assert not any(Path(e[k]).is_absolute() for k in ('name', 'original', 'trash'))
        assert (d/e['trash']).is_file() and e['original'] == e['name']
    moved = tmp_path/'renamed'
    shutil.move(d, moved)                                             # the dataset folder renamed after the Apply
    assert sorted(p.relative_to(moved).as_posix() for p in undo_deletions(moved)) == sorted(names)
    assert all(_digest(moved/n) == before[n] for n in names)

def test_version_1_manifest_is_still_undone(tmp_path):
    d = split_sample(tmp_path/'data')
    n = 'train/coffee/coffee.jpg'
    h = _digest(d/n)
    t = d/TRASH_DIR/'20200101-000000-000000'/n
    t.parent.mkdir(parents=True); os.rename(d/n, t)
    m = _planted(d, [(n, t, d/n)], version=1, stamp='20200101-000000-000000')  # as fastdupe 1 wrote it
    assert [p.relative_to(d).as_posix() for p in undo_deletions(d)] == [n] and _digest(d/n) == h
    assert json.loads(m.read_text())['files'][0]['restored']

def test_undo_of_a_manifest_named_relative_to_the_working_folder(applied, monkeypatch):
    d, names, before, m = applied
    monkeypatch.chdir(d.parent)
    res = undo_deletions('data', os.path.relpath(m, d.parent))      # as a person types it, from the folder above
    assert sorted(p.relative_to(d).as_posix() for p in res) == sorted(names) and not res.problems

def test_a_name_that_is_not_utf8_is_applied_and_undone_byte_for_byte(tmp_path):
    d = split_sample(tmp_path/'data')
    raw = os.fsencode(d) + b'/train/coffee/caf\xe9 copy.jpg'           # Latin-1 bytes: legal on Linux, not UTF-8
    shutil.copy(d/'train/coffee/coffee.jpg', raw)
    data = Path(os.fsdecode(raw)).read_bytes()
    name = os.fsdecode(b'train/coffee/caf\xe9 copy.jpg')              # as fastdupe names it: surrogate escapes
    Decisions({name}).save(d)                                         # marked in the review
    m = apply_deletions(d)
    assert m is not None and not os.path.lexists(raw)
    text = m.read_bytes().decode('utf-8')                             # the manifest is valid UTF-8 JSON...
    e, = json.loads(text)['files']
    assert os.fsencode(e['name']) == b'train/coffee/caf\xe9 copy.jpg' and '\\udce9' in text   # ...naming the bytes
    assert Path(os.fsdecode(os.fsencode(d) + b'/' + os.fsencode(e['trash']))).read_bytes() == data
    res = undo_deletions(d)
    assert not res.problems, res.explain()
    assert [os.fsencode(p) for p in res] == [raw]                     # back at its original name, byte for byte
    assert Path(os.fsdecode(raw)).read_bytes() == data
    assert json.loads(m.read_bytes().decode('utf-8'))['files'][0]['restored']   # and the manifest says so
