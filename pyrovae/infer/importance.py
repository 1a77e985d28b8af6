"""Importance-sampled :math:`\\log p(x)` per data point, with its error and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pyrovae.infer import batching
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
    :param num_samples: ``K``.
    :param proposal: ``"guide"`` or ``"prior"``.
    """

    value: torch.Tensor
    stderr: torch.Tensor
    ess: torch.Tensor
    elbo: torch.Tensor
    khat: torch.Tensor
    num_samples: int
    proposal: str
    iwae: dict[int, torch.Tensor] = field(default_factory=dict)

    def to_frame(self):
        """A :class:`pandas.DataFrame`, one row per data point."""
        import pandas as pd

        columns = {"log_px": self.value, "stderr": self.stderr, "ess": self.ess, "elbo": self.elbo}
        columns.update({f"iwae_{k}": v for k, v in self.iwae.items()})
        columns["khat"] = self.khat
        return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in columns.items()})


def log_px(
    model,
    guide,
    *args,
    num_samples: int = 5000,
    data_plate: str = "data",
    proposal: str = "guide",
    ks=(),
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    **kwargs,
) -> LogPxResult:
    """Importance-sampling estimate of :math:`\\log p(x_n)` for every data point.

    :math:`\\log \\hat p(x_n) = \\log \\frac1K \\sum_{k=1}^K e^{w_{kn}}` with the log weights
    :math:`w_{kn}` of :func:`~pyrovae.infer.log_weights`, computed tile by tile (a batch of
    data, a chunk of particles) and summarized by a streaming
    :class:`~pyrovae.infer.stream.LogWeightStream`, so memory does not grow with ``K``.
    Uses one draw of the global RNG (the base seed of the tiles).

    :param model: a model following the pyrovae protocol (a ``pyro.plate(data_plate, N)``).
    :param guide: a guide sampling the model's latent sites (unused for ``proposal="prior"``).
    :param args: the data ``x`` ``[N, *event_shape]`` first, then any extra model arguments;
        tensors with first dim ``N`` are batched with ``x``.
    :param num_samples: ``K``, particles per data point.
    :param data_plate: name of the model's data plate.
    :param proposal: ``"guide"`` (:math:`z \\sim q(z \\mid x)`) or ``"prior"``
        (:math:`z \\sim p(z)`, weights :math:`\\log p(x \\mid z)`).
    :param ks: group sizes ``k`` (each ``<= K``) of the IWAE bounds to report, from the same
        particles.
    :param batch_size: data points per tile (default: bounded memory, see
        :mod:`pyrovae.infer.batching`).
    :param particle_chunk: particles per tile (default: bounded memory).
    :param kwargs: extra keyword arguments of the model and guide.
    :raises ModelSpecError: the model and guide do not fit the protocol or each other.
    """
    x = batching.data_tensor(args, kwargs)
    batching.check_positive("num_samples", num_samples)
    LogWeightStream(num_samples, 0, ks)  # check ks before any work
    parts = []
    stream = None
    for tile in iter_tiles(
        model,
        guide,
        args,
        kwargs,
        num_samples=num_samples,
        data_plate=data_plate,
        proposal=proposal,
        batch_size=batch_size,
        particle_chunk=particle_chunk,
    ):
        if tile.particles[0] == 0:
            num_rows = tile.rows[1] - tile.rows[0]
            stream = LogWeightStream(num_samples, num_rows, ks, device=x.device)
        stream.update(tile.log_weight)
        if tile.particles[1] == num_samples:
            parts.append(stream.result())
    return LogPxResult(
        **{
            key: torch.cat([p[key] for p in parts])
            for key in ("value", "stderr", "ess", "elbo", "khat")
        },
        num_samples=num_samples,
        proposal=proposal,
        iwae={k: torch.cat([p["iwae"][k] for p in parts]) for k in dict.fromkeys(ks)},
    )
