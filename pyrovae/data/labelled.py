"""Semi-supervised data: keep the labels of a class-balanced subset of the training split."""

from __future__ import annotations

from dataclasses import replace

import torch

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.data.dataset import MISSING_LABEL, Dataset


def keep_labels(dataset: Dataset, num_labelled: int, seed: int) -> Dataset:
    """A copy of ``dataset`` whose training split keeps ``num_labelled`` labels, as equal a
    number per class as possible (the first ``num_labelled % C`` classes get one more), drawn
    with a generator seeded by ``seed``; every other training label becomes
    :data:`~pyrovae.data.dataset.MISSING_LABEL` (-1). Valid and test labels stay.

    :raises ConfigError: ``num_labelled`` is not a whole number in ``1..N``.
    :raises DataError: the training split has no labels, or a class has too few points.
    """
    labels = dataset.labels.get("train")
    if labels is None:
        raise DataError(f"data.num_labelled needs labels on the training split, but dataset "
                        f"'{dataset.name}' has none there. Use a labelled dataset (mnist, "
                        f"sprites, or a file with train_labels).")
    n, classes = labels.shape[0], dataset.num_classes
    if isinstance(num_labelled, bool) or not isinstance(num_labelled, int) \
            or not 1 <= num_labelled <= n:
        raise ConfigError(f"data.num_labelled must be a whole number in 1..{n} (the training "
                          f"split's size), got {num_labelled!r}.")
    generator = torch.Generator().manual_seed(seed)
    kept = []
    for c in range(classes):
        quota = num_labelled // classes + (c < num_labelled % classes)
        members = (labels == c).nonzero().flatten().cpu()
        if len(members) < quota:
            raise DataError(f"data.num_labelled = {num_labelled} asks for {quota} labels of class "
                            f"{c}, but the training split holds only {len(members)} of them. "
                            f"Lower data.num_labelled.")
        kept.append(members[torch.randperm(len(members), generator=generator)[:quota]])
    partial = torch.full_like(labels, MISSING_LABEL)
    index = torch.cat(kept).to(labels.device)
    partial[index] = labels[index]
    return replace(dataset, labels={**dataset.labels, "train": partial})
