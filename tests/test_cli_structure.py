"The command line's structure: commands from one table, option checks in one function, help from the library."
import argparse, csv, inspect, re, subprocess, sys
from pathlib import Path
import pytest
import fastdupe.cli as cli
from fastdupe.cli import COMMANDS, check_arguments, parser, main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(cli.__file__).parent/'data'/'sample'

def _options(sub:argparse.ArgumentParser) -> set[str]:
    return {o for a in sub._actions for o in a.option_strings if o.startswith('--') and o != '--help'}

def _args(*argv) -> argparse.Namespace: return parser().parse_args([str(a) for a in argv])

def test_commands_come_from_the_table():
    p = parser()
    assert list(p.commands) == list(COMMANDS) == ['find', 'index', 'query', 'train-verifier', 'health']
    for name, (add, run) in COMMANDS.items():
        assert callable(add) and callable(run)
        assert 'opts' in inspect.signature(run).parameters, name

def test_find_command_is_short():
    src = inspect.getsource(cli.find_command).rstrip('\n').splitlines()
    assert len(src) < 40, len(src)

def test_lines_within_120():
    long = [i for i, l in enumerate((ROOT/'fastdupe'/'cli.py').read_text().splitlines(), 1)
            if len(l) > 120 and not l.startswith('__all__')]  # nbdev writes __all__
    assert not long, long

def test_check_arguments_find(tmp_path):
    kw = check_arguments('find', _args('find', SAMPLE, '--method', 'phash', '--threshold', '8', '--turns', '--workers', 0))
    assert kw['method'] == 'phash' and kw['threshold'] == 8 and kw['turns'] is True and kw['n_workers'] == 0
    assert kw['src'] == SAMPLE and 'progress' not in kw and 'verify' not in kw
    kw = check_arguments('find', _args('find', SAMPLE, '--method', 'cnn', '--turns'))
    assert kw['turns'] is True and 'tta' not in kw  # one name for every method: `find_duplicates(turns=)`
    for argv, said in ((('--out', tmp_path/'x.txt'), '--out must end in .csv or .json'),
                       (('--method', 'phash', '--no-keypoints'), '--no-keypoints applies to the model methods'),
                       (('--method', 'exact', '--turns'), '--turns applies to single hash kinds'),
                       (('--threshold', '-1'), "--threshold for verified is the judge's probability, in [0, 1], got -1"),
                       (('--keep', 'biggest'), '--keep:'),
                       (('--shards', tmp_path), "--shards is where --scheduler's workers write"),
                       (('--workers', '-1'), '--workers must be >= 0')):
        with pytest.raises(ValueError, match=re.escape(said)): check_arguments('find', _args('find', SAMPLE, *argv))

def test_check_arguments_index_and_query(tmp_path):
    assert check_arguments('index', _args('index', SAMPLE)) == {}
    with pytest.raises(ValueError, match='--batch must be at least 1'): check_arguments('index', _args('index', SAMPLE, '--batch', 0))
    with pytest.raises(ValueError, match='PATH must be a folder'):
        check_arguments('index', _args('index', SAMPLE/'chelsea.png'))
    with pytest.raises(ValueError, match='no database there'):
        check_arguments('query', _args('query', SAMPLE, '--db', tmp_path/'none.db'))
    assert check_arguments('health', _args('health', SAMPLE)) is None  # checks its own

def test_usage_errors_name_the_subcommand(capsys):
    with pytest.raises(SystemExit) as e: main(['find', str(SAMPLE), '--method', 'exact', '--turns'])
    assert e.value.code == 2 and 'usage: fastdupe find' in capsys.readouterr().err

def test_help_from_docments():
    from fastdupe.store import Store
    from fastcore.docments import docments
    q = parser().commands['query']
    k = next(a for a in q._actions if '--k' in a.option_strings)
    assert k.help == docments(Store.query)['k'] + ' (default 5)'
    f = parser().commands['find']
    vt = next(a for a in f._actions if '--verify-threshold' in a.option_strings)
    from fastdupe.finders import VERIFY_THRESHOLD
    assert vt.help == f'with --verify: the probability a pair needs (default {VERIFY_THRESHOLD:g})'

def test_docs_read_as_docments_reads_them():
    "cli._docs reads signature comments without importing fastcore.docments: the same text for every function it reads."
    from fastcore.docments import docments
    from fastdupe.pipeline import find_duplicates
    from fastdupe.store import Store
    from fastdupe.health import find_health
    for fn in (find_duplicates, Store, Store.update, Store.query, find_health):
        theirs = {k: v for k, v in docments(fn).items() if k != 'return' and v is not None}
        assert theirs and {k: cli._docs(fn).get(k) for k in theirs} == theirs, fn

def test_verify_threshold_default_is_the_judges():
    "A verifier's probability is the shipped judge's, corrected: its default threshold is the judge's."
    from fastdupe.verify import VERIFY_THRESHOLD
    from fastdupe.judge import load_judge
    assert VERIFY_THRESHOLD == load_judge().threshold

def test_index_offers_every_saved_backend():
    from fastdupe.search import BACKENDS
    assert cli.STORE_INDEXES == tuple(BACKENDS)
    assert cli.INDEX_CHOICES == ('auto',) + tuple(BACKENDS)
    i = next(a for a in parser().commands['index']._actions if '--index' in a.option_strings)
    assert tuple(i.choices) == tuple(BACKENDS) and 'not auto' in i.help

def test_readme_synopsis_names_every_option():
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    syn = text[text.index('## Command line'):]
    syn = syn[syn.index('```') + 3:]; syn = syn[:syn.index('```')]
    p = parser()
    for name in COMMANDS:
        block = re.search(rf'^fastdupe {re.escape(name)} .*?(?=^fastdupe |\Z)', syn, re.M | re.S)
        assert block, name
        missing = {o for o in _options(p.commands[name]) if not re.search(rf'{re.escape(o)}\b', block[0])}
        assert not missing, (name, missing)

def _find(tmp_path, *more):
    return subprocess.run([sys.executable, '-c', 'import sys; from fastdupe.cli import main; sys.exit(main(sys.argv[1:]))',
                           'find', str(tmp_path/'list.csv'), '--method', 'exact', '--out', str(tmp_path/'o.csv'),
                           '--workers', '0', *more], capture_output=True, text=True, cwd=tmp_path)

def test_bad_list_not_ours_is_left(tmp_path):
    (tmp_path/'list.csv').write_text(f'path\n{SAMPLE/"chelsea.png"}\n{SAMPLE/"chelsea copy.png"}\n')
    (tmp_path/'o.bad.csv').write_text('name,score\nmine,1\n')  # a user's file that only shares the name
    r = _find(tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'o.bad.csv').read_text() == 'name,score\nmine,1\n' and 'left' in r.stderr
    with open(tmp_path/'o.bad.csv', 'w', newline='') as f: csv.writer(f).writerows([['path', 'reason'], ['x.jpg', 'broken']])
    r = _find(tmp_path)
    assert r.returncode == 0 and not (tmp_path/'o.bad.csv').exists() and 'removed' in r.stderr, r.stderr
    r = _find(tmp_path)
    assert r.returncode == 0 and not (tmp_path/'o.bad.csv').exists() and 'wrote' in r.stdout, r.stderr
