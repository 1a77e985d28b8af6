"""What the fuzz tests share: damaged versions of a valid file, and the property every entry
point must keep on bad input."""

from __future__ import annotations

import traceback
from pathlib import Path

from hypothesis import strategies as st

from pyrovae.base.errors import PyrovaeError

ENCODINGS = ("latin-1", "utf-16", "cp1252", "utf-32")


def _drop_lines(text: bytes, drop: set[int]) -> bytes:
    lines = text.split(b"\n")
    return b"\n".join(line for i, line in enumerate(lines) if i not in drop)


def _flip(text: bytes, flips: list[tuple[int, int]]) -> bytes:
    data = bytearray(text)
    for at, value in flips:
        if data:
            data[at % len(data)] = value
    return bytes(data)


def _drop_column(text: bytes, column: int) -> bytes:
    rows = [line.split(b",") for line in text.split(b"\n")]
    return b"\n".join(b",".join(c for i, c in enumerate(row) if i != column % max(len(row), 1))
                      for row in rows)


def damaged(original: bytes, *, csv: bool = False) -> st.SearchStrategy[bytes]:
    """Bytes of ``original`` damaged one way: random bytes, a truncation, lines left out, bytes
    overwritten, another encoding (of a text file, with a non-ASCII character added), or
    (``csv``) a column left out."""
    lines = original.count(b"\n") + 1
    ways = [
        st.binary(max_size=300),
        st.integers(0, len(original)).map(lambda n: original[:n]),
        st.sets(st.integers(0, lines - 1), min_size=1, max_size=4).map(
            lambda drop: _drop_lines(original, drop)),
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                 max_size=6).map(lambda flips: _flip(original, flips)),
    ]
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:  # a binary file (a checkpoint) has no other encoding
        text = None
    if text is not None:
        ways.append(st.sampled_from(ENCODINGS).map(
            lambda encoding: ("# \u00e9\u00e8\n" + text).encode(encoding)))
    if csv:
        ways.append(st.integers(0, 40).map(lambda column: _drop_column(original, column)))
    return st.one_of(ways)


def snapshot(*folders) -> dict:
    """Every file under ``folders`` with its bytes (what must not change on bad input)."""
    return {p: p.read_bytes() for folder in folders for p in sorted(Path(folder).rglob("*"))
            if p.is_file()}


def check_cli_outcome(code: int, err: str, command: str) -> None:
    """The property of a command on fuzzed input: exit 0, or 2 with one line on stderr that
    starts with ``pyrovae COMMAND: error:``; never a traceback."""
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith(f"pyrovae {command}: error: "), err


def typed(call):
    """``call()``'s result, or None where it raised a :class:`PyrovaeError` (bad input said
    so); any other exception fails the test with its traceback."""
    try:
        return call()
    except PyrovaeError:
        return None
    except Exception:  # noqa: BLE001 - the finding: a raw error from bad input
        raise AssertionError("raw error from fuzzed input:\n" + traceback.format_exc()) from None
