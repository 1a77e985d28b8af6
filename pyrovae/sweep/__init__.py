"""Sweeps: train and evaluate every point of a grid (and zip) over config keys and seeds, into
one tidy CSV that a re-run completes without duplicating a row.

``load_spec(path)`` reads a sweep file (:mod:`.spec`), ``run_sweep(spec)`` runs it
(:mod:`.runner`).
"""

from pyrovae.sweep.runner import run_sweep
from pyrovae.sweep.spec import EvalSpec, Point, SweepSpec, load_spec, make_spec

__all__ = ["EvalSpec", "Point", "SweepSpec", "load_spec", "make_spec", "run_sweep"]
