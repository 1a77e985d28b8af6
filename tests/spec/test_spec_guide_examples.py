"""The examples of the user guide's "Define a model" page (docs/guide/define_model.md), trained
and evaluated by the CLI."""

import re
from pathlib import Path

import pandas as pd
import pytest

from pyrovae.cli import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "define_model.md"


def page_block(first_line: str) -> str:
    """The page's code block whose first line starts with ``first_line``."""
    for block in re.findall(r"```(?:toml|python)\n(.*?)```", PAGE.read_text(), re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"{PAGE.name} has no code block starting with {first_line!r}")


TOML_MODEL = page_block("# hvae_mog.toml")
PYTHON_MODEL = page_block("# my_vae.py")
PYTHON_CONFIG = page_block("# my_vae.toml")

TINY = ["--set", "data.name=sprites", "--set", "data.num_train=100", "--set", "data.num_valid=20",
        "--set", "data.num_test=10", "--set", "train.epochs=1"]


def test_examples_are_short():
    assert len(TOML_MODEL.splitlines()) <= 20
    assert len(PYTHON_MODEL.splitlines()) <= 30


@pytest.mark.parametrize("files, config", [
    ({"hvae_mog.toml": TOML_MODEL}, "hvae_mog.toml"),
    ({"my_vae.py": PYTHON_MODEL, "my_vae.toml": PYTHON_CONFIG}, "my_vae.toml"),
])
def test_examples_train_and_evaluate_with_the_two_commands(files, config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["train", config, "--out", "runs/example", "--quiet", *TINY]) == 0
    assert main(["evaluate", "runs/example", "--num-samples", "5", "--limit", "10",
                 "--out", "results.csv", "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "results.csv")
    assert table.set_index("estimator")["mean"].notna().all() and "is_log_px" in set(table["estimator"])
