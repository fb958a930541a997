"""fastdupe past one machine: extraction on a real Dask `LocalCluster` (worker processes), a worker killed mid-run,
images read through fsspec URLs, and the bad inputs of the cluster options."""
import os, signal, threading, time
from pathlib import Path
import pytest
from fastdupe.eval import PIP_SOURCES, build_benchmark
from fastdupe.pipeline import find_duplicates

distributed = pytest.importorskip('dask.distributed')

@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "224 real photos with known copies (the 24 that pip installs, 20 of them with 10 copies), and one broken file."
    d = tmp_path_factory.mktemp('cluster')/'bench'
    build_benchmark(d, sources=PIP_SOURCES, copies_per_original=10, seed=3)
    (d/'images'/'broken.jpg').write_bytes(b'\xff\xd8\xff not a whole JPEG')
    return d/'images'

@pytest.fixture(scope='module')
def few(tmp_path_factory):
    "Eight photos (four and a copy of each), for the messages for bad options: no big benchmark needed."
    d = tmp_path_factory.mktemp('few')/'bench'
    build_benchmark(d, sources=PIP_SOURCES[:4], copies_per_original=1, n_negatives=0, seed=3)
    return d/'images'

@pytest.fixture(scope='module')
def single(photos):
    "The groups of the single-process path."
    return find_duplicates(photos, progress=False)

@pytest.fixture(scope='module')
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
         distributed.Client(cluster) as c:
        yield c

def groups(d):
    return {frozenset(str(d.paths[k]) for k in g.members) for g in d.groups}

def test_cluster_gives_the_single_process_groups(photos, single, client, tmp_path):
    assert len(single.groups) >= 10 and len(single.paths) >= 200
    shards = tmp_path/'shards'
    res = find_duplicates(photos, client=client, shards=shards, progress=False)
    assert groups(res) == groups(single)
    assert [(str(b.path), b.reason) for b in res.bad] == [(str(b.path), b.reason) for b in single.bad]
    assert [r['action'] for r in res.rows()] == [r['action'] for r in single.rows()]
    first = sorted(p.name for p in shards.iterdir() if p.name != 'pairs.parquet')
    assert first and all(n.startswith('shard-') and n.endswith('.parquet') for n in first)
    import pandas as pd  # the pairs behind the groups, written beside the shards
    pp = pd.read_parquet(shards/'pairs.parquet')
    assert len(pp) == len(res.pairs) and set(zip(pp.path_a, pp.path_b)) == {(str(res.paths[i]), str(res.paths[j])) for i, j in zip(res.pairs.i, res.pairs.j)}
    # a second run finds every shard complete: nothing is extracted again, and the groups are the same
    shard_times = lambda: {p: p.stat().st_mtime_ns for p in shards.iterdir() if p.name.startswith('shard-')}
    before = shard_times()
    again = find_duplicates(photos, client=client, shards=shards, progress=False)
    assert groups(again) == groups(single)
    assert shard_times() == before

def test_a_killed_worker_changes_nothing(photos, single, client, tmp_path):
    "A worker process killed mid-run: Dask runs its task again elsewhere, and the groups are those of one machine."
    shards, out = tmp_path/'shards', {}
    def run():
        try: out['res'] = find_duplicates(photos, client=client, shards=shards, progress=False, shard_size=12)
        except BaseException as e: out['error'] = e
    # shard_size goes to the extraction: small shards so that the kill lands while tasks are still queued and running
    t = threading.Thread(target=run); t.start()
    deadline = time.time() + 300
    while time.time() < deadline and not (shards.exists() and any(p.name.startswith('shard-') for p in shards.iterdir())):
        time.sleep(0.05)
    busy = client.processing()  # worker address -> task keys it is running now
    victim = next((w for w, keys in busy.items() if keys), next(iter(busy)))
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    written = len([p for p in shards.iterdir() if p.name.startswith('shard-')])
    t.join(600)
    assert not t.is_alive(), 'the run did not finish after a worker was killed'
    assert 'error' not in out, out.get('error')
    n_shards = len([p for p in shards.iterdir() if p.name.startswith('shard-')])
    assert n_shards == -(-(len(single.paths) + len(single.bad)) // 12)
    assert written < n_shards, 'the worker was killed after the run had finished: nothing was tested'
    assert groups(out['res']) == groups(single)
    with pytest.raises(ProcessLookupError): os.kill(pid, 0)  # the killed process really ended

def test_images_from_an_fsspec_url(photos, single):
    "The same photos in fsspec's in-memory filesystem (a bucket's stand-in): listed, read and grouped through the URL."
    import fsspec
    mem = fsspec.filesystem('memory')
    for p in photos.iterdir(): mem.pipe(f'/bucket/photos/{p.name}', p.read_bytes())
    try:
        res = find_duplicates('memory://bucket/photos', progress=False)
        as_local = lambda d: {frozenset(str(d.paths[k]).replace('memory://bucket/photos', str(photos)) for k in g.members) for g in d.groups}
        assert as_local(res) == groups(single)
        assert all(isinstance(p, str) and p.startswith('memory://bucket/photos/') for p in res.paths)
        assert [b.reason for b in res.bad] == [b.reason for b in single.bad]
        rows = res.rows()
        assert rows and all(r['path'].startswith('memory://bucket/photos/') for r in rows)
    finally: mem.rm('/bucket', recursive=True)

def test_file_url_on_the_cluster(photos, single, client, tmp_path):
    "A file:// URL for the images and for the shard folder, through the cluster."
    res = find_duplicates(f'file://{photos}', client=client, shards=f'file://{tmp_path}/shards', progress=False)
    assert groups(res) == groups(single)

def test_bad_cluster_options(few, tmp_path):
    photos = few
    with pytest.raises(ConnectionError, match="cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'"):
        find_duplicates(photos, client='tcp://127.0.0.1:9', progress=False)
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o500)
    target = ro/'shards' if os.geteuid() != 0 else Path('/proc/fastdupe-shards')  # root writes anywhere but /proc
    with pytest.raises(PermissionError, match='cannot be written'):
        find_duplicates(photos, client='local:1', shards=target, progress=False)
    with pytest.raises(ValueError, match='no fsspec driver for nosuchscheme://'):
        find_duplicates('nosuchscheme://bucket/photos', progress=False)
    with pytest.raises(ValueError, match="client= runs the model methods"):
        find_duplicates(photos, method='phash', client='local:1', progress=False)
    with pytest.raises(ValueError, match="pass client= too"):
        find_duplicates(photos, shards=tmp_path/'s', progress=False)

def _csv_groups(fn):
    import pandas as pd
    t = pd.read_csv(fn)
    return {frozenset(g.path) for _, g in t.groupby('group')}

def test_cli_index_then_find_on_a_cluster(photos, single, tmp_path):
    "fastdupe index PATH --scheduler local:2 writes the shards; find PATH --scheduler reuses them and groups as one machine does."
    from conftest import run_cli
    shards = tmp_path/'shards'
    r = run_cli('index', photos, '--scheduler', 'local:2', '--shards', shards)
    assert r.returncode == 0, r.stderr
    n = len(single.paths)
    assert f"{n} images, 1 bad files in" in r.stdout and 'broken.jpg' in r.stdout
    r = run_cli('index', photos, '--scheduler', 'local:2', '--shards', shards)
    assert '(0 extracted now, fused)' in r.stdout, r.stdout  # every shard was there
    r = run_cli('find', photos, '--scheduler', 'local:2', '--shards', shards, '--out', tmp_path/'g.csv', '--quiet')
    assert r.returncode == 0, r.stderr
    assert _csv_groups(tmp_path/'g.csv') == groups(single)
    assert (shards/'pairs.parquet').exists()

def test_cli_bad_cluster_options(few, tmp_path):
    photos = few
    from conftest import run_cli
    r = run_cli('find', photos, '--scheduler', 'tcp://127.0.0.1:9', '--quiet')
    assert r.returncode == 1 and "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('index', photos, '--scheduler', 'local:1', '--shards', '/proc/fastdupe-shards')
    assert r.returncode == 1 and 'the shard folder /proc/fastdupe-shards cannot be written' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('find', 'nosuchscheme://bucket/photos', '--quiet')
    assert r.returncode == 1 and 'no fsspec driver for nosuchscheme://' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('find', photos, '--shards', tmp_path/'s')
    assert r.returncode == 2 and 'give --scheduler too' in r.stderr
    r = run_cli('find', photos, '--method', 'phash', '--scheduler', 'local:1')
    assert r.returncode == 2 and 'phash hashes on this machine' in r.stderr
    r = run_cli('index', photos, '--scheduler', 'local:1', '--db', tmp_path/'x.db')
    assert r.returncode == 2 and 'two ways to keep fingerprints' in r.stderr

def test_ivf_index_through_find_duplicates(photos, single):
    "index='ivf' (the FAISS IVF backend for more vectors than memory holds) gives the exact search's groups on a small set."
    res = find_duplicates(photos, index='ivf', progress=False)
    assert groups(res) == groups(single)

@pytest.fixture(scope='module')
def planted(few, tmp_path_factory):
    "The eight photos plus a blurred one and a near-black one: health issues for the cluster to flag."
    import shutil
    from PIL import Image, ImageFilter
    d = tmp_path_factory.mktemp('planted')/'images'
    shutil.copytree(few, d, ignore=shutil.ignore_patterns('.*'))  # not the shards an earlier test left in .fastdupe
    src = sorted(p for p in d.iterdir() if p.is_file())[0]
    with Image.open(src) as im:
        im.convert('RGB').filter(ImageFilter.GaussianBlur(4)).save(d/'blurred.jpg')
        im.convert('RGB').point(lambda v: v//12).save(d/'dark.jpg')
    return d

def _issues(res): return res.health.issue_names()

def test_cluster_health_from_the_shards(planted, client, tmp_path):
    """find_duplicates(client=, health=True): each shard's task measures health from its own decode and keeps the
    measures in the shard; the issues are the single-process run's. Shards made without health are not taken for
    shards with it."""
    import pyarrow.parquet as pq
    single = find_duplicates(planted, progress=False, health=True)
    assert {'blurry', 'dark'} <= {i for v in _issues(single).values() for i in v.split(';') if i}
    shards = tmp_path/'shards'
    plain = find_duplicates(planted, client=client, shards=shards, progress=False)
    assert plain.health is None
    without = {p.name for p in shards.glob('shard-*')}
    res = find_duplicates(planted, client=client, shards=shards, progress=False, health=True)
    withh = {p.name for p in shards.glob('shard-*')} - without
    assert withh and all('health' in pq.read_schema(shards/n).names for n in withh)
    assert all('health' not in pq.read_schema(shards/n).names for n in without)
    assert _issues(res) == _issues(single)
    assert res.health.rows() == single.health.rows()
    assert [r['issues'] for r in res.rows()] == [r['issues'] for r in single.rows()]
    stamp = {p: p.stat().st_mtime_ns for p in shards.glob('shard-*')}
    again = find_duplicates(planted, client=client, shards=shards, progress=False, health=True)  # every shard there
    assert {p: p.stat().st_mtime_ns for p in shards.glob('shard-*')} == stamp
    assert again.health.rows() == single.health.rows()
    # the command line: fastdupe find --scheduler local:2 --health writes the single-process issues column
    from conftest import run_cli
    single.save(tmp_path/'single.csv')
    r = run_cli('find', planted, '--scheduler', 'local:2', '--shards', tmp_path/'cli', '--health',
                '--out', tmp_path/'c.csv', '--quiet')
    assert r.returncode == 0, r.stderr
    import pandas as pd
    cols = lambda fn: pd.read_csv(fn, keep_default_na=False)[['path', 'issues']].values.tolist()
    assert cols(tmp_path/'c.csv') == cols(tmp_path/'single.csv')
