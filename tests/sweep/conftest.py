import pytest
from sweep_toys import write_sweep

from pyrovae.cli import main


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An uninterrupted tiny sweep: (tmp dir, sweep file, CSV)."""
    tmp = tmp_path_factory.mktemp("sweep")
    sweep = write_sweep(tmp)
    assert main(["sweep", str(sweep)]) == 0
    return tmp, sweep, tmp / "results.csv"
