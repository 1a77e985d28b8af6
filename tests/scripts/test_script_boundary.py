"""Every script's main ends bad input as one line and exit status 2 (pyrovae.base.boundary)."""

from pathlib import Path

import pytest

SCRIPTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "scripts").glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_main_has_the_boundary(script, name, capsys, monkeypatch):
    monkeypatch.delenv("PYROVAE_DEBUG", raising=False)
    module = script(name)
    monkeypatch.setattr(module, "_main", lambda argv: (_ for _ in ()).throw(
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")))
    assert module.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{name}: error: UnicodeDecodeError") and err.count("\n") == 1
