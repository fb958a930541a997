#!/usr/bin/env python
"""README.md is generated from nbs/index.ipynb: its markdown cells joined by blank lines, the `> summary` line under the
title as a plain paragraph. Code cells are left out.

    python docs/readme.py            # write README.md
    python docs/readme.py --check    # exit 1 with a diff when README.md is not what index.ipynb gives (.ci/run does this)
"""
import argparse, difflib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def readme_text(nb_path:Path) -> str:
    "The README that `nb_path` gives"
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    cells = []
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        src = src.strip('\n')
        if src: cells.append(src)
    if not cells: raise SystemExit(f'{nb_path} has no markdown cells')
    # the summary under the title: a plain paragraph, as nbdev's README shows it
    cells[0] = re.sub(r'\A(\s*#\s+[^\n]+\n(?:\s*\n)*)>\s?', r'\1', cells[0])
    return '\n\n'.join(cells) + '\n'

def check_quick_start(text:str) -> list[str]:
    "Problems with the top of the README: the quick-start commands come first, in ```bash blocks, the tests among them"
    probs = []
    heads = [m.start() for m in re.finditer(r'^## ', text, re.M)]
    blocks = [(m.start(), m.group(1), m.group(2)) for m in re.finditer(r'^```(\w*)\n(.*?)^```', text, re.M | re.S)]
    first = blocks[:2]
    if len(first) < 2 or any(lang != 'bash' for _, lang, _ in first):
        probs.append('the first two code blocks must be the ```bash quick-start commands')
    elif len(heads) > 1 and first[1][0] > heads[1]:
        probs.append('the quick-start commands must come before the second section')
    elif not any('pytest' in code for _, _, code in first):
        probs.append('one of the quick-start commands must run the tests (pytest): .ci/run runs it')
    return probs

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='only check README.md; exit 1 when it differs')
    ap.add_argument('--nb', default=str(ROOT/'nbs'/'index.ipynb'))
    ap.add_argument('--readme', default=str(ROOT/'README.md'))
    a = ap.parse_args(argv)
    want, path = readme_text(Path(a.nb)), Path(a.readme)
    probs = check_quick_start(want)
    if probs: raise SystemExit(f'{a.nb}: ' + '; '.join(probs))
    if not a.check:
        path.write_text(want, encoding='utf-8')
        return print(f'wrote {path} from {a.nb}')
    have = path.read_text(encoding='utf-8') if path.exists() else ''
    if have == want: return print(f'{path.name} is in sync with {Path(a.nb).name}')
    sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), want.splitlines(True), str(path), f'from {a.nb}'))
    raise SystemExit(f'{path.name} is out of date: run `python docs/readme.py` (and commit it)')

if __name__ == '__main__': main()
