#!/usr/bin/env python
"""Build fastdupe's docs site from the notebooks, offline, without Quarto.

    python docs/build.py                 # executes nbs/*.ipynb, writes static HTML to _site/ (open _site/index.html)
    python docs/build.py --out DIR --workers 2 --nb-timeout 1200 --cell-timeout 600

Each notebook runs in its own process (cwd `nbs/`, like `nbdev-test`): every code cell runs except those flagged with a
`tst_flags` directive (`#| slow`) or `#| eval: false`. A failing cell or a notebook past `--nb-timeout` fails the build:
the rest of the site is still written (the failed notebook's page shows what ran, with the error on top), the build's
output ends with each failure's exception and traceback tail, and the exit status is 1. As in nbdev, a `show_doc`
cell follows each `#| export` cell for what it defines; here `show_doc` returns structured data (signature, docstring,
docments parameter table, members of classes) that this script renders. Directives are respected: `hide`, `exporti`,
`default_exp` cells are not shown, `export` cells are shown folded under "Exported source" (import-only ones not at
all), `echo: false`, `output: false`, `include: false`, `hide_line` work as in Quarto. Pages follow file-name order
with `index` first, with a sidebar, a table of contents, and a client-side search over a JS index: no file is fetched
from another host, so it reads from `file://` offline.
"""
import argparse, ast, base64, html, json, os, re, shutil, signal, subprocess, sys, tempfile, time, traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
MARKER = '.fastdupe-docs'  # marks a folder this script built (the only kind of non-empty folder it will replace)

# ---------------------------------------------------------------------------------------------------------------------
# Executing one notebook (in a child process)

def _show_doc_targets(cells):
    "Names passed to `show_doc(...)` in top-level expressions of `cells`"
    res = set()
    for c in cells:
        if c.cell_type != 'code': continue
        try: tree = ast.parse(c.source)
        except SyntaxError: continue
        for t in tree.body:
            if (isinstance(t, ast.Expr) and isinstance(t.value, ast.Call) and getattr(t.value.func, 'id', None) == 'show_doc'
                and t.value.args): res.add(ast.unparse(t.value.args[0]))
    return res

def exec_one(nb_path:Path, dest:Path, cell_timeout:int):
    "Run `nb_path` as the docs show it and write it, outputs included, to `dest`"
    os.environ['IN_TEST'] = '1'  # as nbdev-test and nbdev-proc-nbs do
    sys.path[:0] = [str(DOCS), str(ROOT)]  # this checkout's library, even where another copy is installed
    import apidoc, nbdev.showdoc
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.processors import populate_language, add_show_docs
    from execnb.shell import CaptureShell
    from fastcore.nbio import write_nb
    cfg = get_config(path=ROOT)
    try:
        mod = __import__(f'{cfg.lib_name}._modidx', fromlist=['d'])
        modidx = mod.d
    except Exception: modidx = {}
    apidoc.lib.update(lib_name=cfg.lib_name, git_url=cfg.get('git_url'), branch=cfg.get('branch', 'main'), modidx=modidx)
    nbdev.showdoc.show_doc = apidoc.show_doc  # `from nbdev.showdoc import show_doc` in a notebook gets this one

    proc = NBProcessor(nb_path, procs=[populate_language, add_show_docs], rm_directives=False)
    proc.process()
    nb = proc.nb
    apidoc.shown.update(_show_doc_targets(nb.cells))
    flags = set(str(cfg.get('tst_flags', '')).split())
    def skip(cell):
        if cell.cell_type != 'code' or not cell.source.strip(): return True
        d = cell.directives_ or {}
        return str(d.get('eval', '')).strip().lower() == 'false' or bool(flags & d.keys())
    k = CaptureShell(nb_path)
    k.user_ns['show_doc'] = apidoc.show_doc
    cwd = os.getcwd()
    os.chdir(nb_path.parent)
    failed = None
    try: k.run_all(nb, exc_stop=True, preproc=skip, postproc=apidoc.snapshot_widgets, cell_timeout=cell_timeout)
    except BaseException as e:
        try: failed = k.prettytb(fname=nb_path)
        except Exception: pass
        failed = failed or ''.join(traceback.format_exception(e))
    finally: os.chdir(cwd)
    for c in nb.cells:
        c.metadata['skipped'] = c.cell_type == 'code' and skip(c)
        c.pop('directives_', None); c.pop('idx_', None)
    try: write_nb(nb, dest)  # a failed notebook too: its page shows what ran, the error in the failing cell
    except Exception as e: failed = (failed or '') + f'\nwriting {dest} failed: {type(e).__name__}: {e}\n'
    if failed:
        # straight to file descriptor 2: a cell that timed out still runs on the shell's thread, inside IPython's output
        # capture, so sys.stderr is a buffer that os._exit would drop (the build then said only "exit code 1")
        _write_fd(2, failed if failed.endswith('\n') else failed + '\n')
    os._exit(1 if failed else 0)  # leave nothing behind (threads the notebook started)

def _write_fd(fd:int, txt:str):
    "Write `txt` to file descriptor `fd`, whatever `sys.stdout`/`sys.stderr` have been replaced with"
    b = txt.encode('utf-8', 'replace')
    while b: b = b[os.write(fd, b):]

# ---------------------------------------------------------------------------------------------------------------------
# Pages

def notebooks(nbs:Path):
    "Notebooks in pipeline order: index first, then file-name order"
    fs = [p for p in sorted(nbs.glob('*.ipynb')) if not p.name.startswith(('_', '.'))]
    return sorted(fs, key=lambda p: (p.stem != 'index', p.name))

def page_names(fs):
    "`06_formatter.ipynb` -> `formatter.html` as nbdev names pages (the number is kept where names would clash)"
    stems = [re.sub(r'^\d+[a-z]?_', '', p.stem) for p in fs]
    return {p: (s if stems.count(s) == 1 else p.stem) + '.html' for p, s in zip(fs, stems)}

def _slug(s):
    s = re.sub(r'<[^>]+>', '', s).strip().lower()
    s = re.sub(r'[^\w\- ]+', '', s)
    return re.sub(r'[\s]+', '-', s) or 'section'

def _text(s):
    "Plain text of an HTML or markdown snippet, for the search index"
    s = re.sub(r'<[^>]+>', ' ', s)
    return re.sub(r'\s+', ' ', html.unescape(s)).strip()

_re_warn = re.compile(r'^\S.*:\d+: \w*Warning: .*$')

def _strip_warnings(txt):
    "Drop library warnings (`file:line: XWarning: ...` and the source line printed under it) from a stderr stream"
    out, skip = [], False
    for l in txt.split('\n'):
        if _re_warn.match(l): skip = True; continue
        if skip and l.startswith(' '): continue
        skip = False; out.append(l)
    return '\n'.join(out)

class Site:
    def __init__(self, nbs:Path, out:Path, title:str, version:str=''):
        self.nbs, self.out, self.title, self.version = nbs, out, title, version
        from markdown_it import MarkdownIt
        from pygments.formatters import HtmlFormatter
        self.md = MarkdownIt('commonmark', {'html': True, 'highlight': self._hl_fence}).enable(['table', 'strikethrough'])
        self.md.add_render_rule('code_inline', lambda r, tokens, idx, options, env: self._code_inline(tokens, idx, options, env))
        self.md.core.ruler.push('heading_ids', self._heading_ids)
        self.fmt = HtmlFormatter(nowrap=True)
        self.symbols = {}  # name -> url of its anchor
        self.search = []

    # -- markdown --
    def _hl(self, code, lang='python'):
        from pygments import highlight
        from pygments.lexers import get_lexer_by_name, TextLexer
        try: lexer = get_lexer_by_name(lang or 'text')
        except Exception: lexer = TextLexer()
        return highlight(code, lexer, self.fmt)

    def _hl_fence(self, code, lang, attrs):
        return f'<pre class="highlight"><code>{self._hl(code, lang or "text")}</code></pre>'

    def _link(self, txt):
        t = txt.strip()
        t = t[:-2] if t.endswith('()') else t
        if t in self.symbols: return self.symbols[t]
        lib = self.title + '.'
        if t.startswith(lib):
            if t in self.modules: return self.modules[t]
            mod, _, nm = t.rpartition('.')
            if mod in self.modules and nm in self.symbols: return self.symbols[nm]
        return None

    def _code_inline(self, tokens, idx, options, env):
        c = tokens[idx].content
        code = f'<code>{html.escape(c)}</code>'
        url = self._link(c)
        return f'<a class="xref" href="{html.escape(self._rel(url, env))}">{code}</a>' if url else code

    def _rel(self, url, env):
        "`url` relative to the page being rendered (same-page anchors as bare fragments)"
        page = (env or {}).get('page')
        return url[len(page):] if page and url.startswith(page + '#') else url

    def _heading_ids(self, state):
        ids, toc = state.env.setdefault('ids', set()), state.env.setdefault('toc', [])
        toks = state.tokens
        for i, t in enumerate(toks):
            if t.type != 'heading_open': continue
            txt = ''.join(c.content for c in (toks[i+1].children or []))
            base = _slug(txt); a = base; n = 1
            while a in ids: n += 1; a = f'{base}-{n}'
            ids.add(a); t.attrSet('id', a)
            lvl = int(t.tag[1])
            toc.append((lvl, a, txt))

    def markdown(self, src, env, inline=False):
        return self.md.renderInline(src, env) if inline else self.md.render(src, env)

    # -- notebooks --
    def page(self, nb, fname, nb_path, pages, error=None):
        "HTML of one notebook's page, and its entries for the search index; `error`: why the notebook did not run"
        env = {'page': fname, 'ids': set(), 'toc': []}
        body, title, summary = [], None, ''
        if error:
            body.append('<div class="build-error"><p><strong>This notebook failed when the docs were built</strong>: '
                        'the page shows what ran before the error.</p>'
                        f'<pre class="stream error">{html.escape(error)}</pre></div>')
        sections = []  # (anchor, heading, text) for search
        n_img = [0]
        for cell in nb.cells:
            if cell.cell_type == 'markdown':
                src = self._attachments(cell, fname, n_img)
                if title is None:
                    m = re.match(r'\s*#\s+(.+?)\s*\n(?:\s*\n)*(?:>\s*(.+?)\s*(?:\n|$))?', src + '\n')
                    if m:
                        title, summary = m.group(1), m.group(2) or ''
                        env['ids'].add('title')
                        body.append(f'<header class="page-head"><h1 id="title">{self.markdown(title, env, True)}</h1>' +
                                    (f'<p class="description">{self.markdown(summary, env, True)}</p>' if summary else '') + '</header>')
                        src = src[m.end():]
                h = self._fix_paths(self.markdown(src, env), nb_path, pages)
                body.append(f'<div class="md-cell">{h}</div>')
                # search: each h2/h3 with the text that follows it
                parts = re.split(r'<h([1-6]) id="([^"]+)">(.*?)</h\1>', h, flags=re.S)
                if sections: sections[-1][2] += ' ' + _text(parts[0])
                for lvl, a, txt, after in zip(parts[1::4], parts[2::4], parts[3::4], parts[4::4]):
                    if lvl in ('2', '3'): sections.append([a, _text(txt), _text(after)])
                    elif sections: sections[-1][2] += ' ' + _text(after)
            elif cell.cell_type == 'code':
                body.append(self.code_cell(cell, fname, env, n_img))
            elif cell.cell_type == 'raw': continue
        title = title or nb_path.stem
        return title, summary, '\n'.join(b for b in body if b), env['toc'], sections

    def _attachments(self, cell, fname, n_img):
        src = cell.source
        for name, data in (cell.get('attachments') or {}).items():
            for mime, b64 in data.items():
                if not mime.startswith('image/'): continue
                n_img[0] += 1
                ext = {'image/svg+xml': 'svg', 'image/jpeg': 'jpg'}.get(mime, mime.split('/')[-1])
                fn = f'img/{Path(fname).stem}-att{n_img[0]}.{ext}'
                (self.out/fn).write_bytes(base64.b64decode(''.join(b64)) if ext != 'svg' else ''.join(b64).encode())
                src = src.replace(f'attachment:{name}', fn)
        return src

    def _fix_paths(self, h, nb_path, pages):
        "Links to notebooks become links to their pages; local images the markdown shows are copied beside the pages"
        byname = {p.name: f for p, f in pages.items()}
        def href(m):
            u = m.group(2)
            path, _, frag = u.partition('#')
            if path in byname: return f'{m.group(1)}"{byname[path]}{"#"+frag if frag else ""}"'
            return m.group(0)
        h = re.sub(r'(href=)"([^"]+)"', href, h)
        def src(m):
            u = m.group(2)
            if re.match(r'^(\w+:|/|#)', u) or u.startswith('img/'): return m.group(0)
            f = (nb_path.parent/u).resolve()
            if f.is_file() and nb_path.parent.resolve() in f.parents:
                d = self.out/'files'/f.relative_to(nb_path.parent.resolve())
                d.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, d)
                return f'{m.group(1)}"files/{f.relative_to(nb_path.parent.resolve()).as_posix()}"'
            return m.group(0)
        return re.sub(r'(<img [^>]*?src=)"([^"]+)"', src, h)

    def code_cell(self, cell, fname, env, n_img):
        from fastcore.nbio import NbCell
        d = cell.directives or {}
        def flag(k): return str(d.get(k, '')).strip().lower()
        if {'hide', 'exporti', 'default_exp'} & d.keys() or flag('include') == 'false': return ''
        src_cell = NbCell(0, dict(cell)) if not isinstance(cell, NbCell) else cell
        src_cell.remove_directives()
        src = '\n'.join(l for l in src_cell.source.split('\n') if not re.search(r'#\|\s*hide_line\s*$', l)).strip('\n')
        is_doc = bool(re.match(r'\s*show_doc\(', src)) or cell.get('has_sd')
        outs = '' if flag('output') == 'false' else self.outputs(cell, fname, env, n_img)
        show_src = src and not is_doc and flag('echo') != 'false'
        parts = []
        if show_src:
            code = f'<pre class="highlight"><code>{self._hl(src, cell.metadata.get("language", "python"))}</code></pre>'
            if 'export' in d or 'exports' in d:
                if 'export' in d and self._imports_only(src): return ''
                op = ' open' if 'exports' in d or flag('code-fold') == 'show' else ''
                parts.append(f'<details class="exported"{op}><summary>Exported source</summary>{code}</details>')
            elif flag('code-fold') in ('true', 'show'):
                op = ' open' if flag('code-fold') == 'show' else ''
                parts.append(f'<details class="folded"{op}><summary>Code</summary>{code}</details>')
            else: parts.append(f'<div class="cell-input">{code}</div>')
        if outs: parts.append(f'<div class="cell-output">{outs}</div>')
        if not parts: return ''
        cls = 'cell apidoc-cell' if is_doc else 'cell'
        if cell.metadata.get('skipped') and show_src:
            cls += ' skipped'
            parts.append('<div class="skip-note">not run for the docs (a <code>#| slow</code> or '
                         '<code>#| eval: false</code> cell)</div>')
        return f'<div class="{cls}">' + ''.join(parts) + '</div>'

    @staticmethod
    def _imports_only(src):
        try: tree = ast.parse(src)
        except SyntaxError: return False
        return all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in tree.body)

    def outputs(self, cell, fname, env, n_img):
        from apidoc import MIME, WIDGET_MIME
        res = []
        for o in cell.get('outputs', []):
            t = o.get('output_type')
            if t == 'stream':
                txt = ''.join(o.get('text', ''))
                txt = re.sub(r'\x1b\[[0-?]*[ -/]*[@-~]', '', txt)
                txt = '\n'.join(l.rsplit('\r', 1)[-1] for l in txt.split('\n'))  # progress bars: the last state
                if o.get('name') == 'stderr': txt = _strip_warnings(txt)
                if txt.strip(): res.append(f'<pre class="stream {o.get("name", "stdout")}">{html.escape(txt.rstrip())}</pre>')
            elif t == 'error':
                tb = re.sub(r'\x1b\[[0-9;]*m', '', '\n'.join(o.get('traceback', [])))
                res.append(f'<pre class="stream error">{html.escape(tb or o.get("ename", "") + ": " + o.get("evalue", ""))}</pre>')
            elif t in ('display_data', 'execute_result'):
                data, meta = o.get('data', {}), o.get('metadata', {})
                g = lambda k: ''.join(data[k]) if isinstance(data.get(k), list) else data.get(k)
                if MIME in data: res.append(self.apidoc(data[MIME], env))
                elif 'application/vnd.jupyter.widget-view+json' in data:
                    snap = data.get(WIDGET_MIME)
                    snap = f'<div class="widget-snapshot">{g(WIDGET_MIME)}</div>' if snap else ''
                    res.append(f'{snap}<div class="widget-note">A picture of the interactive widget as the cell left it: '
                               'run the notebook to use it.</div>')
                elif 'text/html' in data: res.append(f'<div class="output-html">{g("text/html")}</div>')
                elif any(k in data for k in ('image/png', 'image/jpeg', 'image/gif', 'image/webp')):
                    k = next(k for k in ('image/png', 'image/jpeg', 'image/gif', 'image/webp') if k in data)
                    n_img[0] += 1
                    fn = f'img/{Path(fname).stem}-{n_img[0]}.{k.split("/")[1].replace("jpeg", "jpg")}'
                    (self.out/fn).write_bytes(base64.b64decode(g(k)))
                    m = meta.get(k, {}) if isinstance(meta.get(k), dict) else {}
                    wh = ''.join(f' {a}="{int(m[a])}"' for a in ('width', 'height') if a in m)
                    alt = html.escape(_text(g('text/plain') or 'output')[:200])
                    res.append(f'<div class="output-img"><img src="{fn}" alt="{alt}"{wh}></div>')
                elif 'image/svg+xml' in data: res.append(f'<div class="output-img">{g("image/svg+xml")}</div>')
                elif 'text/markdown' in data: res.append(f'<div class="output-md">{self.markdown(g("text/markdown"), env)}</div>')
                elif 'text/latex' in data: res.append(f'<pre class="output-text">{html.escape(g("text/latex"))}</pre>')
                elif 'text/plain' in data: res.append(f'<pre class="output-text">{html.escape(g("text/plain"))}</pre>')
        return ''.join(res)

    # -- API docs --
    def apidoc(self, d, env):
        lvl = min(max(int(d.get('level', 3)), 2), 6)
        a, n = d['name'], 1
        while a in env['ids']: n += 1; a = f"{d['name']}-{n}"
        env['ids'].add(a)
        env['toc'].append((lvl, a, f'<code>{html.escape(a)}</code>'))
        src = f' <a class="source-link" href="{html.escape(d["source"])}" rel="noopener">source</a>' if d.get('source') else ''
        kind = (d.get('decorator') or d['kind'])
        h = [f'<section class="apidoc {d["kind"]}">',
             f'<h{lvl} id="{html.escape(a)}" class="doc-title"><code>{html.escape(a)}</code>'
             f' <span class="kind">{html.escape(kind)}</span>{src}</h{lvl}>',
             f'<pre class="highlight sig"><code>{self._hl(d["sig"])}</code></pre>']
        if d.get('doc'): h.append(f'<div class="docstring">{self.markdown(d["doc"], env)}</div>')
        ps, ret = d.get('params') or [], d.get('returns')
        if ps or (ret and (ret.get('anno') or ret.get('doc'))):
            rows = []
            for p in ps:
                dflt = '' if p['default'] is None else f'<code>{html.escape(p["default"])}</code>'
                anno = f'<code>{html.escape(p["anno"])}</code>' if p['anno'] else ''
                rows.append(f'<tr><td><code>{html.escape(p["name"])}</code></td><td>{anno}</td><td>{dflt}</td>'
                            f'<td>{self.markdown(p["doc"] or "", env, True)}</td></tr>')
            if ret:
                anno = f'<code>{html.escape(ret["anno"])}</code>' if ret.get('anno') else ''
                rows.append(f'<tr class="returns"><td><strong>Returns</strong></td><td>{anno}</td><td></td>'
                            f'<td>{self.markdown(ret.get("doc") or "", env, True)}</td></tr>')
            h.append('<table class="params"><thead><tr><th>Parameter</th><th>Type</th><th>Default</th><th>Details</th>'
                     '</tr></thead><tbody>' + ''.join(rows) + '</tbody></table>')
        for m in d.get('members') or []: h.append(self.apidoc(m, env))
        h.append('</section>')
        return ''.join(h)

    def collect_symbols(self, nb, fname):
        from apidoc import MIME
        def walk(d, out):
            out.append(d)
            for m in d.get('members') or []: walk(m, out)
        docs = []
        for c in nb.cells:
            for o in c.get('outputs', []):
                if MIME in o.get('data', {}): walk(o['data'][MIME], docs)
        for d in docs:
            self.symbols.setdefault(d['name'], f'{fname}#{d["name"]}')
        return docs

    # -- whole site --
    def layout(self, pages, cur, title, body, toc, prev, nxt):
        nav = ''.join(f'<li{" class=active" if f == cur else ""}><a href="{f}">{html.escape(t)}</a></li>'
                      for f, t in pages)
        tocs = ''.join(f'<li class="toc-{l}"><a href="#{html.escape(a)}">{t}</a></li>' for l, a, t in toc if l in (2, 3))
        pn = ''
        if prev: pn += f'<a class="prev" href="{prev[0]}">&larr; {html.escape(prev[1])}</a>'
        if nxt: pn += f'<a class="next" href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>'
        ver = f' <span class="version">{html.escape(self.version)}</span>' if self.version else ''
        ptitle = html.escape(_text(title))
        return f'''<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{ptitle} – {html.escape(self.title)}</title>
<link rel="stylesheet" href="assets/style.css">
<link rel="stylesheet" href="assets/pygments.css">
<script src="assets/search_index.js" defer></script>
<script src="assets/search.js" defer></script>
</head>
<body>
<nav class="sidebar" aria-label="Pages">
  <a class="site-title" href="index.html">{html.escape(self.title)}</a>{ver}
  <div class="search"><input id="search" type="search" placeholder="Search (press /)" aria-label="Search" autocomplete="off">
  <ol id="search-results" hidden></ol></div>
  <ol class="pages">{nav}</ol>
</nav>
<main>
<article>
{body}
</article>
<footer class="prevnext">{pn}</footer>
</main>
<aside class="toc" aria-label="On this page">{"<h2>On this page</h2><ol>" + tocs + "</ol>" if tocs else ""}</aside>
</body>
</html>
'''

    def build(self, executed, errors=None):
        "`executed`: [(notebook path, executed notebook)] in page order; `errors`: {notebook path: why it failed}"
        errors = errors or {}
        (self.out/'img').mkdir(parents=True, exist_ok=True)
        (self.out/'assets').mkdir(parents=True, exist_ok=True)
        names = page_names([p for p, _ in executed])
        self.modules = {}
        for p, nb in executed:
            m = next((re.search(r'^\s*#\|\s*default_exp\s+(\S+)', c.source, re.M) for c in nb.cells
                      if c.cell_type == 'code' and re.search(r'^\s*#\|\s*default_exp\s+', c.source, re.M)), None)
            if m: self.modules[f'{self.title}.{m.group(1)}'] = names[p]
        for p, nb in executed: self.collect_symbols(nb, names[p])
        short = {}
        for n, u in self.symbols.items():  # `from_hashes` links to `DatasetFormatter.from_hashes` when only one matches
            if '.' in n: short.setdefault(n.rsplit('.', 1)[1], []).append(u)
        for n, us in short.items():
            if n not in self.symbols and len(us) == 1: self.symbols[n] = us[0]
        rendered = []
        for i, (p, nb) in enumerate(executed):
            rendered.append((names[p],) + self.page(nb, names[p], p, names, _tail(errors.get(p))))
        nav = [(f, 'Home' if f == 'index.html' else _text(t)) for f, t, *_ in rendered]
        for i, (f, t, summary, body, toc, sections) in enumerate(rendered):
            prev = nav[i-1] if i > 0 else None
            nxt = nav[i+1] if i+1 < len(nav) else None
            (self.out/f).write_text(self.layout(nav, f, t, body, toc, prev, nxt), encoding='utf-8')
            self.search.append(dict(t=_text(t), u=f, p=_text(t), x=_text(summary), k='page'))
            for a, h, txt in sections: self.search.append(dict(t=h, u=f'{f}#{a}', p=_text(t), x=txt[:300], k='section'))
        for p, nb in executed:
            for d in self.collect_symbols(nb, names[p]):
                self.search.append(dict(t=d['name'], u=self.symbols[d['name']], p=_text(dict((f, t) for f, t, *_ in rendered)[names[p]]),
                                        x=(d.get('doc') or '').split('\n\n')[0].replace('`', '')[:300], k=d['kind']))
        self.assets()

    def assets(self):
        from pygments.formatters import HtmlFormatter
        a = self.out/'assets'
        for f in (DOCS/'assets').iterdir():
            if f.is_file(): shutil.copy2(f, a/f.name)
        (a/'pygments.css').write_text(HtmlFormatter(style='friendly').get_style_defs('.highlight'))
        (a/'search_index.js').write_text('window.SEARCH_INDEX = ' + json.dumps(self.search, ensure_ascii=False) + ';\n',
                                          encoding='utf-8')
        (self.out/MARKER).write_text('built by docs/build.py\n')

# ---------------------------------------------------------------------------------------------------------------------

def _fresh(dest:Path, p:Path, lib:Path):
    "Is the cached run `dest` newer than notebook `p` and every library module?"
    if not dest.exists(): return False
    srcs = [p, *lib.rglob('*.py')]
    return dest.stat().st_mtime > max(f.stat().st_mtime for f in srcs)

def _tail(err, n=40):
    "The last `n` lines of an error report (the exception and the traceback's end)"
    if not err: return err
    lines = err.rstrip('\n').split('\n')
    return '\n'.join((['...'] if len(lines) > n else []) + lines[-n:])

def _why(r:subprocess.CompletedProcess) -> str:
    "What a notebook's process said when it failed, or how it ended when it said nothing"
    if r.stderr.strip(): return r.stderr[-8000:]
    if r.returncode < 0:
        try: name = signal.Signals(-r.returncode).name
        except ValueError: name = f'signal {-r.returncode}'
        hint = ' (out of memory?)' if -r.returncode == signal.SIGKILL else ''
        return f'the notebook process was killed by {name}{hint}; it wrote nothing to stderr\n'
    return f'the notebook process ended with exit code {r.returncode} and wrote nothing to stderr\n' + (
        f'stdout ended:\n{r.stdout[-2000:]}' if r.stdout.strip() else '')

def _exec_all(fs, tmp:Path, workers:int, nb_timeout:int, cell_timeout:int, quiet=False, cache:Path|None=None, lib=None):
    "Run the notebooks `fs`, `workers` at a time, each in its own process: [(path, its run or None, error)], times"
    def run(p):
        t0 = time.time()
        dest = (cache or tmp)/(p.stem + '.ipynb')
        if cache and _fresh(dest, p, lib):
            if not quiet: print(f'  {p.name}: cached', flush=True)
            return p, dest, None, 0.
        if dest.exists(): dest.unlink()  # a stale or failed run must not pass for this one
        cmd = [sys.executable, str(Path(__file__).resolve()), '--exec-one', str(p), '--dest', str(dest),
               '--cell-timeout', str(cell_timeout)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=nb_timeout, cwd=p.parent)
            err = None if r.returncode == 0 and dest.exists() else _why(r)
        except subprocess.TimeoutExpired as e:
            out = e.stderr.decode('utf-8', 'replace') if isinstance(e.stderr, bytes) else (e.stderr or '')
            err = f'timed out after {nb_timeout}s (--nb-timeout)\n'
            if out.strip(): err += f'stderr ended:\n{out[-4000:]}'
        dt = time.time() - t0
        if not quiet: print(f'  {p.name}: {dt:.1f}s' + (' FAILED' if err else ''), flush=True)
        if err and cache and dest.exists():  # a failed run is shown, never reused as a cached one
            dest = dest.rename(dest.with_suffix('.failed.ipynb'))
        return p, (dest if dest.exists() else None), err, dt
    with ThreadPoolExecutor(max(1, workers)) as ex: res = list(ex.map(run, fs))
    return [(p, dest, err) for p, dest, err, _ in res], {p.name: dt for p, _, _, dt in res}

def build(out='_site', nbs=None, workers:int=2, nb_timeout:int=1200, cell_timeout:int=600, quiet=False, cache=None):
    "Execute the notebooks in `nbs` and write the site to `out`; returns the per-notebook execution times"
    from fastcore.nbio import read_nb
    sys.path[:0] = [str(DOCS), str(ROOT)]
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    nbs = Path(nbs or cfg.nbs_path).resolve()
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out/MARKER).exists():
        raise SystemExit(f'{out} is not empty and was not built by docs/build.py: not replacing it')
    if out in (ROOT, nbs) or out in ROOT.parents: raise SystemExit(f'refusing to build into {out}')
    fs = notebooks(nbs)
    if not fs: raise SystemExit(f'no notebooks in {nbs}')
    try: version = __import__(cfg.lib_name).__version__
    except Exception: version = ''
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not quiet: print(f'executing {len(fs)} notebooks from {nbs} ({workers} at a time)', flush=True)
        if cache: Path(cache).mkdir(parents=True, exist_ok=True)
        done, times = _exec_all(fs, tmp, workers, nb_timeout, cell_timeout, quiet, cache and Path(cache).resolve(),
                                Path(cfg.lib_path))
        errors = {p: err for p, _, err in done if err}
        executed = []
        for p, d, err in done:
            try: executed.append((p, read_nb(d if d else p)))  # a notebook that wrote nothing: its source, unexecuted
            except Exception as e:
                errors[p] = (err or '') + f'\nreading {d or p} failed: {type(e).__name__}: {e}\n'
                executed.append((p, read_nb(p)))
        stage = tmp/'site'
        Site(nbs, stage, cfg.title or cfg.lib_name, version).build(executed, errors)
        if out.exists(): shutil.rmtree(out)
        shutil.copytree(stage, out)
    if not quiet: print(f'wrote {len(fs)} pages to {out} in {time.time()-t0:.1f}s: open {out/"index.html"}')
    if errors:
        msg = '\n\n'.join(f'=== {p.name} failed ===\n{_tail(err)}' for p, err in errors.items())
        raise SystemExit(f'{msg}\n\ndocs build failed: {len(errors)} notebook(s) did not run: '
                         + ', '.join(p.name for p in errors) + f' (the rest of the site is in {out})')
    return times

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(ROOT/'_site'), help='folder to write the site to (default: _site)')
    ap.add_argument('--nbs', default=None, help='notebooks folder (default: nbs_path from pyproject [tool.nbdev])')
    ap.add_argument('--workers', type=int, default=2, help='notebooks executed at once (default 2)')
    ap.add_argument('--nb-timeout', type=int, default=1200, help='seconds a notebook may run (default 1200)')
    ap.add_argument('--cell-timeout', type=int, default=600,
                    help="seconds a cell may run (default 600, nbdev-test's: 12_leakage's training cells take 300 s and "
                         'more on a busy 2-core machine)')
    ap.add_argument('--cache', default=None, help='folder keeping executed notebooks: one is run again only when it or a '
                    'library module changed (default: none, every notebook runs)')
    ap.add_argument('--quiet', action='store_true')
    ap.add_argument('--exec-one', help=argparse.SUPPRESS)
    ap.add_argument('--dest', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.exec_one: return exec_one(Path(a.exec_one).resolve(), Path(a.dest), a.cell_timeout)
    build(a.out, a.nbs, a.workers, a.nb_timeout, a.cell_timeout, a.quiet, a.cache)

if __name__ == '__main__': main()
