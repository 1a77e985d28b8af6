"""The table of a dataset's generative factors: each factor's name and number of classes, and
how its values become class indices (the disentanglement metrics need discrete factors)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: The datasets that carry factors (``file`` when its arrays include ``<split>_factors``).
FACTOR_DATASETS = ("sprites", "dsprites", "file")
WITH_FACTORS = "sprites, dsprites, and file with <split>_factors arrays"


@dataclass(frozen=True)
class Factor:
    """One generative factor.

    :param name: the factor's name, e.g. ``"scale"``.
    :param size: number of classes (the cardinality).
    :param low: for a continuous factor, the start of the range cut into ``size`` equal-width
        bins; None when the values are the class indices already.
    :param high: the end of that range.
    """

    name: str
    size: int
    low: float | None = None
    high: float | None = None

    def classes(self, values: torch.Tensor) -> torch.Tensor:
        """The class indices int64 in ``0..size-1`` of the factor's ``values`` ``[N]``: the bin
        of ``[low, high]`` each falls in (the last bin closed), or the rounded value."""
        if self.low is None or self.high is None:
            index = values.round()
        else:
            index = ((values - self.low) / (self.high - self.low) * self.size).floor()
        return index.long().clamp(0, self.size - 1)

    def describe(self) -> str:
        """E.g. ``"scale: 6 bins of [0.6, 1]"`` or ``"shape: 5 classes"``."""
        if self.low is None or self.high is None:
            return f"{self.name}: {self.size} classes"
        return f"{self.name}: {self.size} bins of [{self.low:g}, {self.high:g}]"


def categorical(names, sizes) -> tuple[Factor, ...]:
    """A table of factors whose values are their class indices."""
    return tuple(Factor(name, int(size)) for name, size in zip(names, sizes))
