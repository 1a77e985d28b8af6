"""Sweeps: train and evaluate every point of a grid (and zip) over config keys and seeds, into
one tidy CSV that a re-run completes without duplicating a row.

``load_plan(path)`` reads a sweep file (:mod:`.plan`), ``run_sweep(plan)`` runs it
(:mod:`.runner`).
"""

from pyrovae.sweep.plan import Point, SweepEvaluation, SweepPlan, load_plan, make_plan
from pyrovae.sweep.runner import run_sweep

__all__ = ["Point", "SweepEvaluation", "SweepPlan", "load_plan", "make_plan", "run_sweep"]
