"Benchmarks' correctness at tiny sizes (their speed targets are printed by the scripts, never asserted here)."
import json, subprocess, sys
from pathlib import Path
from conftest import ROOT

def run_script(name, *args, timeout=900):
    r = subprocess.run([sys.executable, str(ROOT/'bench'/name), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout

def test_hamming_bench_small():
    out = run_script('hamming_bench.py', '--n', 30000, '--planted', 200, '--brute-subset', 30000)
    res = json.loads(out.strip().splitlines()[-1])
    assert res['n'] == 30000 and res['planted_total'] > 100
    # every planted pair within the threshold is found, and the engine agrees with brute force on the same hashes
    assert res['planted_found'] == res['planted_total'] and res['agrees_with_brute_force'] is True
    assert 'brute-force tiles' in out and 'peak RSS' in out

def test_hash_bench_small(tmp_path):
    js = tmp_path/'r.json'
    out = run_script('hash_bench.py', '--data', tmp_path/'data', '--n-originals', 8, '--json', js)
    res = json.loads(js.read_text())
    kinds = {r['kind'] for r in res['rows']}
    assert kinds == {'ahash', 'phash', 'dhash', 'whash'}
    for r in res['rows']:
        assert 0 < r['fd_img_s'] and 0 < r['id_img_s']
        for k in ('fd_P', 'fd_R', 'fd_F1', 'id_P', 'id_R', 'id_F1'): assert 0 <= r[k] <= 1
        # JPEG-quality, downscale and exact copies are found by both at threshold 10
        if r['threshold'] == 10: assert r['fd_R'] > 0.3 and r['id_R'] > 0.3
    assert 'recall per transformation' in out and 'hflip' in out and 'pad' in out

def test_cnn_bench_small(tmp_path):
    js = tmp_path/'c.json'
    out = run_script('cnn_bench.py', '--data', tmp_path/'data', '--n-originals', 5, '--json', js)
    res = json.loads(js.read_text())
    fd, idd = res['rows']
    assert fd['method'].startswith('fastdupe') and idd['method'].startswith('imagededup')
    for r in (fd, idd): assert 0 <= r['F1'] <= 1 and r['wall_s'] > 0
    assert fd['R'] > 0.5  # the default finds most planted copies even on a tiny set
    assert 'rot90' in out and 'hflip' in out and 'grayscale' in out and 'pad' in out
