"""The paths that touch a device, run on ``$PYROVAE_TEST_DEVICE`` (the ``device`` fixture: cpu
by default, ``PYROVAE_TEST_DEVICE=cuda python -m pytest`` on a GPU machine): training with and
without the replay, checkpoints and resume, log p(x) against pPCA's exact value, AIS, and the
evaluation rows. On CPU the replay equals the Pyro program bit for bit; on an accelerator,
within float tolerance."""

import pyro
import torch

import pyrovae
from pyrovae import config, evaluation, run
from pyrovae.guides.ppca import PPCAPosterior
from pyrovae.models.ppca import PPCA

TINY = {
    "seed": 1,
    "data": {"name": "sprites", "num_train": 200, "num_valid": 50, "num_test": 40},
    "model": {"name": "vae", "latent_dim": 3, "hidden": [32]},
    "guide": {"name": "mlp_normal", "hidden": [32]},
    "train": {"epochs": 2, "batch_size": 50},
}


def ppca_on(device):
    torch.manual_seed(0)
    model = PPCA(6, 2, init_scale=1.0, noise_scale=0.7).double().to(device)
    with torch.no_grad():
        model.b.normal_()
        x = model(batch_size=30)
    return model, PPCAPosterior(model).to(device), x


def test_log_px_and_ais_on_the_device_match_the_exact_ppca_value(device):
    model, posterior, x = ppca_on(device)
    exact = model.exact_log_px(x).detach()
    estimate = pyrovae.log_px(model, posterior, x, num_samples=10)
    assert estimate.value.device.type == device.type
    torch.testing.assert_close(estimate.value, exact, rtol=1e-9, atol=1e-9)
    annealed = pyrovae.log_px(model, posterior, x, method="ais", num_samples=3, steps=5)
    torch.testing.assert_close(annealed.value, exact, rtol=1e-9, atol=1e-9)


def test_fit_on_the_device_keeps_the_pair_there_and_replays_as_pyro_runs(device):
    results = {}
    for mode in (True, False):
        cfg = config.from_dict({**TINY, "device": str(device),
                                "train": {**TINY["train"], "replay": mode}})
        pyro.set_rng_seed(cfg.seed)
        built = run.build(cfg)
        trained = pyrovae.fit(built.model, built.guide, built.tensors("train"),
                              valid=built.tensors("valid"), epochs=2, batch_size=50,
                              replay=mode, seed=1)
        assert all(p.device.type == device.type for p in built.model.parameters())
        results[mode] = trained.history["valid_elbo"].tolist()
    exact = device.type == "cpu"
    torch.testing.assert_close(torch.tensor(results[True]), torch.tensor(results[False]),
                               rtol=0 if exact else 1e-5, atol=0 if exact else 1e-4)


def test_a_run_on_the_device_resumes_to_the_same_numbers_and_evaluates(device, tmp_path):
    cfg = config.from_dict({**TINY, "device": str(device), "train": {**TINY["train"],
                                                                      "epochs": 3}})
    run.train(cfg, tmp_path / "straight", quiet=True)
    short = config.from_dict({**TINY, "device": str(device)})
    run.train(short, tmp_path / "resumed", quiet=True)
    run.train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    straight = (tmp_path / "straight" / "history.csv").read_text().splitlines()
    resumed = (tmp_path / "resumed" / "history.csv").read_text().splitlines()
    strip = [line.rsplit(",", 1)[0] for line in straight]  # without the seconds column
    assert [line.rsplit(",", 1)[0] for line in resumed] == strip
    built = run.load(tmp_path / "resumed", device=str(device))
    summary, per_point = evaluation.evaluate(built, "device", num_samples=20, ks=(1, 20),
                                             limit=20, quiet=True)
    assert set(summary["device"]) == {str(built.device)}
    assert summary["mean"].notna().all() and len(per_point) == 20
