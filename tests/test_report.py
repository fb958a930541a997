"""`fastdupe find … --report report.html` as a user runs it: one self-contained page, opened from disk in Debian's
Chromium with no server; every thumbnail decodes, nothing is fetched. Screenshot in tests/_artifacts/."""
import base64, io, re, shutil
from html.parser import HTMLParser
from pathlib import Path
import pytest
from PIL import Image
from conftest import run_cli, SAMPLE

LAYOUT = {'astronaut.jpg': 'train/astronaut', 'astronaut exif comment.jpg': 'valid/astronaut',
          'coffee.jpg': 'train/coffee', 'coffee recompressed.jpg': 'train/coffee', 'café copy 1.jpg': 'valid/coffee',
          'chelsea.png': 'train/chelsea', 'chelsea copy.png': 'train/chelsea', 'chelsea with text chunk.png': 'train/chelsea',
          'hubble.jpg': 'train/hubble', 'hubble exif rotated.jpg': 'train/hubble',
          'rocket.jpg': 'train/rocket', 'rocket small.jpg': 'train/rocket',
          'camera.png': 'train/camera', 'clock.jpg': 'valid/clock', 'retina.jpg': 'train/retina'}

class Tags(HTMLParser):
    "Every start tag with its attributes."
    def __init__(self):
        super().__init__(); self.tags = []
    def handle_starttag(self, tag, attrs): self.tags.append((tag, dict(attrs)))

@pytest.fixture(scope='module')
def report(tmp_path_factory):
    "The CLI's report on the sample laid out as train/valid folders, plus one file that is not an image."
    d = tmp_path_factory.mktemp('report')
    data = d/'data'
    for f, sub in LAYOUT.items():
        (data/sub).mkdir(parents=True, exist_ok=True); shutil.copy2(SAMPLE/f, data/sub/f)
    (data/'train'/'notes.jpg').write_text('not a picture')
    r = run_cli('find', data, '--report', d/'report.html', '--quiet', '--workers', '0')
    assert r.returncode == 0, r.stderr
    assert f"wrote {d/'report.html'}" in r.stdout
    return d/'report.html'

def test_report_is_self_contained(report):
    page = report.read_text(encoding='utf-8')
    p = Tags(); p.feed(page)
    imgs = [a for t, a in p.tags if t == 'img']
    assert len(imgs) == 12  # 5 groups: 3 + 3 + 2 + 2 + 2 images
    for a in imgs:
        assert a['src'].startswith('data:image/jpeg;base64,')
        im = Image.open(io.BytesIO(base64.b64decode(a['src'].split(',', 1)[1])))
        assert im.format == 'JPEG' and max(im.size) <= 160 and a['alt']
    # nothing that a browser would fetch: no stylesheet links, scripts, frames, or URLs in attributes
    assert not [t for t, _ in p.tags if t in ('link', 'script', 'iframe', 'object', 'embed')]
    assert not [v for _, a in p.tags for k, v in a.items() if k in ('src', 'href') and not v.startswith(('data:', '#'))]
    assert not re.search(r'url\(|@import|https?://', page)
    # groups with sizes, the kept file, scores, splits, the leaks and the bad file
    assert len(re.findall(r'<h2>Group \d+ · (\d) images', page)) == 5
    assert page.count('class="badge keep"') == 5 and page.count('class="badge remove"') == 7
    assert 'distance 0' in page and '<span class="valid">valid</span>' in page
    assert page.count('<section class="group leak"') == 2  # astronaut and coffee straddle train and valid
    assert 'Bad files (1)' in page and 'notes.jpg' in page and 'not an image' in page
    assert 'café copy 1.jpg' in page  # non-ASCII names survive

def test_report_opens_from_disk(report, browser, artifacts):
    ctx = browser.new_context(viewport=dict(width=1200, height=900), offline=True)
    page = ctx.new_page()
    requests = []
    page.on('request', lambda r: requests.append(r.url))
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state('load')
        n = page.evaluate("() => document.images.length")
        widths = page.evaluate("() => [...document.images].map(i => i.complete ? i.naturalWidth : -1)")
        assert n == 12 and all(w > 0 for w in widths), widths
        assert page.locator('section.group').count() == 5
        assert page.locator('section.group.leak .badge.leak').count() == 2
        page.screenshot(path=artifacts/'report.png', full_page=True)
    finally: ctx.close()
    assert requests and all(u.startswith(('file:', 'data:')) for u in requests), requests

def test_report_name_checked(tmp_path):
    r = run_cli('find', SAMPLE, '--report', tmp_path/'report.pdf', '--quiet')
    assert r.returncode == 2 and '--report must end in .html' in r.stderr
    assert not (tmp_path/'report.pdf').exists()
