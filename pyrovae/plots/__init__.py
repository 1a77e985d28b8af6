"""Figures of a trained run: image grids through :mod:`pyrovae.pictures`, curves and scatter
plots with matplotlib (Agg, no pyplot)."""

from pyrovae.plots.run import FIGURES, plot_run

__all__ = ["FIGURES", "plot_run"]
