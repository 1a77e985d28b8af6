"""Streaming summaries of importance log weights, fed one chunk of particles at a time.

Memory is ``O(n * (M + chunk))`` for ``n`` data points whatever the number of particles ``K``:
running log-sum-exps of :math:`w` and :math:`2w`, a running sum of :math:`w`, one partial group
per IWAE bound, and the ``M + 1`` largest log weights for the PSIS tail (:mod:`.psis`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pyrovae.base.errors import ConfigError
from pyrovae.infer.psis import pareto_khat, psis_tail_length


@dataclass
class _Groups:
    """Running IWAE bound over disjoint groups of ``k`` consecutive particles."""

    k: int
    num_groups: int
    done: torch.Tensor
    partial: torch.Tensor
    partial_len: int = 0

    def update(self, log_w: torch.Tensor, start: int) -> None:
        usable = min(log_w.shape[0], self.k * self.num_groups - start)
        if usable <= 0:
            return
        log_w = log_w[:usable]
        head = 0
        if self.partial_len:
            head = min(self.k - self.partial_len, usable)
            self._extend(log_w[:head])
        full = (usable - head) // self.k
        if full:
            body = log_w[head : head + full * self.k].reshape(full, self.k, -1)
            self.done = self.done + (body.logsumexp(1) - math.log(self.k)).sum(0)
        tail = log_w[head + full * self.k :]
        if tail.shape[0]:
            self._extend(tail)

    def _extend(self, log_w: torch.Tensor) -> None:
        self.partial = torch.logaddexp(self.partial, log_w.logsumexp(0))
        self.partial_len += log_w.shape[0]
        if self.partial_len == self.k:
            self.done = self.done + self.partial - math.log(self.k)
            self.partial = torch.full_like(self.partial, -math.inf)
            self.partial_len = 0

    def value(self) -> torch.Tensor:
        return self.done / self.num_groups


class LogWeightStream:
    """Summaries of log weights ``[K, n]`` that arrive as consecutive chunks ``[C, n]``.

    With :math:`w_{kn}` the log weights, :math:`L_1 = \\log\\sum_k e^{w_{kn}}` and
    :math:`L_2 = \\log\\sum_k e^{2 w_{kn}}` (float64):

    - ``value`` :math:`= L_1 - \\log K`, the importance-sampling estimate of :math:`\\log p(x_n)`;
    - ``ess`` :math:`= e^{2L_1 - L_2} = (\\sum_k e^{w_k})^2 / \\sum_k e^{2w_k}`;
    - ``stderr`` :math:`= \\sqrt{(K/\\mathrm{ESS} - 1)/(K - 1)}`, the delta-method standard error
      of :math:`\\log \\hat{p}`: with :math:`\\hat{p}` the mean weight and :math:`s^2` the
      unbiased sample variance of the weights,
      :math:`\\mathrm{Var}(\\log\\hat p) \\approx s^2 / (K \\hat p^2)
      = (K \\sum_k \\bar w_k^2 - 1)/(K-1)` with normalized weights
      :math:`\\bar w_k = e^{w_k} / \\sum_j e^{w_j}` (``nan`` for ``K = 1``);
    - ``elbo`` :math:`= \\frac1K \\sum_k w_{kn}`;
    - ``iwae[k]`` :math:`= \\frac1G \\sum_{g<G} \\log \\frac1k \\sum_{j<k} e^{w_{gk+j,n}}`,
      :math:`G = \\lfloor K/k \\rfloor`: the mean of the IWAE-``k`` bound over the disjoint
      groups of ``k`` consecutive particles that fit in the stream (the first ``G k``
      particles), an unbiased estimate of the bound
      :math:`\\mathbb{E}[\\log \\frac1k\\sum_{j<k} e^{w_j}]`; ``iwae[1]`` is ``elbo`` exactly;
    - ``khat``: Pareto :math:`\\hat k` of the weights' upper tail (:func:`.psis.pareto_khat`).

    :param num_samples: ``K``, the total number of particles the stream will see.
    :param num_data: ``n``, the number of data points (columns).
    :param ks: group sizes of the IWAE bounds, each in ``1..K``.
    """

    def __init__(self, num_samples: int, num_data: int, ks=(), *, device=None):
        if not isinstance(ks, (list, tuple, range)):
            raise ConfigError(f"ks must be a list of integers in 1..{num_samples}, got {ks!r}.")
        for k in ks:
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= num_samples:
                raise ConfigError(f"each of ks must be an integer in 1..{num_samples}, got {k!r}.")
        self.num_samples = num_samples
        self.seen = 0
        full = dict(size=(num_data,), dtype=torch.float64, device=device)
        self._lse1 = torch.full(fill_value=-math.inf, **full)
        self._lse2 = torch.full(fill_value=-math.inf, **full)
        self._sum = torch.zeros(**full)
        self._ks = tuple(dict.fromkeys(ks))
        self._groups = {
            k: _Groups(
                k, num_samples // k, torch.zeros(**full), torch.full(fill_value=-math.inf, **full)
            )
            for k in self._ks
            if k != 1
        }
        self._top_size = min(num_samples, psis_tail_length(num_samples) + 1)
        self._top = torch.empty((0, num_data), dtype=torch.float64, device=device)

    def update(self, log_w: torch.Tensor) -> None:
        """Add the next ``[C, n]`` chunk of log weights (particles ``seen .. seen + C``)."""
        log_w = log_w.to(torch.float64)
        if self.seen + log_w.shape[0] > self.num_samples:
            raise ValueError(f"the stream takes {self.num_samples} particles; got more.")
        self._lse1 = torch.logaddexp(self._lse1, log_w.logsumexp(0))
        self._lse2 = torch.logaddexp(self._lse2, (2 * log_w).logsumexp(0))
        self._sum = self._sum + log_w.sum(0)
        for groups in self._groups.values():
            groups.update(log_w, self.seen)
        top = torch.cat([self._top, log_w])
        self._top = top.topk(min(self._top_size, top.shape[0]), dim=0).values
        self.seen += log_w.shape[0]

    def result(self) -> dict:
        """The summaries (see the class docstring) as a dict of ``[n]`` tensors; ``iwae`` is a
        dict ``k -> [n]``."""
        if self.seen != self.num_samples:
            raise ValueError(f"the stream saw {self.seen} of {self.num_samples} particles.")
        K = self.num_samples
        ess = torch.exp(2 * self._lse1 - self._lse2)
        if K > 1:
            excess = torch.exp(math.log(K) + self._lse2 - 2 * self._lse1) - 1
            stderr = (excess.clamp(min=0) / (K - 1)).sqrt()
        else:
            stderr = torch.full_like(ess, math.nan)
        elbo = self._sum / K
        iwae = {k: elbo if k == 1 else self._groups[k].value() for k in self._ks}
        return dict(
            value=self._lse1 - math.log(K),
            stderr=stderr,
            ess=ess,
            elbo=elbo,
            iwae=iwae,
            khat=pareto_khat(self._top, K),
        )
