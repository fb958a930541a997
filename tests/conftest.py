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
