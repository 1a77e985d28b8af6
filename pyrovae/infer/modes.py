"""Evaluation runs the modules it can reach in eval mode."""

from __future__ import annotations

from contextlib import contextmanager
from functools import wraps

from pyrovae.base.nn import module_of


@contextmanager
def eval_mode(*programs):
    """Run the block with the modules of ``programs`` in eval mode (dropout off, batch norm on
    its running statistics, which the block then leaves as they were), and give every submodule
    its own mode back afterwards.

    The modules reached are the programs themselves where they are ``nn.Module`` s and the
    modules that bound methods belong to (``vae.model``); a module a plain function registers
    with ``pyro.module`` cannot be reached: call its ``eval()`` before evaluating.
    """
    modules = [m for m in dict.fromkeys(map(module_of, programs)) if m is not None]
    modes = [(sub, sub.training) for m in modules for sub in m.modules()]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for sub, training in modes:
            sub.training = training


def in_eval_mode(fn):
    """``fn(model, guide, ...)`` run under :func:`eval_mode` ``(model, guide)``."""

    @wraps(fn)
    def wrapper(model, guide, *args, **kwargs):
        with eval_mode(model, guide):
            return fn(model, guide, *args, **kwargs)

    return wrapper
