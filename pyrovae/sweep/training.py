"""Training a sweep point, or finding it already trained: a run directory is reused when its
checkpoint says training finished, resumed when it did not, and trained from scratch when it
holds no checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pyrovae import config, run
from pyrovae.base.errors import ConfigError
from pyrovae.train import checkpoint


def check_same_config(run_dir: Path, cfg: config.Config) -> None:
    """Refuse a run directory that holds the run of another config."""
    saved = run_dir / "config.toml"
    if saved.is_file() and config.config_hash(config.load(saved)) != config.config_hash(cfg):
        raise ConfigError(f"{run_dir} holds a run of another config than the one this point "
                          f"resolves to (config hash {config.config_hash(cfg)}); it was left as "
                          f"it was. Remove that directory, or set another runs_dir.")


def finished(state: dict, cfg: config.Config) -> bool:
    """Whether a checkpoint's training state has reached the end of ``cfg``'s training."""
    return bool(state["stopped_early"]) or state["epoch"] >= cfg.train.epochs


def _summary(how: str, state: dict) -> dict:
    return {"how": how, "epochs": int(state["epoch"]), "best_epoch": int(state["best_epoch"]),
            "train_seconds": float(sum(h["seconds"] for h in state["history"]))}


def train_or_reuse(cfg: config.Config, run_dir, *, data_dir=None, device=None) -> dict:
    """Make sure ``run_dir`` holds the finished run of ``cfg``.

    :returns: ``{"how": "reused" | "resumed" | "trained", "epochs": completed epochs,
        "best_epoch": epoch of best.pt, "train_seconds": training time summed over epochs}``.
    """
    run_dir = Path(run_dir)
    check_same_config(run_dir, cfg)
    ckpt = run_dir / checkpoint.LAST_FILE
    if ckpt.is_file():
        state = checkpoint.load(ckpt)["state"]
        if finished(state, cfg) and (run_dir / checkpoint.BEST_FILE).is_file():
            return _summary("reused", state)
        how = "resumed"
    else:
        how = "trained"
    result = run.train(cfg, run_dir, resume=how == "resumed", quiet=True, data_dir=data_dir,
                       device=device)
    return _summary(how, dataclasses.asdict(result.state))
