"""The Python API: pyrovae.fit trains any pair (PyroModules, a module's methods, functions with
pyro.param), resumes, and agrees with the CLI; pyrovae.evaluate gives the CLI's rows; the README
notebook example runs."""

import re
from pathlib import Path

import pandas as pd
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule
from torch import nn

import pyrovae
from pyrovae import config, evaluation, run
from pyrovae.base.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    ModelGuideError,
)
from pyrovae.cli import main
from pyrovae.data import load_dataset

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = {"num_train": 200, "num_valid": 50, "num_test": 20}


@pytest.fixture(scope="module")
def sprites():
    return load_dataset("sprites", **SMALL)


class Decoder(PyroModule):
    def __init__(self, z_dim=3):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Linear(z_dim, 784)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], self.z_dim), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.net(z)).to_event(1), obs=x.flatten(1))


class Encoder(PyroModule):
    def __init__(self, z_dim=3):
        super().__init__()
        self.net = nn.Linear(784, 2 * z_dim)

    def forward(self, x):
        loc, raw = self.net(x.flatten(1)).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


class TutorialVAE(nn.Module):
    """One module, model and guide as methods, networks registered with pyro.module."""

    def __init__(self):
        super().__init__()
        self.decoder, self.encoder = nn.Linear(3, 784), nn.Linear(784, 6)

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x.flatten(1))

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        loc, raw = self.encoder(x.flatten(1)).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


def shifted_model(x):
    """x ~ N(z + b, 1), z ~ N(0, 1): parameters in Pyro's param store only."""
    b = pyro.param("b", torch.zeros(()))
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
        pyro.sample("x", dist.Normal(z + b, 1.0), obs=x)


def shifted_guide(x):
    """q(z | x) = N(w x + c, s^2): the exact posterior N((x - b) / 2, 1/2) is one of them."""
    w, c = pyro.param("w", torch.zeros(())), pyro.param("c", torch.zeros(()))
    s = pyro.param("s", torch.ones(()), constraint=dist.constraints.positive)
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(w * x + c, s))


def _params(*modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


@pytest.mark.parametrize("kind", ["pyro-modules", "tutorial-methods"])
def test_fit_trains_module_pairs(kind, sprites):
    pyro.set_rng_seed(0)
    if kind == "pyro-modules":
        model, guide = Decoder(), Encoder()
        modules = (model, guide)
    else:
        vae = TutorialVAE()
        model, guide, modules = vae.model, vae.guide, (vae,)
    before = _params(*modules)
    result = pyrovae.fit(model, guide, sprites.split("train"), valid=sprites.split("valid"),
                         epochs=3, batch_size=50, lr=1e-2, seed=0)
    assert list(result.history["epoch"]) == [1, 2, 3]
    assert result.history["valid_elbo"].iloc[-1] > result.history["valid_elbo"].iloc[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, _params(*modules)))
    best = result.state.best_epoch
    assert result.history["valid_elbo"].max() == result.history.set_index("epoch")["valid_elbo"][best]


def test_fit_trains_functions_whose_parameters_live_in_the_param_store():
    pyro.set_rng_seed(0)
    x = 3.0 + torch.randn(400) * 2 ** 0.5  # p(x) = N(b, 2)
    result = pyrovae.fit(shifted_model, shifted_guide, x, epochs=100, batch_size=100, lr=0.05,
                         seed=0)
    store = pyro.get_param_store()
    assert sorted(result.best["store"]) == ["b", "c", "s", "w"]
    # the ELBO's optimum: the exact posterior, and b at the maximum likelihood, the data's mean
    assert store["b"].item() == pytest.approx(x.mean().item(), abs=0.15)
    assert store["w"].item() == pytest.approx(0.5, abs=0.1)
    assert store["s"].item() == pytest.approx(0.5 ** 0.5, abs=0.1)


def test_an_interrupted_fit_resumes_to_the_numbers_of_an_uninterrupted_one(sprites, tmp_path):
    def train(out, epochs, **kw):
        pyro.set_rng_seed(1)
        model, guide = Decoder(), Encoder()
        result = pyrovae.fit(model, guide, sprites.split("train"), valid=sprites.split("valid"),
                             epochs=epochs, batch_size=50, seed=3, out=out, **kw)
        return result, _params(model, guide)

    straight, straight_params = train(tmp_path / "a", 4)

    def stop_after_two(state):
        if state.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match=r"resume=True"):
        train(tmp_path / "b", 4, callbacks=[stop_after_two])
    resumed, resumed_params = train(tmp_path / "b", 4, resume=True)
    cols = ["epoch", "train_objective", "valid_elbo", "lr"]
    pd.testing.assert_frame_equal(straight.history[cols], resumed.history[cols], check_exact=True)
    assert all(torch.equal(a, b) for a, b in zip(straight_params, resumed_params))
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tmp_path / "a", 4)


def test_fit_and_the_cli_give_the_same_history(tmp_path):
    overrides = ["data.num_train=200", "data.num_valid=50", "data.num_test=20", "train.epochs=2",
                 "model.hidden=[32]", "guide.hidden=[32]", "train.batch_size=50"]
    assert main(["train", "configs/quickstart.toml", "--out", str(tmp_path / "cli"), "--quiet",
                 *[a for o in overrides for a in ("--set", o)]]) == 0
    cfg = config.load("configs/quickstart.toml", overrides)
    pyro.set_rng_seed(cfg.seed)
    built = run.build(cfg)
    t = cfg.train
    result = pyrovae.fit(built.model, built.guide, built.tensors("train"),
                         valid=built.tensors("valid"), epochs=t.epochs, batch_size=t.batch_size,
                         lr=t.lr, seed=cfg.seed)
    cli = pd.read_csv(tmp_path / "cli" / "history.csv")
    cols = ["epoch", "train_objective", "valid_elbo"]
    pd.testing.assert_frame_equal(cli[cols], result.history[cols], check_exact=True)


def test_evaluate_gives_the_rows_of_the_cli(tmp_path):
    overrides = ["data.num_train=100", "data.num_valid=20", "data.num_test=20", "train.epochs=1",
                 "model.hidden=[16]", "guide.hidden=[16]"]
    cfg = config.load("configs/quickstart.toml", overrides)
    run.train(cfg, tmp_path, quiet=True)
    loaded = pyrovae.load(tmp_path)
    ours = pyrovae.evaluate(loaded.model, loaded.guide, loaded.tensors("test"), num_samples=20,
                            ks=[1, 5], seed=4)
    cli, _ = evaluation.evaluate(loaded, "r", num_samples=20, ks=[1, 5], seed=4, quiet=True)
    assert list(ours.columns) == list(cli.columns)
    assert list(ours["estimator"]) == list(cli["estimator"])
    assert ours["mean"].tolist() == cli["mean"].tolist()
    # AIS from Python too, with the rows and numbers of the command line's
    settings = evaluation.EvalSettings(num_samples=20, ks=(1,), seed=4, estimator="ais",
                                       chains=2, steps=3, limit=5)
    ours = pyrovae.evaluate(loaded.model, loaded.guide, loaded.tensors("test"), num_samples=20,
                            ks=[1], seed=4, estimator="ais", chains=2, steps=3, limit=5)
    cli, _ = evaluation.evaluate(loaded, "r", settings=settings, quiet=True)
    assert [(e, k) for e, k in zip(ours["estimator"], ours["K"])] == settings.estimators()
    assert ours["mean"].tolist() == cli["mean"].tolist()


def test_fit_refuses_bad_input_before_any_work(sprites, tmp_path):
    model, guide = Decoder(), Encoder()
    before = [p.detach().clone() for p in (*model.parameters(), *guide.parameters())]
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"train\.lr must be a finite number > 0"):
        pyrovae.fit(model, guide, sprites.split("train"), lr=float("nan"), out=out)
    with pytest.raises(DataError, match="must be a tensor"):
        pyrovae.fit(model, guide, "data.pt", out=out)
    with pytest.raises(DataError, match="different numbers of rows"):
        pyrovae.fit(model, guide, (sprites.split("train"), torch.zeros(3)), out=out)
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        pyrovae.fit(model, guide, sprites.split("train"), out=out, resume=True)
    assert list(tmp_path.iterdir()) == []
    after = [p.detach() for p in (*model.parameters(), *guide.parameters())]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_the_readme_notebook_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if b.startswith("# notebook.py"))
    small = code.replace('load_dataset("sprites")', f'load_dataset("sprites", **{SMALL!r})')
    small = small.replace("epochs=10", "epochs=2").replace("num_samples=1000", "num_samples=50")
    assert small != code
    monkeypatch.chdir(tmp_path)
    exec(compile(small, "README notebook example", "exec"), {})  # noqa: S102 - our README
    printed = capsys.readouterr().out
    assert "valid_elbo" in printed and re.search(r"test log p\(x\) = -\d+\.\d\d", printed)


def test_resuming_a_fit_with_other_data_is_refused(sprites, tmp_path):
    x = sprites.split("train")
    out = tmp_path / "run"
    pyrovae.fit(Decoder(), Encoder(), x[:100], epochs=1, batch_size=50, out=out)
    before = (out / "checkpoint.pt").read_bytes()
    for other in (x[100:200], x[:99], torch.flip(x[:100], dims=[0])):
        with pytest.raises(CheckpointError, match="trained on other data"):
            pyrovae.fit(Decoder(), Encoder(), other, epochs=2, batch_size=50, out=out,
                        resume=True)
    assert (out / "checkpoint.pt").read_bytes() == before
    result = pyrovae.fit(Decoder(), Encoder(), x[:100], epochs=2, batch_size=50, out=out,
                         resume=True)
    assert list(result.history["epoch"]) == [1, 2]


class OtherEncoder(PyroModule):
    """A guide that samples ``names`` instead of the model's latent site ``z``."""

    def __init__(self, names):
        super().__init__()
        self.names = names
        self.net = nn.Linear(784, 3)

    def forward(self, x):
        loc = self.net(x.flatten(1))
        with pyro.plate("data", x.shape[0]):
            for name in self.names:
                pyro.sample(name, dist.Normal(loc, 1.0).to_event(1))


@pytest.mark.parametrize("names, message", [
    ((), r"does not sample latent site\(s\) 'z'"),
    (("w",), r"does not sample latent site\(s\) 'z'"),
    (("z", "w"), r"samples site\(s\) 'w' that the model does not have"),
])
def test_fit_refuses_a_guide_that_does_not_fit_the_model_before_training(sprites, tmp_path,
                                                                         names, message):
    guide = OtherEncoder(names)
    before = [p.detach().clone() for p in guide.parameters()]
    with pytest.raises(ModelGuideError, match=message):
        pyrovae.fit(Decoder(), guide, sprites.split("train"), epochs=1, out=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
    assert all(torch.equal(a, b) for a, b in zip(before, guide.parameters()))


@pytest.mark.parametrize("callbacks, message", [
    (lambda state: None, "got one function: give callbacks=\\[f\\]"),
    ([print, 3], r"callbacks\[1\] is not callable \(int\)"),
    (5, "callbacks must be a list of functions; got int"),
])
def test_fit_refuses_callbacks_that_are_not_functions_before_training(sprites, tmp_path,
                                                                      callbacks, message):
    with pytest.raises(ConfigError, match=message):
        pyrovae.fit(Decoder(), Encoder(), sprites.split("train"), epochs=1, callbacks=callbacks,
                    out=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("labels, message", [
    (torch.zeros(19, dtype=torch.long), r"one class label per data point \(20\); got shape \(19,\)"),
    (torch.zeros(21, dtype=torch.long), r"one class label per data point \(20\); got shape \(21,\)"),
    (torch.zeros(20, 1, dtype=torch.long), r"got shape \(20, 1\)"),
    (torch.zeros(20), "must be whole numbers"),
    ("abc", "labels must be a tensor of class labels; got str"),
])
@pytest.mark.parametrize("limit", [None, 5])
def test_evaluate_refuses_labels_that_do_not_fit_the_data(sprites, labels, message, limit):
    with pytest.raises(DataError, match=message):
        pyrovae.evaluate(Decoder(), Encoder(), sprites.split("test"), labels=labels,
                         num_samples=5, limit=limit)


@pytest.mark.parametrize("damage", ["truncated", "another run's", "missing"])
def test_a_resume_checks_best_pt_before_training(sprites, tmp_path, damage):
    x = sprites.split("train")[:100]
    valid = sprites.split("valid")
    out, other = tmp_path / "run", tmp_path / "other"
    pyrovae.fit(Decoder(), Encoder(), x, valid=valid, epochs=1, batch_size=50, out=out)
    best = out / "best.pt"
    if damage == "truncated":
        best.write_bytes(best.read_bytes()[:100])
    elif damage == "another run's":
        pyrovae.fit(Decoder(), Encoder(), x, valid=valid, epochs=1, batch_size=50, lr=0.01,
                    out=other)
        best.write_bytes((other / "best.pt").read_bytes())
    else:
        best.unlink()
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError, match="best.pt"):
        pyrovae.fit(Decoder(), Encoder(), x, valid=valid, epochs=2, batch_size=50, out=out,
                    resume=True)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_fit_turns_a_guide_that_cannot_run_into_one_error_before_training(sprites, tmp_path):
    class Broken(Encoder):
        def forward(self, x):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied\n(long detail)")

    with pytest.raises(ModelGuideError, match=r"^the guide and the model could not run together "
                                             r"on the first data points: RuntimeError: mat1 and "
                                             r"mat2 shapes cannot be multiplied \(long detail\)$"):
        pyrovae.fit(Decoder(), Broken(), sprites.split("train"), epochs=1, out=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
