"""Data safety (issue 24, C2), as a user meets it through real `fastdupe` processes: file names that are not UTF-8
(legal on Linux) kept byte for byte in every output, a store with one damaged page, a folder that cannot be listed,
and byte-identical copies of a flat image."""
import contextlib, csv, json, os, shutil, sqlite3, subprocess, sys
from pathlib import Path
import pytest
from PIL import Image
from conftest import run_cli, SAMPLE, ROOT
from fastdupe.store import DEFAULT_DB

NAME = b'caf\xe9 copy.jpg'  # Latin-1 bytes: not UTF-8
STRICT = {**os.environ, 'PYTHONIOENCODING': 'utf-8'}  # a UTF-8 terminal whose stdout refuses what is not UTF-8

def cli(*args, env=None):
    exe = shutil.which('fastdupe')
    cmd = [exe, *map(os.fsencode, args)] if exe else [sys.executable, '-m', 'fastdupe.cli', *map(os.fsencode, args)]
    return subprocess.run(cmd, capture_output=True, cwd=None, timeout=600, env=env or STRICT)

def text(b:bytes) -> str: return b.decode('utf-8', 'surrogateescape')

def one_error(r) -> str:
    err = text(r.stderr)
    lines = [l for l in err.splitlines() if 'error:' in l]
    assert 'Traceback' not in err + text(r.stdout) and len(lines) == 1, err
    return lines[0]

def read_csv(fn) -> list[dict]:
    with open(fn, newline='', encoding='utf-8', errors='surrogateescape') as f: return list(csv.DictReader(f))

@pytest.fixture
def photos(tmp_path):
    "Three photos and, under a name that is not UTF-8, a byte copy of one of them."
    d = tmp_path/'photos'; d.mkdir()
    for n in ('coffee.jpg', 'rocket.jpg', 'clock.jpg'): shutil.copy(SAMPLE/n, d/n)
    shutil.copy(d/'coffee.jpg', os.fsencode(d) + b'/' + NAME)
    return d

def test_non_utf8_name_in_csv_json_report_and_back(photos, tmp_path):
    out, rep = tmp_path/'o.csv', tmp_path/'r.html'
    r = cli('find', photos, '--method', 'phash', '--out', out, '--report', rep)
    assert r.returncode == 0 and b'Traceback' not in r.stderr, text(r.stderr)
    assert os.fsencode(photos) + b'/' + NAME in r.stdout  # printed as its bytes, as ls prints it
    raw = out.read_bytes()
    assert b'/' + NAME + b',' in raw  # the CSV holds the name's own bytes, whole (not truncated)
    rows = read_csv(out)
    assert len(rows) == 2 and all(Path(row['path']).is_file() for row in rows), rows
    assert {os.fsencode(Path(row['path']).name) for row in rows} == {b'coffee.jpg', NAME}
    assert {row['match'] for row in rows} == {'', 'exact'}
    page = rep.read_bytes().decode('utf-8')  # valid UTF-8 HTML, not empty, the name shown with a visible escape
    assert '</html>' in page and 'caf\\xe9 copy.jpg' in page
    js = tmp_path/'o.json'
    assert cli('find', photos, '--method', 'phash', '--out', js).returncode == 0
    data = json.loads(js.read_bytes().decode('utf-8'))  # valid UTF-8 JSON
    assert {os.fsencode(Path(row['path']).name) for row in data['rows']} == {b'coffee.jpg', NAME}
    # the CSV read back as PATH names the same files: the same group
    again = tmp_path/'again.csv'
    r = cli('find', out, '--method', 'phash', '--out', again)
    assert r.returncode == 0, text(r.stderr)
    assert sorted(row['path'] for row in read_csv(again)) == sorted(row['path'] for row in rows)

def test_non_utf8_name_with_against(photos, tmp_path):
    other = tmp_path/'other'; other.mkdir()
    shutil.move(os.fsencode(photos) + b'/' + NAME, os.fsencode(other) + b'/' + NAME)
    out = tmp_path/'o.csv'
    r = cli('find', photos, '--against', other, '--method', 'phash', '--out', out)
    assert r.returncode == 0, text(r.stderr)
    rows = read_csv(out)
    kept = [row for row in rows if row['action'] == 'keep']
    assert len(kept) == 1 and os.fsencode(Path(kept[0]['path']).name) == NAME and Path(kept[0]['path']).is_file()

def test_non_utf8_name_in_store_and_query(photos, tmp_path):
    r = cli('index', photos, '--method', 'phash', '--workers', '0')
    assert r.returncode == 0 and b'4 images' in r.stdout, text(r.stderr + r.stdout)
    r = cli('index', photos, '--workers', '0')  # the same file found again: nothing read, nothing removed
    assert r.returncode == 0 and b'0 read' in r.stdout and b'0 removed' in r.stdout, text(r.stdout)
    with contextlib.closing(sqlite3.connect(photos/DEFAULT_DB)) as c:
        assert c.execute('SELECT count(*) FROM files WHERE path = ?', (NAME,)).fetchone()[0] == 1
    q = tmp_path/'q.csv'
    r = cli('query', photos/'coffee.jpg', '--db', photos/DEFAULT_DB, '--out', q)
    assert r.returncode == 0, text(r.stderr)
    rows = read_csv(q)
    assert [os.fsencode(Path(row['path']).name) for row in rows] == [NAME] and Path(rows[0]['path']).is_file()
    r = cli('find', photos, '--db', photos/DEFAULT_DB, '--method', 'phash', '--out', tmp_path/'f.csv')
    assert r.returncode == 0 and len(read_csv(tmp_path/'f.csv')) == 2, text(r.stderr)

def test_non_utf8_name_in_decisions_and_cleaned_csv(photos):
    from fastdupe.pipeline import find_duplicates
    from fastdupe.formatter import dataset_from_duplicates
    from fastdupe.decisions import update_decisions, Decisions, write_cleaned_csv, rel_name
    res = find_duplicates(photos, 'phash', progress=False, n_workers=0)
    ds, _ = dataset_from_duplicates(res, photos)
    name = os.fsdecode(NAME)
    update_decisions(photos, deleted={name: True})
    assert Decisions.load(photos).deleted == {name}  # the decisions file reads back the same name
    json.loads((photos/'cleaned.decisions.json').read_bytes().decode('utf-8'))  # and is valid JSON in UTF-8
    fn = write_cleaned_csv(ds, photos)
    names = [row['name'] for row in read_csv(fn)]
    assert name not in names and len(names) == 3 and all((photos/n).is_file() for n in names)
    update_decisions(photos, deleted={name: False})
    names = [row['name'] for row in read_csv(write_cleaned_csv(ds, photos))]
    assert name in names and (photos/name).is_file()

def _damage(db:Path):
    "Garbage over one page of a real store: the root page of its files table (the page size from the header)."
    assert not Path(f'{db}-wal').exists() or Path(f'{db}-wal').stat().st_size == 0
    with contextlib.closing(sqlite3.connect(db)) as c:
        page = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'files'").fetchone()[0]
    raw = bytearray(db.read_bytes())
    size = int.from_bytes(raw[16:18], 'big')
    raw[(page-1)*size:page*size] = bytes(range(256))*(size//256)
    db.write_bytes(bytes(raw))

def test_damaged_store_clear_error_and_rebuild(photos, tmp_path):
    db = photos/DEFAULT_DB
    assert cli('index', photos, '--method', 'phash', '--workers', '0').returncode == 0
    _damage(db)
    for args in (['index', photos], ['find', photos, '--db', db, '--method', 'phash'], ['query', photos/'coffee.jpg', '--db', db]):
        r = cli(*args)
        line = one_error(r)
        assert r.returncode in (1, 2) and str(db) in line and 'damaged' in line and '--rebuild' in line, (args, line)
        assert b'unchanged' not in r.stdout
    r = cli('index', photos, '--rebuild', '--workers', '0')
    assert r.returncode == 0 and b'rebuilt' in r.stdout and b'4 new' in r.stdout, text(r.stderr + r.stdout)
    with contextlib.closing(sqlite3.connect(db)) as c: assert c.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    assert not [p for p in db.parent.iterdir() if 'rebuild' in p.name]  # nothing left beside it
    q = tmp_path/'q.csv'
    r = cli('query', photos/'coffee.jpg', '--db', db, '--out', q)  # the method recorded before the damage, read again
    assert r.returncode == 0 and b'(phash)' in r.stdout and len(read_csv(q)) == 1, text(r.stderr + r.stdout)

def _as_nobody(*args):
    "`fastdupe ARGS` in a process whose effective user is nobody (root lists any folder), its modules loaded first."
    # (the Python under /root cannot be read by nobody: every module the run needs is imported before the switch)
    code = ("import sys, os, importlib.metadata, PIL.Image; PIL.Image.init(); import cv2, fastdupe.cli, fastdupe.store, "
            "fastdupe.pipeline, fastdupe.health; fastdupe.store.hash_recipe('phash'); os.seteuid(65534); "
            "sys.exit(fastdupe.cli.main(sys.argv[1:]))")
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, timeout=600, env=STRICT)

@pytest.mark.skipif(not hasattr(os, 'geteuid'), reason='needs POSIX permissions')
def test_unreadable_folder_keeps_its_images_in_the_store(photos, tmp_path):
    sub = photos/'more'; sub.mkdir()
    for n in ('rocket.jpg', 'clock.jpg'): shutil.move(photos/n, sub/n)
    assert cli('index', photos, '--method', 'phash', '--workers', '0').returncode == 0
    as_root = os.geteuid() == 0
    if as_root:
        for p in (tmp_path, *tmp_path.parents):
            if p in (Path('/tmp'), Path('/')): break
            os.chmod(p, 0o755)
        for p in [photos, *photos.rglob('*')]: os.chown(p, 65534, 65534)
    os.chmod(sub, 0)
    try: r = _as_nobody('index', photos, '--workers', '0') if as_root else cli('index', photos, '--workers', '0')
    finally: os.chmod(sub, 0o755)
    out = text(r.stdout)
    assert r.returncode == 0, text(r.stderr)
    assert f'{sub}: folder cannot be read' in out and '0 removed' in out, out
    with contextlib.closing(sqlite3.connect(photos/DEFAULT_DB)) as c:
        assert {p for (p,) in c.execute('SELECT path FROM files')} >= {'more/rocket.jpg', 'more/clock.jpg'}
    r = cli('index', photos, '--workers', '0')  # listed again: nothing to read, nothing removed
    assert r.returncode == 0 and '0 read' in text(r.stdout) and '0 removed' in text(r.stdout), text(r.stdout)

@pytest.mark.parametrize('method', ['fused', 'cnn', 'phash', 'ahash', 'combined', 'exact'])
def test_byte_identical_flat_copies_grouped_by_every_method(tmp_path, method):
    d = tmp_path/'flat'; d.mkdir()
    for n, rgb in dict(white=(255, 255, 255), black=(0, 0, 0), red=(220, 20, 20)).items():
        Image.new('RGB', (320, 240), rgb).save(d/f'{n}.png')
    shutil.copy(d/'red.png', d/'red copy.png')
    shutil.copy(SAMPLE/'coffee.jpg', d/'coffee.jpg')
    out = tmp_path/'o.csv'
    r = run_cli('find', d, '--method', method, '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr
    groups = {}
    for row in read_csv(out): groups.setdefault(row['group'], set()).add((Path(row['path']).name, row['match']))
    assert list(groups.values()) == [{('red.png', ''), ('red copy.png', 'exact')}], (method, groups)
