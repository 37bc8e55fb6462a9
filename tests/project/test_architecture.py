"""The layout's invariants (docs/architecture.md): package floors, no import circle, no
lazy imports that hide one.

Imports are read with ``ast`` (module level and inside functions: a lazy import still ties
two files), so these checks need nothing installed beyond the standard library.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("metamdp", "simulators", "llm_backend", "paper_figures", "ziprc_cli")
# a package may import only the packages on its floor or below
FLOORS = {"metamdp": 0, "simulators": 1, "llm_backend": 2, "paper_figures": 3, "ziprc_cli": 4}


def _modules() -> dict:
    found = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = f
    return found


MODULES = _modules()


def _resolve(mod: str):
    while mod:
        if mod in MODULES:
            return mod
        mod = mod.rpartition(".")[0]
    return None


def _imports(name: str, path: Path):
    """``(module imported, whether inside a function)`` for every project import of a file."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nested = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(n) for n in ast.walk(fn) if n is not fn)
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        for t in targets:
            r = _resolve(t)
            if r and r != name:
                out.append((r, id(node) in nested))
    return out


GRAPH = {name: {m for m, _ in _imports(name, path)} for name, path in MODULES.items()}


def _circles() -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return comps


def test_the_analysis_sees_the_project():
    # a walk that found nothing would pass every check below
    assert len(MODULES) > 60
    assert {"simulators.kernels", "simulators.policies"} <= GRAPH["simulators.runner"]
    assert "metamdp.planner" in GRAPH["metamdp.policies.ziprc"]


def test_no_import_circle_anywhere():
    assert _circles() == []


def test_a_package_imports_only_its_floor_and_below():
    bad = []
    for name, deps in GRAPH.items():
        floor = FLOORS[name.split(".")[0]]
        bad += [f"{name} -> {d}" for d in deps if FLOORS[d.split(".")[0]] > floor]
    assert bad == []


def test_metamdp_imports_no_other_package_of_ours():
    bad = [f"{n} -> {d}" for n, deps in GRAPH.items() if n.split(".")[0] == "metamdp"
           for d in deps if d.split(".")[0] != "metamdp"]
    assert bad == []


def test_the_runner_imports_its_own_package_at_the_top():
    lazy = [m for m, inside in _imports("simulators.runner", MODULES["simulators.runner"])
            if inside and m.startswith("simulators")]
    assert lazy == []
