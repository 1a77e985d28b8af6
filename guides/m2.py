"""The inference network of M2 (Kingma et al. 2014): a classifier :math:`q(y \\mid x)` and an
encoder :math:`q(z \\mid x, y)`."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from pyrovae.data.info import DataInfo
from pyrovae.base.errors import ModelGuideError
from pyrovae.models.m2 import M2, known_labels
from pyrovae.base.nn import Activation, mlp
from pyrovae.base.options import NonNegativeFloat, Widths
from pyrovae.blocks import fields
from pyrovae.blocks.encoders import FlatFeatures, GroupEncoder
from pyrovae.blocks.families import DiagNormal
from pyrovae.blocks.tensors import one_hot


class M2Encoder(nn.Module):
    r""":math:`q(y, z \mid x) = q(y \mid x)\, q(z \mid x, y)`.

    In training mode site ``y`` is marked for parallel enumeration: under ``train.loss =
    "trace_enum_elbo"`` the ELBO of an unlabelled point sums over every label, weighted by
    :math:`q(y \mid x)`; in eval mode (and for :func:`pyrovae.log_px`) it is sampled. On
    labelled points ``y`` is masked out and :math:`z` is encoded with the given label. In
    training mode the guide adds the classification term of Kingma et al. (their eq. 9),
    :math:`\alpha \log q(y \mid x)` on the labelled points, as a factor: a guide factor enters
    the ELBO with a minus sign, as :math:`\log q` does, so the factor is
    :math:`-\alpha \log q(y \mid x)`. In eval mode (the valid ELBO, evaluation) the term is off.

    :param event_shape: shape of one data point.
    :param num_classes: :math:`C`.
    :param latent_dim: dimension of :math:`z`.
    :param hidden: hidden widths of the encoder of :math:`z`.
    :param classifier_hidden: hidden widths of the classifier.
    :param act: activation name.
    :param classifier_weight: :math:`\alpha` per labelled point.
    """

    def __init__(self, event_shape, num_classes, latent_dim, hidden, classifier_hidden, act,
                 classifier_weight):
        super().__init__()
        self.rank = len(event_shape)
        self.num_classes = num_classes
        self.classifier_weight = float(classifier_weight)
        self.classifier = mlp([math.prod(event_shape), *classifier_hidden, num_classes], act)
        self.encoder = GroupEncoder(FlatFeatures(event_shape), num_classes, hidden, act,
                                    lambda in_dim: DiagNormal(in_dim, latent_dim))

    @property
    def label_infer(self) -> dict:
        """Enumerate the label in training; sample it in eval mode (valid ELBO, evaluation)."""
        return {"enumerate": "parallel"} if self.training else {}

    def label_dist(self, x: torch.Tensor) -> dist.Categorical:
        """:math:`q(y \\mid x)`."""
        return dist.Categorical(logits=self.classifier(x.flatten(-self.rank)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\arg\\max_y q(y \\mid x)`, int64 ``[N]``."""
        return self.label_dist(x).logits.argmax(-1)

    def forward(self, x=None, y=None, *, batch_size=None):
        if x is None:
            raise ValueError("the m2_encoder guide needs the data x.")
        known = known_labels(y)
        with pyro.plate("data", x.shape[0]):
            q_y = self.label_dist(x)
            with poutine.mask(mask=True if known is None else ~known):
                label = pyro.sample("y", q_y, infer=self.label_infer)
            if known is not None:
                if self.training and self.classifier_weight > 0:
                    with poutine.mask(mask=known):
                        pyro.factor("classification",
                                    -self.classifier_weight * q_y.log_prob(y.clamp(min=0)),
                                    has_rsample=True)
                label = torch.where(known, y, label)
            return pyro.sample("z", self.encoder(x, one_hot(label, self.num_classes, x)))


def make_m2_encoder(
    model,
    data: DataInfo,
    hidden: Widths = (500,),
    classifier_hidden: Widths = (500,),
    activation: Activation = "softplus",
    classifier_weight: NonNegativeFloat = 50.0,
) -> M2Encoder:
    """The M2 inference network; ``classifier_weight`` is :math:`\\alpha` per labelled point
    (Kingma et al. use :math:`0.1 N / N_l` for N points of which N_l are labelled)."""
    if not isinstance(model, M2):
        raise ModelGuideError(f"guide 'm2_encoder' needs an 'm2' model, got {type(model).__name__}.")
    return M2Encoder(model.event_shape, model.num_classes, model.latent_dim,
                     fields.int_list("guide.hidden", hidden),
                     fields.int_list("guide.classifier_hidden", classifier_hidden), activation,
                     classifier_weight)
