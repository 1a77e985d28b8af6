"""Sphinx configuration of pyrovae's documentation site.

Build it with ``sphinx-build -W docs docs/_build/html`` (the gallery runs its examples; add
``-D plot_gallery=0`` to skip them).
"""

import logging
import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the gallery's examples share the machine
# sphinx-autodoc-typehints 3.6 calls an API that Sphinx 9 deprecates, once per docstring
warnings.filterwarnings("ignore", message=".*set_application.*is deprecated")

import pyrovae  # noqa: E402

# importing Pyro sets its logger to INFO, which prints each guess of max_plate_nesting: noise
logging.getLogger("pyro").setLevel(logging.WARNING)

project = "pyrovae"
author = "the pyrovae authors"
copyright = "2026, the pyrovae authors"
release = version = pyrovae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_autodoc_typehints",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples/README.txt"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"pyrovae {version}"

templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True,
                           "undoc-members": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"  # hints beside each :param:, as the docstrings write them
typehints_fully_qualified = False
always_document_param_types = False

# A reference that resolves nowhere fails the build (-W); names of other projects are not
# resolved offline (no intersphinx inventories on a machine without internet), so they are
# rendered as text.
nitpicky = True
# models/ and guides/ both hold an "m2" and a "ppca" module: a summary table's short name takes
# the one of its own package
suppress_warnings = ["ref.python"]
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|pyro|pandas|pd|numpy|np|matplotlib|collections|typing|pathlib|datetime"
               r"|contextlib|dataclasses|argparse|enum|abc|os|io|tqdm|submitit|filelock)(\..*)?"),
    (r"py:.*", r"(Tensor|Module|Path|Callable|Sequence|Iterable|Iterator|Mapping|Any|Generator"
               r"|Distribution|DataLoader|Dataset|IterableDataset|DataFrame|Optimizer|Figure|Axes"
               r"|Trace|Messenger|ELBO|PyroModule|Generator|device|dtype|Size|timedelta|Protocol"
               r"|ExpandedDistribution|PIL\..*|Failure|signature)"),
    (r"py:.*", r"(optional|callable|iterable|sequence|mapping|default|tuple|list|dict|str|int"
               r"|float|bool|None|object|type|Ellipsis|\.\.\.)"),
    # private names: not in the reference by design
    (r"py:.*", r"(.*\.)?_[A-Za-z]\w*"),
    # the arguments of typing.Annotated checks (PositiveInt = Annotated[int, Range(low=1)])
    (r"py:.*", r".*=.*|\d+"),
]

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "within_subsection_order": "FileNameSortKey",
}


def _find(path: str):
    """The object at dotted ``path`` (a module, then attributes), or None."""
    import importlib

    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_reexported(app, env, node, contnode):
    """Resolve a reference that names an object where it is imported, not where it is defined
    (``pyrovae.infer.log_px``, or ``ConfigError`` in a module that imports it): look the object
    up and retry under the name of its definition. A name of data (no ``__module__``) resolves
    to the one documented object of that name, if there is exactly one."""
    if node.get("refdomain") != "py":
        return None
    target, module = node["reftarget"], node.get("py:module")
    domain = env.get_domain("py")
    obj = None
    for path in ([f"{module}.{target}"] if module else []) + [target]:
        obj = _find(path)
        if obj is not None:
            break
    names = []
    if obj is not None and getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
        names = [f"{obj.__module__}.{obj.__qualname__}"]
    if not names or names == [target]:
        last = target.rpartition(".")[2]
        names = [name for name in domain.objects if name.rpartition(".")[2] == last]
        names = names if len(names) == 1 else []
    for name in names:
        if name != target:
            found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                        name, node, contnode)
            if found is not None:
                return found
    return None


def setup(app):
    app.connect("missing-reference", _resolve_reexported)
