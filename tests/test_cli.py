"`fastdupe find` as a user runs it: real photos, bad files of every kind, exit codes, and files left untouched."
import csv, hashlib, io, json, os
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from conftest import run_cli, SAMPLE

def digest_tree(root):
    "Bytes digest of every file (not following symlinks), to prove nothing was changed, moved or deleted."
    res = {}
    for dp, dns, fns in os.walk(root):
        for f in fns:
            p = Path(dp)/f
            res[str(p.relative_to(root))] = ('link', os.readlink(p)) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return res

@pytest.fixture(scope='module')
def messy(tmp_path_factory):
    d = tmp_path_factory.mktemp('messy')
    coffee, cat, rocket = (Image.fromarray(f()) for f in (skdata.coffee, skdata.chelsea, skdata.rocket))
    coffee.save(d/'coffee.jpg', quality=92)
    cat.save(d/'chelsea.png')
    # an EXIF-rotated copy: pixels stored sideways, orientation tag says how to show them
    ex = Image.Exif(); ex[0x0112] = 6
    coffee.rotate(90, expand=True).save(d/'coffee_exif_rotated.jpg', quality=92, exif=ex.tobytes())
    raw = (d/'coffee.jpg').read_bytes()
    (d/'corrupt.jpg').write_bytes(raw[:400] + bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    (d/'zero.jpg').write_bytes(b'')
    (d/'text.png').write_text('this is not a picture\n')
    buf = io.BytesIO(); cat.save(buf, 'PNG'); (d/'truncated.png').write_bytes(buf.getvalue()[:len(buf.getvalue())//2])
    rocket.convert('CMYK').save(d/'rocket_cmyk.jpg', quality=90)
    a16 = (np.asarray(rocket.convert('L'), np.uint16)*257)
    Image.fromarray(a16).save(d/'rocket_16bit.png')
    assert Image.open(d/'rocket_16bit.png').mode.startswith('I')
    pal = cat.convert('P', palette=Image.Palette.ADAPTIVE, colors=64); pal.info['transparency'] = 0
    pal.save(d/'chelsea_palette_transparent.png', transparency=0)
    frames = [coffee.resize((160, 106)), cat.resize((160, 106)), rocket.resize((160, 106))]
    frames[0].save(d/'animated.gif', save_all=True, append_images=frames[1:], duration=100, loop=0)
    sub = d/'sub folder'; sub.mkdir()
    cat.save(sub/'Chélsea côpie ünïcode 1.jpg', quality=95)
    os.symlink('..', sub/'loop')  # a folder symlink pointing back up: a loop
    return d

def test_messy_folder(messy, tmp_path):
    before = digest_tree(messy)
    out = tmp_path/'dupes.csv'
    r = run_cli('find', messy, '--out', out)
    assert r.returncode == 0, r.stderr
    txt = r.stdout
    # every bad file is named with a reason
    for name, reasons in [('corrupt.jpg', ('corrupt', 'truncated')), ('zero.jpg', ('empty file (0 bytes)',)),
                          ('text.png', ('not an image',)), ('truncated.png', ('truncated', 'corrupt'))]:
        line = next((l for l in txt.splitlines() if l.strip().startswith(str(messy/name) + ':')), None)
        assert line is not None, f"{name} not reported:\n{txt}"
        assert any(r in line for r in reasons) and len(line.split(':', 1)[1].strip()) > 5, line
    bad = list(csv.DictReader(open(tmp_path/'dupes.bad.csv', encoding='utf-8')))
    assert {Path(b['path']).name for b in bad} == {'corrupt.jpg', 'zero.jpg', 'text.png', 'truncated.png'}
    assert all(b['reason'] for b in bad)
    assert 'bad files: 4' in txt
    rows = list(csv.DictReader(open(out, encoding='utf-8')))
    assert list(rows[0].keys()) == ['group', 'path', 'action', 'width', 'height', 'bytes', 'distance', 'match']
    groups = {}
    for row in rows: groups.setdefault(row['group'], set()).add(Path(row['path']).name)
    # the EXIF-rotated copy is grouped with its original; the non-ASCII-named copy with its original
    assert any({'coffee.jpg', 'coffee_exif_rotated.jpg'} <= g for g in groups.values()), groups
    assert any({'chelsea.png', 'Chélsea côpie ünïcode 1.jpg'} <= g for g in groups.values()), groups
    # the odd modes were read (not reported bad) and land with their originals
    assert any({'rocket_cmyk.jpg', 'rocket_16bit.png'} <= g for g in groups.values()), groups
    assert any('chelsea_palette_transparent.png' in g for g in groups.values()), groups
    for row in rows:
        assert row['action'] in ('keep', 'remove')
        if row['action'] == 'keep': assert float(row['distance']) == 0 and row['match'] == ''
        else: assert row['match'] in ('exact', 'pixels', 'near') and float(row['distance']) >= 0
        assert int(row['width']) > 0 and int(row['height']) > 0 and int(row['bytes']) > 0
    assert sum(r['action'] == 'keep' for r in rows) == len(groups)
    # the symlink loop did not make anything appear twice
    assert len({r['path'] for r in rows}) == len(rows)
    assert digest_tree(messy) == before

def test_exif_rotated_kept_size(messy, tmp_path):
    r = run_cli('find', messy, '--out', tmp_path/'d.json', '--quiet')
    assert r.returncode == 0, r.stderr
    js = json.loads((tmp_path/'d.json').read_text())
    row = next(x for x in js['rows'] if x['path'].endswith('coffee_exif_rotated.jpg'))
    w, h = Image.fromarray(skdata.coffee()).size
    assert (row['width'], row['height']) == (w, h)  # measured as displayed, not as stored
    assert js['summary']['bad_files'] == 4

@pytest.mark.parametrize('method', ['exact', 'ahash', 'phash', 'dhash', 'whash', 'colorhash', 'combined'])
def test_sample_every_method(method, tmp_path):
    "Each method runs on the bundled sample and finds at least the byte-identical copy."
    r = run_cli('find', SAMPLE, '--method', method, '--out', tmp_path/'o.csv', '--quiet')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'o.csv', encoding='utf-8')))
    found = {}
    for row in rows: found.setdefault(row['group'], set()).add(Path(row['path']).name)
    assert any({'coffee.jpg', 'café copy 1.jpg'} <= g for g in found.values()), (method, found)

def test_sample_default_finds_planted_groups(tmp_path):
    truth = json.loads((SAMPLE/'groups.json').read_text())
    truth_groups = [set(g) for g in (truth['groups'] if isinstance(truth, dict) else truth) if len(g) > 1]
    r = run_cli('find', SAMPLE, '--out', tmp_path/'o.csv')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'o.csv', encoding='utf-8')))
    found = {}
    for row in rows: found.setdefault(row['group'], set()).add(Path(row['path']).name)
    assert sorted(map(sorted, found.values())) == sorted(map(sorted, truth_groups)), (found, truth_groups)

@pytest.mark.parametrize('args', [['--method', 'md5'], ['--threshold', '-3'], ['--method', 'phash', '--threshold', '2.5'],
                                  ['--threshold', '2.5'], ['--method', 'cnn', '--threshold', '1.5'],
                                  ['--out', 'x.txt'], ['--link', 'average'], ['--keep', 'prettiest'], ['--workers', '-1']])
def test_bad_arguments_exit_2(args):
    r = run_cli('find', SAMPLE, *args)
    assert r.returncode == 2
    assert 'error' in r.stderr.lower() and len(r.stderr.strip().splitlines()[-1]) > 20

@pytest.mark.parametrize('args', [['--method', 'combined', '--threshold', '2'], ['--method', 'exact', '--link', 'dbscan'],
                                  ['--method', 'phash', '--threshold', '0', '--link', 'dbscan'],
                                  ['--method', 'combined', '--link', 'complete']])
def test_option_combinations_run(args, tmp_path):
    "Combinations that once ended in a traceback give a result, and the byte-identical copy is grouped."
    r = run_cli('find', SAMPLE, *args, '--out', tmp_path/'o.csv', '--quiet')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
    groups = {}
    for row in csv.DictReader(open(tmp_path/'o.csv', encoding='utf-8')): groups.setdefault(row['group'], set()).add(Path(row['path']).name)
    assert any({'coffee.jpg', 'café copy 1.jpg'} <= g for g in groups.values()), groups

@pytest.mark.parametrize('method', ['combined', 'phash', 'exact'])
@pytest.mark.parametrize('index', ['exact', 'faiss'])
def test_index_with_hash_method_is_an_error(method, index):
    r = run_cli('find', SAMPLE, '--method', method, '--index', index)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and '--index applies to the model methods' in r.stderr

@pytest.mark.parametrize('opt', ['--out', '--report'])
def test_unwritable_output_fails_before_the_search(opt, tmp_path):
    ext = 'csv' if opt == '--out' else 'html'
    for target, why in ((tmp_path/'missing'/f'x.{ext}', 'does not exist'), (tmp_path/f'adir.{ext}', 'is a folder')):
        if why == 'is a folder': target.mkdir()
        r = run_cli('find', SAMPLE, '--method', 'phash', opt, target)
        assert r.returncode == 2 and 'Traceback' not in r.stderr and why in r.stderr, r.stderr
        assert 'images read' not in r.stdout  # the search never ran

def test_hash_method_rejects_model_options():
    from fastdupe.pipeline import find_duplicates
    for opt in ('index', 'k', 'hash_threshold'):
        with pytest.raises(ValueError, match=f'{opt} applies to the model methods'):
            find_duplicates(SAMPLE, method='combined', **{opt: 1})
    with pytest.raises(ValueError, match="takes no option 'bs'"):
        find_duplicates(SAMPLE, method='phash', bs=4)

def test_tta_is_the_old_name_of_turns():
    "`tta=` (the model methods' name for `turns` until this release) still works, with a DeprecationWarning."
    from fastdupe.pipeline import find_duplicates
    with pytest.warns(DeprecationWarning, match='use turns='):
        old = find_duplicates(SAMPLE, method='phash', tta=True, progress=False, n_workers=0)
    new = find_duplicates(SAMPLE, method='phash', turns=True, progress=False, n_workers=0)
    assert old.rows() == new.rows() and old.threshold == new.threshold
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match='they disagree'):
        find_duplicates(SAMPLE, method='cnn', tta=True, turns=False)  # before any image is read

def test_missing_path_fails(tmp_path):
    r = run_cli('find', tmp_path/'does-not-exist')
    assert r.returncode not in (0, 2) and 'does not exist' in r.stderr

def test_no_command_is_usage_error():
    assert run_cli().returncode == 2

def test_cli_import_is_light():
    "`fastdupe --help` and hash runs start without importing the model stack (torch, fastai, ONNX Runtime, OpenCV) or scipy."
    import subprocess, sys
    r = subprocess.run([sys.executable, '-X', 'importtime', '-c', 'import fastdupe.cli'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    top = {l.split('|')[-1].strip().split('.')[0] for l in r.stderr.splitlines() if '|' in l}
    assert 'fastdupe' in top
    assert not top & {'torch', 'fastai', 'torchvision', 'timm', 'onnxruntime', 'cv2', 'scipy', 'sklearn', 'pandas', 'imagehash'}, top
