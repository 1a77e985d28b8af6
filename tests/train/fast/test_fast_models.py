"""The kinds of models users write (custom autograd Functions, hooks, checkpointing, no_grad
blocks, Pyro's straight-through distributions): training with replay on equals replay off, or
a one-line notice says why replay stepped aside."""

import re
import warnings
from pathlib import Path

import fast_toys
import pandas as pd
import pyro
import pytest
import torch
from fast_toys import NOTICES, PAIRS

from pyrovae import config, run
from pyrovae.config import TrainConfig
from pyrovae.train.fast.lean import LeanTraceELBO
from pyrovae.train.objective import Objective
from pyrovae.train.optim import make_optimizer
from pyrovae.train.step import sgd_step


def _train(pair, elbo, steps=8):
    pyro.set_rng_seed(0)
    model, guide = pair()
    objective = Objective(model, guide, elbo)
    optimizer = make_optimizer(objective.parameters(), TrainConfig(lr=0.05))
    data = torch.randn(64, 6)
    losses = [sgd_step(objective, optimizer, (data[8 * (i % 8):8 * (i % 8) + 8],), scale=8.0)
              for i in range(steps)]
    return torch.stack(losses), [p.detach().clone() for p in objective.parameters()]


@pytest.mark.parametrize("name", PAIRS)
def test_training_with_replay_on_equals_replay_off_or_says_why_not(name, recwarn):
    elbo = LeanTraceELBO()
    losses, params = _train(PAIRS[name], elbo)
    ref_losses, ref_params = _train(PAIRS[name], LeanTraceELBO(replay=False))
    assert torch.equal(losses, ref_losses)
    assert all(torch.equal(a, b) for a, b in zip(params, ref_params))
    notices = [str(w.message) for w in recwarn if "not replaying" in str(w.message)]
    if NOTICES[name] is None:
        assert elbo.replay and elbo._replayer.programs and not notices
    else:
        assert not elbo.replay and len(notices) == 1
        assert re.search(NOTICES[name], notices[0]), notices[0]
        assert "\n" not in notices[0]


def test_a_straight_through_vae_trains_the_same_with_and_without_replay(tmp_path):
    """The breach this guards against: replayed steps differentiated the rounding (gradient 0)
    instead of calling the estimator's backward, silently."""
    histories, notices = [], {}
    for replay in (True, False):
        cfg = config.from_dict({
            "data": {"name": "sprites", "num_train": 300, "num_valid": 50, "num_test": 10},
            "model": {"name": f"{Path(fast_toys.__file__)}:quantized_vae"},
            "guide": {"name": "mlp_normal", "hidden": [32]},
            "train": {"epochs": 2, "batch_size": 50, "replay": replay},
        })
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run.train(cfg, tmp_path / f"replay-{replay}", quiet=True)
        notices[replay] = [str(w.message) for w in caught if "not replaying" in str(w.message)]
        histories.append(pd.read_csv(tmp_path / f"replay-{replay}" / "history.csv"))
    assert notices[False] == [] and len(notices[True]) == 1
    assert "custom torch.autograd.Function 'RoundStraightThrough'" in notices[True][0]
    cols = ["train_objective", "valid_elbo"]
    pd.testing.assert_frame_equal(histories[0][cols], histories[1][cols], check_exact=True)
