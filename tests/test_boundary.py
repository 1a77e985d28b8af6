"""The error boundary of every entry point: bad input ends as one line and exit status 2, a
traceback only with PYROVAE_DEBUG=1, and a bug still propagates."""

import pytest

from pyrovae.base.boundary import run_main
from pyrovae.cli import main
from pyrovae.base.errors import ConfigError

def raising(error):
    def body():
        raise error
    return body


@pytest.mark.parametrize("error, line", [
    (ConfigError("bad\n  option"), "prog: error: bad option"),
    (FileNotFoundError(2, "No such file or directory", "a.csv"),
     "prog: error: No such file or directory: a.csv"),
    (IsADirectoryError(21, "Is a directory", "out"), "prog: error: Is a directory: out"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
     "prog: error: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: "
     "invalid start byte"),
])
def test_our_errors_and_expected_os_errors_are_one_line_and_status_2(capsys, monkeypatch, error,
                                                                     line):
    monkeypatch.delenv("PYROVAE_DEBUG", raising=False)
    assert run_main("prog", raising(error)) == 2
    assert capsys.readouterr().err == line + "\n"


def test_debug_shows_the_traceback_and_a_bug_propagates(capsys, monkeypatch):
    monkeypatch.setenv("PYROVAE_DEBUG", "1")
    assert run_main("prog", raising(ConfigError("bad"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith("prog: error: bad\n")
    with pytest.raises(ZeroDivisionError):
        run_main("prog", raising(ZeroDivisionError("a bug")))
    assert run_main("prog", raising(KeyboardInterrupt())) == 130


def test_the_command_line_turns_an_os_error_into_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PYROVAE_DEBUG", raising=False)
    from pyrovae import report

    def read_results(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(report, "read_results", read_results)
    results = tmp_path / "r.csv"
    results.write_text("a\n1\n")
    assert main(["report", str(results)]) == 2
    assert capsys.readouterr().err == f"pyrovae report: error: Permission denied: {results}\n"
