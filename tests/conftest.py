import os, shutil, subprocess, sys
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

def ensure_chromium() -> bool:
    "Whether Debian's Chromium is there; when it is not and this is a root shell with apt-get, install it first."
    if Path(CHROMIUM).exists(): return True
    if shutil.which('apt-get') and hasattr(os, 'geteuid') and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        install = ['apt-get', 'install', '-y', '-qq', 'chromium']
        if subprocess.run(install, env=env, capture_output=True).returncode:
            subprocess.run(['apt-get', 'update', '-qq'], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
    return Path(CHROMIUM).exists()

@pytest.fixture(scope='session')
def browser(tmp_path_factory):
    "Debian's Chromium driven by Playwright, headless (never a downloaded browser)."
    if not ensure_chromium():
        pytest.skip(f"{CHROMIUM} is missing and could not be installed here: install Debian's chromium package "
                    "(apt-get install chromium) to run the browser tests")
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
