"""Evaluation of trained models: importance-sampled or annealed :math:`\\log p(x)`, BDMC bounds
and other metrics.

Every estimator here runs a model/guide pair following the pyrovae protocol tile by tile (a
batch of data points, a chunk of particles; :mod:`.tiles`), so memory is bounded whatever the
number of particles, and never needs a site's name.
"""

from pyrovae.infer.bdmc_bounds import BDMCResult, bdmc
from pyrovae.infer.importance import LogPxResult, log_px
from pyrovae.infer.metrics import ActiveUnits, RateDistortion, active_units, rate_distortion
from pyrovae.infer.weights import log_weights

__all__ = [
    "ActiveUnits",
    "BDMCResult",
    "LogPxResult",
    "RateDistortion",
    "active_units",
    "bdmc",
    "log_px",
    "log_weights",
    "rate_distortion",
]
