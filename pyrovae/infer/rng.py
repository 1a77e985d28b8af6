"""Random streams for tiled Monte-Carlo estimators.

An estimator draws its particles tile by tile (a chunk of particles for a batch of data). Each
tile runs under its own seed, derived from one base seed and the tile's position, so a tile's
draws do not depend on the tiles run before it, and the caller's global RNG advances by exactly
one draw (the base seed) per estimator call.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

_MASK64 = (1 << 64) - 1


def draw_base_seed() -> int:
    """One 62-bit integer from torch's global CPU generator (seeded by ``pyro.set_rng_seed``)."""
    return int(torch.randint(0, 1 << 62, (), dtype=torch.int64))


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def tile_seed(base_seed: int, *position: int) -> int:
    """A 63-bit seed that depends only on ``base_seed`` and the tile ``position`` integers.

    >>> tile_seed(0, 1, 2) == tile_seed(0, 1, 2) != tile_seed(0, 2, 1)
    True
    >>> 0 <= tile_seed(7) < 2**63
    True
    """
    value = _splitmix64(base_seed)
    for p in position:
        value = _splitmix64(value ^ (p & _MASK64))
    return value >> 1


@contextmanager
def seeded(seed: int, device: torch.device):
    """Run the block with the CPU generator (and ``device``'s, if it is an accelerator) seeded
    with ``seed``; their previous states are restored on exit."""
    device = torch.device(device)
    if device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    module = torch.get_device_module(device.type)
    if device.index is not None:
        index = device.index
    else:
        index = module.current_device() if hasattr(module, "current_device") else 0
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        else:
            module.manual_seed(seed)
        yield
