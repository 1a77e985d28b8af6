import multiprocessing

import pandas as pd
import pytest

from pyrovae import results
from pyrovae.base.errors import ConfigError

APPENDS = 150


def append_many(path: str, worker: int, go) -> None:
    go.wait(60)
    for i in range(APPENDS):
        results.append_rows(path, pd.DataFrame({"worker": [worker], "i": [i], "value": [i / 7]}))


def test_concurrent_appends_keep_every_row(tmp_path):
    path = tmp_path / "results.csv"
    context = multiprocessing.get_context("spawn")
    go = context.Barrier(2)
    workers = [context.Process(target=append_many, args=(str(path), w, go)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    table = pd.read_csv(path)
    assert list(table.columns) == ["worker", "i", "value"]
    assert len(table) == 2 * APPENDS
    for w in range(2):
        assert table[table["worker"] == w]["i"].tolist() == list(range(APPENDS))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".results.csv.lock", "results.csv"]


def test_append_refuses_other_columns_and_names_them(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("run,mean\nr,1.5\n")
    with pytest.raises(ConfigError, match=r"missing there: \['K'\]; not in these rows: none"):
        results.append_rows(path, pd.DataFrame({"run": ["s"], "mean": [2.0], "K": [1]}))
    assert path.read_text() == "run,mean\nr,1.5\n"


@pytest.mark.parametrize("missing", [("steps",), ("particles",), ("weights",),
                                     ("steps", "particles", "weights")])
def test_a_file_written_before_an_added_column_gets_it_empty(tmp_path, missing):
    path = tmp_path / "old.csv"
    old_columns = [c for c in results.SUMMARY_COLUMNS if c not in missing]
    old_line = ",".join("0.1000000000000000055511151231257827" if c == "mean" else "x"
                        for c in old_columns)
    path.write_text(",".join(old_columns) + "\n" + old_line + "\n")
    results.check_columns(path, results.SUMMARY_COLUMNS)  # accepted before any work
    row = pd.DataFrame([{c: 1 for c in results.SUMMARY_COLUMNS}])
    assert results.append_rows(path, row) == 1
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(table.columns) == results.SUMMARY_COLUMNS
    for column in missing:
        assert table[column].tolist() == ["", "1"]
    assert table["mean"].tolist() == ["0.1000000000000000055511151231257827", "1"]  # text kept
    with pytest.raises(ConfigError, match="other columns"):
        results.check_columns(path, old_columns)  # nothing is ever taken away
