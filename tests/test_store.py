"""The fingerprint store as a user meets it: real SQLite files, real photos, real processes.

`fastdupe index` (incremental, nothing decoded twice, image files untouched), `find --db` (the same groups as
without), `fastdupe query` (the pairs `find NEW --against ROOT` reports), `kill -9` at random moments of an index
run (integrity every time, the same final groups as an uninterrupted run), a second writer, readers during a
write, bad databases (not SQLite, newer, another program's, read-only, a folder that moved), and every option
combination of the two new commands without a traceback."""
import contextlib, csv, io, json, os, random, shutil, signal, sqlite3, subprocess, sys, time, traceback
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from hypothesis import given, settings, strategies as st, HealthCheck, example, event
from conftest import run_cli, SAMPLE, ROOT
from fastdupe.cli import main
from fastdupe.store import Store, StoreError, DEFAULT_DB, SCHEMA_VERSION
from fastdupe.pipeline import find_duplicates

ENV = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])}

def fastdupe_cmd(*args) -> list[str]:
    exe = shutil.which('fastdupe')
    return [exe, *map(str, args)] if exe else [sys.executable, '-c', 'from fastdupe.cli import _console; _console()', *map(str, args)]

def cli(*args, timeout=600):
    return subprocess.run(fastdupe_cmd(*args), capture_output=True, text=True, timeout=timeout, env=ENV)

def run_main(argv):
    "`fastdupe` in this process: (exit code, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()

def one_error(err:str) -> str:
    lines = [l for l in err.splitlines() if 'error:' in l]
    assert len(lines) == 1 and 'Traceback' not in err, err
    return lines[0]

def integrity(db) -> str:
    with contextlib.closing(sqlite3.connect(db)) as c:
        assert c.execute('PRAGMA foreign_key_check').fetchall() == []
        return c.execute('PRAGMA integrity_check').fetchone()[0]

def digest_tree(root, skip='.fastdupe'):
    import hashlib
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(root).rglob('*'))
            if p.is_file() and skip not in p.parts}

def group_sets(res) -> set:
    return {frozenset((res.paths[k].name, g.action(k)) for k in g.members) for g in res.groups}

@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    "Real photos with known transformed copies (fastdupe.eval.build_benchmark), about 90 images."
    from fastdupe.eval import PIP_SOURCES, build_benchmark
    d = tmp_path_factory.mktemp('bench')
    build_benchmark(d, n_originals=8, seed=1, sources=PIP_SOURCES)  # the same photos on every machine
    return d/'images'

@pytest.fixture
def photos(tmp_path):
    shutil.copytree(SAMPLE, tmp_path/'photos')
    return tmp_path/'photos'

def test_index_incremental_and_files_untouched(photos, tmp_path):
    before = digest_tree(photos)
    r = cli('index', photos)
    assert r.returncode == 0, r.stderr
    assert '15 images (15 new, 0 changed, 0 unchanged, 0 removed); 15 read' in r.stdout, r.stdout
    db = photos/DEFAULT_DB
    assert integrity(db) == 'ok'
    r = cli('index', photos)
    assert '(0 new, 0 changed, 15 unchanged, 0 removed); 0 read' in r.stdout, r.stdout
    # new, changed bytes, touched (same bytes), renamed (same bytes under a new name), deleted
    Image.open(photos/'coffee.jpg').resize((300, 200)).save(photos/'coffee small.jpg', quality=80)
    Image.open(photos/'rocket.jpg').rotate(180).save(photos/'rocket.jpg')
    os.utime(photos/'clock.jpg', ns=(time.time_ns(), time.time_ns() + 10**9))
    os.rename(photos/'camera.png', photos/'camera renamed.png')
    (photos/'retina.jpg').unlink()
    r = cli('index', photos)
    assert r.returncode == 0, r.stderr
    # 1 new + 1 renamed are new paths; rocket and clock changed; retina and the old camera name removed;
    # only the new image and rocket are decoded: the touched and the renamed file are recognised by their bytes
    assert '15 images (2 new, 2 changed, 11 unchanged, 2 removed); 2 read' in r.stdout, r.stdout
    with Store(db, readonly=True) as s:
        rows = dict(s.con.execute('SELECT path, size FROM files').fetchall())
        assert 'retina.jpg' not in rows and 'camera renamed.png' in rows and len(rows) == 15
        n_vec = s.con.execute('SELECT count(*) FROM vectors').fetchone()[0]
        assert n_vec == 15
    assert integrity(db) == 'ok'
    after = digest_tree(photos)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {'coffee small.jpg', 'rocket.jpg', 'camera.png', 'camera renamed.png', 'retina.jpg'}  # only our own edits

def test_unchanged_run_needs_no_model(photos):
    assert cli('index', photos).returncode == 0
    code = ("import sys; from fastdupe.cli import main; rc = main(['index', sys.argv[1], '--quiet']); "
            "print('torch' in sys.modules, rc)")
    r = subprocess.run([sys.executable, '-c', code, str(photos)], capture_output=True, text=True, env=ENV)
    assert r.stdout.strip().endswith('False 0'), (r.stdout, r.stderr)
    assert '0 read' in r.stdout

@pytest.mark.parametrize('method', ['fused', 'cnn', 'phash', 'combined', 'exact'])
def test_find_db_same_groups(bench, tmp_path, method):
    plain = find_duplicates(bench, method, progress=False, n_workers=0)
    db = tmp_path/'cache.db'
    cold = find_duplicates(bench, method, progress=False, n_workers=0, db=db)
    with Store(db) as s:
        warm = find_duplicates(bench, method, progress=False, n_workers=0, db=s)
        assert len(s._read) == 0  # nothing decoded the second time
    for r in (cold, warm):
        assert group_sets(r) == group_sets(plain), method
        # the same distances (cosine ones to float32 rounding: a batch of another size may change the last bits)
        tol = 1e-5 if method in ('fused', 'cnn') else 0
        assert all(np.allclose(a.dist, b.dist, rtol=0, atol=tol) for a, b in zip(r.groups, plain.groups))
        assert r.infos == plain.infos and [str(b) for b in r.bad] == [str(b) for b in plain.bad]
    assert len(plain.groups) >= 5
    assert integrity(db) == 'ok'

def test_find_db_cli_and_option_checks(bench, tmp_path):
    a, b = tmp_path/'a.csv', tmp_path/'b.csv'
    r1 = cli('find', bench, '--method', 'phash', '--db', tmp_path/'c.db', '--out', a, '--quiet')
    r2 = cli('find', bench, '--method', 'phash', '--out', b, '--quiet')
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert a.read_text() == b.read_text()
    # a store of another folder: the images are outside it
    other = tmp_path/'other'; other.mkdir(); shutil.copy(SAMPLE/'coffee.jpg', other)
    assert cli('index', other, '--db', tmp_path/'other.db', '--method', 'phash').returncode == 0
    r = cli('find', bench, '--method', 'phash', '--db', tmp_path/'other.db')
    assert r.returncode == 2 and 'outside' in one_error(r.stderr)

def test_query_is_find_against(bench, tmp_path):
    "Store.query gives the pairs find_duplicates(new, against=root) gives, for the model and hash methods."
    files = sorted(bench.iterdir())
    root, new = tmp_path/'root', tmp_path/'new'
    root.mkdir(); new.mkdir()
    for k, f in enumerate(files): shutil.copy(f, (new if k % 4 == 0 else root)/f.name)
    db = tmp_path/'s.db'
    with Store(db, root=root) as s:
        for method in ('phash', 'combined', 'exact', 'fused'):
            s.update(method, progress=False, n_workers=0)
            res = s.query(new, k=100)
            fd = find_duplicates(new, method, against=root, progress=False, n_workers=0)
            want = {(fd.paths[i].name, fd.paths[j].name): float(d) for i, j, d in fd.pairs}
            want = {((a, b) if (new/a).exists() else (b, a)): d for (a, b), d in want.items()}
            got = {(q.name, p.name): float(d) for q, ms in zip(res.queries, res.matches) for p, d in ms}
            assert set(got) == set(want), (method, set(got) ^ set(want))
            # the same distances (cosine ones to float32 rounding: a batch of another size may change the last bits)
            assert all(abs(got[ab] - want[ab]) <= (1e-5 if method == 'fused' else 0) for ab in got), method
            assert all([d for _, d in ms] == sorted(d for _, d in ms) for ms in res.matches)
            if method in ('fused', 'phash'): assert len(got) >= 5, method
    assert integrity(db) == 'ok'

def test_query_cli(photos, tmp_path):
    assert cli('index', photos).returncode == 0
    db = photos/DEFAULT_DB
    q = tmp_path/'q'; q.mkdir()
    Image.open(photos/'coffee.jpg').resize((240, 160)).save(q/'coffee upload.jpg', quality=50)
    Image.open(photos/'hubble.jpg').transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(q/'hubble mirrored.jpg')
    from skimage import data as skdata
    Image.fromarray(skdata.immunohistochemistry()).save(q/'cells.jpg')
    (q/'notes.jpg').write_text('not a picture')
    r = cli('query', q, '--db', db, '--out', tmp_path/'m.csv')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'m.csv', encoding='utf-8')))
    assert list(rows[0]) == ['query', 'path', 'distance']
    by = {}
    for row in rows: by.setdefault(Path(row['query']).name, []).append((float(row['distance']), Path(row['path']).name))
    assert {n for _, n in by['coffee upload.jpg']} == {'coffee.jpg', 'café copy 1.jpg', 'coffee recompressed.jpg'}
    assert {n for _, n in by['hubble mirrored.jpg']} >= {'hubble.jpg'}
    assert 'cells.jpg' not in by and all(v == sorted(v) for v in by.values())
    assert 'notes.jpg: not an image' in r.stdout and 'cells.jpg: no match' in r.stdout
    rc, out, err = run_main(['query', q/'coffee upload.jpg', '--db', db, '--k', '1', '--out', tmp_path/'m.json', '--quiet'])
    js = json.loads((tmp_path/'m.json').read_text())
    assert len(js['rows']) == 1 and js['method'] == 'fused' and js['summary']['matches'] == 1
    # an indexed image is not its own duplicate; a stricter threshold finds fewer
    rc, out, err = run_main(['query', photos/'coffee.jpg', '--db', db, '--out', tmp_path/'own.csv'])
    own = [Path(x['path']).name for x in csv.DictReader(open(tmp_path/'own.csv', encoding='utf-8'))]
    assert 'coffee.jpg' not in own and 'café copy 1.jpg' in own
    rc, out, err = run_main(['query', q, '--db', db, '--method', 'phash', '--threshold', '4'])
    assert rc == 2 and 'holds no phash fingerprints' in one_error(err)
    # --add: only images under the folder; then they are found
    rc, out, err = run_main(['query', q/'cells.jpg', '--db', db, '--add'])
    assert rc == 2 and 'outside' in one_error(err)
    shutil.copy(q/'cells.jpg', photos/'cells.jpg')
    assert run_main(['query', photos/'cells.jpg', '--db', db, '--add'])[0] == 0
    rc, out, err = run_main(['query', q/'cells.jpg', '--db', db])
    assert 'cells.jpg: 1 match' in out and str(photos/'cells.jpg') in out, out
    assert integrity(db) == 'ok'

def test_kill9_during_index(bench, tmp_path):
    "kill -9 at 10 random moments of `fastdupe index` (while the folder changes between runs): integrity every time, and the final groups of an uninterrupted run."
    rng = random.Random(11)
    files = sorted(bench.iterdir())
    root, reserve = tmp_path/'photos', tmp_path/'reserve'
    root.mkdir(); reserve.mkdir()
    for k, f in enumerate(files): shutil.copy(f, (root if k % 2 else reserve)/f.name)
    db = tmp_path/'store.db'
    def readings():
        if not db.exists(): return 0
        try:
            with contextlib.closing(sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=30)) as c:
                return c.execute('SELECT count(*) FROM readings').fetchone()[0]
        except sqlite3.Error: return 0  # not created yet
    kills = runs = 0
    while kills < 10 and runs < 30:
        runs += 1
        for f in sorted(reserve.iterdir())[:8]: shutil.move(f, root/f.name)                   # new images
        for f in rng.sample(sorted(root.iterdir()), 3): shutil.move(f, reserve/f.name)         # deleted ones
        victim = rng.choice(sorted(root.iterdir()))
        Image.open(victim).convert('RGB').save(victim, 'PNG' if victim.suffix == '.png' else 'JPEG', quality=70)  # changed bytes
        n0 = readings()
        p = subprocess.Popen(fastdupe_cmd('index', root, '--db', db, '--batch', '3', '--quiet'), env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if runs % 3 == 0: time.sleep(rng.uniform(0.2, 5))  # any moment from the start: imports, listing, the model, writing
        else:  # a moment while it writes its batches
            t0 = time.time()
            while p.poll() is None and readings() == n0 and time.time() - t0 < 120: time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.8))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL); kills += 1
        p.wait()
        assert p.returncode in (0, -signal.SIGKILL), p.stderr.read()
        if db.exists(): assert integrity(db) == 'ok', f'after run {runs}'
    assert kills == 10, (kills, runs)
    r = cli('index', root, '--db', db, '--batch', '3')
    assert r.returncode == 0 and integrity(db) == 'ok', r.stderr
    assert cli('index', root, '--db', tmp_path/'fresh.db').returncode == 0  # uninterrupted
    with Store(db, readonly=True) as a, Store(tmp_path/'fresh.db', readonly=True) as b:
        q = 'SELECT path, size, digest, width, height FROM files ORDER BY path'
        assert a.con.execute(q).fetchall() == b.con.execute(q).fetchall()
        q = 'SELECT count(*), count(bad) FROM readings'
        assert a.con.execute(q).fetchone() == b.con.execute(q).fetchone()
        q = 'SELECT f.path, h.kind, h.value FROM hashes h JOIN files f ON f.id = h.file_id ORDER BY 1, 2'
        assert a.con.execute(q).fetchall() == b.con.execute(q).fetchall()
    killed, fresh = (find_duplicates(root, progress=False, n_workers=0, db=d) for d in (db, tmp_path/'fresh.db'))
    plain = find_duplicates(root, progress=False, n_workers=0)
    assert group_sets(killed) == group_sets(fresh) == group_sets(plain) and len(plain.groups) >= 3
    # the saved index agrees with the rows: queries give what find --against gives
    with Store(db, readonly=True) as s:
        res = s.query(reserve, k=100)
    # with the method the store was indexed with (`options.INDEX_METHOD`), which the query uses
    fd = find_duplicates(reserve, res.method, against=root, progress=False, n_workers=0)
    want = {frozenset((fd.paths[i].name, fd.paths[j].name)) for i, j, _ in fd.pairs}
    assert {frozenset((q.name, p.name)) for q, ms in zip(res.queries, res.matches) for p, _ in ms} == want and len(res.queries) >= 3

def test_writer_killed_while_its_hashing_processes_live(photos, tmp_path):
    "A writer killed by SIGKILL while processes it forked still run: the lock ends with it, the next writer goes on."
    db = tmp_path/'s.db'
    code = (f"import multiprocessing as mp, os, signal, time\nfrom fastdupe.store import Store\n"
            f"s = Store({str(db)!r}, root={str(photos)!r})\n"
            "with s.writing():\n"
            "    pool = mp.get_context('fork').Pool(2); pool.map_async(time.sleep, [60, 60])\n"
            "    time.sleep(1); print('forked', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True, env=ENV)
    assert p.stdout.readline().strip() == 'forked'
    p.wait()
    assert p.returncode == -signal.SIGKILL
    with Store(db) as s, s.writing(): pass  # not 'being written by another fastdupe'

def test_second_writer_and_readers(bench, tmp_path):
    root = tmp_path/'photos'; shutil.copytree(bench, root)
    db = tmp_path/'s.db'
    assert cli('index', root, '--db', db, '--method', 'phash').returncode == 0
    code = (f"from fastdupe.store import Store; import time\ns = Store({str(db)!r})\n"
            "with s.writing(): print('locked', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        r = cli('index', root, '--db', db)
        assert r.returncode == 2 and f'being written by another fastdupe (process {holder.pid})' in one_error(r.stderr)
        r = cli('query', sorted(root.iterdir())[0], '--db', db)  # a reader is not stopped by the writer
        assert r.returncode == 0, r.stderr
    finally: holder.kill(); holder.wait()
    # readers while `fastdupe index` really writes: every query answers, from a consistent state
    p = subprocess.Popen(fastdupe_cmd('index', root, '--db', db, '--method', 'fused', '--batch', '4', '--quiet'), env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    answered = 0
    try:
        while p.poll() is None:
            with Store(db, readonly=True) as s:
                res = s.query(sorted(root.iterdir())[answered % 5], method='phash')
                assert res.queries and integrity(db) == 'ok'
            answered += 1
    finally: p.wait()
    assert p.returncode == 0 and answered >= 2, (answered, p.stderr.read())

def test_bad_databases(photos, tmp_path):
    (tmp_path/'text.db').write_text('this is not a database\n' * 200)
    for cmd in (['index', photos, '--db', tmp_path/'text.db'], ['query', photos/'coffee.jpg', '--db', tmp_path/'text.db'],
                ['find', photos, '--db', tmp_path/'text.db', '--method', 'phash']):
        rc, out, err = run_main(cmd)
        assert rc == 2 and 'not an SQLite file' in one_error(err), (cmd, err)
    with contextlib.closing(sqlite3.connect(tmp_path/'app.db')) as c: c.execute('CREATE TABLE notes(x)'); c.commit()
    rc, out, err = run_main(['index', photos, '--db', tmp_path/'app.db'])
    assert rc == 2 and 'another program' in one_error(err)
    assert run_main(['index', photos, '--method', 'phash'])[0] == 0
    db = photos/DEFAULT_DB
    with contextlib.closing(sqlite3.connect(tmp_path/'newer.db')) as c, contextlib.closing(sqlite3.connect(db)) as src:
        src.backup(c); c.execute(f'PRAGMA user_version = {SCHEMA_VERSION + 1}'); c.commit()
    rc, out, err = run_main(['query', photos/'coffee.jpg', '--db', tmp_path/'newer.db'])
    assert rc == 2 and 'newer fastdupe' in one_error(err) and 'upgrade' in err
    rc, out, err = run_main(['query', photos/'coffee.jpg', '--db', tmp_path/'missing.db'])
    assert rc == 2 and 'no database there' in one_error(err)
    rc, out, err = run_main(['index', photos, '--db', tmp_path])
    assert rc == 2 and 'is a folder' in one_error(err)
    rc, out, err = run_main(['index', tmp_path/'elsewhere', '--db', db])
    assert rc == 1 and 'does not exist' in one_error(err)
    (tmp_path/'elsewhere').mkdir()
    rc, out, err = run_main(['index', tmp_path/'elsewhere', '--db', db])
    assert rc == 2 and 'another folder' in one_error(err)

def test_moved_folder(photos, tmp_path):
    outside = tmp_path/'outside.db'
    assert run_main(['index', photos, '--method', 'phash'])[0] == 0                 # a store inside the folder
    assert run_main(['index', photos, '--db', outside, '--method', 'phash'])[0] == 0  # and one kept elsewhere
    moved = tmp_path/'moved'/'photos again'
    moved.parent.mkdir(); shutil.move(photos, moved)
    # inside: it moved with the folder, nothing is read again
    rc, out, err = run_main(['index', moved])
    assert rc == 0 and '0 read' in out and not err, (out, err)
    # elsewhere: queries still answer (with a note), find says what to do, index is told the new place
    rc, out, err = run_main(['query', moved/'coffee.jpg', '--db', outside])
    assert rc == 0 and 'note:' in err and 'is missing' in err and 'error' not in err and 'café copy 1.jpg' in out, (out, err)
    rc, out, err = run_main(['find', moved, '--db', outside, '--method', 'phash'])
    assert rc == 2 and 'is missing' in one_error(err) and 'fastdupe index NEW_PLACE' in err
    rc, out, err = run_main(['index', moved, '--db', outside])
    assert rc == 0 and 'note:' in err and str(photos) in err and '0 read' in out and '0 removed' in out, (out, err)
    rc, out, err = run_main(['find', moved, '--db', outside, '--method', 'phash', '--quiet'])
    assert rc == 0 and 'groups: 5' in out

@pytest.mark.skipif(not hasattr(os, 'geteuid'), reason='needs POSIX users')
def test_read_only_database_for_index(photos, tmp_path):
    assert run_main(['index', photos, '--method', 'phash'])[0] == 0
    db = photos/DEFAULT_DB
    for p in (tmp_path, *tmp_path.parents):
        if p in (Path('/tmp'), Path('/')): break
        os.chmod(p, 0o755)
    for f in db.parent.iterdir(): os.chmod(f, 0o444 if f.is_file() else 0o555)
    os.chmod(db.parent, 0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root: os.seteuid(65534)  # root writes anything: act as nobody
        try:
            rc, out, err = run_main(['index', photos])
            rq, qout, qerr = run_main(['query', photos/'coffee.jpg', '--db', db])
        finally:
            if as_root: os.seteuid(0)
    finally:
        os.chmod(db.parent, 0o755)
        for f in db.parent.iterdir(): os.chmod(f, 0o644 if f.is_file() else 0o755)
    assert rc == 2 and 'read-only' in one_error(err), err
    assert rq == 0 and 'café copy 1.jpg' in qout, (qout, qerr)  # reading a read-only store works
    assert integrity(db) == 'ok'

def test_saved_index_rebuilt_when_stale_or_damaged(photos, tmp_path):
    assert run_main(['index', photos])[0] == 0
    db = photos/DEFAULT_DB
    idx = db.with_name(db.name + '.index')
    saved = [d for d in idx.glob('*/v*')]
    assert len(saved) == 1
    (saved[0]/'vectors').write_bytes(b'garbage')                     # a damaged index: rebuilt from the rows
    rc, out, err = run_main(['query', photos/'coffee.jpg', '--db', db])
    assert rc == 0 and 'café copy 1.jpg' in out
    # find --db adds an image: the saved index is behind the rows, and the next query sees the new image anyway
    Image.open(photos/'coffee.jpg').resize((320, 213)).save(photos/'coffee 320.jpg', quality=85)
    assert run_main(['find', photos, '--db', db, '--quiet'])[0] == 0
    rc, out, err = run_main(['query', photos/'coffee.jpg', '--db', db])
    assert 'coffee 320.jpg' in out, out
    shutil.rmtree(idx)                                                 # gone: rebuilt
    rc, out, err = run_main(['index', photos])
    assert rc == 0 and '0 read' in out and len(list(idx.glob('*/v*'))) == 1

def test_model_key_keeps_models_apart(photos, tmp_path):
    db = tmp_path/'s.db'
    with Store(db, root=photos) as s:
        s.update('fused', progress=False)
        s._read = set()
        base = s.con.execute('SELECT count(*) FROM vectors').fetchone()[0]
        keys = s.con.execute('SELECT DISTINCT model FROM vectors').fetchall()
        f = s.image_features(photos, tta='flip', progress=False)           # another preprocessing: its own vectors
        assert len(s._read) == 15 and len(f) == 15
        assert s.con.execute('SELECT count(*) FROM vectors').fetchone()[0] == 2*base
        assert len(s.con.execute('SELECT DISTINCT model FROM vectors').fetchall()) == 2 and len(keys) == 1
        from fastdupe.features import image_features
        test = image_features(sorted(photos.glob('*.jpg'))[:3], tta='flip', progress=False)
        s._read = set()
        again = s.image_features(sorted(photos.glob('*.jpg'))[:3], tta='flip', progress=False)
        assert len(s._read) == 0 and np.abs(again.vectors - test.vectors).max() < 1e-5

def test_imports_stay_light():
    r = subprocess.run([sys.executable, '-c', "import sys, fastdupe.store, fastdupe.cli; "
                        "print(sorted(m for m in ('torch', 'sklearn', 'pandas', 'fastai') if m in sys.modules))"],
                       capture_output=True, text=True, env=ENV)
    assert r.stdout.strip() == '[]', r.stdout + r.stderr

def _mostly(valid:list, odd:list):
    "Valid values most of the time (so that many combinations get to run), odd ones sometimes."
    return st.sampled_from(valid*3 + odd)

ARGS = st.fixed_dictionaries({
    'command': st.sampled_from(['index', 'query', 'find']),
    'target': _mostly(['photos', 'photos/coffee.jpg'], ['missing', 'text.db']),
    'db': _mostly(['good.db', None, 'new.db'], ['text.db', 'missing/x.db', 'photos']),
    'method': _mostly([None, 'fused', 'phash', 'cnn', 'exact', 'combined'], ['md5']),
    'threshold': _mostly([None, '0', '0.7', '3', '10'], ['64', '65', '-1', 'nan', 'x']),
    'k': _mostly([None, '1', '3'], ['0', '-2', 'x']),
    'turns': st.booleans(),
    'index': _mostly([None, 'exact', 'annoy'], ['bogus']),
    'batch': _mostly([None, '2'], ['0', 'x']),
    'out': _mostly([None, 'o.csv', 'o.json'], ['o.txt', 'nowhere/o.csv']),
    'add': st.booleans(),
    'workers': _mostly([None, '0'], ['-1']),
})

@pytest.fixture(scope='module')
def option_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp('options')
    photos = d/'photos'; photos.mkdir()
    for n in ('coffee.jpg', 'café copy 1.jpg', 'rocket.jpg', 'rocket small.jpg'): shutil.copy(SAMPLE/n, photos/n)
    (d/'text.db').write_text('not sqlite\n' * 50)
    with Store(d/'good.db', root=photos) as s: s.update('phash', progress=False, n_workers=0)
    return d

@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(a=ARGS)
def test_index_and_query_option_combinations(option_dir, a):
    d = option_dir
    argv = [a['command'], str(d/a['target'])]
    if a['db'] is not None: argv += ['--db', str(d/a['db'])]
    for k in ('method', 'workers'):
        if a[k] is not None: argv += [f'--{k}', a[k]]
    if a['command'] == 'find':
        for k in ('threshold', 'out'):
            if a[k] is not None: argv += [f'--{k}', a[k] if k != 'out' else str(d/a[k])]
    elif a['command'] == 'index':
        for k in ('index', 'batch'):
            if a[k] is not None: argv += [f'--{k}', a[k]]
        if a['turns']: argv.append('--turns')
    else:
        for k in ('k', 'threshold'):
            if a[k] is not None: argv += [f'--{k}', a[k]]
        if a['out'] is not None: argv += ['--out', str(d/a['out'])]
        if a['add']: argv.append('--add')
    argv.append('--quiet')
    with contextlib.suppress(FileNotFoundError): os.remove(d/'new.db')
    shutil.rmtree(d/'photos'/'.fastdupe', ignore_errors=True)
    try: rc, out, err = run_main(argv)
    except Exception: pytest.fail(f"traceback for {argv}:\n{traceback.format_exc()}")
    assert 'Traceback' not in out + err, argv
    if rc == 0: assert 'error:' not in err, (argv, err)
    else:
        assert rc in (1, 2), (argv, rc, err)
        lines = [l for l in err.splitlines() if 'error:' in l]
        assert len(lines) == 1 and len(lines[0]) > len('fastdupe: error: ') + 5, (argv, err)
    assert integrity(d/'good.db') == 'ok'

NAME = b'caf\xe9 copy.jpg'  # Latin-1 bytes: a legal file name on Linux that is not UTF-8

def cli_bytes(*args):
    "`fastdupe ARGS` in a real process, each argument as its bytes, on a UTF-8 stdout that refuses what is not UTF-8."
    cmd = [os.fsencode(a) if not isinstance(a, bytes) else a for a in fastdupe_cmd(*[os.fsdecode(a) for a in args])]
    return subprocess.run(cmd, capture_output=True, timeout=600, env={**ENV, 'PYTHONIOENCODING': 'utf-8'})

def damage_page(db:Path, table:str):
    "Garbage over one page in the middle of a real store, as tests/test_safety_data.py does: the root page of `table`."
    assert not Path(f'{db}-wal').exists() or Path(f'{db}-wal').stat().st_size == 0
    with contextlib.closing(sqlite3.connect(db)) as c:
        page = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        pages = c.execute('PRAGMA page_count').fetchone()[0]
    assert 1 < page < pages, (table, page, pages)  # neither the header page nor the last one
    raw = bytearray(db.read_bytes())
    size = int.from_bytes(raw[16:18], 'big')
    raw[(page-1)*size:page*size] = bytes(range(256))*(size//256)
    db.write_bytes(bytes(raw))

def result_names(fn:Path) -> list[bytes]:
    "The file names (as bytes) in a CSV or JSON that `find` or `query` wrote."
    if fn.suffix == '.json': rows = json.loads(fn.read_bytes().decode('utf-8'))['rows']  # valid UTF-8 JSON
    else:
        with open(fn, newline='', encoding='utf-8', errors='surrogateescape') as f: rows = list(csv.DictReader(f))
    return sorted(os.fsencode(Path(r['path']).name) for r in rows)

STORE_DATA = st.fixed_dictionaries({
    'non_utf8': st.booleans(),  # the folder holds a byte copy of coffee.jpg under NAME
    'damaged': st.sampled_from([None, None, 'files', 'readings', 'hashes', 'files_by_digest']),  # None: a healthy store
    'command': st.sampled_from(['index', 'find', 'query']),
    'method': st.sampled_from(['phash', 'ahash', 'dhash', 'combined', 'exact']),
    'db': st.sampled_from(['default', 'beside']),  # PATH/.fastdupe/store.db, or a file outside the folder
    'target': st.sampled_from(['coffee.jpg', NAME]),  # what `query` asks about (NAME only when it is there)
    'out': st.sampled_from(['o.csv', 'o.json']),
})

def _case(command, damaged, non_utf8=True, target=NAME, out='o.csv', method='phash', db='default'):
    return example(a=dict(non_utf8=non_utf8, damaged=damaged, command=command, method=method, db=db, target=target,
                          out=out))

@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(a=STORE_DATA)
@_case('query', 'files', target='coffee.jpg', out='o.json')  # the cases that matter most, whatever else is drawn
@_case('find', 'files_by_digest', db='beside')
@_case('index', 'readings', method='exact')
def test_non_utf8_names_and_damaged_stores_option_combinations(tmp_path_factory, a):
    """Never a traceback; a damaged store is named with the way to rebuild it, and `--rebuild` recovers; a name that is
    not UTF-8 is indexed and comes back, the same bytes, from `find --db` and `query`."""
    event(f"{a['command']}, {'damaged ' + a['damaged'] if a['damaged'] else 'healthy'}, "
          f"{'a name not UTF-8' if a['non_utf8'] else 'UTF-8 names'}")
    d = tmp_path_factory.mktemp('store_data')
    photos = d/'photos'; photos.mkdir()
    for n in ('coffee.jpg', 'rocket.jpg', 'clock.jpg'): shutil.copy(SAMPLE/n, photos/n)
    if a['non_utf8']: shutil.copy(photos/'coffee.jpg', os.fsencode(photos) + b'/' + NAME)
    db = photos/DEFAULT_DB if a['db'] == 'default' else d/'beside.db'
    where = [] if a['db'] == 'default' else ['--db', db]
    rc, out, err = run_main(['index', photos, *where, '--method', a['method'], '--workers', '0', '--quiet'])
    assert rc == 0 and integrity(db) == 'ok', err
    by_name = a['target'] == NAME and a['non_utf8']  # query the file named NAME itself
    target = os.fsencode(photos) + b'/' + NAME if by_name else photos/'coffee.jpg'
    o = d/a['out']
    argv = {'index': ['index', photos, *where, '--workers', '0'],
            'find': ['find', photos, '--db', db, '--method', a['method'], '--out', o, '--workers', '0'],
            'query': ['query', target, '--db', db, '--out', o]}[a['command']]
    if a['damaged']:
        damage_page(db, a['damaged'])
        r = cli_bytes(*argv)
        err = r.stderr.decode('utf-8', 'surrogateescape')
        lines = [l for l in err.splitlines() if 'error:' in l]
        assert b'Traceback' not in r.stdout + r.stderr and len(lines) == 1, (a, err)
        assert r.returncode in (1, 2) and str(db) in lines[0] and 'damaged' in lines[0], (a, lines)
        assert 'fastdupe index' in lines[0] and '--rebuild' in lines[0], (a, lines)
        assert not o.exists()  # no output from a store that cannot be trusted
        r = cli_bytes('index', photos, *where, '--rebuild', '--workers', '0')
        assert r.returncode == 0 and b'rebuilt' in r.stdout and b'Traceback' not in r.stderr, (a, r.stdout + r.stderr)
        assert integrity(db) == 'ok'
        assert not [p for p in db.parent.iterdir() if 'rebuild' in p.name]  # nothing left beside it
    r = cli_bytes(*argv)
    assert r.returncode == 0 and b'Traceback' not in r.stdout + r.stderr, (a, r.stderr)
    assert b'error:' not in r.stderr, (a, r.stderr)
    with contextlib.closing(sqlite3.connect(db)) as c:
        stored = {p if isinstance(p, bytes) else os.fsencode(p) for (p,) in c.execute('SELECT path FROM files')}
    assert stored == {b'coffee.jpg', b'rocket.jpg', b'clock.jpg'} | ({NAME} if a['non_utf8'] else set()), (a, stored)
    if a['command'] == 'find':
        assert result_names(o) == (sorted([b'coffee.jpg', NAME]) if a['non_utf8'] else []), a
    elif a['command'] == 'query':
        want = [] if not a['non_utf8'] else [b'coffee.jpg'] if by_name else [NAME]
        assert result_names(o) == want, a
        if a['non_utf8']: assert os.fsencode(photos) + b'/' + want[0] in r.stdout  # printed as its bytes, as ls does
    shutil.rmtree(d)

def test_cache_key_code_resolves():
    "Every entry of the code the cache keys hash is a live object with its source: a rename fails, never 'missing'."
    import inspect
    from fastdupe import cachekeys as C
    for kind, (code, _) in C.CODE.items():
        entries = code()
        assert entries and len({id(o) for o in entries}) == len(entries), kind
        for o in entries:
            assert o is not None and not isinstance(o, str), (kind, o)
            if callable(o): assert inspect.getsource(o).lstrip().startswith(('def', 'class', '@')), C._label(o)
        assert len(C.code_digest(kind)) == 8
    assert 'keypoints._orb' in {C._label(o) for o in C.vector_code()}  # image_keypoints' helpers come with it
