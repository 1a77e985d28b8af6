"""Every private torch and Pyro name pyrovae uses, in one place, with why it is needed and the
versions it was checked on.

Private names change without notice between releases. The fast path
(:mod:`pyrovae.train.fast`) stands on most of them, so it runs only on the versions in
:data:`CHECKED`: on any other, :func:`fast_path_refusal` says why in one line and training runs
Pyro's own ``Trace_ELBO`` (same loss and gradients, slower), never something else. The
remaining uses have a public fallback where one exists.

Checked on torch 2.11 (CUDA, an H200) and 2.13 (CPU), with pyro-ppl 1.9.2.
"""

from __future__ import annotations

import re

import pyro
import torch
from pyro.poutine import runtime as _pyro_runtime
from torch.nn.modules import module as _torch_module

try:
    # The replay recorder sees every ATen operation after autograd has decomposed a call: only
    # a dispatch mode does (torch.utils._python_dispatch, in use since torch 2.0). ATen
    # operations take nested lists of tensors; torch's own pytree walks them as dispatch does.
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten, tree_map

    _MISSING = None
except ImportError as error:  # a torch whose private modules moved: the fast path stays off
    TorchDispatchMode, tree_flatten, tree_map = object, None, None
    _MISSING = f"torch {torch.__version__} lacks {error.name}"

#: ``(package, lowest checked, highest checked)`` minor versions of the fast path.
CHECKED = (("torch", (2, 11), (2, 13)), ("pyro-ppl", (1, 9), (1, 9)))
TORCH_VERSION = torch.__version__
PYRO_VERSION = pyro.__version__


def _minor(version: str) -> tuple[int, int] | None:
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else None


def fast_path_refusal() -> str | None:
    """Why the fast path must not run with the installed torch and Pyro (a version outside
    :data:`CHECKED`, whose private names may have changed), or None."""
    if _MISSING is not None:
        return _MISSING
    for package, version in (("torch", TORCH_VERSION), ("pyro-ppl", PYRO_VERSION)):
        low, high = next((lo, hi) for name, lo, hi in CHECKED if name == package)
        minor = _minor(version)
        if minor is None or not low <= minor <= high:
            span = ".".join(map(str, low)) if low == high else \
                f"{'.'.join(map(str, low))} to {'.'.join(map(str, high))}"
            return (f"{package} {version} is not a version its private names were checked on "
                    f"({span})")
    return None


def saved_tensor_hooks_active() -> bool:
    """Whether saved-tensor hooks (``torch.utils.checkpoint``, activation offloading) are on:
    the recorder must refuse a call made under them. torch keeps the stack in C++ only."""
    return torch._C._autograd._top_saved_tensors_default_hooks(False) is not None


def has_tensor_hooks(t: torch.Tensor) -> bool:
    """Whether a hook is registered on ``t`` (``register_hook``), which a replay would not
    call; torch has no public query."""
    return bool(t._backward_hooks)


#: Hook dicts that nn.Module keeps on every module, and torch keeps globally.
MODULE_HOOK_KINDS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks")


def global_module_hooks() -> bool:
    """Whether torch's global module hooks (``register_module_forward_hook`` ...) are set; torch
    has no public query."""
    return any(getattr(_torch_module, f"_global{kind}", None) for kind in MODULE_HOOK_KINDS)


def module_hook_kinds(module: torch.nn.Module) -> list[str]:
    """The kinds of hooks registered on ``module`` itself (``"forward hook"``, ...)."""
    return [kind.strip("_").removesuffix("s").replace("_", " ")
            for kind in MODULE_HOOK_KINDS if getattr(module, kind, None)]


def pyro_handlers_active() -> bool:
    """Whether any Pyro handler is on the stack around the caller (a replayed step must not
    run under one: it would not see the program's messages); Pyro has no public query."""
    return bool(getattr(_pyro_runtime, "_PYRO_STACK", ()))


def elbo_traces(elbo, model, guide, args, kwargs):
    """``(model_trace, guide_trace)`` pairs of a Pyro ELBO's particles (one pair when
    vectorized): the traces its own loss is computed from, with its plate nesting guessed as it
    guesses it (``ELBO._get_traces``)."""
    return elbo._get_traces(model, guide, args, kwargs)


def in_particle_plate(elbo, fn):
    """``fn`` inside the ELBO's vectorized particle plate (``ELBO._vectorized_num_particles``),
    to replay a program of a vectorized trace."""
    return elbo._vectorized_num_particles(fn)


def guess_max_plate_nesting(elbo, model, guide, args, kwargs) -> None:
    """Let a Pyro ELBO find its ``max_plate_nesting`` by running the pair once, at a time the
    caller chooses (outside the random streams), where the ELBO can
    (``ELBO._guess_max_plate_nesting``); otherwise it guesses on its first loss."""
    guess = getattr(elbo, "_guess_max_plate_nesting", None)
    if guess is not None:
        guess(model, guide, args, kwargs)
