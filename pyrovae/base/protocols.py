"""What the engine may ask of a model or guide beyond being a Pyro program, declared in one
place: a model that takes the labels too, and a guide that classifies."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import torch


@runtime_checkable
class LabelledModel(Protocol):
    """A model called as ``model(x, y)`` with the labels ``y`` of the points when
    ``uses_labels`` is true. ``label_role``: ``"input"`` (a conditional model :math:`p(x \\mid y)`
    given every label) or ``"observed"`` (it generates the label and observes it where known, -1
    elsewhere, so that evaluation leaves the labels out to estimate :math:`\\log p(x)`)."""

    uses_labels: bool
    label_role: Literal["input", "observed"]


@runtime_checkable
class Classifier(Protocol):
    """A guide that also predicts labels: ``predict(x)`` is an int64 ``[N]`` tensor, and an
    evaluation adds its accuracy."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        ...
