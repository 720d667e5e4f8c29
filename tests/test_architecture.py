"""The architecture, enforced: where backend questions may be asked, the import graph, module
sizes, what ``import regionloss`` loads, and how long the loss path is.

* Backend detection (``array_api_compat.is_*_array`` / ``is_*_namespace``, imports of JAX,
  PyTorch, CuPy or Dask, module-name sniffing) lives only in ``regionloss/_kernels/``.
* The modules of ``regionloss`` import each other without a cycle (function-local imports
  included).
* No module is longer than ``MAX_LINES``.
* ``import regionloss`` loads none of the optional libraries.
* One ``dice_loss`` call on NumPy crosses few functions and files (a readable loss path);
  the numbers are printed (``pytest -s``) and held to upper bounds.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import regionloss

SRC = os.path.dirname(os.path.abspath(regionloss.__file__))
PACKAGE = "regionloss"
KERNELS = os.path.join(SRC, "_kernels")
MAX_LINES = 600

BACKEND_LIBRARIES = {"jax", "jaxlib", "torch", "cupy", "cupyx", "dask"}
_BACKEND_CHECK = re.compile(
    r"^is_(numpy|jax|torch|cupy|dask|array_api_strict|ndonnx|pydata_sparse)_(array|namespace)$"
    r"|^is_\w+_namespace$|^is_cupy_module$")

# (path relative to src/regionloss, what it does) that may ask which backend it runs on
# outside the kernel subpackage. Keep it tiny; every entry is a known exception.
BACKEND_ALLOWLIST: set[tuple[str, str]] = set()


def _modules():
    """``{dotted module name: path}`` of every module of the package."""
    out = {}
    for directory, _, files in os.walk(SRC):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, os.path.dirname(SRC))[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join(rel)] = path
    return dict(sorted(out.items()))


MODULES = _modules()


def _parse(path):
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), filename=path)


def _rel(path):
    return os.path.relpath(path, SRC).replace(os.sep, "/")


# --------------------------------------------------------------------------- (a) backends


def _mentions_module_name(node) -> bool:
    """True for an expression that reads ``__module__`` / ``__name__`` or ``sys.modules``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in ("__module__", "__name__"):
            return True
        if (isinstance(sub, ast.Attribute) and sub.attr == "modules"
                and isinstance(sub.value, ast.Name) and sub.value.id == "sys"):
            return True
    return False


def _backend_strings(node) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            head = sub.value.split(".")[0]
            if head in BACKEND_LIBRARIES:
                found.add(sub.value)
    return found


def backend_questions(path):
    """``[(line, what)]``: every place in ``path`` that asks which backend it runs on."""
    found = []
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in BACKEND_LIBRARIES:
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] in BACKEND_LIBRARIES:
                found.append((node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                if _BACKEND_CHECK.match(alias.name):
                    found.append((node.lineno, f"import of {alias.name}"))
        elif isinstance(node, ast.Attribute) and _BACKEND_CHECK.match(node.attr):
            found.append((node.lineno, f"attribute {node.attr}"))
        elif isinstance(node, ast.Name) and _BACKEND_CHECK.match(node.id):
            found.append((node.lineno, f"name {node.id}"))
        elif isinstance(node, ast.Call):
            func = node.func
            # module-name sniffing: type(x).__module__.startswith("torch"), sys.modules.get(...)
            if (isinstance(func, ast.Attribute) and func.attr in ("startswith", "endswith", "get")
                    and _mentions_module_name(func.value)):
                found.append((node.lineno, f"module-name sniffing ({func.attr})"))
            # importlib.import_module("jax"), find_spec("cupy"), __import__("torch")
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "find_spec", "__import__") and _backend_strings(node):
                found.append((node.lineno, f"{name}({sorted(_backend_strings(node))})"))
        elif isinstance(node, ast.Compare):
            # "jax" in sys.modules, type(x).__module__ == "cupy"
            if _mentions_module_name(node) and (
                    _backend_strings(node)
                    or any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)):
                found.append((node.lineno, "module-name sniffing (compare)"))
    return sorted(set(found))


def test_backend_detection_only_in_the_kernels():
    offenders = {}
    for name, path in MODULES.items():
        if path.startswith(KERNELS + os.sep):
            continue
        rel = _rel(path)
        hits = [(line, what) for line, what in backend_questions(path)
                if (rel, what) not in BACKEND_ALLOWLIST]
        if hits:
            offenders[rel] = hits
    assert not offenders, (
        "backend detection outside regionloss/_kernels/ (move it into a kernel helper): "
        f"{offenders}")


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scanner must be able to fail: each pattern it looks for, found in a sample."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sys\n"
        "import jax.numpy as jnp\n"
        "from array_api_compat import is_cupy_array\n"
        "def f(x):\n"
        "    import torch\n"
        "    from cupyx.scipy import ndimage\n"
        "    if type(x).__module__.startswith('dask'):\n"
        "        pass\n"
        "    if 'jax' in sys.modules:\n"
        "        pass\n"
        "    return array_api_compat.is_torch_namespace(x), aac.is_jax_array(x)\n")
    lines = {line for line, _ in backend_questions(str(sample))}
    assert lines == {2, 3, 5, 6, 7, 9, 11}, backend_questions(str(sample))
    assert backend_questions(__file__.replace("test_architecture", "conftest")) != []
    # a backend's name as a plain option value is not a question about the input's backend
    clean = tmp_path / "clean.py"
    clean.write_text("CHOICES = ('numpy', 'cupy')\n\ndef f(b):\n    return b == 'cupy'\n")
    assert backend_questions(str(clean)) == []


def test_the_allowlist_is_used():
    """Every allowlisted exception still exists (a stale entry would hide a new one)."""
    for rel, what in BACKEND_ALLOWLIST:
        path = os.path.join(SRC, rel)
        assert (rel, what) in {(rel, w) for _, w in backend_questions(path)}, (rel, what)


# --------------------------------------------------------------------------- (b) import cycles


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph():
    """``{module: {modules of the package it imports}}``, function-local imports included.

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
    ``pkg``; importing ``a.b.c`` also imports the package ``a.b`` (not the top package,
    whose ``__init__`` imports everything by design, nor a package that contains the
    importer: it is mid-import already).
    """
    graph = {}
    for module, path in MODULES.items():
        is_package = path.endswith("__init__.py")
        targets = set()
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in MODULES else base)
        edges = set()
        for target in targets:
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):      # the packages on the way, then the module
                prefix = ".".join(parts[:i])
                # a package that contains the importer is being imported already: no edge
                if prefix in MODULES and prefix != module and not module.startswith(prefix + "."):
                    edges.add(prefix)
        graph[module] = edges
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    graph = import_graph()
    assert graph[PACKAGE + ".losses.region"], "the graph found no imports at all"
    assert PACKAGE + "._formulas" in graph[PACKAGE + ".losses.region"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_function_local_and_package_imports():
    graph = import_graph()
    # function-local only: the CLI reads regionloss.scoring inside its functions
    assert PACKAGE + ".scoring" in graph[PACKAGE + ".cli"]
    # a package's __init__ imports its modules; a module does not depend on its own package
    assert PACKAGE + ".losses.compound" in graph[PACKAGE + ".losses"]
    assert PACKAGE + ".losses" not in graph[PACKAGE + ".losses.compound"]


# --------------------------------------------------------------------------- (c) sizes


def test_no_module_over_the_line_limit():
    sizes = {}
    for path in MODULES.values():
        with open(path, encoding="utf-8") as fh:
            sizes[_rel(path)] = sum(1 for _ in fh)
    print("\nmodule sizes (lines):")
    for rel, n in sorted(sizes.items(), key=lambda t: -t[1]):
        print(f"  {n:5d}  {rel}")
    too_long = {rel: n for rel, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


# --------------------------------------------------------------------------- (d) import cost


def test_import_loads_no_optional_library():
    code = ("import sys, regionloss\n"
            "heavy = ('jax', 'jaxlib', 'torch', 'cupy', 'cupyx', 'scipy', 'dask', "
            "'matplotlib')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


# --------------------------------------------------------------------------- (e) loss path


def trace_calls(fn, *args, **kwargs):
    """``(calls, files, moves)``: Python 'call' events of one call of ``fn`` whose code lies
    under src/regionloss, the distinct files they are in, and how often consecutive calls
    change file (``fn`` is called once before, to leave one-time work out)."""
    fn(*args, **kwargs)
    events = []

    def profile(frame, event, arg):
        if event == "call":
            filename = frame.f_code.co_filename
            if filename.startswith(SRC + os.sep):
                events.append((_rel(filename), frame.f_code.co_name))

    sys.setprofile(profile)
    try:
        fn(*args, **kwargs)
    finally:
        sys.setprofile(None)
    files = [f for f, _ in events]
    moves = sum(1 for a, b in zip(files, files[1:]) if a != b)
    return events, len(set(files)), moves


# The loss path of one call stays short: a reader follows it from the public def to its
# arithmetic (measured: dice_loss 30 calls, 10 files, 20 moves; dice_ce_loss 44 calls,
# 12 files, 30 moves; one call and two moves of each are the fused-statistics dispatcher,
# which returns None at once off CuPy). Each file is one layer: public def and term,
# options check, input preparation, array namespace, activation, sums, statistics,
# formula, reduction.
PATH_BOUNDS = {
    "dice_loss": (30, 10, 20),
    "dice_ce_loss": (45, 12, 30),
}


@pytest.mark.parametrize("name", sorted(PATH_BOUNDS))
def test_loss_path_is_short(name):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(2, 8, 8))
    events, files, moves = trace_calls(getattr(regionloss, name), x, y)
    per_file = Counter(f for f, _ in events)
    print(f"\n{name}: {len(events)} calls, {files} files, {moves} moves between files")
    for rel, n in per_file.most_common():
        print(f"  {n:4d}  {rel}")
    max_calls, max_files, max_moves = PATH_BOUNDS[name]
    assert len(events) > 0, "the trace saw no regionloss code"
    assert len(events) <= max_calls, (len(events), per_file)
    assert files <= max_files, per_file
    assert moves <= max_moves, moves
