"""Hamiltonian Monte Carlo transitions for many independent chains at once, one step size per
data point.

Every chain ``c`` of data point ``n`` moves on its own ``u[c, n]`` (identity mass matrix); the
step size of point ``n`` is shared by its chains. Step sizes adapt only in a pilot run
(:func:`~pyrovae.infer.ais.tune`): a transition whose step size depended on the chains it moves
would not leave :math:`\\pi_\\beta` invariant, and AIS would be biased.
"""

from __future__ import annotations

from typing import Callable

import torch

from pyrovae.infer.potential import State


def _kinetic(momentum: torch.Tensor) -> torch.Tensor:
    return 0.5 * momentum.to(torch.float64).pow(2).sum(-1)


def hmc_step(
    evaluate: Callable[..., State],
    state: State,
    beta: float,
    step_size: torch.Tensor,
    leapfrog: int,
) -> tuple[State, torch.Tensor]:
    """One HMC transition leaving :math:`\\pi_\\beta` invariant for every chain.

    With momentum :math:`r \\sim \\mathcal N(0, I)`, ``leapfrog`` steps of size
    :math:`\\epsilon_n` of the dynamics of :math:`H(u, r) = -\\log\\pi_\\beta(u) + \\|r\\|^2/2`
    propose :math:`(u', r')`, accepted with probability
    :math:`\\min(1, e^{H(u, r) - H(u', r')})` (0 where :math:`H(u', r')` is not finite).
    Costs ``leapfrog`` evaluations with gradients: gradients at any :math:`\\beta` are linear
    in those of the state's three log densities (:meth:`State.grad`).

    :param evaluate: ``evaluate(u, grad=True)``, the :class:`State` at ``u`` with gradients.
    :param state: the current state, with its gradients.
    :param step_size: ``[n]`` float64 step sizes, fixed before the chains were drawn.
    :returns: ``(next state, acceptance probabilities [C, n])``.
    """
    eps = step_size.to(state.u.dtype)[None, :, None]
    momentum = torch.randn_like(state.u)
    start_energy = _kinetic(momentum) - state.log_target(beta)
    proposal = state
    momentum = momentum + 0.5 * eps * proposal.grad(beta)
    for i in range(leapfrog):
        proposal = evaluate(proposal.u + eps * momentum, grad=True)
        momentum = momentum + (eps if i < leapfrog - 1 else 0.5 * eps) * proposal.grad(beta)
    energy = _kinetic(momentum) - proposal.log_target(beta)
    log_accept = (start_energy - energy).clamp(max=0)
    prob = torch.where(log_accept.isnan(), 0.0, log_accept.exp())
    accept = torch.rand_like(prob) < prob
    return proposal.select(accept, state), prob


def adapt_step_size(
    step_size: torch.Tensor, prob: torch.Tensor, target: float, rate: float = 2.0
) -> torch.Tensor:
    """:math:`\\epsilon_n \\leftarrow \\epsilon_n \\exp(\\gamma(\\bar a_n - a^*))`, with
    :math:`\\bar a_n` the mean acceptance probability of point ``n`` 's chains, :math:`a^*` the
    ``target`` and :math:`\\gamma` the ``rate`` (pilot runs only)."""
    return step_size * torch.exp(rate * (prob.mean(0) - target))
