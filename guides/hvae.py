"""The top-down guide of Tomczak and Welling's two-level HVAE:
:math:`q(z_2 \\mid x)\\, q(z_1 \\mid x, z_2)`."""

from __future__ import annotations

import pyro
from torch import nn

from pyrovae.base.errors import ModelGuideError
from pyrovae.base.nn import Activation, hidden_mlp
from pyrovae.base.options import PositiveInt
from pyrovae.blocks.encoders import FlatFeatures
from pyrovae.blocks.families import DiagNormal
from pyrovae.blocks.priors import VampPrior
from pyrovae.blocks.tensors import cat_features
from pyrovae.data.info import DataInfo
from pyrovae.models.hvae import LOGVAR_CLIP, TwoLevelVAE, make_hvae


class TwoLevelEncoder(nn.Module):
    r""":math:`q(z_2 \mid x)\, q(z_1 \mid x, z_2)`, sample sites ``z2`` then ``z1``.

    :math:`q(z_2 \mid x)` is a diagonal Normal on two hidden layers of the flattened
    :math:`x`; :math:`q(z_1 \mid x, z_2)` one on a joint hidden layer of one hidden layer of
    :math:`x` and one of :math:`z_2`. Both log-variances are clipped to ``logvar_clip`` (the
    model's: :data:`~pyrovae.models.hvae.LOGVAR_CLIP`, or None). ``q_z2`` maps any batch of
    inputs to :math:`q(z_2 \mid u)`, so a VampPrior on :math:`z_2` can use it at its
    pseudo-inputs.

    :param event_shape: shape of one data point.
    :param z1_dim: dimension of :math:`z_1`.
    :param z2_dim: dimension of :math:`z_2`.
    :param hidden: width of every hidden layer.
    :param activation: ``gated`` or a pointwise activation.
    :param logvar_clip: ``(a, b)`` or None.
    """

    def __init__(self, event_shape, z1_dim, z2_dim, hidden, activation, logvar_clip=LOGVAR_CLIP):
        super().__init__()
        flat = FlatFeatures(event_shape)
        self.q_z2 = nn.Sequential(flat, hidden_mlp([flat.out_dim, hidden, hidden], activation),
                                  DiagNormal(hidden, z2_dim, "exp", logvar_clip))
        self.x_features = nn.Sequential(FlatFeatures(event_shape),
                                        hidden_mlp([flat.out_dim, hidden], activation))
        self.z2_features = hidden_mlp([z2_dim, hidden], activation)
        self.q_z1 = nn.Sequential(hidden_mlp([2 * hidden, hidden], activation),
                                  DiagNormal(hidden, z1_dim, "exp", logvar_clip))

    def forward(self, x=None, *, batch_size=None):
        if x is None:
            raise ValueError("the hvae_encoder guide needs the data x.")
        with pyro.plate("data", x.shape[0]):
            z2 = pyro.sample("z2", self.q_z2(x))
            h = cat_features(self.x_features(x), self.z2_features(z2))
            z1 = pyro.sample("z1", self.q_z1(h))
        return {"z1": z1, "z2": z2}


def make_hvae_encoder(
    model,
    data: DataInfo,
    hidden: PositiveInt | None = None,
    activation: Activation | None = None,
) -> TwoLevelEncoder:
    """The top-down encoder of a two-level HVAE (``[model] name = "hvae"``); ``hidden`` and
    ``activation`` default to the model's, and it clips its log-variances as the model does."""
    if not isinstance(model, TwoLevelVAE):
        raise ModelGuideError(
            f"guide 'hvae_encoder' samples the latents z2 and z1 of an 'hvae' model, but the "
            f"model is a {type(model).__name__}. Use [model] name = \"hvae\", or name a guide "
            f"for this model."
        )
    return TwoLevelEncoder(data.event_shape, model.z1_dim, model.z2_dim,
                           model.hidden if hidden is None else hidden,
                           model.activation if activation is None else activation,
                           model.logvar_clip)


def make_hvae_pair(data: DataInfo, model_options: dict, guide_options: dict):
    """An ``hvae`` model and its ``hvae_encoder`` guide, built together: a VampPrior on
    :math:`z_2` is a mixture of the guide's :math:`q(z_2 \\mid u_k)`, so it takes the guide's
    ``q_z2`` as a submodule (shared: one set of parameters)."""
    model = make_hvae(data, **model_options)
    guide = make_hvae_encoder(model, data, **guide_options)
    if isinstance(model.prior, VampPrior):
        model.prior.encoder = guide.q_z2
    return model, guide
