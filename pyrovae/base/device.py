"""Choosing the torch device a run uses."""

from __future__ import annotations

import os

import torch

from pyrovae.base.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device, checked to exist.
    A CUDA device without an index is, in a process ``torchrun`` launched, the GPU of its
    ``LOCAL_RANK``, else the current GPU, with its index (``cuda:0``), as tensors name it."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device '{name}' is not a torch device; use auto, cpu, cuda or "
                          f"cuda:N.") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device '{name}' is not supported: pyrovae runs on cpu or cuda; use "
                          f"auto, cpu, cuda or cuda:N.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but this torch ({torch.__version__}) sees "
                          f"no CUDA GPU; use --device cpu or --device auto.")
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        rank, count = int(os.environ["LOCAL_RANK"]), torch.cuda.device_count()
        if rank >= count:
            raise ConfigError(f"process {rank} of this machine asks for a GPU of its own, but "
                              f"there are {count}: give torchrun --nproc_per_node={count} or "
                              f"fewer.")
        return torch.device("cuda", rank)
    if device.type == "cuda" and device.index is None:  # the name tensors on it report
        return torch.device("cuda", torch.cuda.current_device())
    return device


def fits_on(device: torch.device, num_bytes: int, fraction: float = 0.5) -> bool:
    """Whether ``num_bytes`` fit in ``fraction`` of the device's free memory (always on CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return num_bytes <= fraction * free
