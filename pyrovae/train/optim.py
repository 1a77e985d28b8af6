"""Optimizers and learning-rate schedules built from ``[train]`` options."""

from __future__ import annotations

import torch
from pyro.optim.clipped_adam import ClippedAdam

from pyrovae.config import TrainConfig


class AdamNormGrad(torch.optim.Adam):
    r"""Adam on normalised gradients (Tomczak and Welling's "AdamNormGrad"): each parameter's
    gradient :math:`g` is replaced by :math:`g / (\lVert g \rVert_2 + 10^{-7})`, the norm taken
    over that parameter tensor alone, before torch's Adam update.

    The gradients are divided in place: after :meth:`step`, ``p.grad`` holds what Adam used.
    """

    NORM_EPS = 1e-7

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.div_(torch.linalg.vector_norm(p.grad) + self.NORM_EPS)
        super().step()
        return loss


def _fused(params) -> bool | None:
    """True where torch has a fused Adam (one kernel for all parameters) for ``params``."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) or None


OPTIMIZERS = {
    "adam": lambda params, t: torch.optim.Adam(params, lr=t.lr, eps=t.adam_eps,
                                               fused=_fused(params)),
    # Pyro's ClippedAdam clamps each gradient element to [-clip_norm, clip_norm].
    "clipped_adam": lambda params, t: ClippedAdam(params, lr=t.lr, eps=t.adam_eps,
                                                  clip_norm=t.clip_norm or 10.0),
    "adam_normgrad": lambda params, t: AdamNormGrad(params, lr=t.lr, eps=t.adam_eps,
                                                    fused=_fused(params)),
}


def staged_lr(stages, epoch: int) -> float:
    r"""The learning rate of epoch ``epoch`` (0 is the first) under ``stages`` ``[[epochs, lr],
    ...]``: the rate of the stage the epoch falls in, the last stage's after the end.

    Burda et al.'s schedule is stage :math:`i = 0..7` of :math:`3^i` epochs at
    :math:`10^{-3} \cdot 10^{-i/7}`."""
    end = 0
    for length, lr in stages:
        end += int(length)
        if epoch < end:
            return float(lr)
    return float(stages[-1][1])


SCHEDULES = {
    "constant": lambda opt, t: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=1.0),
    "exponential": lambda opt, t: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=t.lr_gamma),
    "cosine": lambda opt, t: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs),
    # LambdaLR multiplies the optimizer's initial rate t.lr
    "staged": lambda opt, t: torch.optim.lr_scheduler.LambdaLR(
        opt, lambda epoch: staged_lr(t.lr_stages, epoch) / t.lr),
}


def make_optimizer(params, t: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``t.optimizer`` over ``params``."""
    return OPTIMIZERS[t.optimizer](list(params), t)


def make_schedule(optimizer, t: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch learning-rate schedule named by ``t.lr_schedule``."""
    return SCHEDULES[t.lr_schedule](optimizer, t)


def beta_at(t: TrainConfig, epoch_progress: float) -> float:
    """The latent-site weight after ``epoch_progress`` epochs: rises linearly from 0 to ``t.beta``
    over ``t.kl_warmup_epochs`` epochs, then stays at ``t.beta``."""
    if t.kl_warmup_epochs <= 0:
        return t.beta
    return t.beta * min(1.0, epoch_progress / t.kl_warmup_epochs)
