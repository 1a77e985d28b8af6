"""Live training logs for TensorBoard (``train.log = ["tensorboard"]``, the extra
``pyrovae[tensorboard]``): per-epoch scalars and image grids as event files in the run
directory; ``history.csv`` stays the record. View them with ``tensorboard --logdir runs``."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from pyrovae.base.errors import ConfigError
from pyrovae.checks import observed_sites_on
from pyrovae.infer import rate_distortion, rng
from pyrovae.pictures import as_images, make_grid, prior_means, reconstruction_means

#: history.csv column -> TensorBoard tag of the scalars written after each epoch.
SCALARS = {"train_objective": "train/objective", "valid_elbo": "valid/elbo", "beta": "train/beta",
           "lr": "train/lr", "seconds": "train/seconds"}
INSTALL = "pip install 'pyrovae[tensorboard]'"


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, imported on first use.

    :raises ConfigError: tensorboard is not installed (the message says how to install it).
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"train.log = [\"tensorboard\"] needs the tensorboard package, which is "
                          f"not installed: {INSTALL}, or leave train.log empty.") from None
    return SummaryWriter


@contextmanager
def evaluating(*modules):
    """Run the block with ``modules`` in eval mode and without gradients, then restore their
    modes (batch-norm statistics and dropout of training stay as they were)."""
    modes = [(m, m.training) for m in modules if isinstance(m, torch.nn.Module)]
    for module, _ in modes:
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes:
            module.train(mode)


class TensorBoardLogger:
    """A callback of :func:`pyrovae.train.session.train_pair`: after each epoch, writes the
    epoch's row of the history (:data:`SCALARS`) and, when given the programs and validation
    data, the mean KL term :math:`E_q[\\log q(z|x) - \\log p(z)]` of up to ``num_points``
    validation points (``valid/kl``, one particle each) and grids of prior samples and
    reconstructions. Its draws come from ``seed`` and leave the training streams as they were.

    :param run_dir: where the event files go.
    :param valid: validation tensors (data first), or None.
    :param images: also write the image grids (image-shaped data only).
    """

    def __init__(self, run_dir, *, model=None, guide=None, valid=None, seed: int = 0,
                 num_points: int = 500, images: bool = True):
        self.writer = summary_writer_class()(log_dir=str(Path(run_dir)))
        self.model, self.guide, self.seed = model, guide, seed
        self.valid = None if valid is None else tuple(v[:num_points] for v in valid)
        self.images = images and self.valid is not None and as_images(self.valid[0][:1]) is not None
        self.samples = self.images  # until the model proves unable to sample from the prior

    def __call__(self, state) -> None:
        row = state.history[-1]
        epoch = int(row["epoch"])
        for key, tag in SCALARS.items():
            value = row.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag, value, epoch)
        if self.model is not None and self.guide is not None and self.valid is not None:
            self._programs(epoch)
        self.writer.flush()

    def _programs(self, epoch: int) -> None:
        x = self.valid[0]
        with evaluating(self.model, self.guide), rng.seeded(self.seed, x.device):
            rate = rate_distortion(self.model, self.guide, *self.valid, num_samples=1).rate
            self.writer.add_scalar("valid/kl", float(rate.double().mean()), epoch)
            if not self.images:
                return
            batch = tuple(v[:8] for v in self.valid)
            grids = {"reconstructions": torch.cat([as_images(batch[0]), as_images(
                reconstruction_means(self.model, self.guide, *batch))])}
            if self.samples:
                grids["samples"] = self._samples()
            for tag, images in grids.items():
                if images is not None:
                    self.writer.add_image(f"images/{tag}", make_grid(images.cpu(), nrow=8), epoch)

    def _samples(self):
        """Means of p(x | z) for 16 prior draws, or None after one warning (then never tried
        again) when the model cannot sample from a batch size alone (e.g. it needs labels)."""
        try:
            names = list(observed_sites_on(self.model, *(v[:2] for v in self.valid)))
            return as_images(prior_means(self.model, 16, names))
        except (TypeError, ValueError, AttributeError) as error:
            self.samples = False
            first = str(error).splitlines()[0] if str(error) else ""
            warnings.warn(f"TensorBoard: no images/samples grid, the model cannot sample "
                          f"from the prior given only a batch size ({type(error).__name__}: "
                          f"{first}).", stacklevel=2)
            return None

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


def make_loggers(names, run_dir, **options) -> list[TensorBoardLogger]:
    """The loggers ``train.log`` names (``"tensorboard"``), created before training starts so
    that a missing package is reported before any work.

    :param options: passed to :class:`TensorBoardLogger`.
    """
    return [TensorBoardLogger(run_dir, **options) for name in names if name == "tensorboard"]
