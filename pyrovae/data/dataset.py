"""The in-memory dataset every loader returns and the training engine consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from pyrovae.base.errors import DataError
from pyrovae.base.options import suggest
from pyrovae.data.factors import WITH_FACTORS, Factor
from pyrovae.data.splitting import spread_indices

#: The label of an unlabelled point in a partly labelled split.
MISSING_LABEL = -1


@dataclass
class Dataset:
    """A dataset held as tensors, one per split.

    :param name: dataset name as given to :func:`pyrovae.data.load_dataset`.
    :param splits: ``"train"``, ``"valid"``, ``"test"`` -> float32 ``[N, *event_shape]``.
    :param labels: split -> int64 ``[N]`` class labels; only splits that carry labels appear;
        :data:`MISSING_LABEL` marks an unlabelled point (``data.num_labelled``).
    :param factors: split -> float32 ``[N, F]`` ground-truth generative factors, or ``{}``.
    :param factor_names: names of the ``F`` factor columns, or ``()``.
    :param factor_table: the ``F`` factors' names, sizes and binning (:class:`Factor`), for
        the disentanglement metrics; ``()`` when the factors are not known to be discrete.
    :param event_shape: shape of one data point, e.g. ``(1, 28, 28)``.
    :param binary: every value in every split is exactly 0 or 1.
    :param dynamic_binarize: the trainer draws ``torch.bernoulli(x)`` afresh for each batch.
    :param num_classes: number of label classes, or 0 when there are no labels.
    :param source: where the data came from (file paths, or how they were generated).
    """

    name: str
    splits: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]
    factors: dict[str, torch.Tensor]
    factor_names: tuple[str, ...]
    event_shape: tuple[int, ...]
    binary: bool
    dynamic_binarize: bool = False
    num_classes: int = 0
    source: str = ""
    factor_table: tuple[Factor, ...] = ()

    def split(self, name: str) -> torch.Tensor:
        """The data tensor of split ``name``.

        :param name: a key of ``splits``, e.g. ``"train"``.
        :raises DataError: the dataset has no such split.
        """
        if name not in self.splits:
            raise DataError(
                f"dataset '{self.name}' has no split '{name}'.{suggest(name, self.splits)} "
                f"Use one of: {', '.join(self.splits)}."
            )
        return self.splits[name]

    def factor_classes(self, split: str) -> torch.Tensor:
        """The factors of ``split`` as int64 class indices ``[N, F]`` (see :attr:`factor_table`).

        :raises DataError: the dataset carries no factor table, or none for ``split``.
        """
        if not self.factor_table:
            raise DataError(f"dataset '{self.name}' carries no factors with known sizes. Datasets "
                            f"that do: {WITH_FACTORS}.")
        self.split(split)
        if split not in self.factors:
            raise DataError(f"dataset '{self.name}' has no factors for its {split} split.")
        values = self.factors[split]
        return torch.stack([f.classes(values[:, i]) for i, f in enumerate(self.factor_table)], 1)

    def to(self, device) -> Dataset:
        """A copy with every tensor (data, labels, factors) moved to ``device``.

        :param device: a ``torch.device`` or a string such as ``"cuda"``.
        """

        def move(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {key: value.to(device) for key, value in tensors.items()}

        return replace(
            self, splits=move(self.splits), labels=move(self.labels), factors=move(self.factors)
        )

    def subset(self, split: str, limit: int | None) -> tuple[Dataset, torch.Tensor | None]:
        """This dataset with split ``split`` (data, labels, factors) cut to ``limit`` points
        spread evenly over it (:func:`~pyrovae.data.splitting.spread_indices`), and their
        indices; the dataset itself and None when ``limit`` keeps the whole split."""
        index = spread_indices(self.split(split).shape[0], limit)
        if index is None:
            return self, None

        def take(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            if split not in tensors:
                return tensors
            return {**tensors, split: tensors[split][index.to(tensors[split].device)]}

        part = replace(self, splits=take(self.splits), labels=take(self.labels),
                       factors=take(self.factors))
        return part, index
