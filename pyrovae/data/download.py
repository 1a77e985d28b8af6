"""Downloading one file so that a partial download never looks like a finished one."""

from __future__ import annotations

import http.client
import shutil
import urllib.request
from pathlib import Path

from pyrovae.base.io import atomic_write

TIMEOUT_S = 10.0


def fetch(url: str, dest: Path, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` (via a temp file in the same directory, then a rename).

    :param url: address to fetch.
    :param dest: final file path; its directory must exist and be writable.
    :param timeout: seconds to wait for the connection and for each read.
    :raises OSError: the download failed (offline, refused, timed out, or cut short).
    """
    try:
        with atomic_write(dest) as file:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, file, length=1 << 20)
    except (http.client.HTTPException, ValueError) as error:  # cut short, or a malformed URL
        raise OSError(f"download of {url} failed: {error!r}") from error
    return dest
