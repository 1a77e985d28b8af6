"""Bidirectional Monte Carlo (BDMC): sandwich bounds on :math:`\\log p(x)` on simulated data.

Data simulated from the model come with an exact posterior sample, the latents that generated
them. Forward AIS from the initial distribution gives a stochastic lower bound on
:math:`\\log p(x)`, and reverse AIS started at that sample a stochastic upper bound; the gap
between the two bounds the error of AIS with the same settings (Grosse, Ghahramani & Adams,
2015; Wu et al., 2017).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pyro.poutine as poutine
import torch

from pyrovae.base.errors import ModelGuideError
from pyrovae.base.nn import program_device
from pyrovae.infer import ais, batching, rng
from pyrovae.infer.importance import LogPxResult, log_px, summarize
from pyrovae.infer.modes import in_eval_mode
from pyrovae.infer.sites import sample_sites


@dataclass
class BDMCResult:
    """Per-datapoint sandwich bounds of :func:`bdmc` (tensors are float64 ``[N]``).

    :param x: the simulated data ``[N, *event_shape]``.
    :param forward: forward AIS, :math:`\\log \\frac1K\\sum_k e^{w_k}`, whose expectation is at
        most :math:`\\log p(x)`.
    :param reverse: reverse AIS, with ``value`` :math:`\\log \\frac1K\\sum_k e^{w'_k}`, whose
        expectation is at most :math:`-\\log p(x)`.
    """

    x: torch.Tensor
    forward: LogPxResult
    reverse: LogPxResult

    @property
    def lower(self) -> torch.Tensor:
        """Stochastic lower bound on :math:`\\log p(x_n)`: the forward estimate."""
        return self.forward.value

    @property
    def upper(self) -> torch.Tensor:
        """Stochastic upper bound on :math:`\\log p(x_n)`:
        :math:`-\\log\\frac1K\\sum_k e^{w'_k}`."""
        return -self.reverse.value

    @property
    def gap(self) -> torch.Tensor:
        """``upper - lower`` per data point."""
        return self.upper - self.lower

    @property
    def mean_gap(self) -> float:
        """The mean gap over the data points."""
        return float(self.gap.mean())

    def to_frame(self):
        """A :class:`pandas.DataFrame`, one row per simulated data point."""
        import pandas as pd

        columns = {
            "lower": self.lower, "upper": self.upper, "gap": self.gap,
            "lower_stderr": self.forward.stderr, "upper_stderr": self.reverse.stderr,
            "forward_acceptance": self.forward.acceptance,
            "reverse_acceptance": self.reverse.acceptance,
        }
        return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in columns.items()})


def _device(*programs) -> torch.device:
    """The device of the parameters of the first program with any
    (:func:`pyrovae.base.nn.program_device`); CPU where none has parameters."""
    return next((d for d in map(program_device, programs) if d is not None), torch.device("cpu"))


def _check_simulates(model, num_points: int, kwargs: dict) -> None:
    """Refuse, in one line, a model whose signature does not take ``batch_size=num_points``
    (with ``kwargs``) alone, e.g. the tutorial's ``model(x)``."""
    try:
        signature = inspect.signature(model)
    except (TypeError, ValueError):  # no signature to read: the call itself will say
        return
    try:
        signature.bind(batch_size=num_points, **kwargs)
    except TypeError:
        name = getattr(model, "__qualname__", type(model).__name__)
        raise ModelGuideError(
            f"bdmc simulates data with model(batch_size={num_points}), but {name}{signature} "
            f"cannot be called so: give the model a keyword batch_size and let x default to "
            f"None (def model(x=None, batch_size=None)), sampling x when it is None and "
            f"returning it; or score your data with AIS (method='ais') instead.") from None


@torch.no_grad()
def simulate(model, num_points: int, **kwargs) -> tuple[torch.Tensor, dict]:
    """``(x, values)``: ``model(batch_size=num_points, **kwargs)`` run forward, its return value
    ``x`` and the values of its sample sites by name (the latents that generated ``x``).

    :raises ModelGuideError: the model cannot be called as ``model(batch_size=num_points)``, or
        does not return a tensor of ``num_points`` rows.
    """
    _check_simulates(model, num_points, kwargs)
    with poutine.block():
        trace = poutine.trace(model).get_trace(batch_size=num_points, **kwargs)
    x = trace.nodes["_RETURN"]["value"]
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] != num_points:
        raise ModelGuideError(
            f"bdmc simulates data with model(batch_size={num_points}), which must return the "
            f"sampled x as a tensor of {num_points} rows; it returned "
            f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else tuple(x.shape)}."
        )
    return x, {name: site["value"] for name, site in sample_sites(trace).items()}


@in_eval_mode
def bdmc(
    model,
    guide,
    num_points: int,
    *,
    num_chains: int = ais.DEFAULT_CHAINS,
    steps: int = 100,
    leapfrog: int = 10,
    step_size: float = 0.05,
    target_accept: float | None = 0.65,
    data_plate: str | None = None,
    proposal: str = "guide",
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    progress: bool = False,
    **kwargs,
) -> BDMCResult:
    """Sandwich :math:`\\log p(x_n)` of ``num_points`` data points simulated from the model.

    With :math:`(x_n, z_n) \\sim p(x, z)`, forward AIS (:func:`~pyrovae.infer.log_px`,
    ``method="ais"``) gives :math:`\\mathcal L_n = \\log\\frac1K\\sum_k e^{w_{kn}}` with
    :math:`\\mathbb E[\\mathcal L_n] \\le \\log p(x_n)`, and reverse AIS along the same schedule
    from :math:`z_n` (an exact posterior sample) gives
    :math:`\\mathcal U_n = -\\log\\frac1K\\sum_k e^{w'_{kn}}` with
    :math:`\\mathbb E[\\mathcal U_n] \\ge \\log p(x_n)`, both by Jensen's inequality on
    :math:`\\mathbb E[e^{w}] = p(x_n)` and :math:`\\mathbb E[e^{w'}] = 1/p(x_n)`. These hold
    because both runs' HMC step sizes are fixed before their chains are drawn: each direction
    tunes them on a forward pilot run of chains of its own from the initial distribution
    (:func:`~pyrovae.infer.ais.tune`; ``target_accept=None``: ``step_size`` throughout), whose
    cost :func:`~pyrovae.infer.ais.evaluations` counts. Uses one draw of the global RNG.

    :param num_points: ``N``, data points to simulate (``model(batch_size=N, **kwargs)``).
    :param num_chains: ``K``, chains per data point and direction.
    :param step_size: initial step size of the pilot runs.
    :param target_accept: acceptance rate the pilot runs tune toward (``None``: no pilot).
    :param kwargs: extra keyword arguments of the model and guide.
    :returns: a :class:`BDMCResult`.
    :raises ModelGuideError: as :func:`pyrovae.infer.bdmc_bounds.simulate` and ``log_px``.

    The modules of model and guide run in eval mode (:func:`~pyrovae.infer.modes.in_eval_mode`).
    """
    batching.check_positive("num_points", num_points)
    batching.check_positive("num_chains", num_chains)
    ais.check_settings(steps=steps, leapfrog=leapfrog, step_size=step_size,
                       target_accept=target_accept)
    settings = dict(steps=steps, leapfrog=leapfrog, step_size=step_size,
                    target_accept=target_accept, data_plate=data_plate, proposal=proposal,
                    batch_size=batch_size, particle_chunk=particle_chunk, progress=progress)
    base, device = rng.draw_base_seed(), _device(model, guide)
    with rng.seeded(rng.tile_seed(base, 3), device):
        x, values = simulate(model, num_points, **kwargs)
    with rng.seeded(rng.tile_seed(base, 4), x.device):
        forward = log_px(model, guide, x, num_samples=num_chains, method="ais", **settings,
                         **kwargs)
    chunks = ais.anneal_tiles(model, guide, (x,), kwargs, num_chains=num_chains,
                              base_seed=rng.tile_seed(base, 5), start=values, **settings)
    reverse = summarize(chunks, num_samples=num_chains, proposal=proposal, ks=(),
                        method="ais", steps=steps)
    return BDMCResult(x, forward, reverse)
