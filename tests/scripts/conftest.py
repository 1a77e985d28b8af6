import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def script():
    """``script("iwae_table")``: the module of ``scripts/iwae_table.py`` (run its ``main(argv)``)."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"pyrovae_script_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module

    return load
