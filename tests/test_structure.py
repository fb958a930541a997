"""The package's layering, read from the source with `ast` (nothing is imported): no import circle between fastdupe's
modules, counting imports inside functions too, and no `_private` name taken from another fastdupe module
(`from .x import _y`, `from fastdupe.x import _y`, `x._y` on a module)."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'fastdupe'

# Each entry is one import edge (importer, imported) that closes a circle, or one private name taken (importer, module,
# name), tolerated for a while. The test fails on any offender not listed here, and on an entry that no longer offends.
# Both are empty since `options` and `finders` left `pipeline` (issue 25): keep them so.
KNOWN_EDGES = set()
KNOWN_PRIVATE = set()

def _modules() -> dict:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PKG.glob('*.py')) if p.stem not in ('_modidx',)}

def _target(node:ast.ImportFrom, names:set) -> str|None:
    "The fastdupe module an `ImportFrom` reads names from (None: another package, or `from . import x`)."
    if node.level == 1 and node.module: mod = node.module
    elif node.level == 0 and (node.module or '').startswith('fastdupe.'): mod = node.module[len('fastdupe.'):]
    else: return None
    return mod.split('.')[0] if mod.split('.')[0] in names else None

def _scan(name:str, tree:ast.Module, names:set):
    "`(imports, privates)`: each imported fastdupe module with where (top level or the function), and private names taken."
    imports, privates, aliases = [], set(), {}
    def visit(node, where):
        for ch in ast.iter_child_nodes(node):
            w = f'{ch.name}()' if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            if isinstance(ch, ast.ImportFrom):
                mod = _target(ch, names)
                if mod is not None:
                    imports.append((mod, where))
                    privates.update((name, mod, a.name) for a in ch.names if a.name.startswith('_') and not a.name.startswith('__'))
                elif (ch.level == 1 and not ch.module) or (ch.level == 0 and ch.module == 'fastdupe'):
                    for a in ch.names:  # `from . import x`, `from fastdupe import x`: module x
                        if a.name in names: imports.append((a.name, where)); aliases[a.asname or a.name] = a.name
            elif isinstance(ch, ast.Import):
                for a in ch.names:
                    parts = a.name.split('.')
                    if parts[0] == 'fastdupe' and len(parts) > 1 and parts[1] in names:
                        imports.append((parts[1], where))
                        if a.asname: aliases[a.asname] = parts[1]
            visit(ch, w)
    visit(tree, 'top level')
    for n in ast.walk(tree):  # `x._y` on a module: by its alias, or spelled `fastdupe.x._y`
        if isinstance(n, ast.Attribute) and n.attr.startswith('_') and not n.attr.startswith('__'):
            v = n.value
            mod = aliases.get(v.id) if isinstance(v, ast.Name) else (
                v.attr if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == 'fastdupe' else None)
            if mod in names and mod != name: privates.add((name, mod, n.attr))
    return [(m, w) for m, w in imports if m != name], privates

def _graph():
    mods = _modules()
    names = set(mods)
    edges, privates = {}, set()
    for name, tree in mods.items():
        imps, priv = _scan(name, tree, names)
        for m, w in imps: edges.setdefault((name, m), []).append(w)
        privates |= priv
    return names, edges, privates

def _cycles(names, edges) -> list[list[str]]:
    "Each circle of imports, as the modules on it (one per strongly connected component, Tarjan's algorithm)."
    adj = {n: sorted(b for a, b in edges if a == n) for n in names}
    index, low, stack, on, out, k = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = k[0]; k[0] += 1; stack.append(v); on.add(v)
        for w in adj[v]:
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in sorted(names):
        if v not in index: strong(v)
    return out

def test_no_import_circle():
    names, edges, _ = _graph()
    assert (stale := sorted(KNOWN_EDGES - set(edges))) == [], f'no longer imported, drop from KNOWN_EDGES: {stale}'
    rest = {e: w for e, w in edges.items() if e not in KNOWN_EDGES}
    circles = _cycles(names, rest)
    detail = '; '.join(f"{' <-> '.join(c)}: " + ', '.join(f'{a} imports {b} ({", ".join(sorted(set(rest[(a, b)])))})'
                                                         for a in c for b in c if (a, b) in rest) for c in circles)
    assert not circles, f'import circles between fastdupe modules: {detail}'
    needed = sorted(e for e in KNOWN_EDGES if not _cycles(names, {**rest, e: edges[e]}))
    assert not needed, f'these KNOWN_EDGES close no circle any more, drop them: {needed}'

def test_no_private_names_across_modules():
    _, _, privates = _graph()
    new = sorted(privates - KNOWN_PRIVATE)
    assert not new, 'private names taken from another fastdupe module (make them public where they live): ' + ', '.join(
        f'{a} takes {b}.{n}' for a, b, n in new)
    assert not (stale := sorted(KNOWN_PRIVATE - privates)), f'no longer taken, drop from KNOWN_PRIVATE: {stale}'

def test_the_check_finds_what_it_looks_for():
    "The scanner on a small made-up package: a circle through a function-level import, and a private name taken."
    a = ast.parse("from .b import f\nimport fastdupe.c as C\ndef g(): return C._h()")
    b = ast.parse("def f():\n    from fastdupe.a import g\n    from .c import _k\n    return g")
    names = {'a', 'b', 'c'}
    ia, pa = _scan('a', a, names); ib, pb = _scan('b', b, names)
    assert ia == [('b', 'top level'), ('c', 'top level')] and ib == [('a', 'f()'), ('c', 'f()')]
    assert pa == {('a', 'c', '_h')} and pb == {('b', 'c', '_k')}
    assert _cycles(names, {('a', 'b'): [], ('b', 'a'): [], ('a', 'c'): []}) == [['a', 'b']]

def test_entry_points_stay_short():
    "The three entry points read as a list of named steps (issue 25): each under 40 lines, signature included."
    sizes = {}
    for mod, fn in (('pipeline', 'find_duplicates'), ('cli', 'find_command'), ('store', 'query')):
        tree = ast.parse((PKG/f'{mod}.py').read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.FunctionDef) and n.name == fn: sizes[f'{mod}.{fn}'] = n.end_lineno - n.lineno + 1
    assert len(sizes) == 3 and all(v < 40 for v in sizes.values()), sizes
