"""Figures of a trained run: image grids through :mod:`pyrovae.pictures`, curves and scatter
plots with matplotlib (Agg, no pyplot); metrics of a sweep against a swept key."""

from pyrovae.plots.run import FIGURES, plot_run
from pyrovae.plots.sweep import plot_sweep

__all__ = ["FIGURES", "plot_run", "plot_sweep"]
