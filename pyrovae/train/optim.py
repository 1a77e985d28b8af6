"""Optimizers and learning-rate schedules built from ``[train]`` options."""

from __future__ import annotations

import torch
from pyro.optim.clipped_adam import ClippedAdam

from pyrovae.config import TrainConfig


def _adam(params, t: TrainConfig) -> torch.optim.Adam:
    """torch's Adam; fused (one kernel for all parameters) where torch supports it."""
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=t.lr, fused=fused or None)


OPTIMIZERS = {
    "adam": _adam,
    # Pyro's ClippedAdam clamps each gradient element to [-clip_norm, clip_norm].
    "clipped_adam": lambda params, t: ClippedAdam(params, lr=t.lr, clip_norm=t.clip_norm or 10.0),
}

SCHEDULES = {
    "constant": lambda opt, t: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=1.0),
    "exponential": lambda opt, t: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=t.lr_gamma),
    "cosine": lambda opt, t: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs),
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
