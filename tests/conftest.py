import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT/'fastdupe'/'data'/'sample'

def run_cli(*args, cwd=None, timeout=600):
    "Run the installed `fastdupe` command as a user would, capturing its output."
    exe = shutil.which('fastdupe')
    cmd = [exe, *map(str, args)] if exe else [sys.executable, '-m', 'fastdupe.cli', *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-quic']
ARTIFACTS = ROOT/'tests'/'_artifacts'

def chromium_missing() -> str | None:
    "Why the browser tests cannot run here (Debian's Chromium is not installed), or None. Tests never install anything."
    if Path(CHROMIUM).exists(): return None
    return (f"{CHROMIUM} is not installed: the browser tests need Debian's Chromium "
            "(install the Debian package chromium as root), driven by Playwright; nothing is downloaded or installed by the tests")

@pytest.fixture(scope='session')
def browser(tmp_path_factory):
    "Debian's Chromium driven by Playwright, headless (never a downloaded browser); the test skips without it."
    if (why := chromium_missing()): pytest.skip(why)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        # Playwright gives each launch a fresh, empty profile of its own
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()

@pytest.fixture(scope='session')
def artifacts():
    "Folder for screenshots a person can look at after the run."
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS

def pytest_configure(config):
    config.addinivalue_line('markers', "browser: uses Debian's Chromium (the `browser` fixture); .ci/run runs these "
                                       "again once Chromium is installed")

def pytest_collection_modifyitems(config, items):
    "Every test that uses the `browser` fixture is marked `browser`, so `pytest -m browser` runs just those."
    for item in items:
        if 'browser' in getattr(item, 'fixturenames', ()): item.add_marker(pytest.mark.browser)
