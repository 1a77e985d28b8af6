"""A tiny sweep over the quickstart config, and a user model file whose factory fails on
demand: what the sweep tests run."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]

TINY = """\
base = "{base}"
out = "{out}"
runs_dir = "{runs}"
seeds = [0, 1]

[set]
"data.num_train" = {num_train}
"data.num_valid" = 50
"data.num_test" = 60
model.hidden = [16]
guide.hidden = [16]
"train.epochs" = {epochs}
"train.batch_size" = 50

[grid]
"model.latent_dim" = [2, 3]

[evaluate]
split = {split}
num_samples = 20
ks = [1, 20]
limit = 50
"""


def write_sweep(tmp_path: Path, name="tiny", *, out="results.csv", runs="runs", epochs=1,
                num_train=300, split='"test"') -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(base=REPO / "configs" / "quickstart.toml", out=tmp_path / out,
                                runs=tmp_path / runs, epochs=epochs, num_train=num_train,
                                split=split))
    return path


def comparable(path: Path) -> pd.DataFrame:
    """A CSV without its timing columns, runs named by directory name, in a fixed order."""
    table = pd.read_csv(path)
    table = table.drop(columns=[c for c in table.columns if "seconds" in c])
    table["run"] = table["run"].map(lambda r: Path(r).name)
    return table.sort_values(["run", "split", "estimator", "K"]).reset_index(drop=True)


def one_point(tmp_path: Path) -> Path:
    """A sweep of one point trained for 2 epochs."""
    sweep = write_sweep(tmp_path, epochs=2)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace(
        '"model.latent_dim" = [2, 3]', '"model.latent_dim" = [2]'))
    return sweep


FLAKY_MODEL = """\
import os
from pathlib import Path

from pyrovae.registry import get_model


def make(data, fail="no", **options):
    if fail == "raise" and Path(__file__).with_name("broken").exists():
        raise RuntimeError("the factory is broken")
    if fail == "die":
        os._exit(3)
    return get_model("vae").factory(data, **options)
"""


def flaky_sweep(tmp_path: Path, fails: list[str]) -> Path:
    """A sweep over a user model file whose factory raises (while a file ``broken`` exists
    beside it) or kills its process, as ``model.fail`` says."""
    (tmp_path / "flaky.py").write_text(FLAKY_MODEL)
    (tmp_path / "broken").touch()
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace(
        '"model.latent_dim" = [2, 3]', f'"model.fail" = {fails}').replace(
        "[set]\n", f'[set]\n"model.name" = "{tmp_path / "flaky.py"}:make"\n'))
    return sweep


def sweep_process(sweep: Path, cwd: Path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pyrovae", "sweep", str(sweep)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
