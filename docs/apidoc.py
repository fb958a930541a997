"""What `show_doc` returns while `docs/build.py` executes a notebook: the API of one object as structured data.

The data (signature, docstring, docments parameter table, members of a class, source link) is rendered to HTML later,
once every page is known, so that names in docstrings can link to the page that documents them."""
import importlib, inspect, re
from fastcore.docments import docments

MIME = 'application/vnd.fastdupe.apidoc+json'
shown = set()  # names documented in this notebook on their own (a class's member list leaves them out)
lib = {}       # lib_name, git_url, branch, modidx: set by the build before the notebook runs

def _fmt_anno(a):
    if a is inspect.Parameter.empty: return ''
    if isinstance(a, str): return a
    if a is None or a is type(None): return 'None'
    if isinstance(a, type): return a.__qualname__ if a.__module__ == 'builtins' else a.__name__
    return inspect.formatannotation(a)

def _fmt_default(d):
    if d is inspect.Parameter.empty: return None
    if type(d).__name__ == '_HAS_DEFAULT_FACTORY_CLASS': return '<factory>'
    return repr(d)

def _sig_obj(obj):
    try: return inspect.signature(obj)
    except (TypeError, ValueError): return None

def _params(obj, sig):
    "One dict per parameter (name, type, default, comment, kind) plus the return, from `docments(obj, full=True)`"
    try: dm = docments(obj, full=True)
    except Exception: dm = {}
    ps = []
    if sig is not None:
        for i, (n, p) in enumerate(sig.parameters.items()):
            if n.startswith('_') or (i == 0 and n in ('self', 'cls')): continue
            d = dm.get(n, {}) if isinstance(dm, dict) else {}
            pre = '*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else ''
            ps.append(dict(name=pre+n, anno=_fmt_anno(p.annotation), default=_fmt_default(p.default),
                           doc=(d.get('docment') or '') if isinstance(d, dict) else '', kind=int(p.kind)))
    _star_docs(obj, ps, dm)
    ret = dm.get('return', {}) if isinstance(dm, dict) else {}
    ranno = _fmt_anno(sig.return_annotation) if sig is not None and sig.return_annotation is not sig.empty else ''
    if ranno == 'None': ranno = ''
    rdoc = (ret.get('docment') or '') if isinstance(ret, dict) else ''
    return ps, (dict(anno=ranno, doc=rdoc) if ranno or rdoc else None)

def _star_docs(obj, ps, dm):
    "`**kwargs, # comment` as the last parameter: docments gives the comment to the return; give it back"
    try: src = inspect.getsource(getattr(obj, '__func__', obj))
    except (TypeError, OSError): return
    for p in ps:
        if not p['name'].startswith('*') or p['doc']: continue
        m = re.search(rf'^\s*{re.escape(p["name"])}\s*,?\s*#\s*(.+?)\s*$', src, re.M)
        if not m: continue
        p['doc'] = m.group(1)
        ret = dm.get('return') if isinstance(dm, dict) else None
        if isinstance(ret, dict) and ret.get('docment') == p['doc']: ret['docment'] = None

def _sig_text(name, ps, ret, kind):
    "The signature as one line, or one parameter a line when long"
    def one(p):
        s = p['name'] + (':' + p['anno'] if p['anno'] else '')
        if p['default'] is not None: s += '=' + p['default']
        return s
    parts = [one(p) for p in ps]
    # a bare `*` separates keyword-only parameters
    kw = next((i for i, p in enumerate(ps) if p['kind'] == inspect.Parameter.KEYWORD_ONLY), None)
    if kw is not None and not any(p['kind'] == inspect.Parameter.VAR_POSITIONAL for p in ps): parts.insert(kw, '*')
    tail = f"->{ret['anno']}" if ret and ret['anno'] else ''
    pre = 'class ' if kind == 'class' else 'def ' if kind in ('function', 'method') else ''
    line = f"{pre}{name}({', '.join(parts)}){tail}"
    if len(line) <= 100: return line
    return f"{pre}{name}(\n" + ''.join(f"    {p},\n" for p in parts) + f"){tail}"

def _lookup(qualname, obj):
    "The library object and file behind `qualname` (notebook cells define their own copies in the shell)"
    mod = getattr(obj, '__module__', None) or ''
    ln = lib.get('lib_name', '')
    if not (ln and mod.split('.')[0] == ln):
        syms = lib.get('modidx', {}).get('syms', {})
        mod = next((m for m, d in syms.items() if f'{m}.{qualname}' in d), None)
        if mod is None: return None, None
    try:
        o = importlib.import_module(mod)
        for part in qualname.split('.'): o = getattr(o, part)
        return mod, o
    except Exception: return mod, None

def _source(qualname, obj):
    mod, real = _lookup(qualname, obj)
    if not mod or not lib.get('git_url'): return None, mod
    path = mod.replace('.', '/') + '.py'
    line = None
    if real is not None:
        try: line = inspect.getsourcelines(inspect.unwrap(getattr(real, '__func__', real)))[1]
        except (TypeError, OSError): pass
    url = f"{lib['git_url']}/blob/{lib.get('branch', 'main')}/{path}" + (f'#L{line}' if line else '')
    return url, mod

def _kind(obj):
    if inspect.isclass(obj): return 'class'
    if isinstance(obj, property): return 'property'
    if callable(obj): return 'function'
    return 'object'

def describe(obj, name=None, level=3, member=False):
    "Everything the site shows for `obj`: name, kind, signature, docstring, parameters, return, members, source"
    raw = obj
    if isinstance(obj, (classmethod, staticmethod)): obj = obj.__func__
    if isinstance(obj, property) and not name: name = getattr(obj.fget, '__qualname__', None)
    name = name or getattr(obj, '__qualname__', None) or getattr(obj, '__name__', None) or repr(obj)
    kind = _kind(obj)
    if kind == 'function' and (member or '.' in name): kind = 'method'
    if kind == 'property':
        f = obj.fget
        sig = _sig_obj(f)
        ps, ret = [], None
        if sig is not None and sig.return_annotation is not sig.empty: ret = dict(anno=_fmt_anno(sig.return_annotation), doc='')
        doc = inspect.getdoc(obj) or ''
        sig_txt = f"{name}" + (f": {ret['anno']}" if ret else '')
        src, mod = None, None
    else:
        sig = _sig_obj(obj)
        ps, ret = _params(obj, sig)
        if kind == 'class': ret = None
        doc = inspect.getdoc(obj) or ''
        if kind == 'class' and doc == inspect.getdoc(object): doc = ''
        sig_txt = _sig_text(name, ps, ret, kind)
        src, mod = _source(name, obj)
    d = dict(name=name, kind=kind, decorator='classmethod' if isinstance(raw, classmethod) else
             'staticmethod' if isinstance(raw, staticmethod) else '',
             sig=sig_txt, doc=doc, params=ps, returns=ret, source=src, module=mod, level=level, members=[])
    if kind == 'class':
        for n, m in vars(obj).items():
            if n.startswith('_') or f'{name}.{n}' in shown: continue
            if not (inspect.isfunction(m) or isinstance(m, (classmethod, staticmethod, property))): continue
            if not inspect.getdoc(getattr(m, '__func__', m)): continue  # as nbdev: undocumented members stay out
            d['members'].append(describe(m, f'{name}.{n}', level+1, member=True))
    return d

class ApiDoc:
    "The object `show_doc` returns: a notebook shows its plain text, the docs build renders the structured data"
    def __init__(self, d): self.d = d
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {MIME: self.d, 'text/plain': self.d['sig']}
    def __repr__(self): return self.d['sig']

def show_doc(sym, renderer=None, name:str|None=None, title_level:int=3, **kwargs):
    "Drop-in for `nbdev.showdoc.show_doc` while the docs build runs"
    return ApiDoc(describe(sym, name, title_level))

# ---------------------------------------------------------------------------------------------------------------------
# A static picture of an ipywidgets view, taken right after the cell that displayed it ran (later cells may click it).
# ipywidgets' own renderer needs its JavaScript from a CDN; this needs none.

WIDGET_MIME = 'application/vnd.fastdupe.widget-snapshot+html'

def _css(w):
    l = getattr(w, 'layout', None)
    if l is None: return ''
    props = ('width', 'height', 'max_width', 'min_width', 'border', 'padding', 'margin', 'flex', 'justify_content',
             'align_items', 'flex_flow', 'grid_template_columns', 'display')
    return ';'.join(f"{p.replace('_', '-')}:{v}" for p in props if (v := getattr(l, p, None)))

def widget_html(w, depth=0) -> str:
    "Static HTML of widget `w` and its children"
    import html as H
    import ipywidgets as W
    if depth > 30: return ''
    l = getattr(w, 'layout', None)
    if l is not None and (getattr(l, 'display', None) == 'none' or getattr(l, 'visibility', None) == 'hidden'): return ''
    st = _css(w)
    style = f' style="{H.escape(st)}"' if st else ''
    desc = getattr(w, 'description', '') or ''
    lab = f'<span class="w-desc">{H.escape(desc)}</span> ' if desc else ''
    if isinstance(w, W.Box):
        kind = 'w-vbox' if isinstance(w, W.VBox) else 'w-grid' if isinstance(w, W.GridBox) else 'w-hbox'
        return f'<div class="w-box {kind}"{style}>' + ''.join(widget_html(c, depth+1) for c in w.children) + '</div>'
    if isinstance(w, (W.HTML, W.HTMLMath)): return f'<div class="w-html"{style}>{lab}{w.value}</div>'
    if isinstance(w, W.Label): return f'<div class="w-label"{style}>{H.escape(str(w.value))}</div>'
    if isinstance(w, W.Image):
        import base64
        fmt = {'jpg': 'jpeg', 'svg': 'svg+xml'}.get(w.format, w.format)
        return f'<img class="w-image" src="data:image/{fmt};base64,{base64.b64encode(w.value).decode()}" alt=""{style}>'
    if isinstance(w, W.ToggleButton):
        on = ' w-on' if w.value else ''
        return f'<button class="w-button w-toggle{on} w-{w.button_style or "default"}" disabled{style}>{H.escape(desc)}</button>'
    if isinstance(w, W.Button):
        return f'<button class="w-button w-{w.button_style or "default"}" disabled{style}>{H.escape(desc)}</button>'
    if isinstance(w, (W.Dropdown, W.Select, W.RadioButtons, W.ToggleButtons)):
        return f'<span class="w-select"{style}>{lab}<select disabled><option>{H.escape(str(w.label))}</option></select></span>'
    if isinstance(w, W.Checkbox):
        return f'<label class="w-check"{style}><input type="checkbox" disabled{" checked" if w.value else ""}> {H.escape(desc)}</label>'
    if isinstance(w, (W.Text, W.Textarea)) or hasattr(w, 'value') and isinstance(getattr(w, 'value', None), (int, float, str)) \
       and not isinstance(w, W.Output):
        return f'<span class="w-input"{style}>{lab}<input disabled value="{H.escape(str(w.value))}"></span>'
    if isinstance(w, W.Output):
        res = []
        for o in w.outputs:
            if o.get('output_type') == 'stream': res.append(f'<pre>{H.escape(o.get("text", ""))}</pre>')
            else:
                d = o.get('data', {})
                if 'text/html' in d: res.append(d['text/html'])
                elif 'image/png' in d: res.append(f'<img src="data:image/png;base64,{d["image/png"]}" alt="">')
                elif 'text/plain' in d: res.append(f'<pre>{H.escape(d["text/plain"])}</pre>')
        return f'<div class="w-output"{style}>' + ''.join(res) + '</div>'
    return f'<span class="w-other">{H.escape(type(w).__name__)}</span>'

def snapshot_widgets(cell):
    "Add a static picture beside each widget view among `cell`'s outputs"
    try:
        import ipywidgets as W
        reg = getattr(W.widgets.widget, '_instances', None) or W.Widget.widgets
    except Exception: return
    for o in cell.get('outputs', []):
        data = o.get('data') or {}
        v = data.get('application/vnd.jupyter.widget-view+json')
        if not v or (w := reg.get(v.get('model_id'))) is None: continue
        try: data[WIDGET_MIME] = widget_html(w)
        except Exception as e: data[WIDGET_MIME] = f'<!-- no snapshot: {type(e).__name__} -->'
