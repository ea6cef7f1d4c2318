"""The layout shows the layers: no module imports one above its own layer.

RNG and kernels -> buffers and fills -> schemes -> model files -> front ends -> CLI.  Every
import counts, also one inside a function.  The package root (``fastinit/__init__.py``) is the
top that wires the layers together, so it is exempt; a new module needs a line in LAYERS.
Within a layer no two modules import each other (a package and its own submodules aside), and
the schemes reach the kernels only through the fills (``normal_masked_``, ``subset_bits``).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fastinit"

# the first matching prefix gives a module's layer (lower imports nothing higher)
LAYERS = [
    ("fastinit._version", 0), ("fastinit._extras", 0),
    ("fastinit.rng", 1), ("fastinit.kernels", 1), ("fastinit._parallel", 1), ("fastinit._blas", 1),
    ("fastinit._rounding", 1), ("fastinit._memory", 1), ("fastinit._validate", 1),  # every argument check: used from the RNG up
    ("fastinit._buffers", 2), ("fastinit.fills", 2), ("fastinit.config", 2),
    ("fastinit.schemes", 3), ("fastinit.orthogonal", 3),
    ("fastinit.model", 4), ("fastinit.signal", 4), ("fastinit.plot", 4),  # predictions and pictures: no front end
    ("fastinit.torch", 5), ("fastinit.jax", 5), ("fastinit.keras", 5), ("fastinit.dask", 5),
    ("fastinit.numba", 5),
    ("fastinit.cli", 6), ("fastinit.cli_signal", 6), ("fastinit.__main__", 6),
]


def layer(module):
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def is_module(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(module, path):
    """The fastinit modules ``module`` imports (absolute names)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = ".".join(filter(None, [base if node.level else "", node.module or ""]))
            # "from . import x" imports the submodule x, "from .m import f" the module m
            names = [f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        yield from (n for n in names if n == "fastinit" or n.startswith("fastinit."))


def test_every_module_has_a_layer():
    assert [m for m, _ in modules() if m != "fastinit" and layer(m) is None] == []


@pytest.mark.parametrize("module,path", [(m, p) for m, p in modules() if m != "fastinit"], ids=lambda x: str(x))
def test_imports_point_down(module, path):
    own = layer(module)
    upward = sorted({name for name in imports(module, path)
                     if name == "fastinit" or (layer(name) is not None and layer(name) > own)})
    assert upward == [], f"{module} (layer {own}) imports {upward}"


def _graph():
    return {m: set(imports(m, p)) - {m} for m, p in modules()}


def _related(a, b):
    """A package and one of its own submodules (its __init__ wires them)."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def cycles(graph):
    """Pairs of modules that reach each other (the package root, which wires all, aside)."""
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for n in graph.get(todo.pop(), ()):
                if n not in seen and n != "fastinit":
                    seen.add(n)
                    todo.append(n)
        return seen

    return sorted({tuple(sorted((m, n))) for m in graph if m != "fastinit" for n in graph[m]
                   if n != "fastinit" and not _related(m, n) and m in reach(n)})


def kernel_imports(graph):
    """(scheme module, kernels module) pairs: a scheme that drives the kernels itself."""
    return sorted((m, n) for m, names in graph.items() if layer(m) == layer("fastinit.schemes")
                  for n in names if n == "fastinit.kernels" or n.startswith("fastinit.kernels."))


def test_no_import_cycles():
    assert cycles(_graph()) == []


def test_schemes_reach_the_kernels_through_the_fills():
    assert kernel_imports(_graph()) == []


def test_the_checks_find_what_they_forbid():
    graph = _graph()
    graph["fastinit.model.presets"] = graph["fastinit.model.presets"] | {"fastinit.model.spec"}
    graph["fastinit.model.spec"] = graph["fastinit.model.spec"] | {"fastinit.model.presets"}
    graph["fastinit.schemes.sparse"] = graph["fastinit.schemes.sparse"] | {"fastinit.kernels._c"}
    assert ("fastinit.model.presets", "fastinit.model.spec") in cycles(graph)
    assert kernel_imports(graph) == [("fastinit.schemes.sparse", "fastinit.kernels._c")]
