"""The review widget as a person uses it: JupyterLab on localhost, driven in Debian's Chromium by Playwright, on real
photos laid out as a fastai dataset. Run All, Delete, Next, Delete, Apply, Undo; then check `cleaned.csv`, the trash
manifest and every file's bytes. Screenshots go to tests/_artifacts/."""
import hashlib, importlib.util, json, os, re, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
from types import SimpleNamespace
import pandas as pd
import pytest
from conftest import SAMPLE, CHROMIUM
from fastdupe.eval import SAMPLE_LAYOUT

T = 120_000  # ms; a cold JupyterLab in headless Chromium on 2 cores needs ~20 s to reach an idle kernel

# the bundled sample as train/valid/<class>/ folders: four duplicates sit in valid, so some pairs straddle the split
LAYOUT = SAMPLE_LAYOUT
VALID = sorted(f'{d}/{f}' for f, d in LAYOUT.items() if d.startswith('valid'))

CELLS = ["from fastdupe.formatter import DatasetFormatter\nfrom fastdupe.widgets import ImageCleaner\n"
         "ds, fns_idxs = DatasetFormatter.from_hashes('data', progress=False, n_workers=0)",
         "ImageCleaner(ds, fns_idxs, 'data', batch_size=3, duplicates=True)"]

def notebook(cells):
    return dict(nbformat=4, nbformat_minor=5, metadata=dict(kernelspec=dict(display_name='Python 3 (ipykernel)',
                language='python', name='python3')),
                cells=[dict(cell_type='code', id=f'c{k}', metadata={}, execution_count=None, outputs=[], source=c)
                       for k, c in enumerate(cells)])

def digests(root):
    "sha256 of every file under `root` except the cleaner's own (hidden folders, cleaned.*)."
    res = {}
    for dp, dns, fns in os.walk(root):
        dns[:] = [d for d in dns if not d.startswith('.')]
        for f in fns:
            p = Path(dp)/f
            if not f.startswith('cleaned.'): res[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return res

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _settings(d:Path):
    "JupyterLab user settings for a quiet, deterministic session: no news prompt, kernel started without asking, no cell virtualisation."
    for ext, name, val in [('apputils-extension', 'notification', {'fetchNews': 'false', 'checkForUpdates': False}),
                           ('notebook-extension', 'tracker', {'windowingMode': 'none', 'autoStartDefaultKernel': True})]:
        p = d/'@jupyterlab'/ext
        p.mkdir(parents=True, exist_ok=True)
        (p/f'{name}.jupyterlab-settings').write_text(json.dumps(val))

@pytest.fixture
def lab(tmp_path):
    "JupyterLab on a free localhost port with a token; its root holds `data/` (real photos) and `review.ipynb`."
    if importlib.util.find_spec('jupyterlab') is None: pytest.fail("jupyterlab is not installed (pip install jupyterlab; it is in the dev extra)")
    root, data = tmp_path/'root', tmp_path/'root'/'data'
    for f, d in LAYOUT.items():
        (data/d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLE/f, data/d/f)
    (root/'review.ipynb').write_text(json.dumps(notebook(CELLS)))
    _settings(tmp_path/'settings')
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'ws'),
               JUPYTER_RUNTIME_DIR=str(tmp_path/'runtime'), PYTHONUNBUFFERED='1')
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ServerApp.open_browser=False', '--ip=127.0.0.1',
           f'--port={port}', '--port-retries=0', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')  # CI containers run as root
    log = tmp_path/'jupyter.log'
    proc = subprocess.Popen(cmd, env=env, stdout=open(log, 'w'), stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    def api(path, method='GET'):
        req = urllib.request.Request(f'{base}{path}', method=method, headers={'Authorization': f'token {token}'})
        with urllib.request.urlopen(req, timeout=10) as r: return r.read()
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None: pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try: api('/api/status'); break
            except OSError:
                if time.monotonic() - t0 > T/1000: pytest.fail(f"jupyter lab did not answer:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield SimpleNamespace(root=root, data=data, url=f'{base}/lab/tree/review.ipynb?token={token}', log=log)
    finally:
        try:
            for k in json.loads(api('/api/kernels')): api(f"/api/kernels/{k['id']}", 'DELETE')
        except OSError: pass
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(10)

def card(page, name):
    "The card of the image named `name` (relative to data/) on the page shown."
    return page.locator('.fastdupe-card').filter(has=page.locator('.fastdupe-name', has_text=re.compile(f'^{re.escape(name)}$'))).first

def thumbs_loaded(page) -> int:
    "Wait until every thumbnail has decoded; return how many there are."
    page.wait_for_function("""() => { const ims = [...document.querySelectorAll('img.fastdupe-thumb')];
        return ims.length > 0 && ims.every(i => i.complete && i.naturalWidth > 0); }""", timeout=T)
    return page.locator('img.fastdupe-thumb').count()

def run_notebook(browser, lab, name:str='review.ipynb', height:int=1000):
    "A new browser context on the notebook `name` in JupyterLab, run as a person would: once the notebook is open and its "
    "kernel is up, Run > Run All Cells. Returns the context (close it) and the page."
    ctx = browser.new_context(viewport=dict(width=1400, height=height))
    page = ctx.new_page()
    page.set_default_timeout(T)
    page.goto(lab.url.replace('review.ipynb', name))
    page.locator('.jp-Notebook .jp-CodeCell').first.wait_for()
    page.locator('.jp-StatusBar-TextItem', has_text=re.compile(r'\(ipykernel\) \| Idle')).first.wait_for()
    page.locator('.lm-MenuBar-itemLabel', has_text=re.compile('^Run$')).click()
    page.locator('.lm-Menu-itemLabel', has_text=re.compile('^Run All Cells$')).click()
    return ctx, page

def test_cleaner_in_jupyterlab(lab, browser, artifacts):
    from playwright.sync_api import expect
    expect.set_options(timeout=T)
    data, before = lab.data, digests(lab.data)
    ctx, page = run_notebook(browser, lab, height=1700)
    try:
        w = page.locator('.fastdupe-cleaner')
        w.wait_for()
        expect(page.locator('.fastdupe-pair')).to_have_count(3)
        test_n = thumbs_loaded(page)
        assert test_n == 6
        expect(page.locator('.fastdupe-progress')).to_contain_text('Batch 1 of 3')
        expect(page.locator('.fastdupe-progress')).to_contain_text('pairs 1–3 of 9')
        # each image shows its name, pixels, bytes and split; each pair its distance; the keeper is marked
        # byte-identical copies: the keeper is the one whose name does not say 'copy'
        c1, k1 = card(page, 'train/chelsea/chelsea copy.png'), card(page, 'train/chelsea/chelsea.png')
        expect(c1).to_contain_text('451×300 px')
        expect(c1).to_contain_text('KB')
        expect(c1).to_contain_text('train')
        expect(k1).to_contain_text('keep (suggested)')
        expect(c1).not_to_contain_text('keep (suggested)')
        expect(page.locator('.fastdupe-pair').first).to_contain_text('distance 0')
        w.screenshot(path=artifacts/'widget_1_pairs.png')

        # Delete one image, no Next: cleaned.csv has lost it already and keeps every valid item
        c1.locator('.fastdupe-delete').click()
        expect(c1).to_contain_text('marked for deletion')  # the kernel has handled the click (it saves first)
        df = pd.read_csv(data/'cleaned.csv')
        assert 'train/chelsea/chelsea copy.png' not in set(df.name) and len(df) == 14
        assert sorted(df.name[df.is_valid]) == VALID
        assert json.loads((data/'cleaned.decisions.json').read_text())['deleted'] == ['train/chelsea/chelsea copy.png']

        # Next: the pair whose image is now deleted is skipped; a pair across train and valid is flagged
        page.locator('.fastdupe-next').click()
        expect(page.locator('.fastdupe-progress')).to_contain_text('Batch 2 of')
        expect(page.locator('.fastdupe-progress')).to_contain_text('1 skipped')
        leak = page.locator('.fastdupe-leak').first
        expect(leak).to_contain_text('leak: the same picture is in train and valid')
        assert thumbs_loaded(page) == 6
        c2 = card(page, 'train/astronaut/astronaut.jpg')
        expect(card(page, 'valid/astronaut/astronaut exif comment.jpg')).to_contain_text('valid')
        c2.locator('.fastdupe-delete').click()
        expect(c2).to_contain_text('marked for deletion')
        w.screenshot(path=artifacts/'widget_2_next_leak_deleted.png')
        df = pd.read_csv(data/'cleaned.csv')
        assert {'train/chelsea/chelsea copy.png', 'train/astronaut/astronaut.jpg'}.isdisjoint(df.name) and len(df) == 13
        assert sorted(df.name[df.is_valid]) == VALID
        assert before == digests(data)  # Delete touches no file

        # Apply: both files move into the hidden trash, with a manifest of their digests
        page.locator('.fastdupe-apply').click()
        expect(page.locator('.fastdupe-status')).to_contain_text('Moved 2 files')
        gone = ['train/astronaut/astronaut.jpg', 'train/chelsea/chelsea copy.png']
        assert not any((data/n).exists() for n in gone)
        (mfn,) = sorted((data/'.fastdupe_trash').glob('*/manifest.json'))
        man = json.loads(mfn.read_text())
        assert sorted(e['name'] for e in man['files']) == gone
        for e in man['files']:
            t = data/e['trash']                                       # manifest paths: relative to the dataset
            assert t == mfn.parent/e['name'] and t.is_file()
            assert e['sha256'] == before[e['name']] == hashlib.sha256(t.read_bytes()).hexdigest()
            assert e['size'] == t.stat().st_size and e['original'] == e['name'] and not Path(e['trash']).is_absolute()
        w.screenshot(path=artifacts/'widget_3_applied.png')

        # Undo: every file back, byte for byte
        page.locator('.fastdupe-undo').click()
        expect(page.locator('.fastdupe-status')).to_contain_text('Put back 2 files')
        assert digests(data) == before
        assert json.loads(mfn.read_text())['files'][0]['restored']
        page.locator('.fastdupe-cleaner').scroll_into_view_if_needed()
        page.screenshot(path=artifacts/'widget_4_undone_page.png')
    except Exception:
        page.screenshot(path=artifacts/'widget_failure.png')
        print(lab.log.read_text()[-3000:])
        raise
    finally: ctx.close()

    # what the widget wrote, fastai reads: the two deleted files stay out, the split comes from is_valid
    from fastai.vision.all import ImageDataLoaders, Resize
    dls = ImageDataLoaders.from_csv(data, 'cleaned.csv', valid_col='is_valid', item_tfms=Resize(64), bs=4, num_workers=0)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (9, 4)

HEIC_CELLS = ["from fastdupe.formatter import DatasetFormatter\nfrom fastdupe.widgets import ImageCleaner\n"
              "ds, fns_idxs = DatasetFormatter.from_hashes('phone', progress=False, n_workers=0)",
              "ImageCleaner(ds, fns_idxs, 'phone', duplicates=True)"]

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium package to run it")
def test_heic_beside_its_jpeg(lab, browser, artifacts):
    "A phone's HEIC copy of a photo shows beside the JPEG in JupyterLab: Chromium cannot show HEIC, so the widget sends a JPEG thumbnail."
    from playwright.sync_api import expect
    from PIL import Image
    import pillow_heif; pillow_heif.register_heif_opener()  # writes the HEIC (the kernel reads it with pi-heif)
    phone = lab.root/'phone'; phone.mkdir()
    shutil.copy2(SAMPLE/'astronaut.jpg', phone/'astronaut.jpg'); shutil.copy2(SAMPLE/'coffee.jpg', phone/'coffee.jpg')
    with Image.open(SAMPLE/'astronaut.jpg') as im: im.convert('RGB').save(phone/'astronaut.heic', quality=85)
    (lab.root/'phone.ipynb').write_text(json.dumps(notebook(HEIC_CELLS)))
    expect.set_options(timeout=T)
    ctx, page = run_notebook(browser, lab, 'phone.ipynb')
    try:
        page.locator('.fastdupe-cleaner').wait_for()
        expect(page.locator('.fastdupe-pair')).to_have_count(1)
        assert thumbs_loaded(page) == 2  # both decoded by the browser: naturalWidth > 0
        heic, jpg = card(page, 'astronaut.heic'), card(page, 'astronaut.jpg')
        expect(heic).to_be_visible(); expect(jpg).to_be_visible()
        w = heic.locator('img.fastdupe-thumb').evaluate('i => i.naturalWidth')
        assert w == jpg.locator('img.fastdupe-thumb').evaluate('i => i.naturalWidth') and w > 100
        page.locator('.fastdupe-cleaner').screenshot(path=artifacts/'widget_heic_pair.png')
    finally: ctx.close()

HEALTH_CELLS = ["from fastdupe.widgets import ImageCleaner\n"
                "ImageCleaner.from_health('data', 'blurry', batch_size=3)"]

def test_health_review_in_jupyterlab(lab, browser, artifacts):
    """ImageCleaner.from_health reviews `blurry` in JupyterLab: the blurred photo first, with its blur score; Delete on
    it writes cleaned.csv without it."""
    from playwright.sync_api import expect
    from PIL import Image, ImageFilter
    from fastdupe.health import find_health
    blurred = 'train/astronaut/astronaut blurred.jpg'
    with Image.open(lab.data/'train/astronaut/astronaut.jpg') as im:
        im.filter(ImageFilter.GaussianBlur(4)).save(lab.data/blurred)
    (lab.root/'health.ipynb').write_text(json.dumps(notebook(HEALTH_CELLS)))
    h = find_health(lab.data)
    flagged = [Path(p).relative_to(lab.data).as_posix() for p in h.flagged('blurry')]
    assert flagged[0] == blurred  # the planted blur is the worst; what the widget must show first
    score = dict(zip(map(str, h.paths), h.scores['blurry']))[str(lab.data/blurred)]
    n_images = len(digests(lab.data))
    expect.set_options(timeout=T)
    ctx, page = run_notebook(browser, lab, 'health.ipynb', height=1200)
    try:
        w = page.locator('.fastdupe-cleaner')
        w.wait_for()
        expect(page.locator('.fastdupe-header')).to_contain_text(f'reviewing {len(flagged)} images flagged blurry')
        assert thumbs_loaded(page) == min(3, len(flagged))
        c = card(page, blurred)
        expect(page.locator('.fastdupe-card').first.locator('.fastdupe-name')).to_have_text(blurred)  # worst first
        expect(c.locator('.fastdupe-issue-score')).to_have_text(f'blurry score {score:.3f}')  # labelled as such
        expect(c).not_to_contain_text('loss')
        w.screenshot(path=artifacts/'widget_health_blurry.png')
        c.locator('.fastdupe-delete').click()
        expect(c).to_contain_text('marked for deletion')  # the kernel has handled the click (it saves first)
        df = pd.read_csv(lab.data/'cleaned.csv')
        assert blurred not in set(df.name) and len(df) == n_images - 1
        assert (lab.data/blurred).exists()  # Delete only marks: no file moves before Apply
    except Exception:
        page.screenshot(path=artifacts/'widget_health_failure.png')
        print(lab.log.read_text()[-3000:])
        raise
    finally: ctx.close()
