"""Sweep points as submitit jobs: local jobs give the rows of in-process points, and SLURM
without sbatch is refused before any work."""

import pandas as pd
import pytest
from sweep_toys import comparable, write_sweep

from pyrovae.cli import main


def test_submitit_local_jobs_give_the_rows_of_jobs_1(finished, tmp_path, capsys):
    pytest.importorskip("submitit")
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [1]")
                     + f'\n[executor]\ntime = 10\nfolder = "{tmp_path / "jobs"}"\n')
    assert main(["sweep", str(sweep), "--executor", "local", "--jobs", "2"]) == 0
    assert "as local submitit jobs" in capsys.readouterr().out
    expected = comparable(finished[2])
    expected = expected[expected["train_seed"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(comparable(tmp_path / "results.csv"), expected, check_exact=False,
                                  rtol=1e-6)
    assert any((tmp_path / "jobs").iterdir())  # the jobs' logs


def test_slurm_executor_without_slurm_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    sweep = write_sweep(tmp_path)
    assert main(["sweep", str(sweep), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "--executor slurm submits jobs with SLURM's sbatch" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results.csv").exists()
