import os
from pathlib import Path

import pyro
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("PYROVAE_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data_dir() -> Path:
    """``../shared/data`` (or ``$PYROVAE_DATA_DIR``); tests needing it skip where it is absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"no shared data directory at {path}")
    return path


@pytest.fixture(autouse=True)
def _seed_and_clean_param_store():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Keep dataset caches out of the user's home during tests."""
    monkeypatch.setenv("PYROVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def device() -> torch.device:
    """The device of the device-relevant tests: ``$PYROVAE_TEST_DEVICE`` (default cpu), e.g.
    ``PYROVAE_TEST_DEVICE=cuda python -m pytest``; skipped where that device is absent."""
    name = os.environ.get("PYROVAE_TEST_DEVICE", "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"PYROVAE_TEST_DEVICE={name}, but torch sees no CUDA device")
    return torch.device(name)
