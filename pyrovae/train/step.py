"""One stochastic gradient step on an objective: the training loop's hot path."""

from __future__ import annotations

import torch

from pyrovae.train.objective import Objective


def sgd_step(objective: Objective, optimizer: torch.optim.Optimizer,
             batch: tuple[torch.Tensor, ...], *, scale: float = 1.0, beta: float = 1.0,
             clip_norm: float = 0.0) -> torch.Tensor:
    """Evaluate ``objective`` on ``batch``, back-propagate and step ``optimizer``.

    :param scale: loss multiplier (``N / batch size`` estimates the full-data loss).
    :param beta: weight of the latent sites.
    :param clip_norm: clip the gradients' global norm to this value; 0 leaves them alone.
    :returns: the loss, detached (no host synchronization).
    """
    loss = objective(*batch, scale=scale, beta=beta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                       clip_norm)
    optimizer.step()
    return loss.detach()
