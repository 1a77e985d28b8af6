"""After each epoch every callback runs, in order, as callback(state, improved); one returning
True stops training after that epoch; KeepBest holds the best epoch's values and Checkpoints
writes the run directory's files."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae import config
from pyrovae.train import session
from pyrovae.train.callbacks import Checkpoints, KeepBest


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder, self.encoder = nn.Linear(2, 4), nn.Linear(4, 4)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(z), 1.0).to_event(1), obs=x)

    def guide(self, x):
        loc, raw = self.encoder(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


def _train(callbacks=(), epochs=4, run_dir=None):
    torch.manual_seed(0)
    pair = Pair()
    t = config.from_dict({"train": {"epochs": epochs, "batch_size": 10, "lr": 1e-2}}).train
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(1))
    return session.train_pair(pair.model, pair.guide, (x,), (x[:10],), t, identity={}, seed=0,
                              run_dir=run_dir, quiet=True, callbacks=callbacks)


def test_a_callback_that_returns_true_stops_after_its_epoch_and_the_others_still_run():
    seen = []
    trained = _train([lambda state: seen.append(("first", state.epoch)) or state.epoch == 2,
                      lambda state: seen.append(("second", state.epoch))])
    assert trained.state.epoch == 2 and trained.state.stopped_early
    assert seen == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]


def test_keep_best_and_checkpoints_hold_the_best_epoch(tmp_path):
    trained = _train(run_dir=tmp_path)
    best_epoch = trained.state.best_epoch
    saved = torch.load(tmp_path / "best.pt", weights_only=False)
    assert saved["epoch"] == best_epoch
    assert all(torch.equal(saved["values"]["model"][k], v)
               for k, v in trained.best["model"].items())
    assert (tmp_path / "history.csv").read_text().count("\n") == 1 + 4


def test_the_callbacks_alone_keep_the_best_values_and_write_the_files(tmp_path):
    """KeepBest and Checkpoints as a caller of the loop would use them."""
    trained = _train()
    keep = KeepBest(trained.parameters)
    state = trained.state
    keep(state, improved=False)
    assert keep.values is None
    keep(state, improved=True)
    assert keep.values["model"].keys() == trained.best["model"].keys()
    optimizer = torch.optim.Adam(trained.parameters.named().values())
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    Checkpoints(tmp_path, {}, trained.parameters, optimizer, schedule, seed=7)(state, True)
    assert {p.name for p in tmp_path.iterdir()} == {"best.pt", "checkpoint.pt", "history.csv"}
    assert (tmp_path / "history.csv").read_text().splitlines()[1].startswith("7,1,")
