"""The docs site: `python docs/build.py` builds it from the notebooks; it is read offline, in headless Chromium.

Checks: every page in pipeline order in the navigation; every relative link and image in every page resolves (file and
anchor); nothing is loaded from another host (no script, stylesheet, font or image); every exported function and class
has its documentation anchor; the formatter page documents `DatasetFormatter.from_similars` with its signature and
docments; the widgets page shows the review widget (a duplicate pair) and a `show_duplicates` picture; the search box
finds a function; a notebook that fails is named with its error, and the rest of the site is still written.
Screenshots are saved to tests/_artifacts/docs_*.png."""
import importlib, inspect, json, re, shutil, subprocess, sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
FETCHING = {'script': 'src', 'link': 'href', 'img': 'src', 'iframe': 'src', 'source': 'src', 'video': 'src',
            'audio': 'src', 'embed': 'src', 'object': 'data', 'input': 'src'}

def _notebooks():
    fs = [p for p in sorted(NBS.glob('*.ipynb')) if not p.name.startswith(('_', '.'))]
    return sorted(fs, key=lambda p: (p.stem != 'index', p.name))

def _page(nb): return re.sub(r'^\d+[a-z]?_', '', nb.stem) + '.html'

def _default_exp(nb):
    m = re.search(r'#\|\s*default_exp\s+(\S+?)(?:\\n|")', nb.read_text())
    return m and m.group(1)

@pytest.fixture(scope='module')
def built(tmp_path_factory):
    "The documented command, run into a fresh folder: its result and the folder"
    out = tmp_path_factory.mktemp('docs')/'_site'
    t0 = time.time()
    # a notebook may take --nb-timeout (1200 s) and a cell --cell-timeout (600 s); two notebooks run at once
    r = subprocess.run([sys.executable, 'docs/build.py', '--out', str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=2400)
    print(f'docs built in {time.time()-t0:.0f}s (exit status {r.returncode}):\n{r.stdout}')
    return r, out

@pytest.fixture(scope='module')
def site(built):
    "The site: written even where a notebook failed (test_every_notebook_runs says which, and why)"
    r, out = built
    assert (out/'index.html').is_file(), f'docs build wrote no site:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    return out

def test_every_notebook_runs(built):
    "Every notebook ran for the docs; a failure names the notebook, its exception and its traceback's tail"
    r, out = built
    assert r.returncode == 0, f'docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'

def _nb(*cells):
    "A notebook with a title and these code cells"
    code = [dict(cell_type='code', execution_count=None, metadata={}, outputs=[], source=c) for c in cells]
    return json.dumps(dict(cells=[dict(cell_type='markdown', metadata={}, source='# Page\n> a page'), *code],
                           metadata=dict(kernelspec=dict(name='python3', display_name='python3', language='python')),
                           nbformat=4, nbformat_minor=5))

def test_a_failing_notebook_is_named_and_the_rest_written(tmp_path):
    "A notebook that raises and one whose cell times out: both named with their error, every page still written"
    nbs = tmp_path/'nbs'; nbs.mkdir()
    (nbs/'01_good.ipynb').write_text(_nb('print("all well")'))
    (nbs/'02_bad.ipynb').write_text(_nb('print("before the error")', 'raise ValueError("the reason it failed")', '1'))
    (nbs/'03_slow.ipynb').write_text(_nb('import time\nfor _ in range(120): time.sleep(0.5)'))
    out = tmp_path/'site'
    r = subprocess.run([sys.executable, 'docs/build.py', '--nbs', str(nbs), '--out', str(out), '--cell-timeout', '3'],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    err = r.stderr
    assert '=== 02_bad.ipynb failed ===' in err and 'ValueError: the reason it failed' in err, err
    # a cell past --cell-timeout: said so, with the cell's code (it once ended as a bare "exit code 1")
    assert '=== 03_slow.ipynb failed ===' in err and 'TimeoutError: Timed out after 3s' in err, err
    assert 'did not run: 02_bad.ipynb, 03_slow.ipynb' in err and '01_good' not in err, err
    for page in ('good.html', 'bad.html', 'slow.html'): assert (out/page).is_file(), page
    bad = (out/'bad.html').read_text()
    assert 'class="build-error"' in bad and 'the reason it failed' in bad and 'before the error' in bad
    assert 'build-error' not in (out/'good.html').read_text()

class _Parse(HTMLParser):
    "ids, and every (tag, attribute, url) that links or loads something"
    def __init__(self):
        super().__init__(); self.ids, self.refs, self.nav = set(), [], []
        self._in_pages = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and 'name' in a: self.ids.add(a['name'])
        if tag == 'ol' and a.get('class') == 'pages': self._in_pages = True
        for k in ('href', 'src', 'data'):
            if a.get(k) is not None: self.refs.append((tag, k, a[k]))
        if tag == 'a' and self._in_pages: self.nav.append(a.get('href'))
    def handle_endtag(self, tag):
        if tag == 'ol': self._in_pages = False

def _parse(f):
    p = _Parse(); p.feed(f.read_text(encoding='utf-8')); return p

def test_pages_in_pipeline_order(site):
    want = [_page(nb) for nb in _notebooks()]
    assert want[0] == 'index.html'
    for f in want: assert (site/f).is_file(), f'{f} was not built'
    for f in want: assert _parse(site/f).nav == want, f'navigation of {f} is not in pipeline order'

def test_links_resolve_and_nothing_external(site):
    pages = sorted(site.glob('*.html'))
    ids = {f.name: _parse(f).ids for f in pages}
    n = 0
    for f in pages:
        for tag, attr, url in _parse(f).refs:
            u = urlsplit(url)
            if u.scheme == 'data': continue  # inline, nothing fetched
            if u.scheme or url.startswith('//'):
                assert not (FETCHING.get(tag) == attr), f'{f.name}: <{tag} {attr}="{url[:200]}"> loads from elsewhere'
                assert u.scheme in ('http', 'https', 'mailto', 'data') or tag == 'a', f'{f.name}: odd url {url}'
                continue
            target = (f.parent/unquote(u.path)).resolve() if u.path else f
            assert target.is_file(), f'{f.name}: {tag} {attr}="{url[:200]}" points to a missing file'
            assert site.resolve() in target.parents, f'{f.name}: {url} leaves the site folder'
            if u.fragment and target.suffix == '.html':
                assert unquote(u.fragment) in ids[target.name], f'{f.name}: {url}: no id "{u.fragment}" in {target.name}'
            n += 1
    assert n > 100, 'suspiciously few links'
    for css in site.glob('assets/*.css'):
        assert not re.search(r'@import|url\(\s*["\']?(https?:)?//', css.read_text()), f'{css.name} fetches from elsewhere'
    for f in pages:
        t = f.read_text()
        assert not re.search(r'mathjax|require\.js|requirejs|cdn\.', t, re.I), f'{f.name} needs a CDN script'

def test_every_export_documented(site):
    "Each function and class a module exports (`__all__`) has its anchor on the module's page"
    n = 0
    for nb in _notebooks():
        mod = _default_exp(nb)
        if not mod: continue
        m = importlib.import_module(f'fastdupe.{mod}')
        ids = _parse(site/_page(nb)).ids
        for name in getattr(m, '__all__', []):
            o = getattr(m, name, None)
            if not (inspect.isfunction(o) or inspect.isclass(o)) or getattr(o, '__module__', None) != m.__name__: continue
            if getattr(o, '__name__', name) != name: continue  # an alias
            assert name in ids, f'{name} (fastdupe.{mod}) is not documented on {_page(nb)}'
            n += 1
    assert n >= 20

def _route_offline(page, seen):
    "Abort and record any request that is not for a local file"
    def handle(route):
        if route.request.url.startswith(('file:', 'data:')): route.continue_()
        else: seen.append(route.request.url); route.abort()
    page.route('**/*', handle)

def _images_ok(page):
    return page.evaluate("""() => [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0,
                                                                 i.naturalWidth])""")

def _open(browser, url, seen, errors):
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    _route_offline(page, seen)
    page.goto(url, wait_until='load')
    return page

def test_home_page_and_search(site, browser, artifacts):
    seen, errors = [], []
    page = _open(browser, (site/'index.html').as_uri(), seen, errors)
    assert page.title().startswith('fastdupe')
    assert 'Quick start' in page.inner_text('article')
    assert all(ok for _, ok, _ in _images_ok(page))
    page.screenshot(path=str(artifacts/'docs_home.png'), full_page=True)
    # the search box: a documented function, found and followed
    page.fill('#search', 'find_duplicates')
    res = page.locator('#search-results a').first
    res.wait_for(state='visible', timeout=5000)
    href = res.get_attribute('href')
    assert href.endswith('#find_duplicates'), href
    page.screenshot(path=str(artifacts/'docs_search.png'))
    page.keyboard.press('Enter')
    page.wait_for_url(re.compile(r'#find_duplicates$'), timeout=5000)
    assert page.locator('[id="find_duplicates"]').is_visible()
    assert not seen, f'requests to other hosts: {seen}'
    assert not errors, errors
    page.close()

def _doc_section(page, name):
    "Text of the documentation block of `name`, and of its parameter table's rows"
    h = page.locator(f'[id="{name}"]')
    assert h.count() == 1, f'{name} is not documented on {page.url}'
    sec = h.locator('xpath=..')
    rows = [r.inner_text() for r in sec.locator(':scope > table.params tr').all()]
    return sec.locator(':scope > pre.sig').inner_text(), sec.inner_text(), rows

@pytest.mark.parametrize('page_name', ['formatter', 'features'])
def test_formatter_api_page(page_name, site, browser, artifacts):
    "The formatter and features pages document `DatasetFormatter.from_similars`: its signature and its parameters' docments"
    from fastcore.docments import docments
    from fastdupe.formatter import DatasetFormatter
    seen, errors = [], []
    page = _open(browser, (site/f'{page_name}.html').as_uri(), seen, errors)
    page.screenshot(path=str(artifacts/f'docs_{page_name}.png'), full_page=True)
    assert hasattr(DatasetFormatter, 'from_similars'), 'DatasetFormatter.from_similars is not in fastdupe.formatter yet'
    sig, text, rows = _doc_section(page, 'DatasetFormatter.from_similars')
    params = [n for n in inspect.signature(DatasetFormatter.from_similars).parameters]
    assert 'from_similars(' in sig
    for n in params: assert n in sig, f'{n} missing from the signature shown: {sig}'
    dm = docments(DatasetFormatter.from_similars, full=True)
    for n in params:
        d = dm[n]
        row = next((r for r in rows if r.split()[0].lstrip('*') == n), None)
        assert row is not None, f'no parameter row for {n}: {rows}'
        if d['docment']: assert re.sub(r'`', '', d['docment']) in row, f'{n}: {d["docment"]!r} not in {row!r}'
        if d['default'] is not inspect.Parameter.empty and d['default'] is not None:
            assert repr(d['default']) in row, f'{n}: default {d["default"]!r} not in {row!r}'
    if (doc := inspect.getdoc(DatasetFormatter.from_similars)):
        assert re.sub(r'\s+', ' ', doc.replace('`', ''))[:60] in re.sub(r'\s+', ' ', text), 'docstring not shown'
    page.locator('[id="DatasetFormatter.from_similars"]').scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts/f'docs_{page_name}_from_similars.png'))
    assert all(ok for _, ok, _ in _images_ok(page))
    assert not seen, f'requests to other hosts: {seen}'
    assert not errors, errors
    page.close()

def _widgets_page(site, browser):
    if not (NBS/'07_widgets.ipynb').exists(): pytest.skip('nbs/07_widgets.ipynb is not there yet')
    seen, errors = [], []
    page = _open(browser, (site/'widgets.html').as_uri(), seen, errors)
    imgs = _images_ok(page)
    assert imgs and all(ok for _, ok, _ in imgs), [i for i in imgs if not i[1]] or 'no images'
    return page, seen

def test_widgets_page_shows_review_widget(site, browser, artifacts):
    "The widgets page shows the review widget as its cell left it: a duplicate pair, both pictures loaded"
    page, seen = _widgets_page(site, browser)
    snap = page.locator('.widget-snapshot').first
    assert snap.count() == 1, 'no picture of the review widget on the widgets page'
    ws = snap.locator('img').evaluate_all('xs => xs.map(i => i.naturalWidth)')
    assert len(ws) >= 2 and all(w > 0 for w in ws[:2]), ws
    snap.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts/'docs_widgets.png'))
    assert not seen, f'requests to other hosts: {seen}'
    page.close()

def test_widgets_page_shows_duplicates_picture(site, browser, artifacts):
    "The widgets page shows the `show_duplicates` picture of duplicate pairs"
    page, seen = _widgets_page(site, browser)
    cells = page.locator('.cell').filter(has=page.locator('.cell-input', has_text='show_duplicates('))
    assert cells.count() >= 1, 'no cell calls show_duplicates on the widgets page'
    pics = cells.locator('.cell-output img')
    assert pics.count() >= 1, ('the show_duplicates cell shows no picture (a trailing `;` hides the figure it returns: '
                               'display it, or drop the `;`, in nbs/07_widgets.ipynb)')
    w = pics.first.evaluate('i => i.naturalWidth')
    assert w >= 200, f'the duplicates picture is only {w}px wide'
    pics.first.screenshot(path=str(artifacts/'docs_widgets_show_duplicates.png'))
    assert not seen, f'requests to other hosts: {seen}'
    page.close()

def test_readme_generated_from_index(tmp_path):
    "README.md is what `docs/readme.py` makes of nbs/index.ipynb, and `--check` fails on one that is not"
    r = subprocess.run([sys.executable, 'docs/readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    stale = tmp_path/'README.md'
    stale.write_text((ROOT/'README.md').read_text().replace('## Quick start', '## Quickstart'))
    r = subprocess.run([sys.executable, 'docs/readme.py', '--check', '--readme', str(stale)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 1 and '+## Quick start' in r.stdout
    nb = json.loads((NBS/'index.ipynb').read_text())
    summary = next(l for l in ''.join(nb['cells'][0]['source']).splitlines() if l.startswith('>'))
    readme = (ROOT/'README.md').read_text()
    assert summary[1:].strip() in readme and summary not in readme
