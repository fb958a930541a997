"Symlinks on purpose, and inputs and outputs checked before any work: real `fastdupe` processes on real photos."
import csv, json, os, shutil, subprocess, time
from pathlib import Path
import pytest
from PIL import Image
from skimage import data as skdata
from conftest import run_cli, SAMPLE

def rows_of(fn):
    return list(csv.DictReader(open(fn, encoding='utf-8')))

@pytest.fixture
def linked(tmp_path):
    "photo.jpg and a.jpg -> photo.jpg (a symlink that sorts first and has the shorter name), plus a different photo."
    d = tmp_path/'photos'; d.mkdir()
    Image.fromarray(skdata.coffee()).save(d/'photo.jpg', quality=90)
    Image.fromarray(skdata.chelsea()).save(d/'cat.jpg', quality=90)
    os.symlink('photo.jpg', d/'a.jpg')
    return d

@pytest.mark.parametrize('method', ['exact', 'phash'])
def test_link_is_never_kept_over_its_target(linked, tmp_path, method):
    out = tmp_path/'dupes.csv'
    r = run_cli('find', linked, '--method', method, '--out', out, '--workers', 0)
    assert r.returncode == 0, r.stderr
    rows = rows_of(out)
    act = {Path(x['path']).name: x['action'] for x in rows}
    assert act == {'photo.jpg': 'keep', 'a.jpg': 'remove'}, rows  # removing a.jpg leaves the photo; the other way, a dangling link
    link = {Path(x['path']).name: x['link'] for x in rows}
    assert link['a.jpg'] == str((linked/'photo.jpg').resolve()) and link['photo.jpg'] == '', rows
    assert 'link to' in r.stdout and (linked/'a.jpg').is_symlink() and (linked/'photo.jpg').is_file()

def test_link_column_only_when_there_are_links(linked, tmp_path):
    (linked/'a.jpg').unlink(); shutil.copy(linked/'photo.jpg', linked/'photo copy.jpg')
    r = run_cli('find', linked, '--method', 'exact', '--out', tmp_path/'x.csv', '--workers', 0)
    assert r.returncode == 0, r.stderr
    assert 'link' not in rows_of(tmp_path/'x.csv')[0], 'no links: no link column'

def test_link_and_target_are_one_image_even_when_flat(tmp_path):
    "A flat image's hash matches count for nothing, but a link to it is the same file: still one group, the file kept."
    d = tmp_path/'flat'; d.mkdir()
    Image.new('RGB', (320, 240), (200, 30, 30)).save(d/'red.png')
    Image.fromarray(skdata.coffee()).save(d/'coffee.jpg', quality=90)
    os.symlink(d/'red.png', d/'0.png')
    out = tmp_path/'x.json'
    r = run_cli('find', d, '--method', 'phash', '--out', out, '--workers', 0)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())['rows']
    assert {(Path(x['path']).name, x['action']) for x in rows} == {('red.png', 'keep'), ('0.png', 'remove')}, rows
    assert next(x for x in rows if x['path'].endswith('0.png'))['link'] == str((d/'red.png').resolve())

def test_link_in_valid_to_a_training_image_removes_nothing(tmp_path):
    "valid/a.jpg -> train/photo.jpg: valid images are never removed, and removing the training file would break the link."
    d = tmp_path/'ds'
    for s in ('train', 'valid'): (d/s).mkdir(parents=True)
    Image.fromarray(skdata.coffee()).save(d/'train/photo.jpg', quality=90)
    Image.fromarray(skdata.chelsea()).save(d/'train/cat.jpg', quality=90)
    os.symlink('../train/photo.jpg', d/'valid/a.jpg')
    r = run_cli('find', d, '--method', 'exact', '--out', tmp_path/'x.csv', '--workers', 0)
    assert r.returncode == 0, r.stderr
    assert {Path(x['path']).name: x['action'] for x in rows_of(tmp_path/'x.csv')} == {'photo.jpg': 'keep', 'a.jpg': 'keep'}

def test_symlinked_sub_folder_listed_by_its_real_name(tmp_path):
    "A folder link that sorts first inside the tree: its images are listed once, under their real folder."
    d = tmp_path/'tree'; (d/'real').mkdir(parents=True)
    Image.fromarray(skdata.coffee()).save(d/'real/photo.jpg', quality=90)
    shutil.copy(d/'real/photo.jpg', d/'real/photo copy.jpg')
    os.symlink('real', d/'a_link')
    r = run_cli('find', d, '--method', 'exact', '--out', tmp_path/'x.csv', '--workers', 0)
    assert r.returncode == 0, r.stderr
    assert sorted(Path(x['path']).parent.name for x in rows_of(tmp_path/'x.csv')) == ['real', 'real'], r.stdout
    assert 'images read: 2' in r.stdout

@pytest.mark.parametrize('spelling', ['absolute', 'symlink', 'dotdot', 'inside'])
def test_against_the_same_folder_is_refused(linked, tmp_path, spelling):
    other = {'absolute': linked.resolve(), 'symlink': tmp_path/'alias', 'dotdot': linked/'..'/linked.name,
             'inside': linked/'sub'}[spelling]
    if spelling == 'symlink': os.symlink(linked, other)
    if spelling == 'inside': other.mkdir(); shutil.copy(linked/'cat.jpg', other/'cat2.jpg')
    r = run_cli('find', linked, '--against', other, '--method', 'phash', '--workers', 0, cwd=tmp_path)
    assert r.returncode == 2 and 'usage: fastdupe find' in r.stderr and '--against' in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == '', 'refused before any image is read'

def test_against_with_a_link_into_the_other_set_reports_the_leak(tmp_path):
    "train/a.jpg -> test/photo.jpg is the test photo inside the training set: reported, the link is what goes."
    (tmp_path/'train').mkdir(); (tmp_path/'test').mkdir()
    Image.fromarray(skdata.coffee()).save(tmp_path/'test/photo.jpg', quality=90)
    Image.fromarray(skdata.chelsea()).save(tmp_path/'train/cat.jpg', quality=90)
    os.symlink('../test/photo.jpg', tmp_path/'train/a.jpg')
    r = run_cli('find', tmp_path/'train', '--against', tmp_path/'test', '--method', 'exact', '--out', tmp_path/'x.csv',
                '--workers', 0)
    assert r.returncode == 0, r.stderr
    assert {Path(x['path']).name: x['action'] for x in rows_of(tmp_path/'x.csv')} == {'photo.jpg': 'keep', 'a.jpg': 'remove'}

def _list(tmp_path):
    d = tmp_path/'imgs'; d.mkdir()
    Image.fromarray(skdata.coffee()).save(d/'photo.jpg', quality=90)
    shutil.copy(d/'photo.jpg', d/'photo copy.jpg')
    fn = tmp_path/'list.csv'
    fn.write_text('path\nimgs/photo.jpg\nimgs/photo copy.jpg\n')
    return fn

@pytest.mark.parametrize('opts', [('--out', 'list.csv'), ('--out', './sub/../list.csv'), ('--out', 'list.json', '--against', 'list.json'),
                                  ('--out', 'list.bad.csv'), ('--out', 'link.csv')])
def test_outputs_never_overwrite_an_input(tmp_path, opts):
    fn = _list(tmp_path); (tmp_path/'sub').mkdir()
    if '--against' in opts: shutil.copy(fn, tmp_path/'list.json')
    os.symlink('list.csv', tmp_path/'link.csv')  # --out link.csv would write through the link onto the list
    if opts[1] == 'list.bad.csv': fn = fn.rename(tmp_path/'list.bad.bad.csv')  # --out list.bad.csv writes list.bad.bad.csv
    before = fn.read_bytes()
    r = run_cli('find', fn.name, '--method', 'exact', *opts, '--workers', 0, cwd=tmp_path)
    assert r.returncode == 2 and 'usage: fastdupe find' in r.stderr and 'input' in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == '' and fn.read_bytes() == before

def _without_root(cmd):
    "`cmd` run as an ordinary user would: root writes read-only files, so as root it runs without that power."
    if os.geteuid() != 0: return cmd
    if not shutil.which('setpriv'): pytest.skip('running as root without setpriv: a read-only file is writable here')
    return ['setpriv', '--inh-caps=-dac_override', '--bounding-set=-dac_override', *cmd]

def test_read_only_out_refused_before_any_work(tmp_path):
    fn = _list(tmp_path)
    out = tmp_path/'o.csv'; out.write_text('precious\n'); os.chmod(out, 0o444)
    t0 = time.perf_counter()
    cmd = _without_root([shutil.which('fastdupe'), 'find', str(fn), '--method', 'cnn', '--out', str(out)])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 2 and 'usage: fastdupe find' in r.stderr and 'read-only' in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == '' and out.read_text() == 'precious\n' and time.perf_counter() - t0 < 20

def test_bad_csv_that_is_a_folder_refused_before_any_work(tmp_path):
    fn = _list(tmp_path); (tmp_path/'o.bad.csv').mkdir()
    r = run_cli('find', fn, '--method', 'cnn', '--out', tmp_path/'o.csv', cwd=tmp_path)
    assert r.returncode == 2 and 'o.bad.csv' in r.stderr and 'folder' in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == '' and not (tmp_path/'o.csv').exists()

def test_usage_errors_show_the_sub_command(tmp_path):
    r = run_cli('find', tmp_path, '--threshold', '-1')
    assert r.returncode == 2 and r.stderr.startswith('usage: fastdupe find') and 'fastdupe find: error: --threshold' in r.stderr
    r = run_cli('query', tmp_path, '--db', tmp_path/'x.db', '--k', '0')
    assert r.returncode == 2 and r.stderr.startswith('usage: fastdupe query'), r.stderr

@pytest.mark.parametrize('kind', ['csv', 'folder'])
def test_input_without_images_is_an_error(tmp_path, kind):
    src = tmp_path/'empty.csv' if kind == 'csv' else tmp_path/'empty'
    if kind == 'csv': src.write_text('path\n')
    else: src.mkdir(); (src/'notes.txt').write_text('no pictures here')
    r = run_cli('find', src, '--method', 'phash', '--out', tmp_path/'o.csv')
    assert r.returncode == 1 and 'holds no images' in r.stderr and str(src) in r.stderr, (r.returncode, r.stderr)
    assert not (tmp_path/'o.csv').exists()

@pytest.mark.parametrize('method', ['cnn', 'fused'])
def test_threshold_bounds_every_pair(tmp_path, method):
    "--threshold 1 is a cosine of 1: only copies at distance 0, even where keypoints or hashes would confirm more."
    out = tmp_path/'o.csv'
    r = run_cli('find', SAMPLE, '--method', method, '--threshold', 1, '--out', out, '--workers', 0)
    assert r.returncode == 0, r.stderr
    rows = rows_of(out)
    assert rows and all(float(x['distance']) == 0 for x in rows), [(x['path'], x['distance']) for x in rows]

def test_bad_csv_only_when_there_are_bad_files(tmp_path):
    fn = _list(tmp_path)
    r = run_cli('find', fn, '--method', 'exact', '--out', tmp_path/'o.csv', '--workers', 0)
    assert r.returncode == 0 and (tmp_path/'o.csv').exists() and not (tmp_path/'o.bad.csv').exists(), r.stdout
    (tmp_path/'imgs/broken.jpg').write_bytes(b'\xff\xd8\xff' + b'x'*100)
    with open(fn, 'a') as f: f.write('imgs/broken.jpg\n')
    r = run_cli('find', fn, '--method', 'exact', '--out', tmp_path/'o.csv', '--workers', 0)
    assert r.returncode == 0 and [Path(x['path']).name for x in rows_of(tmp_path/'o.bad.csv')] == ['broken.jpg']
    fn.write_text('path\nimgs/photo.jpg\nimgs/photo copy.jpg\n')  # fixed: the old list of bad files must not linger
    r = run_cli('find', fn, '--method', 'exact', '--out', tmp_path/'o.csv', '--workers', 0)
    assert r.returncode == 0 and not (tmp_path/'o.bad.csv').exists(), r.stderr
