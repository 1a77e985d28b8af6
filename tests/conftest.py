import os
from pathlib import Path

import pyro
import pytest

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
