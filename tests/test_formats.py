"Every image a user has: one real photo saved in every format fastdupe reads, files named wrongly, files that are not images, and what each surface makes of them."
import csv, io, json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from conftest import run_cli
from fastdupe.intake import register_plugin, read_image, image_info, find_images, image_kind, skip_summary, NOT_IMAGE

import pillow_heif; pillow_heif.register_heif_opener()  # writes the test HEICs; fastdupe reads them with pi-heif (decoder only)
register_plugin('jxl')  # to write the test files; fastdupe itself registers a plugin when it meets a file that needs it

def _photo(): return Image.fromarray(skdata.astronaut()).resize((256, 256), Image.Resampling.LANCZOS)
def save_dng(fn, img:Image.Image, orientation:int=1):
    "A small DNG as a camera writes one: IFD0 an RGB preview with the DNG tags, a sub-IFD the Bayer (RGGB) raw data."
    import tifffile
    a = np.asarray(img, np.uint16)*16
    cfa = np.zeros(a.shape[:2], np.uint16)
    for (y, x), c in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [0, 1, 1, 2]): cfa[y::2, x::2] = a[y::2, x::2, c]
    with tifffile.TiffWriter(fn) as t:
        t.write(np.asarray(img), photometric='rgb', subfiletype=1, subifds=1, extratags=[
            (50706, 'B', 4, (1, 4, 0, 0), True), (271, 's', 0, 'Canon', True), (272, 's', 0, 'EOS 5D', True),
            (50708, 's', 0, 'Canon EOS 5D', True), (274, 'H', 1, orientation, True),
            (50721, '2i', 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True)])
        t.write(cfa, photometric=32803, subfiletype=0, extratags=[(33421, 'H', 2, (2, 2), True), (33422, 'B', 4, (0, 1, 1, 2), True)])

def _other(): return Image.fromarray(skdata.coffee()).resize((256, 256), Image.Resampling.LANCZOS)

# every format the photo is saved in: name -> how
COPIES = {
    'photo.jpg': dict(quality=92), 'photo.jfif': dict(format='JPEG', quality=85), 'photo.png': {},
    'photo.bmp': {}, 'photo.ppm': {}, 'photo.tga': {}, 'photo.qoi': {}, 'photo.pcx': {}, 'photo.jp2': {},
    'photo.ico': dict(sizes=[(256, 256), (64, 64), (16, 16)]),  # read: its largest image
    'photo.heic': dict(quality=90), 'photo.avif': dict(quality=85), 'photo.jxl': dict(quality=90),
}

@pytest.fixture(scope='module')
def formats(tmp_path_factory):
    "A folder: the photo in every format, rotated HEIC and NEF, JPEGs named .png and .svg, a PNG named .heic; a text file, a truncated HEIC, a broken CR2 and another photo."
    d = tmp_path_factory.mktemp('formats')
    photo, other = _photo(), _other()
    for name, kw in COPIES.items(): photo.save(d/name, **kw)
    photo.convert('L').save(d/'photo.pgm'); photo.convert('1').save(d/'photo.pbm')
    # animations and multi-page files: the first frame is the photo
    photo.save(d/'photo.gif', save_all=True, append_images=[other], duration=100, loop=0)
    photo.save(d/'photo.webp', save_all=True, append_images=[other], duration=100, quality=85)
    photo.save(d/'photo.tiff', save_all=True, append_images=[other])
    photo.save(d/'photo.mpo', save_all=True, append_images=[photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], quality=90)
    ex = Image.Exif(); ex[0x0112] = 6  # stored sideways, shown upright
    photo.rotate(90, expand=True).save(d/'photo rotated.heic', quality=90, exif=ex.tobytes())
    jpg = (d/'photo.jpg').read_bytes()
    (d/'jpeg named.png').write_bytes(jpg); (d/'jpeg named.svg').write_bytes(jpg)
    (d/'png named.heic').write_bytes((d/'photo.png').read_bytes())
    (d/'notes.txt').write_text('not a picture\n')
    (d/'truncated.heic').write_bytes((d/'photo.heic').read_bytes()[:3000])
    save_dng(d/'photo.dng', photo); save_dng(d/'photo rotated.nef', photo.rotate(90, expand=True), orientation=6)  # camera raw
    (d/'IMG_0001.CR2').write_bytes(b'II*\x00\x10\x00\x00\x00CR\x02\x00' + bytes(500))  # a raw file cut short
    (d/'.DS_Store').write_bytes(b'\x00\x00\x00\x01Bud1')  # hidden: not counted
    other.resize((256, 171)).save(d/'coffee.jpg', quality=90)  # a different photo: in no group
    return d

READABLE = sorted([*COPIES, 'photo.pgm', 'photo.pbm', 'photo.gif', 'photo.webp', 'photo.tiff', 'photo.mpo',
                   'photo rotated.heic', 'photo.dng', 'photo rotated.nef', 'jpeg named.png', 'png named.heic'])

def _bad_csv(p): return {Path(r['path']).name: r['reason'] for r in csv.DictReader(open(p, encoding='utf-8'))}

def test_every_copy_one_group_with_sniff(formats, tmp_path):
    out = tmp_path/'dups.csv'
    r = run_cli('find', formats, '--sniff', '--out', out, '--workers', '0')
    assert r.returncode == 0 and 'Traceback' not in r.stdout + r.stderr, r.stderr
    rows = list(csv.DictReader(open(out, encoding='utf-8')))
    groups = {}
    for row in rows: groups.setdefault(row['group'], []).append(Path(row['path']).name)
    # one group of every readable copy, the 1-bit dithered PBM (cosine ~0.73) too, although with 24 copies of one
    # photo an image's 20th neighbour is itself a copy
    assert len(groups) == 1, groups
    assert sorted(next(iter(groups.values()))) == sorted(set(READABLE + ['jpeg named.svg'])), groups
    bad = _bad_csv(tmp_path/'dups.bad.csv')
    assert set(bad) == {'truncated.heic', 'notes.txt', 'IMG_0001.CR2'}, bad
    assert bad['truncated.heic'].startswith('truncated image data') and '\n' not in bad['truncated.heic']
    assert bad['notes.txt'] == NOT_IMAGE and bad['IMG_0001.CR2'].startswith('corrupt or unreadable image')
    assert f'images read: {len(READABLE) + 2}, bad files: 2, skipped: 1,' in r.stdout, r.stdout
    assert 'skipped: 1 .txt (not an image)' in r.stdout, r.stdout
    assert 'truncated.heic: truncated image data' in r.stdout and 'IMG_0001.CR2: corrupt' in r.stdout

def test_without_sniff_the_svg_is_counted(formats, tmp_path):
    r = run_cli('find', formats, '--method', 'phash', '--out', tmp_path/'d.json')
    assert r.returncode == 0 and 'Traceback' not in r.stdout + r.stderr, r.stderr
    res = json.loads((tmp_path/'d.json').read_text())
    assert res['summary']['images'] == len(READABLE) + 1 and res['summary']['skipped'] == 2
    assert {Path(s['path']).name: s['reason'] for s in res['skipped_files']} == {'jpeg named.svg': NOT_IMAGE, 'notes.txt': NOT_IMAGE}
    assert 'skipped: 1 .svg, 1 .txt (not an image)' in r.stdout, r.stdout
    assert 'jpeg named.svg' in _bad_csv(tmp_path/'d.bad.csv')

def test_each_format_reads_as_the_photo(formats):
    "Every copy decodes to the photo's size and (near) its pixels; the rotated HEIC is shown upright."
    grey = lambda im: np.asarray(im.convert('L').resize((32, 32), Image.Resampling.BOX), np.float32)
    photo = _photo()
    for name in READABLE:
        im, info = read_image(formats/name)
        assert im.size == (256, 256) and (info.width, info.height) == (256, 256), name
        assert image_info(formats/name).width == 256
        if name not in ('photo.pgm', 'photo.pbm'):  # grey and one bit per pixel: compared in grey below
            assert np.abs(np.asarray(im, np.float32) - np.asarray(photo, np.float32)).mean() < 5, name
        err = np.abs(grey(im) - grey(photo)).mean()  # a 32x32 grey thumbnail: PBM's dithering averages out
        assert err < (6 if name == 'photo.pbm' else 1), (name, err)

def test_rotated_heic_is_upright(formats):
    "A HEIC stored sideways with orientation 6 opens the way the photo looks, not sideways or mirrored."
    photo = np.asarray(_photo(), np.float32)
    im = np.asarray(read_image(formats/'photo rotated.heic')[0], np.float32)
    up = np.abs(im - photo).mean()
    wrong = min(np.abs(np.rot90(im, k) - photo).mean() for k in (1, 2, 3))
    assert up < 6 and wrong > 5*up, (up, wrong)

def test_imagededup_formats(tmp_path):
    "imagededup's formats_images cases (PPM, PGM, PBM, TIFF, GIF, WebP, BMP, MPO, JPEG), made from real photos: all read."
    names = []
    for k, (f, arr) in enumerate([('ppm', skdata.chelsea()), ('pgm', skdata.camera()), ('pbm', skdata.horse()),
                                  ('tiff', skdata.rocket()), ('gif', skdata.coffee()), ('webp', skdata.astronaut()),
                                  ('bmp', skdata.immunohistochemistry()), ('mpo', skdata.chelsea()), ('jpeg', skdata.coffee())]):
        im = Image.fromarray(arr if arr.dtype == np.uint8 else (arr > 0).astype(np.uint8)*255)
        if f == 'pbm': im = im.convert('1')
        kw = dict(save_all=True, append_images=[im.rotate(180)]) if f == 'mpo' else {}
        im.save(tmp_path/f'image{k}.{f}', **kw); names.append(f'image{k}.{f}')
    assert [p.name for p in find_images(tmp_path)] == sorted(names)
    for n in names:
        img, info = read_image(tmp_path/n)
        assert img.mode == 'RGB' and min(img.size) >= 200 and (info.width, info.height) == img.size, n

def test_sniff_by_content(formats, tmp_path):
    "With sniff, a JPEG named .dat or with no extension is read; a text file with an image's name is never listed as readable content."
    for n in ['photo.dat', 'photo']: (tmp_path/n).write_bytes((formats/'photo.jpg').read_bytes())
    (tmp_path/'heic.bin').write_bytes((formats/'photo.heic').read_bytes())
    (tmp_path/'page.svg').write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    skipped = []
    assert [p.name for p in find_images(tmp_path, skipped=skipped, sniff=True)] == ['heic.bin', 'photo', 'photo.dat']
    assert [b.path.name for b in skipped] == ['page.svg']
    assert read_image(tmp_path/'heic.bin')[0].size == (256, 256)  # its plugin found from its first bytes
    skipped = []
    assert find_images(tmp_path, skipped=skipped) == []
    assert skip_summary(skipped) == '1 (no extension), 1 .bin, 1 .dat, 1 .svg (not an image)'

def test_missing_plugin_is_a_reason(formats, tmp_path):
    "Where pillow-jxl-plugin is not installed (hidden from a fresh process), a .jxl file is skipped with what to install."
    code = ("import sys; sys.modules['pillow_jxl'] = None\n"  # import fails: as if not installed
            "import fastdupe.intake as i; i._installed = lambda m: m != 'pillow_jxl'\n"
            "from fastdupe.pipeline import find_duplicates\n"
            f"r = find_duplicates({str(formats)!r}, 'phash', progress=False)\n"
            "print([(b.path.name, b.reason) for b in r.skipped if b.path.suffix == '.jxl'])\n"
            "from fastdupe.intake import safe_read; print(safe_read(r.paths[0].parent/'photo.jxl').reason)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    why = 'JPEG XL needs pillow-jxl-plugin: pip install "fastdupe[jxl]"'
    assert eval(first) == [('photo.jxl', why)] and second == why

def test_report_thumbnails_are_jpeg(formats, tmp_path):
    "The HTML report shows HEIC, AVIF and JPEG XL copies as JPEG thumbnails that any browser shows."
    import base64, re
    r = run_cli('find', formats, '--method', 'phash', '--report', tmp_path/'r.html')
    assert r.returncode == 0, r.stderr
    page = (tmp_path/'r.html').read_text(encoding='utf-8')
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(uris) == len(READABLE)  # one group: every copy; coffee.jpg in none
    for u in uris: assert Image.open(io.BytesIO(base64.b64decode(u))).format == 'JPEG'
    for n in ['photo.heic', 'photo.avif', 'photo.jxl']: assert n in page

def test_store_and_query_read_them(formats, tmp_path):
    "fastdupe index keeps every format, and query finds the photo for a HEIC, AVIF and JPEG XL upload."
    db = tmp_path/'s.db'
    r = run_cli('index', formats, '--db', db, '--method', 'phash', '--sniff')
    assert r.returncode == 0 and 'Traceback' not in r.stdout + r.stderr, r.stderr
    assert f'{len(READABLE) + 4} images' in r.stdout and '2 bad files' in r.stdout and 'skipped: 1 .txt' in r.stdout, r.stdout
    q = tmp_path/'q'; q.mkdir(); p = _photo().resize((200, 200))
    for f in ['heic', 'avif', 'jxl']: p.save(q/f'upload.{f}')
    r = run_cli('query', q, '--db', db, '--method', 'phash')
    assert r.returncode == 0, r.stderr
    for f in ['heic', 'avif', 'jxl']: assert f'upload.{f}: 5 matches' in r.stdout, r.stdout  # --k 5
    for f in ['heic', 'avif', 'jxl']:  # --against: one upload at a time (uploads are never paired with each other)
        q1 = tmp_path/f; q1.mkdir(); (q1/f'upload.{f}').write_bytes((q/f'upload.{f}').read_bytes())
        r = run_cli('find', q1, '--against', formats, '--method', 'phash', '--out', tmp_path/f'{f}.csv')
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(open(tmp_path/f'{f}.csv', encoding='utf-8')))
        assert {Path(x['path']).name for x in rows} >= {f'upload.{f}', 'photo.heic', 'photo.jxl', 'photo.avif'}, rows

def test_widget_thumbnail_of_a_heic(tmp_path):
    "The review widget pairs a HEIC copy with its JPEG, and the bytes it sends the browser for the HEIC are a JPEG of the photo."
    from fastdupe.formatter import DatasetFormatter
    from fastdupe.widgets import ImageCleaner
    photo = _photo()
    photo.save(tmp_path/'astronaut.jpg', quality=90); photo.save(tmp_path/'astronaut.heic', quality=85)
    photo.save(tmp_path/'astronaut.avif', quality=80); photo.save(tmp_path/'astronaut.jxl', quality=85)
    _other().save(tmp_path/'coffee.jpg', quality=90)
    ds, idxs = DatasetFormatter.from_hashes(tmp_path, progress=False, n_workers=0)
    w = ImageCleaner(ds, idxs, tmp_path, duplicates=True, display=False)
    names = [Path(p).name for p in ds.items]
    assert {names[k] for k in np.ravel(idxs)} == {'astronaut.heic', 'astronaut.jpg', 'astronaut.avif', 'astronaut.jxl'}  # the pairs
    ref = np.asarray(photo.resize((200, 200)), np.float32)
    for n in ['astronaut.heic', 'astronaut.avif', 'astronaut.jxl']:
        b = w._thumb(names.index(n))
        im = Image.open(io.BytesIO(b))
        assert im.format == 'JPEG' and im.size == (200, 200), n  # the widget's Image(format='jpeg') says so too
        assert np.abs(np.asarray(im.convert('RGB'), np.float32) - ref).mean() < 8, n

def test_heic_read_by_the_decoder_alone(formats):
    "fastdupe reads HEIC with pi-heif (libheif's decoder, no x265 encoder), imported only once a HEIC file is met."
    code = ("import sys, fastdupe.pipeline\nfrom fastdupe.intake import read_image\n"
            "print('pi_heif' in sys.modules)\n"
            f"print(read_image({str(formats/'photo rotated.heic')!r})[0].size)\n"
            "print('pi_heif' in sys.modules, 'pillow_heif' in sys.modules)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['False', '(256, 256)', 'True False']

def test_cluster_reads_them(tmp_path):
    "The Dask path (find --scheduler local:1) reads HEIC, AVIF, JPEG XL and DNG in its worker and groups them with the JPEG."
    pytest.importorskip('distributed')
    d = tmp_path/'c'; d.mkdir()
    photo = _photo()
    for f, kw in [('jpg', dict(quality=90)), ('heic', dict(quality=90)), ('avif', dict(quality=85)), ('jxl', dict(quality=90))]:
        photo.save(d/f'photo.{f}', **kw)
    save_dng(d/'photo.dng', photo); _other().save(d/'coffee.jpg', quality=90)
    r = run_cli('find', d, '--scheduler', 'local:1', '--shards', tmp_path/'shards', '--out', tmp_path/'c.csv')
    assert r.returncode == 0 and 'Traceback' not in r.stdout + r.stderr, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'c.csv', encoding='utf-8')))
    assert sorted(Path(x['path']).name for x in rows) == ['photo.avif', 'photo.dng', 'photo.heic', 'photo.jpg', 'photo.jxl']
    assert len({x['group'] for x in rows}) == 1
