"""Every config of ``configs/papers/`` names its source table and protocol, uses the static
binarized MNIST the papers used, and trains an epoch and evaluates (on a small sprites set, as
the zoo's tests do: binary 28x28 images, like binarized MNIST)."""

import math
import re
import tomllib
from pathlib import Path

import pytest

from pyrovae import config, evaluation, run

PAPERS = sorted((Path(__file__).resolve().parents[2] / "configs" / "papers").glob("*.toml"))
TINY = ["data.name=sprites", "data.num_train=40", "data.num_valid=20", "data.num_test=8",
        "train.epochs=1", "train.batch_size=20"]


def test_there_is_a_config_for_every_target_row():
    assert {p.stem for p in PAPERS} == {"burda_vae_k1", "burda_iwae_k50", "tomczak_vampprior",
                                        "tomczak_hvae_vampprior", "tomczak_hvae_paper",
                                        "tomczak_hvae_code", "tomczak_hvae_2017"}


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.stem)
def test_a_papers_config_names_its_source_and_the_static_data(path):
    text = path.read_text()
    comment = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert re.search(r"Source: [^.]*\((2016|2018)\).*?, (Appendix D, )?Table [23] \(statically "
                     r"binarized MNIST\): [^(]* \d\d\.\d\d \(negative", comment)
    assert "Protocol: " in comment
    assert tomllib.loads(text)["data"]["name"] == "binarized_mnist"
    config.resolved(config.load(path))  # valid as shipped, model and guide options included


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.stem)
def test_a_papers_config_trains_an_epoch_and_evaluates(path, tmp_path):
    cfg = config.load(path, TINY)
    result = run.train(cfg, tmp_path, quiet=True)
    assert math.isfinite(result.state.best_valid_elbo)
    summary, _ = evaluation.evaluate(run.load(tmp_path), "papers", num_samples=4,
                                     ks=(1, 4), limit=8, quiet=True)
    assert summary["mean"].map(math.isfinite).all()
