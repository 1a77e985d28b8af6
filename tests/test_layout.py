"""The package's layout: one installed import name, and imports that only go down the layers.

The layers, bottom first (a module may import its own layer and those below it, never above):
utilities (``pyrovae/base/``, ``_compat.py``); data, estimators and the parts of the declarative model; models; guides; the registry;
the config; training; a run; its evaluation; sweeps, reports and figures; the command line and the
public API (``pyrovae/__init__.py``).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"pyrovae": REPO / "pyrovae", "pyrovae.models": REPO / "models",
           "pyrovae.guides": REPO / "guides"}
LAYERS = [
    ("pyrovae._compat", "pyrovae.base.errors", "pyrovae.base.boundary", "pyrovae.base.options", "pyrovae.base.io", "pyrovae.base.device", "pyrovae.base.distributions",
     "pyrovae.base.nn", "pyrovae.base.versions", "pyrovae.base.protocols"),
    ("pyrovae.data", "pyrovae.infer", "pyrovae.metrics", "pyrovae.blocks", "pyrovae.results"),
    ("pyrovae.spec",),
    ("pyrovae.models",),
    ("pyrovae.guides",),
    ("pyrovae.registry",),
    ("pyrovae.config",),
    ("pyrovae.checks", "pyrovae.train", "pyrovae.pictures"),
    ("pyrovae.run",),
    ("pyrovae.evaluation", "pyrovae.factor_scores"),
    ("pyrovae.sweep", "pyrovae.report", "pyrovae.plots"),
    ("pyrovae.cli", "pyrovae.__main__", "pyrovae.api", "pyrovae"),
]


def modules() -> dict[str, Path]:
    """Every module of the installed package by its dotted name."""
    found = {}
    for prefix, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([prefix, *parts])] = path
    return found


def imports(name: str, path: Path, known) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def layer(name: str) -> int:
    matches = [(len(p), i) for i, group in enumerate(LAYERS) for p in group
               if name == p or name.startswith(p + ".")]
    assert matches, f"{name} is in no layer: add it to LAYERS"
    return max(matches)[1]


GRAPH = {name: imports(name, path, modules()) for name, path in modules().items()}


def test_every_module_imports_only_its_layer_and_those_below():
    upward = [f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
              for name, targets in GRAPH.items() for target in targets
              if layer(target) > layer(name)]
    assert upward == []


def test_there_is_no_import_loop():
    def reach(start):
        seen, stack = set(), [start]
        while stack:
            for target in GRAPH[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    loops = sorted(name for name in GRAPH if name in reach(name))
    assert loops == []


def unit(name: str) -> str:
    """The folder (or top-level module) a module belongs to: ``pyrovae.train``, ``pyrovae.checks``."""
    return ".".join(name.split(".")[:2])


def test_there_is_no_import_loop_between_folders():
    """Modules may import their own layer, so a loop between folders of one layer (say train/
    and checks.py) escapes the layer test: this finds it."""
    units = {}
    for name, targets in GRAPH.items():
        units.setdefault(unit(name), set()).update(unit(t) for t in targets if unit(t) != unit(name))

    def reach(start):
        seen, stack = set(), [start]
        while stack:
            for target in units.get(stack.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    loops = sorted(u for u in units if u in reach(u))
    assert loops == []


def test_no_module_imports_a_private_name_of_another():
    private = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pyrovae"):
                private += [f"{name}: from {node.module} import {a.name}" for a in node.names
                            if a.name.startswith("_")]
    assert private == []


def test_the_checks_see_a_loop_and_an_upward_import(tmp_path):
    """The graph above is read correctly: a relative import is resolved, a lazy one counts."""
    (tmp_path / "m.py").write_text("def f():\n    from .run import build\nfrom . import cli\n")
    found = imports("pyrovae.config", tmp_path / "m.py", {"pyrovae.run", "pyrovae.cli"})
    assert found == {"pyrovae.run", "pyrovae.cli"}
    assert layer("pyrovae.cli") > layer("pyrovae.run") > layer("pyrovae.config")


def test_the_installed_package_claims_only_the_name_pyrovae(tmp_path):
    probe = ("import importlib.util as u, pyrovae.models.vae, pyrovae.guides.mlp_normal\n"
             "print(u.find_spec('models'), u.find_spec('guides'))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]


@pytest.mark.parametrize("package", sorted({".".join(n.split(".")[:3]) for n, p in modules().items()
                                            if p.name == "__init__.py"}))
def test_pyproject_installs_every_package(package):
    text = (REPO / "pyproject.toml").read_text()
    assert f'"{package}"' in text, f"add {package} to [tool.setuptools] packages in pyproject.toml"
