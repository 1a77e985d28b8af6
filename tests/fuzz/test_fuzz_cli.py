"""Fuzzed option values and output paths of every subcommand: the command reaches its work (here
replaced by a marker, so that no example trains) or refuses with one line and exit 2, having
changed no file; a damaged run directory is evaluated or refused."""

import shutil
from pathlib import Path

import pytest
from fuzzing import check_cli_outcome, damaged, snapshot
from hypothesis import given
from hypothesis import strategies as st

from pyrovae import config, run
from pyrovae.cli import main
from pyrovae.sweep import runner

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = str(REPO / "configs" / "quickstart.toml")
TINY = {
    "data": {"name": "sprites", "num_train": 100, "num_valid": 20, "num_test": 10},
    "model": {"name": "vae", "latent_dim": 2, "hidden": [8]},
    "guide": {"name": "mlp_normal", "hidden": [8]},
    "train": {"epochs": 1, "batch_size": 50},
}


class Reached(Exception):
    """The command got past its checks to its work."""


def reached(*args, **kwargs):
    raise Reached


#: Where an output may point: a new file, an existing file of someone else's, a directory, a
#: path under a file, a file in a folder not yet there.
PLACES = st.sampled_from(["new.csv", "notes.txt", "folder", "notes.txt/x.csv", "deep/er/x.csv"])
NUMBERS = st.one_of(st.integers(-3, 10**10), st.just(0))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0))
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@pytest.fixture
def place(tmp_path):
    (tmp_path / "notes.txt").write_text("someone's notes\n")
    (tmp_path / "folder").mkdir(exist_ok=True)
    return lambda name: str(tmp_path / name)


def outcome(argv, capsys, tmp_path, command, *also):
    """Run ``pyrovae ARGV``; the fuzz property (work reached, or exit 2 in one line with no
    file changed under ``tmp_path`` and ``also``)."""
    capsys.readouterr()
    before = snapshot(tmp_path, *also)
    try:
        code = main(argv)
    except Reached:
        return "reached"
    except SystemExit as e:  # argparse's own refusal: usage and one error line, exit 2
        assert e.code == 2
        return "argparse"
    check_cli_outcome(code, capsys.readouterr().err, command)
    assert code == 2
    assert snapshot(tmp_path, *also) == before
    return "refused"


@given(items=st.lists(st.tuples(st.sampled_from([
    "train.lr", "train.epochs", "train.batch_size", "train.beta", "train.loss", "seed", "device",
    "model.latent_dim", "data.num_train", "train.optimizer", "train.clip_norm", "nope.key",
    "train", "model.hidden"]), st.one_of(TEXT, NUMBERS.map(str), FLOATS.map(str))), max_size=3),
    device=st.one_of(st.none(), st.sampled_from(["cpu", "mps", "cuda:7", "gpu", "", "meta"])),
    out=PLACES)
def test_train_options(tmp_path, capsys, monkeypatch, place, items, device, out):
    monkeypatch.setattr(run, "_train", reached)
    argv = ["train", QUICKSTART, "--out", place(out), "--quiet"]
    for key, value in items:
        argv += ["--set", f"{key}={value}"]
    argv += [] if device is None else ["--device", device]
    outcome(argv, capsys, tmp_path, "train", REPO / "configs")


@given(num_samples=NUMBERS, ks=st.one_of(st.none(), TEXT, st.lists(NUMBERS, max_size=3).map(
    lambda ks: ",".join(map(str, ks)))), limit=st.one_of(st.none(), NUMBERS),
    seed=NUMBERS, batch_size=NUMBERS, estimator=st.sampled_from(["is", "ais", "bdmc"]),
    steps=st.one_of(st.none(), NUMBERS), step_size=st.one_of(st.none(), FLOATS),
    metrics=st.one_of(st.none(), TEXT, st.just("disentanglement")),
    out=PLACES, points=st.one_of(st.none(), PLACES))
def test_evaluate_options(tmp_path, capsys, monkeypatch, place, num_samples, ks, limit, seed,
                          batch_size, estimator, steps, step_size, metrics, out, points):
    monkeypatch.setattr(run, "load", reached)
    argv = ["evaluate", str(tmp_path / "run"), "--num-samples", str(num_samples), "--seed",
            str(seed), "--batch-size", str(batch_size), "--estimator", estimator, "--out",
            place(out)]
    for option, value in (("--ks", ks), ("--limit", limit), ("--steps", steps),
                          ("--step-size", step_size), ("--metrics", metrics),
                          ("--per-datapoint", None if points is None else place(points))):
        if value is not None:
            argv += [option, str(value)]
    outcome(argv, capsys, tmp_path, "evaluate")


@given(jobs=NUMBERS, executor=st.sampled_from([None, "local", "slurm"]), out=PLACES,
       runs=PLACES, dry_run=st.booleans(), device=st.sampled_from([None, "cpu", "mps", "x"]))
def test_sweep_options(tmp_path, capsys, monkeypatch, place, jobs, executor, out, runs,
                       dry_run, device):
    monkeypatch.setattr(runner, "_execute", reached)
    monkeypatch.setenv("PATH", "")  # no sbatch here: --executor slurm is refused
    monkeypatch.chdir(REPO)
    argv = ["sweep", str(REPO / "configs" / "sweeps" / "sprites_latent.toml"), "--jobs",
            str(jobs), "--out", place(out), "--runs-dir", place(runs)]
    argv += ["--executor", executor] if executor else []
    argv += ["--dry-run"] if dry_run else []
    argv += ["--device", device] if device else []
    try:
        result = outcome(argv, capsys, tmp_path, "sweep", REPO / "configs")
    except AssertionError:
        if not dry_run:
            raise
        result = "listed"  # a dry run that passes its checks exits 0 and writes nothing
        assert snapshot(tmp_path) == snapshot(tmp_path)
    assert result in ("reached", "refused", "argparse", "listed")


@given(by=st.one_of(TEXT, st.just("train.beta")), value=TEXT, digits=NUMBERS,
       where=st.lists(TEXT, max_size=2), columns=st.one_of(st.none(), TEXT, st.just("default")),
       md=PLACES)
def test_report_options(tmp_path, capsys, place, by, value, digits, where, columns, md):
    results = tmp_path / "results.csv"
    results.write_text("run,split,estimator,K,seed,train.beta,mean\nr,test,is_log_px,5,0,1.0,-3\n")
    argv = ["report", str(results), "--by", by, "--value", value, "--digits", str(digits),
            "--md", place(md)]
    for item in where:
        argv += ["--where", item]
    argv += [] if columns is None else ["--columns", columns]
    capsys.readouterr()
    before = snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:
        assert e.code == 2
        return
    check_cli_outcome(code, capsys.readouterr().err, "report")
    changed = {p for p in set(before) | set(snapshot(tmp_path)) if before.get(p) !=
               snapshot(tmp_path).get(p)}
    assert changed <= ({Path(place(md))} if code == 0 else set())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz_run") / "run"
    run.train(config.from_dict(TINY), path, quiet=True)
    return path


@given(name=st.sampled_from(["config.toml", "best.pt"]), data=st.data())
def test_evaluate_of_a_damaged_run_directory(tiny_run, tmp_path_factory, capsys, name, data):
    copy = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(tiny_run, copy)
    original = (copy / name).read_bytes()
    (copy / name).write_bytes(data.draw(damaged(original)))
    out = copy.parent / "results.csv"
    capsys.readouterr()
    before = snapshot(copy)
    code = main(["evaluate", str(copy), "--num-samples", "2", "--ks", "1", "--limit", "2",
                 "--out", str(out), "--quiet"])
    check_cli_outcome(code, capsys.readouterr().err, "evaluate")
    assert snapshot(copy) == before and out.exists() == (code == 0)
