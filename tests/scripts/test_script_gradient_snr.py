"""scripts/gradient_snr.py: the SNR table, figure and JSON line of a trained run, and on pPCA the
DReG encoder SNR at K = 100 above the IWAE gradient's (Rainforth et al.'s effect, removed)."""

import json

import pandas as pd
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae import config, run

TINY = {
    "data": {"name": "sprites", "num_train": 60, "num_valid": 20, "num_test": 20},
    "model": {"name": "vae", "latent_dim": 2, "hidden": [8]},
    "guide": {"name": "mlp_normal", "hidden": [8]},
    "train": {"epochs": 1, "batch_size": 20},
}


def test_gradient_snr_writes_its_table_figure_and_json_line(script, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run.train(config.from_dict(TINY), run_dir, quiet=True)
    snr = script("gradient_snr")
    assert snr.main([str(run_dir), "--ks", "1,4", "--draws", "5", "--points", "4"]) == 0
    rows = pd.read_csv(run_dir / "gradient_snr.csv")
    assert len(rows) == 3 * 2 * 2 and (rows["seed"] == 0).all() and rows["snr"].gt(0).all()
    assert (run_dir / "gradient_snr.png").is_file()
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures) == {"iwae", "stl", "dreg", "decoder"}
    assert set(figures["dreg"]) == {"1", "4"} and set(figures["decoder"]) == {"iwae", "stl", "dreg"}


def test_gradient_snr_refuses_bad_ks_before_loading(script, tmp_path, capsys):
    assert script("gradient_snr").main([str(tmp_path / "absent"), "--ks", "0,4"]) == 2
    assert "--ks must be >= 1" in capsys.readouterr().err


class LinearGaussian(nn.Module):
    """pPCA, x ~ N(W z + b, 0.5^2 I), W with orthogonal columns (so that the posterior is a
    diagonal Normal), and an encoder q(z | x) = N(A x + c, diag(s^2)) set near the posterior:
    its mean shifted by 0.1, its scale stretched by 1.2. Model and guide are methods of one
    module, as Pyro's tutorials write them."""

    def __init__(self):
        super().__init__()
        self.W, self.b = nn.Parameter(torch.randn(5, 2)), nn.Parameter(torch.randn(5))
        self.encoder = nn.Linear(5, 4)
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(5, 2))
            self.W.copy_(q * torch.tensor([2.0, 1.0]))
            precision = self.W.T @ self.W + 0.25 * torch.eye(2)
            a = torch.linalg.solve(precision, self.W.T)
            self.encoder.weight[:2], self.encoder.bias[:2] = a, -(a @ self.b) + 0.1
            std = (0.25 / torch.diagonal(precision)).sqrt() * 1.2
            self.encoder.weight[2:], self.encoder.bias[2:] = 0.0, torch.log(torch.expm1(std))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ self.W.T + self.b, 0.5).to_event(1), obs=x)

    def guide(self, x):
        loc, raw = self.encoder(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw)).to_event(1))


def test_on_ppca_dreg_keeps_the_encoder_signal_that_iwae_loses_at_k_100(script):
    torch.manual_seed(0)
    pair = LinearGaussian()
    x = torch.randn(6, 5)
    snr = script("gradient_snr")
    groups = snr.parameter_groups(pair.model, pair.guide, x)  # methods of one module
    assert [p.shape for p in groups["encoder"]] == [(4, 5), (4,)]
    assert [p.shape for p in groups["decoder"]] == [(5, 2), (5,)]
    pyro.set_rng_seed(0)
    rows = snr.gradient_snr(pair.model, pair.guide, x, [100], draws=40,
                            estimators=("iwae", "dreg"))
    encoder = rows[rows["group"] == "encoder"].set_index("estimator")["snr"]
    assert encoder["dreg"] > 5 * encoder["iwae"]
