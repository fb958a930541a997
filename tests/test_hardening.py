"Hostile input and every option combination: no traceback, one clear error line, valid output, no hang; flat images never grouped; FIFOs and unreadable folders reported."
import contextlib, csv, io, json, os, shutil, time, traceback
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from hypothesis import given, settings, strategies as st, HealthCheck
from fastdupe.cli import main
from fastdupe.pipeline import find_duplicates

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    "A small real folder: photos with copies in train/ and valid/, a CSV list with a split column, another set, solid colours."
    d = tmp_path_factory.mktemp('hostile')
    for sub in ('data/train', 'data/valid', 'other', 'out'): (d/sub).mkdir(parents=True)
    coffee, cat, rocket = (Image.fromarray(f()).reduce(2) for f in (skdata.coffee, skdata.chelsea, skdata.rocket))
    coffee.save(d/'data/train/coffee.jpg', quality=90)
    coffee.resize((150, 100)).save(d/'data/valid/coffee small.jpg', quality=70)
    cat.save(d/'data/train/chelsea.png')
    shutil.copy(d/'data/train/chelsea.png', d/'data/train/chelsea copy.png')
    rocket.save(d/'data/valid/rocket.jpg')
    rocket.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(d/'other/rocket mirrored.jpg')
    (d/'data/train/notes.png').write_text('not a picture')
    with open(d/'list.csv', 'w', newline='') as f:
        w = csv.writer(f); w.writerow(['path', 'split'])
        for p in sorted((d/'data').rglob('*.*')): w.writerow([p.relative_to(d).as_posix(), p.parent.name])
    (d/'binary.csv').write_bytes(bytes(range(256))*20)
    # symlinks on purpose: a file link and a folder link that sort before their targets, and a link out of the folder
    (d/'linked/sub').mkdir(parents=True)
    coffee.save(d/'linked/photo.jpg', quality=90); cat.save(d/'linked/sub/cat.png')
    os.symlink('photo.jpg', d/'linked/a.jpg'); os.symlink('sub', d/'linked/a_sub')
    os.symlink('../data/train/chelsea.png', d/'linked/chelsea link.png')
    # a real verifier for --verify, trained on eight distinct photos that pip installs (fewer cannot teach both classes)
    from fastdupe.verify import train_verifier, save_verifier
    (d/'train').mkdir()
    for f in ('astronaut', 'camera', 'coins', 'horse', 'moon', 'page', 'text', 'immunohistochemistry'):
        Image.fromarray(getattr(skdata, f)()).convert('RGB').reduce(2).save(d/'train'/f'{f}.jpg', quality=90)
    save_verifier(train_verifier(d/'train', epochs=1, progress=False), d/'out/verifier.safetensors')
    (d/'out/not a model.pkl').write_bytes(b'not a model')
    return d

ARG = st.fixed_dictionaries({
    'path': st.sampled_from(['data', 'list.csv', 'binary.csv', 'missing', 'data/train/coffee.jpg', 'other', 'linked']),
    'method': st.sampled_from([None, 'fused', 'cnn', 'exact', 'phash', 'ahash', 'dhash', 'whash', 'colorhash', 'combined', 'md5']),
    'threshold': st.sampled_from([None, '-1', '0', '0.5', '0.9', '3', '10', '64', '65', '1e9', '1.5', 'nan', 'x']),
    'link': st.sampled_from([None, 'hub', 'single', 'star', 'complete', 'dbscan', 'average']),
    'keep': st.sampled_from([None, 'split', 'split,resolution', 'resolution,split', 'bytes,path', 'original_name,oldest', 'biggest', ',']),
    'turns': st.booleans(),
    'no_keypoints': st.booleans(),
    'index': st.sampled_from([None, 'exact', 'annoy', 'ivf', 'auto', 'bogus']),
    'scheduler': st.sampled_from([None, None, None, 'local:0', 'local:1']),
    'shards': st.sampled_from([None, None, 'out/shards', '/proc/fastdupe-shards']),
    'engine': st.sampled_from([None, 'auto', 'torch', 'onnx', 'tensorrt']),
    'splits': st.sampled_from([None, 'auto', 'folders', 'column:split', 'column:nope', 'none', 'folder']),
    'protect': st.sampled_from([None, 'holdout', 'train', 'valid,holdout']),
    'against': st.sampled_from([None, 'other', 'missing_other', 'data', 'linked']),
    'column': st.sampled_from([None, 'path', 'nope']),
    'out': st.sampled_from([None, 'out/x.csv', 'out/x.json', 'out/x.txt', '/proc/x.csv', 'nowhere/x.csv', 'out']),
    'report': st.sampled_from([None, 'out/r.html', 'out/r.pdf']),
    'workers': st.sampled_from([None, '0', '-1', '2']),
    'quiet': st.booleans(),
    'verify': st.sampled_from([None, None, 'out/verifier.safetensors', 'out/not a model.pkl', 'out/missing.pkl']),
    'verify_threshold': st.sampled_from([None, None, '0.5', '0.99', '2', '-0.1']),
})

def _argv(a, d):
    argv = ['find', str(d/a['path'])]
    for k in ('method', 'threshold', 'link', 'keep', 'index', 'engine', 'splits', 'protect', 'column', 'workers'):
        if a[k] is not None: argv += [f'--{k}', a[k]]
    for k in ('scheduler',):
        if a[k] is not None: argv += [f'--{k}', a[k]]
    if a['verify_threshold'] is not None: argv += ['--verify-threshold', a['verify_threshold']]
    for k in ('against', 'out', 'report', 'shards', 'verify'):
        if a[k] is not None: argv += [f'--{k}', a[k] if a[k].startswith('/') else str(d/a[k])]
    if a['turns']: argv.append('--turns')
    if a['no_keypoints']: argv.append('--no-keypoints')
    if a['quiet']: argv.append('--quiet')
    return argv

def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main(argv)
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - t0

@settings(max_examples=320, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(a=ARG)
def test_cli_option_combinations(folder, a):
    argv = _argv(a, folder)
    for f in (folder/'out').glob('x*'): f.unlink()
    try: rc, out, err, took = _run(argv)
    except Exception: pytest.fail(f"traceback for {argv}:\n{traceback.format_exc()}")
    assert 'Traceback' not in out + err, argv
    assert took < 120, (argv, took)
    if rc == 0:
        assert 'error:' not in err, (argv, err)
        if a['out'] in ('out/x.csv', 'out/x.json'):
            fn = Path(folder/a['out'])
            assert fn.exists(), argv
            if fn.suffix == '.csv':
                rows = list(csv.DictReader(open(fn, encoding='utf-8')))
                assert all(r['action'] in ('keep', 'remove') and float(r['distance']) >= 0 for r in rows), argv
            else: rows = json.loads(fn.read_text())['rows']
            _links_never_kept_over_targets(rows, argv)
    else:
        assert rc in (1, 2), (argv, rc, err)
        lines = [l for l in err.splitlines() if 'error:' in l]
        assert len(lines) == 1 and len(lines[0]) > len('fastdupe: error: ') + 5, (argv, err)

def _links_never_kept_over_targets(rows, argv):
    "A symlink kept while its target, in the same group, is marked remove: following the advice would leave a dangling link."
    links = [r for r in rows if os.path.islink(r['path'])]
    assert bool(links) == ('link' in (rows[0] if rows else {})), (argv, 'a link column exactly when a row is a symlink')
    act = {(str(r['group']), os.path.realpath(r['path'])): r['action'] for r in rows if not os.path.islink(r['path'])}
    for r in links:
        assert r['link'] == os.path.realpath(r['path']), (argv, r)
        if r['action'] == 'keep': assert act.get((str(r['group']), r['link'])) != 'remove', (argv, r)

LINKED = st.fixed_dictionaries({
    'method': st.sampled_from(['exact', 'phash', 'dhash', 'combined', 'cnn', 'fused']),
    'link': st.sampled_from(['hub', 'single', 'star', 'complete', 'dbscan']),
    'keep': st.sampled_from([None, 'shortest_path', 'path', 'smallest,shortest_path', 'original_name,oldest']),
    'against': st.sampled_from([None, None, 'data', 'other']),
    'splits': st.sampled_from(['auto', 'none']),
    'out': st.sampled_from(['out/x.csv', 'out/x.json']),
})

@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(a=LINKED)
def test_symlinks_never_kept_over_their_targets(folder, a):
    "Every valid combination on a folder with file and folder symlinks: it runs, and no link is kept over its target."
    argv = ['find', str(folder/'linked'), '--workers', '0', '--quiet', '--method', a['method'], '--link', a['link'],
            '--splits', a['splits'], '--out', str(folder/a['out'])]
    if a['keep']: argv += ['--keep', a['keep']]
    if a['against']: argv += ['--against', str(folder/a['against'])]
    for f in (folder/'out').glob('x*'): f.unlink()
    rc, out, err, _ = _run(argv)
    assert rc == 0 and 'Traceback' not in out + err, (argv, err)
    fn = folder/a['out']
    rows = list(csv.DictReader(open(fn, encoding='utf-8'))) if fn.suffix == '.csv' else json.loads(fn.read_text())['rows']
    _links_never_kept_over_targets(rows, argv)
    if a['against'] is None:  # a.jpg -> photo.jpg: always one group, whatever the method saw, and the photo kept
        assert {(Path(r['path']).name, r['action']) for r in rows} >= {('photo.jpg', 'keep'), ('a.jpg', 'remove')}, argv
    assert not any('a_sub' in r['path'] for r in rows), (argv, 'images under a folder link are listed under the folder')

KW = st.fixed_dictionaries({
    'method': st.sampled_from(['fused', 'cnn', 'exact', 'phash', 'combined', 'nope']),
    'threshold': st.sampled_from([None, -1, 0, 0.7, 5, 10.0, 10.5, 100, 'x']),
    'link': st.sampled_from(['hub', 'single', 'star', 'complete', 'dbscan', 'x']),
    'keep': st.sampled_from([None, ('split',), ('bytes', 'split'), 'resolution', ('nope',), ()]),
    'splits': st.sampled_from([None, 'auto', 'folders', 'column:split', 'bad', ['train']*3]),
    'extra': st.sampled_from([{}, {'turns': True}, {'crowd': False}, {'index': 'annoy'}, {'k': 5}, {'bogus': 1}, {'tta': True},
                                {'keypoints': False}, {'keypoints': 'yes'}, {'crowd': False, 'keypoints': False},
                                {'engine': 'torch'}, {'engine': 'onnx', 'keypoints': False}, {'engine': 'cuda'},
                                {'index': 'ivf'}, {'index': 'bogus'}, {'shards': 'x'}, {'shard_size': 4}, {'client': 'local:0'},
                                {'verify': 'MODEL'}, {'verify': 'MODEL', 'verify_threshold': 0.9}, {'verify_threshold': 0.5},
                                {'verify': 'MODEL', 'keypoints': False}, {'verify': 'MODEL', 'verify_threshold': 1.5},
                                {'verify': 'MODEL', 'crowd': False}, {'verify': 'out/not a model.pkl'}]),
})

@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(kw=KW)
def test_find_duplicates_option_combinations(folder, kw):
    extra = dict(kw.pop('extra'))
    if 'verify' in extra: extra['verify'] = folder/('out/verifier.safetensors' if extra['verify'] == 'MODEL' else extra['verify'])
    try: res = find_duplicates(folder/'data', progress=False, n_workers=0, **kw, **extra)
    except (ValueError, TypeError) as e:
        assert str(e) and len(str(e)) > 10  # a message a person can act on
        return
    assert all(len(g) > 1 for g in res.groups) and all(d >= 0 for g in res.groups for d in g.dist if d == d)

def test_threshold_huge_does_not_hang(folder):
    rc, out, err, took = _run(['find', str(folder/'data'), '--method', 'phash', '--threshold', '1e9'])
    assert rc == 2 and 'from 0 to 64' in err and took < 5

def test_flat_images_never_grouped(tmp_path):
    "Solid colours hash alike and look alike to a CNN: no method groups two different ones; exact still finds a byte copy."
    for name, rgb in dict(white=(255, 255, 255), black=(0, 0, 0), red=(220, 20, 20), blue=(20, 20, 220), grey=(128, 128, 128)).items():
        Image.new('RGB', (320, 240), rgb).save(tmp_path/f'{name}.png')
    shutil.copy(tmp_path/'white.png', tmp_path/'white copy.png')
    Image.fromarray(skdata.coffee()).save(tmp_path/'coffee.jpg', quality=90)
    Image.fromarray(skdata.coffee()).resize((300, 200)).save(tmp_path/'coffee small.jpg', quality=60)
    colours = {'white', 'black', 'red', 'blue', 'grey'}
    for method in ('ahash', 'phash', 'dhash', 'whash', 'colorhash', 'combined', 'cnn', 'fused'):
        res = find_duplicates(tmp_path, method, progress=False, n_workers=0)
        for g in res.groups:
            names = {res.paths[k].stem.replace(' copy', '') for k in g.members}
            assert len(names & colours) <= 1, (method, names)
        if method in ('phash', 'fused', 'cnn'):
            assert [sorted(res.paths[k].name for k in g.members) for g in res.groups if 'coffee.jpg' in {res.paths[k].name for k in g.members}]
    ex = find_duplicates(tmp_path, 'exact', progress=False, n_workers=0)
    assert [sorted(ex.paths[k].name for k in g.members) for g in ex.groups] == [['white copy.png', 'white.png']]
    assert ex.groups[0].match == ['', 'exact'] and ex.paths[ex.groups[0].keep].name == 'white.png'

def test_fifo_and_unreadable_folder_reported(tmp_path):
    Image.fromarray(skdata.coffee()).save(tmp_path/'coffee.jpg')
    os.mkfifo(tmp_path/'pipe.jpg')
    locked = tmp_path/'locked'; locked.mkdir(); shutil.copy(tmp_path/'coffee.jpg', locked/'hidden.jpg')
    for p in (tmp_path, *tmp_path.parents):
        if p == Path('/tmp') or p == Path('/'): break
        os.chmod(p, 0o755)
    os.chmod(locked, 0)
    as_root = os.geteuid() == 0
    try:
        if as_root: os.seteuid(65534)  # root lists anything: walk as nobody
        try: rc, out, err, took = _run(['find', str(tmp_path), '--method', 'phash', '--workers', '0'])
        finally:
            if as_root: os.seteuid(0)
    finally: os.chmod(locked, 0o755)
    assert rc == 0, err
    assert 'pipe.jpg: a named pipe (FIFO), not a file' in out
    assert f'{locked}: folder cannot be read (permission denied)' in out and 'bad files: 2' in out

def test_csv_without_a_path_column(folder, tmp_path):
    (tmp_path/'list.csv').write_text('file_name,label\ndata/train/coffee.jpg,x\n')
    rc, out, err, _ = _run(['find', str(tmp_path/'list.csv'), '--method', 'phash'])
    assert rc == 1 and 'no path column' in err and '--column' in err and 'column=' not in err.replace('Python: column=', '')
    shutil.copytree(folder/'data', tmp_path/'data')
    rc, out, err, _ = _run(['find', str(tmp_path/'list.csv'), '--method', 'phash', '--column', 'file_name', '--workers', '0'])
    assert rc == 0 and 'images read: 1' in out, err
    rc, out, err, _ = _run(['find', str(folder/'data'), '--column', 'path'])
    assert rc == 2 and 'PATH is a folder' in err
