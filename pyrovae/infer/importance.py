"""Importance-sampled (or annealed, :mod:`.ais`) :math:`\\log p(x)` per data point, with its
error and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pyrovae.base.errors import ConfigError
from pyrovae.infer import ais, batches, batching, rng
from pyrovae.infer.modes import in_eval_mode
from pyrovae.infer.particles import check_layout
from pyrovae.infer.stream import LogWeightStream
from pyrovae.infer.tiles import iter_tiles


@dataclass
class LogPxResult:
    """Per-datapoint results of :func:`log_px` (every tensor is float64 ``[N]``).

    :param value: :math:`\\log \\frac1K \\sum_k e^{w_{kn}}`, the estimate of :math:`\\log p(x_n)`.
    :param stderr: delta-method standard error of ``value``,
        :math:`\\sqrt{(K/\\mathrm{ESS}_n - 1)/(K-1)}` (``nan`` for ``K = 1``).
    :param ess: effective sample size :math:`(\\sum_k e^{w_{kn}})^2 / \\sum_k e^{2w_{kn}}`.
    :param elbo: :math:`\\frac1K \\sum_k w_{kn}`, the ELBO estimate (IWAE with ``k = 1``).
    :param iwae: ``{k: IWAE-k bound estimate}`` for the requested ``ks``.
    :param khat: Pareto :math:`\\hat k` of the weights (``nan`` where it cannot be fitted).
    :param num_samples: ``K`` (for AIS: the number of chains, whose final log weights are the
        :math:`w_{kn}`).
    :param proposal: ``"guide"`` or ``"prior"``.
    :param method: ``"is"`` or ``"ais"``.
    :param steps: annealing steps ``T`` (AIS only).
    :param acceptance: mean HMC acceptance probability per data point (AIS only).
    :param layout: where the particles ran (:data:`~pyrovae.infer.particles.LAYOUTS`).
    :param data_plate: the name of the model's data plate (importance sampling only).
    """

    value: torch.Tensor
    stderr: torch.Tensor
    ess: torch.Tensor
    elbo: torch.Tensor
    khat: torch.Tensor
    num_samples: int
    proposal: str
    iwae: dict[int, torch.Tensor] = field(default_factory=dict)
    method: str = "is"
    steps: int | None = None
    acceptance: torch.Tensor | None = None
    layout: str = "vectorized"
    data_plate: str | None = None

    def to_frame(self):
        """A :class:`pandas.DataFrame`, one row per data point."""
        import pandas as pd

        columns = {"log_px": self.value, "stderr": self.stderr, "ess": self.ess, "elbo": self.elbo}
        columns.update({f"iwae_{k}": v for k, v in self.iwae.items()})
        columns["khat"] = self.khat
        if self.acceptance is not None:
            columns["acceptance"] = self.acceptance
        return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in columns.items()})


METHODS = ("is", "ais")


@in_eval_mode
def log_px(
    model,
    guide,
    *args,
    num_samples: int | None = None,
    data_plate: str | None = None,
    proposal: str = "guide",
    ks=(),
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    method: str = "is",
    steps: int = 100,
    leapfrog: int = 10,
    step_size: float = 0.05,
    target_accept: float | None = 0.65,
    progress: bool = False,
    particles: str | None = None,
    **kwargs,
) -> LogPxResult:
    """Importance-sampling (or AIS) estimate of :math:`\\log p(x_n)` for every data point.

    :math:`\\log \\hat p(x_n) = \\log \\frac1K \\sum_{k=1}^K e^{w_{kn}}` with the log weights
    :math:`w_{kn}` of :func:`~pyrovae.infer.log_weights` (``method="is"``), or the final log
    weights of ``K`` annealed importance sampling chains (``method="ais"``,
    :func:`~pyrovae.infer.ais.anneal`: a stochastic lower bound, tighter than importance
    sampling when the proposal's tails are too light), computed tile by tile (a batch of
    data, a chunk of particles or chains) and summarized by a streaming
    :class:`~pyrovae.infer.stream.LogWeightStream`, so memory does not grow with ``K``.
    Uses one draw of the global RNG (the base seed of the tiles).

    :param model: a model following the pyrovae protocol (a ``pyro.plate(data_plate, N)``).
    :param guide: a guide sampling the model's latent sites (unused for ``proposal="prior"``).
    :param args: the data ``x`` ``[N, *event_shape]`` first, then any extra model arguments;
        tensors with first dim ``N`` are batched with ``x``. A tuple ``(x, labels)`` given
        alone is taken apart, as :func:`pyrovae.fit` takes its data. Or one ``DataLoader``
        whose batches are the model's arguments, built with your own ``collate_fn``
        (sequences of different lengths, packed sequences, dicts of tensors;
        :mod:`pyrovae.infer.batches`): it is read batch by batch, the rows of the result
        follow its order (give it ``shuffle=False``), and ``batch_size`` is unused.
    :param num_samples: ``K``, particles (AIS: chains) per data point; default 5000 (AIS:
        :data:`~pyrovae.infer.ais.DEFAULT_CHAINS`).
    :param data_plate: name of the model's data plate; None finds it: the plate of the
        observed sites whose size is the number of data points, whatever its name
        (:func:`~pyrovae.infer.sites.find_data_plate`). The result's ``data_plate`` names it.
    :param proposal: ``"guide"`` (:math:`z \\sim q(z \\mid x)`) or ``"prior"``
        (:math:`z \\sim p(z)`, weights :math:`\\log p(x \\mid z)`); for AIS, the initial
        distribution.
    :param ks: group sizes ``k`` (each ``<= K``) of the IWAE bounds to report, from the same
        particles.
    :param batch_size: data points per tile (default: bounded memory, see
        :mod:`pyrovae.infer.batching`).
    :param particle_chunk: particles per tile (default: bounded memory).
    :param method: ``"is"`` or ``"ais"``; the AIS settings below are ignored for ``"is"``.
    :param steps: AIS annealing steps ``T`` (``T - 1`` HMC transitions; ``T = 1`` is importance
        sampling).
    :param leapfrog: leapfrog steps per HMC transition.
    :param step_size: initial HMC step size of the pilot run of each tile
        (:func:`~pyrovae.infer.ais.tune`), whose step sizes per data point, adapted toward
        ``target_accept``, are then frozen for the annealing run (so that
        :math:`\\mathbb E[e^w] = p(x)`); its cost is counted in
        :func:`~pyrovae.infer.ais.evaluations`.
    :param target_accept: acceptance rate the pilot tunes toward (``None``: no pilot,
        ``step_size`` throughout).
    :param progress: show a progress bar over annealing steps (AIS).
    :param particles: where the particles of importance sampling run: ``"vectorized"`` (a
        particle plate), ``"batch"`` (folded into the data batch) or ``"loop"`` (one at a
        time); default None checks on the first tile that the vectorized layout gives the log
        weights of single particles and falls back in that order, with a one-line warning
        (:func:`~pyrovae.infer.tiles.choose_layout`). The layout used is the result's
        ``layout``. AIS runs its chains vectorized.
    :param kwargs: extra keyword arguments of the model and guide.
    :raises ModelGuideError: the model and guide do not fit the protocol or each other; for AIS,
        a latent site is discrete.

    The model's and guide's modules run in eval mode (:func:`~pyrovae.infer.modes.in_eval_mode`):
    dropout off, batch norm on its running statistics; their modes are given back afterwards.
    """
    args = batching.unpacked(args)
    streamed = batches.source(args, kwargs, 1).streamed  # checks tensors in memory first
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}.")
    if num_samples is None:
        num_samples = ais.DEFAULT_CHAINS if method == "ais" else 5000
    batching.check_positive("num_samples", num_samples)
    check_layout(particles)
    if method == "ais" and streamed:
        raise ConfigError("AIS takes its data as tensors in memory, not a DataLoader: give "
                          "log_px the tensors, or use method='is'.")
    if method == "ais" and particles not in (None, "vectorized"):
        raise ConfigError(f"AIS runs its chains vectorized; particles={particles!r} is for "
                         f"importance sampling.")
    LogWeightStream(num_samples, 0, ks)  # check ks before any work
    tiling = dict(num_samples=num_samples, data_plate=data_plate, proposal=proposal,
                  batch_size=batch_size, particle_chunk=particle_chunk)
    if method == "ais":
        ais.check_settings(steps=steps, leapfrog=leapfrog, step_size=step_size,
                           target_accept=target_accept)
        chunks = ais.anneal_tiles(
            model, guide, args, kwargs, steps=steps, leapfrog=leapfrog, step_size=step_size,
            target_accept=target_accept, base_seed=rng.draw_base_seed(), progress=progress,
            num_chains=tiling.pop("num_samples"), **tiling)
    else:
        layouts = []

        def is_chunks():
            for t in iter_tiles(model, guide, args, kwargs, particles=particles, **tiling):
                layouts.append((t.layout, t.structure.data_plate))
                yield t.rows, t.particles, t.log_weight, None

        chunks = is_chunks()
    result = summarize(chunks, num_samples=num_samples, proposal=proposal, ks=ks,
                       method=method, steps=steps if method == "ais" else None)
    if method == "is":
        result.layout, result.data_plate = layouts[0]
    return result


def summarize(chunks, *, num_samples, proposal, ks, method="is", steps=None):
    """The :class:`LogPxResult` of ``chunks``, ``(rows, particles, log_weight [C, n],
    acceptance [n] or None)`` covering ``num_samples`` particles of every data point, the
    particles of a batch of rows in order."""
    parts, acceptance = [], []
    stream = accepted = None
    for rows, particles, log_weight, accept in chunks:
        if particles[0] == 0:
            stream = LogWeightStream(num_samples, rows[1] - rows[0], ks,
                                     device=log_weight.device)
            accepted = 0
        stream.update(log_weight)
        if accept is not None:
            accepted = accepted + accept * (particles[1] - particles[0]) / num_samples
        if particles[1] == num_samples:
            parts.append(stream.result())
            acceptance.append(accepted)
    return LogPxResult(
        **{
            key: torch.cat([p[key] for p in parts])
            for key in ("value", "stderr", "ess", "elbo", "khat")
        },
        num_samples=num_samples,
        proposal=proposal,
        iwae={k: torch.cat([p["iwae"][k] for p in parts]) for k in dict.fromkeys(ks)},
        method=method,
        steps=steps,
        acceptance=torch.cat(acceptance) if method == "ais" else None,
    )
