"""The error boundary of every entry point (the ``pyrovae`` command and each script's main):
bad input and the errors the system gives for it end as one line on stderr and an exit status,
never as a traceback.

Our errors (:class:`~pyrovae.base.errors.PyrovaeError`) and the expected ones of files (``OSError``:
a missing, unreadable or unwritable path; ``UnicodeError``: a file that is not text) exit with
2 (an error's own ``exit_code`` where it has one); Ctrl-C with 130. With ``PYROVAE_DEBUG=1`` in
the environment the traceback is printed before that line. Any other exception is a bug and
propagates with its traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Callable

from pyrovae.base.errors import PyrovaeError

#: The errors that bad input gives besides ours: a path that is missing, unreadable, unwritable or
#: of the wrong kind, and a file that does not decode.
EXPECTED = (OSError, UnicodeError)


def debugging() -> bool:
    """Whether ``PYROVAE_DEBUG`` asks for tracebacks (set, and neither empty nor ``0``)."""
    return os.environ.get("PYROVAE_DEBUG", "") not in ("", "0")


def one_line(error: BaseException) -> str:
    """``error``'s message on one line; an ``OSError`` as its reason and path."""
    if isinstance(error, OSError) and error.strerror:
        where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f is not None)
        text = f"{error.strerror}: {where}" if where else error.strerror
    elif isinstance(error, PyrovaeError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split()) or type(error).__name__


def run_main(prog: str, body: Callable[[], int | None], *,
             interrupted: str = "interrupted; files already written are whole.") -> int:
    """Run ``body`` (an entry point's work) inside the boundary; returns its exit status (0 for
    None).

    :param prog: the name the error line starts with, e.g. ``"pyrovae train"``.
    :param interrupted: what a Ctrl-C prints, after ``prog`` and a colon.
    """
    try:
        code = body()
        return 0 if code is None else code
    except KeyboardInterrupt:
        if debugging():
            traceback.print_exc()
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except (PyrovaeError, *EXPECTED) as e:
        if debugging():
            traceback.print_exc()
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return getattr(e, "exit_code", 2) if isinstance(e, PyrovaeError) else 2
