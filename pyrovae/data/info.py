"""What a model factory may know about the data it is built for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataInfo:
    """What a model factory may know about the data it will be trained on.

    :param event_shape: shape of one data point, e.g. ``(1, 28, 28)``.
    :param binary: every value of the training data is 0 or 1.
    :param num_classes: number of label classes, or 0 when the data carry no labels.
    """

    event_shape: tuple[int, ...]
    binary: bool
    num_classes: int = 0
