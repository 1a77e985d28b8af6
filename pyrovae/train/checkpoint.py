"""Checkpoints: atomic writes, ``weights_only`` loads, and a refusal of foreign checkpoints.

A checkpoint is a dict of tensors and plain Python values (no pickled code), so it loads with
``torch.load(weights_only=True)``. Its ``identity`` (what decides the run's numbers: the config
without the keys a resume may change, and the data's event shape) must equal the identity of the
run loading it.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyrovae.base import io
from pyrovae.base.errors import CheckpointError
from pyrovae.config import differences
from pyrovae.train.params import Parameters

#: The file of a run directory that holds the last epoch trained (what a resume continues).
LAST_FILE = "checkpoint.pt"
#: The file of a run directory that holds the weights of the epoch with the best validation ELBO.
BEST_FILE = "best.pt"

FORMAT = "pyrovae-checkpoint/2"  # /1 recorded only model, guide and data shape in its identity


def identity(decisive: dict, event_shape, shapes: dict[str, list[int]]) -> dict[str, Any]:
    """What a checkpoint's numbers depend on: ``decisive`` (for a config's run, the config
    without the keys a resume may change: seed, data, model, guide and training options), the
    data's shape and the shapes of the trained tensors by name."""
    return {**decisive, "event_shape": list(event_shape), "parameters": shapes}


#: Rows of each tensor that :func:`data_fingerprint` hashes, spread evenly over it.
FINGERPRINT_ROWS = 64


def data_fingerprint(*parts) -> dict[str, Any] | None:
    """What tells data sets apart, cheaply: for each tensor of ``parts`` (sequences of tensors,
    or None), its shape, dtype and a hash of :data:`FINGERPRINT_ROWS` rows spread evenly over
    it."""
    found = []
    for tensors in parts:
        for t in tensors or ():
            rows = torch.linspace(0, max(t.shape[0] - 1, 0), min(FINGERPRINT_ROWS, t.shape[0]))
            sample = t[rows.round().long().to(t.device)].detach().cpu().contiguous()
            digest = hashlib.sha256(sample.flatten().view(torch.uint8).numpy().tobytes()).hexdigest()[:16]
            found.append({"shape": list(t.shape), "dtype": str(t.dtype), "sample": digest})
    return found or None


def fingerprint(identity: dict) -> str:
    """A short hash of ``identity``."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def rng_state() -> dict[str, Any]:
    """Every random-number state a run draws from, as tensors and plain values."""
    np_name, np_keys, np_pos, np_gauss, np_cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_gauss, np_cached],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))


def save(path: str | Path, identity: dict, **fields) -> None:
    """Write ``fields`` with the format tag and ``identity`` to ``path`` atomically."""
    io.save_torch({"format": FORMAT, "identity": identity, "fingerprint": fingerprint(identity),
                   **fields}, path)


def load(path: str | Path, identity: dict | None = None, map_location="cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; refuse one whose identity differs from
    ``identity``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at '{path}'. Train first (pyrovae train CONFIG.toml "
                              f"--out RUN_DIR), or give the run directory that holds it.")
    try:
        ckpt = io.load_torch(path, map_location=map_location)
    except io.UnreadableFile as e:
        raise CheckpointError(f"'{path}' is not a readable pyrovae checkpoint: it {e}. Resume or "
                              f"evaluate a run directory pyrovae wrote.") from None
    if isinstance(ckpt, dict) and ckpt.get("format") == "pyrovae-checkpoint/1":
        raise CheckpointError(f"'{path}' was written by an earlier pyrovae, whose checkpoints do "
                              f"not record the training settings they were made with, so this "
                              f"version cannot check them. Train the run again with this version.")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a pyrovae checkpoint (format "
                              f"{ckpt.get('format') if isinstance(ckpt, dict) else None!r}, "
                              f"expected {FORMAT!r}).")
    if identity is not None and ckpt["fingerprint"] != fingerprint(identity):
        other = {k: v for k, v in ckpt["identity"].items() if k != "data"}
        if "data" in identity and other == {k: v for k, v in identity.items() if k != "data"}:
            raise CheckpointError(f"checkpoint '{path}' was trained on other data than these "
                                  f"(their sizes or values differ). Resume with the data the "
                                  f"run was trained on, or train a new run in another out.")
        diffs = "; ".join(differences(ckpt["identity"], identity, ("checkpoint", "this run")))
        raise CheckpointError(f"checkpoint '{path}' belongs to another model or config ({diffs}). "
                              f"Use the run's own config, or train a new run with --out.")
    return ckpt


def load_values(parameters: Parameters, values: dict, path) -> None:
    """Set ``parameters`` from a checkpoint's ``values``, with a CheckpointError naming
    ``path`` when they do not fit."""
    try:
        parameters.load(values)
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"the weights in '{path}' do not fit this model and guide: "
                              f"{str(e).splitlines()[0]}") from None
