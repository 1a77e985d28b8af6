import shlex

import pandas as pd
import pytest
import torch
from pyro import poutine

from pyrovae import config, run
from pyrovae.base.errors import CheckpointError, ConfigError, DataError, TrainingError
from pyrovae.cli import main
from pyrovae.train import checkpoint
from pyrovae.train.params import Parameters

TINY = {
    "seed": 0,
    "data": {"name": "sprites", "num_train": 600, "num_valid": 200, "num_test": 100},
    "model": {"name": "vae", "latent_dim": 4, "hidden": [64]},
    "guide": {"name": "mlp_normal", "hidden": [64]},
    "train": {"epochs": 3, "batch_size": 50, "lr": 3e-3},
}


def tiny(**train) -> config.Config:
    raw = {**TINY, "train": {**TINY["train"], **train}}
    return config.from_dict(raw)


def test_training_lowers_loss_and_writes_run_dir(tmp_path):
    result = run.train(tiny(epochs=4), tmp_path, quiet=True)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == ["seed", "epoch", "objective", "train_objective", "valid_elbo",
                                     "beta", "lr", "seconds"]
    assert history["epoch"].tolist() == [1, 2, 3, 4] and (history["objective"] == "elbo").all()
    assert history["valid_elbo"].iloc[-1] > history["valid_elbo"].iloc[0] + 10
    assert history["train_objective"].iloc[-1] > history["train_objective"].iloc[0]
    for name in ("config.toml", "checkpoint.pt", "best.pt", "history.csv", "samples.png",
                 "reconstructions.png"):
        assert (tmp_path / name).is_file(), name
    assert config.load(tmp_path / "config.toml").guide["name"] == "mlp_normal"
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == 4 and result.state.epoch == 4


def _outputs(built, x):
    """Guide and model traces of one batch under a fixed seed."""
    torch.manual_seed(5)
    guide_trace = poutine.trace(built.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(built.model, trace=guide_trace)).get_trace(x)
    model_trace.compute_log_prob()
    return guide_trace.nodes["z"]["value"], model_trace.log_prob_sum()


def test_checkpoint_round_trip_reproduces_outputs(tmp_path):
    result = run.train(tiny(epochs=1), tmp_path, quiet=True)
    trained = result.built
    x = trained.data.split("test")[:20]
    fresh = run.build(tiny(epochs=1))
    ckpt = checkpoint.load(tmp_path / "best.pt", fresh.identity)
    checkpoint.load_values(Parameters(fresh.model, fresh.guide), ckpt["values"], "best.pt")
    z1, lp1 = _outputs(trained, x)
    z2, lp2 = _outputs(fresh, x)
    assert torch.equal(z1, z2) and torch.equal(lp1, lp2)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    run.train(tiny(epochs=1), tmp_path, quiet=True)
    other = run.build(config.from_dict({**TINY, "model": {**TINY["model"], "latent_dim": 5}}))
    with pytest.raises(CheckpointError, match=r"another model.*latent_dim: checkpoint has 4, this run has 5"):
        checkpoint.load(tmp_path / "checkpoint.pt", other.identity)
    with pytest.raises(ConfigError, match="cannot change on --resume"):
        run.resolve_config(None, ["model.latent_dim=5"], tmp_path)
    with pytest.raises(ConfigError, match="already holds a run"):
        run.train(tiny(epochs=1), tmp_path, quiet=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable pyrovae checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")


def test_resume_continues_to_the_same_numbers(tmp_path):
    """In-process: 2 epochs then resume to 4 equals 4 epochs straight (the CLI test kills a process)."""
    straight = run.train(tiny(epochs=4), tmp_path / "a", quiet=True)
    run.train(tiny(epochs=2), tmp_path / "b", quiet=True)
    cfg = run.resolve_config(None, ["train.epochs=4"], tmp_path / "b")
    resumed = run.train(cfg, tmp_path / "b", resume=True, quiet=True)
    cols = ["epoch", "train_objective", "valid_elbo", "lr"]
    a = pd.read_csv(tmp_path / "a" / "history.csv")[cols]
    b = pd.read_csv(tmp_path / "b" / "history.csv")[cols]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for p, q in zip(straight.built.model.parameters(), resumed.built.model.parameters()):
        assert torch.equal(p, q)


NAN_MODEL = '''
import pyro, pyro.distributions as dist, torch
from pyro.nn import PyroModule

class Exploding(PyroModule):
    """A linear-Gaussian model whose likelihood turns NaN after a fixed number of steps."""
    def __init__(self, dim):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(dim))
        self.latent_dim, self.calls = 1, 0
    def forward(self, x=None, *, batch_size=None):
        self.calls += 1
        poison = float("nan") if self.calls > {calls} else 1.0
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 1), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(poison * z * self.w, 1.0).to_event(1), obs=x)

def build(data):
    return Exploding(data.event_shape[0])
'''


def _file_data(tmp_path, values: torch.Tensor) -> str:
    path = tmp_path / "data.pt"
    torch.save(values, path)
    return str(path)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    src = tmp_path / "exploding.py"
    # 2 probe calls, then 8 steps and 1 validation call per epoch (400 train points): call 15
    # is the third step of epoch 2
    src.write_text(NAN_MODEL.replace("{calls}", "14"))
    cfg = config.from_dict({
        "data": {"name": "file", "path": _file_data(tmp_path, torch.randn(500, 3))},
        "model": {"name": f"{src}:build"}, "guide": {"name": "mlp_normal", "hidden": [8]},
        # The model counts its calls in Python, which replayed steps do not run.
        "train": {"epochs": 3, "batch_size": 50, "replay": False},
    })
    with pytest.raises(TrainingError) as info:
        run.train(cfg, tmp_path / "run", quiet=True)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 1
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("training diverged in epoch 2: ")
    assert f"{tmp_path / 'run' / 'checkpoint.pt'} holds epoch 1, but resuming it would diverge " \
           f"again" in message
    # the command it gives restarts the run (the model breaks in epoch 2, so train one epoch)
    command = shlex.split(message.rpartition("(or set train.clip_norm): ")[2])
    assert command[:2] == ["pyrovae", "train"] and "train.lr=0.0001" in command
    assert main([*command[1:], "--set", "train.epochs=1", "--quiet"]) == 0
    restarted = config.load(tmp_path / "run-lr0.0001" / "config.toml")
    assert restarted.train.lr == 1e-4 and restarted.model == cfg.model


def test_divergence_in_the_first_epoch_says_no_checkpoint_was_written(tmp_path):
    src = tmp_path / "exploding.py"
    src.write_text(NAN_MODEL.replace("{calls}", "3"))
    cfg = config.from_dict({
        "data": {"name": "file", "path": _file_data(tmp_path, torch.randn(500, 3))},
        "model": {"name": f"{src}:build"}, "guide": {"name": "mlp_normal", "hidden": [8]},
        "train": {"epochs": 3, "batch_size": 50, "replay": False, "lr": 0.02},
    })
    with pytest.raises(TrainingError, match=r"^training diverged in epoch 1: .* No epoch "
                                            r"completed, so no checkpoint was written\. .*"
                                            r"--set train\.lr=0\.002 --out "):
        run.train(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_no_progress_bars_where_stderr_is_not_a_terminal(tmp_path, capsys):
    run.train(tiny(epochs=2, batch_size=100), tmp_path, quiet=False)
    captured = capsys.readouterr()
    assert "epoch 2/2  train elbo" in captured.out  # the per-epoch lines stay
    assert "epoch 1/2:" not in captured.err and "batch" not in captured.err


def test_non_binary_data_for_a_bernoulli_likelihood(tmp_path):
    cfg = config.from_dict({**TINY, "data": {"name": "file",
                                             "path": _file_data(tmp_path, torch.rand(300, 6))},
                            "model": {"name": "vae", "likelihood": "bernoulli"}})
    with pytest.raises(DataError, match=r"outside the support.*Bernoulli.*model.likelihood = \"normal\""):
        run.train(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_nan_in_data_is_refused(tmp_path):
    values = torch.rand(300, 6)
    values[17, 2] = float("nan")
    cfg = config.from_dict({**TINY, "data": {"name": "file", "path": _file_data(tmp_path, values)}})
    with pytest.raises(DataError, match="NaN"):
        run.train(cfg, tmp_path / "run", quiet=True)


def test_shape_that_does_not_fit_the_model(tmp_path):
    src = tmp_path / "fixed.py"
    src.write_text(NAN_MODEL.replace("{calls}", "10**9") + "\ndef build10(data):\n    return Exploding(10)\n")
    cfg = config.from_dict({"data": {"name": "file", "path": _file_data(tmp_path, torch.randn(300, 7))},
                            "model": {"name": f"{src}:build10"}, "guide": {"name": "mlp_normal"}})
    with pytest.raises(DataError, match=r"(?s)cannot take the train data of shape \(240, 7\).*torch.Size\(\[2, 10\]\)"):
        run.train(cfg, tmp_path / "run", quiet=True)


def test_missing_data_directory_names_the_files(tmp_path):
    cfg = config.from_dict({**TINY, "data": {"name": "binarized_mnist", "download": False}})
    with pytest.raises(DataError, match="binarized_mnist_train.amat"):
        run.train(cfg, tmp_path / "run", quiet=True, data_dir=tmp_path / "empty")


def test_resume_is_exact_for_several_particles(tmp_path):
    """Pyro's plate-nesting guess on the first step of a resumed run must not shift the RNG."""
    straight = run.train(tiny(epochs=2, loss="iwae", num_particles=3), tmp_path / "a", quiet=True)
    run.train(tiny(epochs=1, loss="iwae", num_particles=3), tmp_path / "b", quiet=True)
    cfg = run.resolve_config(None, ["train.epochs=2"], tmp_path / "b")
    resumed = run.train(cfg, tmp_path / "b", resume=True, quiet=True)
    assert straight.state.history[-1]["train_objective"] == resumed.state.history[-1]["train_objective"]
    for p, q in zip(straight.built.model.parameters(), resumed.built.model.parameters()):
        assert torch.equal(p, q)
