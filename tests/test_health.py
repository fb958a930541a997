"""`fastdupe health`: issues planted in crops of real photos are flagged and clean crops are not, per issue; the rows
are written with the documented columns, highest score first; options are checked before any image is read.

The photos are the report family (scikit-learn's and matplotlib's, `fastdupe.health.REPORT_SOURCES`): the thresholds
were calibrated on the other family (scikit-image's photos), so these tests see photos the thresholds never saw."""
import csv, json, shutil
from pathlib import Path
import pytest
from conftest import run_cli, SAMPLE
from fastdupe.health import health_benchmark, issue_scores, HEALTH_ISSUES, REPORT_SOURCES

@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    "The report family, scored by the installed `fastdupe health` command"
    d = tmp_path_factory.mktemp('health')
    truth = health_benchmark(d, REPORT_SOURCES, clean=8)
    r = run_cli('health', truth.folder, '--out', d/'rows.csv', '--quiet')
    assert r.returncode == 0, r.stderr
    with open(d/'rows.csv', newline='') as f: rows = list(csv.DictReader(f))
    return truth, rows, r.stdout

@pytest.mark.parametrize('issue', HEALTH_ISSUES)
def test_planted_issue_flagged_clean_not(bench, issue):
    truth, rows, _ = bench
    flagged = {Path(r['path']).name for r in rows if r['issue'] == issue}
    s = issue_scores(flagged, truth, issue)
    planted = sorted(f for f, i in truth.issue.items() if i == issue)
    assert s.recall >= 0.8, f'{issue}: planted images missed: {sorted(set(planted) - flagged)}'
    assert s.precision >= 0.8, f'{issue}: flagged without it: {sorted(f for f in flagged if truth.issue[f] != issue)}'
    clean = sorted(f for f in flagged if truth.issue[f] is None)
    assert not clean, f'{issue}: clean crops flagged: {clean}'

def test_rows_columns_and_order(bench):
    truth, rows, out = bench
    assert rows and list(rows[0]) == ['path', 'issue', 'score']
    scores = [float(r['score']) for r in rows]
    assert scores == sorted(scores, reverse=True), 'rows are not highest score first'
    assert all(0 <= s <= 1 for s in scores)
    assert {r['issue'] for r in rows} <= set(HEALTH_ISSUES)
    assert len({(r['path'], r['issue']) for r in rows}) == len(rows), 'an image and issue written twice'
    assert all(Path(r['path']).is_file() for r in rows)
    assert f'images read: {len(truth.issue)}, bad files: 0' in out

def test_issues_subset_and_json(tmp_path):
    shutil.copytree(SAMPLE, tmp_path/'s', ignore=shutil.ignore_patterns('*.md', '*.json'))
    (tmp_path/'s'/'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a JPEG')
    r = run_cli('health', tmp_path/'s', '--issues', 'grayscale,blurry', '--out', tmp_path/'h.json')
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path/'h.json').read_text())
    assert {x['issue'] for x in d['rows']} == {'grayscale', 'blurry'}
    # the sample's greyscale photos (camera.png, clock.jpg) in a colour set, and its motion-blurred clock
    assert {Path(x['path']).name for x in d['rows'] if x['issue'] == 'grayscale'} == {'camera.png', 'clock.jpg'}
    assert [Path(x['path']).name for x in d['rows'] if x['issue'] == 'blurry'] == ['clock.jpg']
    assert d['summary'] == dict(images=15, bad_files=1, grayscale=2, blurry=1)
    assert [Path(b['path']).name for b in d['bad_files']] == ['broken.jpg'] and 'broken.jpg' in r.stdout

def test_bad_issue_is_a_usage_error(tmp_path):
    r = run_cli('health', SAMPLE, '--issues', 'blurry,fuzzy', '--out', tmp_path/'h.csv')
    assert r.returncode == 2
    assert "--issues: unknown issue 'fuzzy'; choose from blurry, dark, light, low_information" in r.stderr
    assert 'usage: fastdupe health' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'h.csv').exists()

@pytest.mark.parametrize('args, msg', [(['--out', 'rows.txt'], '--out must end in .csv or .json'),
                                       (['--workers', '-1'], '--workers must be >= 0'),
                                       (['--issues', ','], 'no issue named')])
def test_options_checked_first(tmp_path, args, msg):
    r = run_cli('health', SAMPLE, *args, cwd=tmp_path)
    assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr
    assert not list(tmp_path.iterdir())

def test_missing_path(tmp_path):
    r = run_cli('health', tmp_path/'nope')
    assert r.returncode == 1 and 'does not exist' in r.stderr and 'Traceback' not in r.stderr

@pytest.fixture(scope='module')
def planted(tmp_path_factory):
    "The sample plus a blurred astronaut and its copy (a duplicate group with an issue), and a near-black coffee."
    from PIL import Image, ImageFilter
    d = tmp_path_factory.mktemp('find_health')/'s'
    shutil.copytree(SAMPLE, d, ignore=shutil.ignore_patterns('*.md', '*.json'))
    with Image.open(SAMPLE/'astronaut.jpg') as im: im.filter(ImageFilter.GaussianBlur(4)).save(d/'astronaut blurred.jpg')
    shutil.copy2(d/'astronaut blurred.jpg', d/'astronaut blurred copy.jpg')
    with Image.open(SAMPLE/'coffee.jpg') as im: im.point(lambda v: v//12).save(d/'coffee dark.jpg')
    return d

def _health_rows(fn):
    with open(fn, newline='') as f: return [(r['path'], r['issue'], float(r['score'])) for r in csv.DictReader(f)]

def test_find_health_flags_what_health_flags(planted, tmp_path):
    "`find --health` (the default method, health from the model's decode) scores exactly as `fastdupe health` does."
    r = run_cli('find', planted, '--health', '--out', tmp_path/'f.json', '--report', tmp_path/'r.html', '--quiet')
    assert r.returncode == 0, r.stderr
    h = run_cli('health', planted, '--out', tmp_path/'h.csv', '--quiet')
    assert h.returncode == 0, h.stderr
    d = json.loads((tmp_path/'f.json').read_text())
    own = _health_rows(tmp_path/'h.csv')
    assert [(x['path'], x['issue'], x['score']) for x in d['health']['rows']] == own
    assert {(Path(p).name, i) for p, i, _ in own} >= {('astronaut blurred.jpg', 'blurry'), ('coffee dark.jpg', 'dark')}
    issues = {}
    for p, i, _ in own: issues.setdefault(p, []).append(i)
    rows = {Path(x['path']).name: x for x in d['rows']}
    assert rows['astronaut blurred copy.jpg']['issues'] == 'blurry' and rows['astronaut blurred.jpg']['issues'] == 'blurry'
    for x in d['rows']:  # every grouped image: exactly its flagged issues, in the vocabulary's order
        want = [i for i in HEALTH_ISSUES if i in issues.get(x['path'], [])]
        assert (x['issues'].split(';') if x['issues'] else []) == want, x
    assert 'health, images flagged: blurry' in r.stdout
    page = (tmp_path/'r.html').read_text()
    assert '<h2 id="health">Dataset health</h2>' in page and 'id="health-dark"' in page
    assert 'coffee dark.jpg</span><br>dark score' in page

def test_find_health_csv_column(planted, tmp_path):
    r = run_cli('find', planted, '--method', 'phash', '--health', '--issues', 'blurry,dark', '--out', tmp_path/'f.csv')
    assert r.returncode == 0, r.stderr
    with open(tmp_path/'f.csv', newline='') as f: rows = list(csv.DictReader(f))
    assert list(rows[0])[-1] == 'issues'
    got = {Path(x['path']).name: x['issues'] for x in rows}
    assert got['astronaut blurred.jpg'] == got['astronaut blurred copy.jpg'] == 'blurry'
    assert got['astronaut.jpg'] == '' and set(got.values()) <= {'', 'blurry', 'dark', 'blurry;dark'}

@pytest.mark.parametrize('args, msg', [(['--issues', 'dark'], '--issues picks the issues --health flags'),
                                       (['--health', '--issues', 'fuzzy'], "--issues: unknown issue 'fuzzy'")])
def test_find_health_options_checked_first(tmp_path, args, msg):
    r = run_cli('find', SAMPLE, *args, '--out', tmp_path/'f.csv')
    assert r.returncode == 2 and msg in r.stderr and 'usage: fastdupe find' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'f.csv').exists()

def test_index_then_health_reads_no_image(tmp_path):
    """`fastdupe index` keeps the measures: after it, every image's bytes are replaced by zeros of the same size with the
    same modification time (what the database checks), and `fastdupe health` still writes the very same rows, from the
    database alone; the same files read now are no images at all."""
    import os
    d = tmp_path/'photos'
    shutil.copytree(SAMPLE, d, ignore=shutil.ignore_patterns('*.md', '*.json'))
    r = run_cli('index', d)
    assert r.returncode == 0, r.stderr
    before = run_cli('health', d, '--out', tmp_path/'before.csv', '--quiet')
    assert before.returncode == 0, before.stderr
    files = [p for p in d.iterdir() if p.is_file()]
    for p in files:
        st = p.stat(); p.write_bytes(b'\0'*st.st_size); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = run_cli('health', d, '--out', tmp_path/'after.csv', '--quiet')
    assert after.returncode == 0, after.stderr
    assert f'measures from {d/".fastdupe"/"store.db"}' in after.stdout
    assert _health_rows(tmp_path/'after.csv') == _health_rows(tmp_path/'before.csv') != []
    assert f'images read: {len(files)}, bad files: 0' in after.stdout
    fresh = run_cli('health', d, '--db', tmp_path/'new.db', '--quiet')  # a database without them reads the files
    assert fresh.returncode == 0 and f'images read: 0, bad files: {len(files)}' in fresh.stdout

def test_health_db_options(tmp_path):
    r = run_cli('health', SAMPLE, '--db', tmp_path/'x.csv', '--out', tmp_path/'x.csv')
    assert r.returncode == 2 and 'is the database (--db)' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'x.csv').exists()

def test_find_db_health_reads_no_image_again(planted, tmp_path):
    """`find --db FILE --health` takes the measures from the database (kept from the model's decode as it embeds): the
    same health rows and issues column as `find --health`; then, every image's bytes replaced by zeros of the same size
    with the same modification time (what the database checks), a second run still writes those very health rows."""
    import os
    d = tmp_path/'photos'
    shutil.copytree(planted, d)
    plain = run_cli('find', d, '--health', '--out', tmp_path/'plain.json', '--quiet')
    assert plain.returncode == 0, plain.stderr
    db = tmp_path/'f.db'
    r = run_cli('find', d, '--db', db, '--health', '--out', tmp_path/'db.json', '--quiet')
    assert r.returncode == 0, r.stderr
    want, got = (json.loads((tmp_path/n).read_text()) for n in ('plain.json', 'db.json'))
    assert got['health'] == want['health'] and want['health']['rows']
    assert [(x['path'], x['issues']) for x in got['rows']] == [(x['path'], x['issues']) for x in want['rows']]
    files = [p for p in d.iterdir() if p.is_file()]
    for p in files:
        st = p.stat(); p.write_bytes(b'\0'*st.st_size); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = run_cli('find', d, '--db', db, '--health', '--out', tmp_path/'again.json', '--quiet')
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path/'again.json').read_text())['health'] == want['health']
