"""The sweep's CSV: appends keep the bytes already written and refuse other columns."""

import pandas as pd
import pytest

from pyrovae.base.errors import ConfigError
from pyrovae.sweep import table


def test_append_keeps_the_old_bytes_and_refuses_other_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"run,split,estimator,K,mean\nr,test,elbo,1,0.1000000000000000055511\n")
    old = path.read_bytes()
    rows = pd.DataFrame({"run": ["s"], "split": ["test"], "estimator": ["iwae"], "K": [5],
                         "mean": [1 / 3]})
    table.append(path, rows, list(rows.columns))
    assert path.read_bytes().startswith(old)
    assert table.existing_keys(path) == {("r", "test", "elbo", 1), ("s", "test", "iwae", 5)}
    assert pd.read_csv(path)["mean"].iloc[1] == 1 / 3
    with pytest.raises(ConfigError, match="left as it was"):
        table.append(path, rows.rename(columns={"mean": "value"}), ["run", "split", "estimator", "K",
                                                                    "value"])
    assert pd.read_csv(path).shape == (2, 5)
    assert not list(tmp_path.glob(".*tmp"))
