"""Optimizers and learning-rate schedules: the normalised-gradient Adam step against a hand
computation, the staged schedule's rate per epoch."""

import math

import pytest
import torch

from pyrovae.base.errors import ConfigError
from pyrovae.config import TrainConfig
from pyrovae.train.optim import AdamNormGrad, make_optimizer, make_schedule, staged_lr

BURDA = [[3**i, 1e-3 * 10 ** (-i / 7)] for i in range(8)]


def hand_adam_normgrad(p, grads, lr, betas=(0.9, 0.999), eps=1e-8):
    """Adam (Kingma and Ba, Algorithm 1) on g / (||g|| + 1e-7), written out."""
    m = torch.zeros_like(p)
    v = torch.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = g / (g.norm() + 1e-7)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (v_hat.sqrt() + eps)
    return p


@pytest.mark.parametrize("fused", [None, True])
def test_adam_normgrad_steps_adam_on_unit_norm_gradients(fused):
    p0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    grads = [torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64),
             torch.tensor([0.0, 200.0, -1.0], dtype=torch.float64),
             torch.tensor([1e-3, 0.0, 1e-3], dtype=torch.float64)]
    p = p0.clone().requires_grad_()
    opt = AdamNormGrad([p], lr=0.1, fused=fused)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    expected = hand_adam_normgrad(p0, grads, lr=0.1)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-12)
    plain = p0.clone().requires_grad_()
    adam = torch.optim.Adam([plain], lr=0.1)
    for g in grads:
        plain.grad = g.clone()
        adam.step()
    assert not torch.allclose(plain.detach(), expected)  # the normalisation matters here


def test_adam_normgrad_and_adam_eps_come_from_the_config():
    p = torch.zeros(2, requires_grad=True)
    opt = make_optimizer([p], TrainConfig(optimizer="adam_normgrad", lr=5e-4, adam_eps=1e-4))
    assert isinstance(opt, AdamNormGrad)
    assert opt.param_groups[0]["lr"] == 5e-4 and opt.param_groups[0]["eps"] == 1e-4
    assert make_optimizer([p], TrainConfig(adam_eps=5.0)).param_groups[0]["eps"] == 5.0


def test_the_staged_rate_of_each_epoch_is_its_stages():
    rates = [staged_lr(BURDA, e) for e in range(3280 + 5)]
    assert rates[0] == 1e-3
    assert rates[1:4] == [pytest.approx(1e-3 * 10 ** (-1 / 7))] * 3
    assert rates[4] == pytest.approx(1e-3 * 10 ** (-2 / 7))
    assert rates[3279] == rates[3284] == pytest.approx(1e-4)  # the last rate stays
    starts = [sum(3**j for j in range(i)) for i in range(8)]
    assert [rates[s] for s in starts] == pytest.approx([lr for _, lr in BURDA])
    assert len({round(r, 12) for r in rates}) == 8


def test_the_staged_schedule_sets_the_optimizers_rate_each_epoch():
    t = TrainConfig(lr=1e-3, lr_schedule="staged", lr_stages=[[2, 1e-2], [1, 3e-3], [1, 1e-4]])
    p = torch.zeros(1, requires_grad=True)
    opt = make_optimizer([p], t)
    schedule = make_schedule(opt, t)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert seen == pytest.approx([1e-2, 1e-2, 3e-3, 1e-4, 1e-4, 1e-4])


@pytest.mark.parametrize("stages, message", [
    (None, "needs train.lr_stages"),
    ([], "needs train.lr_stages"),
    ([[1.5, 1e-3]], r"lr_stages\[0\] must be \[epochs, lr\] with whole epochs"),
    ([[2, 1e-3, 4]], r"lr_stages\[0\] must be"),
])
def test_a_staged_schedule_needs_whole_stages(stages, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(lr_schedule="staged", lr_stages=stages)


def test_stages_belong_to_the_staged_schedule_only():
    with pytest.raises(ConfigError, match='applies to lr_schedule = "staged"'):
        TrainConfig(lr_stages=[[1, 1e-3]])
    assert math.isclose(staged_lr([[1, 2e-3]], 0), 2e-3)
