"""The documentation site: every public name of ``pyrovae`` has a docstring and a place in the
API page, the docstrings' examples (doctests) hold, and the site's configuration fails its build
on a cross-reference that resolves nowhere while it resolves one that names an object where it is
imported."""

import doctest
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyrovae

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_public_name_has_a_docstring_and_a_place_in_the_api_page():
    api = (DOCS / "api.rst").read_text()
    documented = set(re.findall(r"^\.\. auto(?:function|class|exception):: pyrovae\.(\w+)$", api,
                                re.M))
    missing_doc = [name for name in pyrovae.__all__
                   if not inspect.getdoc(getattr(pyrovae, name))]
    assert missing_doc == []
    assert sorted(set(pyrovae.__all__) - documented) == []


def _modules():
    names = ["pyrovae", *(m.name for m in pkgutil.walk_packages(pyrovae.__path__, "pyrovae."))]
    return [importlib.import_module(name) for name in names if not name.endswith("__main__")]


def test_the_docstrings_examples_hold():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for module in _modules() for t in finder.find(module) if t.examples]
    assert len(tests) >= 4  # the examples exist: a test that finds none cannot fail
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def _build(tmp_path, text: str) -> subprocess.CompletedProcess:
    """``sphinx-build -W`` of a one-page site under the docs' own configuration (no gallery, no
    module reference)."""
    source = tmp_path / "site"
    source.mkdir(parents=True)
    conf = (DOCS / "conf.py").read_text().replace('"sphinx_gallery.gen_gallery",', "")
    (source / "conf.py").write_text(conf)
    (source / "index.rst").write_text(
        f"Page\n====\n\n.. autofunction:: pyrovae.infer.rng.tile_seed\n\n{text}\n")
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(source),
                           str(tmp_path / "html")], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None,
                    reason="the docs extra is not installed")
def test_a_broken_cross_reference_fails_the_build_and_an_imported_name_resolves(tmp_path):
    good = _build(tmp_path / "good", "See :func:`pyrovae.train.distributed.tile_seed`.")  # imported
    assert good.returncode == 0, good.stderr[-2000:]
    bad = _build(tmp_path / "bad", "See :func:`pyrovae.infer.rng.no_such_seed`.")
    assert bad.returncode != 0 and "no_such_seed" in bad.stderr
