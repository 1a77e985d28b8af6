"""The guide derived from a ``spec`` model: one amortized encoder per latent group.

Groups are sampled bottom-up, the reverse of the model's order: a group that generates the data
reads ``x``, a group given to others reads their samples (``z2 -> z1 -> x`` gives
:math:`q(z_1 \\mid x)\\, q(z_2 \\mid z_1)`, the IWAE paper's recognition network), each also the
one-hot label of a conditional model.
"""

from __future__ import annotations

from typing import Literal

import pyro
from torch import nn

from pyrovae.data.info import DataInfo
from pyrovae.base.errors import ConfigError, ModelGuideError
from pyrovae.models.spec import SpecModel, make_spec_model
from pyrovae.base.nn import ACTIVATION_CHOICES, Activation
from pyrovae.base.options import PositiveInt, Widths
from pyrovae.blocks import fields
from pyrovae.blocks.encoders import FEATURES, GroupEncoder
from pyrovae.blocks.families import FAMILIES, SCALES, check_scale
from pyrovae.blocks.priors import VampPrior
from pyrovae.blocks.tensors import cat_features, one_hot


class SpecEncoder(nn.Module):
    """Samples every latent group of a :class:`~pyrovae.models.spec.SpecModel`, bottom-up.

    :param model: the model (only its structure is kept, not a reference).
    :param encoders: group name -> :class:`GroupEncoder`.
    """

    def __init__(self, model: SpecModel, encoders: dict[str, GroupEncoder]):
        super().__init__()
        self.graph = model.graph
        self.num_classes = model.num_classes
        self.encoders = nn.ModuleDict(encoders)

    def forward(self, x=None, y=None, *, batch_size=None):
        if x is None:
            raise ValueError("the spec_encoder guide needs the data x.")
        label = one_hot(y, self.num_classes, x) if self.num_classes else None
        values = {}
        with pyro.plate("data", x.shape[0]):
            for group in reversed(self.graph.groups):
                inputs = x if group.generates_data else \
                    cat_features(*(values[c] for c in group.children))
                posterior = self.encoders[group.name](inputs, label)
                values[group.name] = pyro.sample(group.name, posterior)
        return values


def _group_hidden(hidden, graph) -> dict[str, tuple[int, ...]]:
    """``hidden`` for every group: one list for all, or a table group name -> list."""
    if isinstance(hidden, dict):
        fields.known_keys("guide.hidden", hidden, [g.name for g in graph])
        missing = [g.name for g in graph if g.name not in hidden]
        if missing:
            raise ConfigError(f"guide.hidden gives no widths for latent(s) {', '.join(missing)}; "
                              f"give every latent group, or one list for all.")
        return {k: fields.int_list(f"guide.hidden.{k}", v) for k, v in hidden.items()}
    widths = fields.int_list("guide.hidden", hidden) if hidden else ()
    return {g.name: widths for g in graph}


def make_spec_encoder(
    model,
    data: DataInfo,
    family: Literal[tuple(FAMILIES)] = "diag",
    flow_steps: PositiveInt = 2,
    flow_hidden: Widths = (),
    hidden: Widths | dict[str, Widths] = (200, 200),
    activation: Activation = "tanh",
    features: Literal[("auto", *FEATURES)] = "auto",
    scale: Literal[SCALES] = "softplus",
    logvar_clip: list[float] | None = None,
) -> SpecEncoder:
    """Amortized encoders for every latent group of a ``spec`` model.

    :param family: posterior family of every group, a key of
        :data:`~pyrovae.blocks.families.FAMILIES`: ``diag`` (diagonal Normal), ``full`` (full
        covariance, Cholesky factor) or ``iaf`` (inverse autoregressive flow).
    :param flow_steps: ``iaf``: number of flow steps.
    :param flow_hidden: ``iaf``: hidden widths of each step's autoregressive network (default
        ``[max(4 dim, 32)]``).
    :param hidden: MLP widths of every encoder, or a table latent name -> widths.
    :param activation: activation name.
    :param features: network reading the data: ``mlp`` (flattened), ``conv`` (the decoder's
        mirror) or ``auto`` (the model's decoder kind).
    :param scale: ``diag``: how the encoder's output gives :math:`\\sigma`, ``softplus`` or
        ``exp`` (of half a log-variance); see :class:`~pyrovae.blocks.families.DiagNormal`.
    :param logvar_clip: ``diag`` with ``scale = "exp"``: ``[low, high]`` bounds of the
        log-variance, e.g. ``[-6, 2]``.
    """
    if not isinstance(model, SpecModel):
        raise ModelGuideError(
            f"guide 'spec_encoder' derives its encoders from a 'spec' model's latent groups, but "
            f"the model is a {type(model).__name__}. Use [model] name = \"spec\", or name a guide "
            f"for this model."
        )
    fields.choice("guide.family", family, list(FAMILIES))
    fields.choice("guide.activation", activation, list(ACTIVATION_CHOICES))
    fields.positive_int("guide.flow_steps", flow_steps)
    flow_hidden = fields.int_list("guide.flow_hidden", flow_hidden)
    kind = fields.choice("guide.features", features, ["auto", *FEATURES])
    kind = model.spec.decoder.kind if kind == "auto" else kind
    channels = getattr(model.decoder, "channels", None)
    widths = _group_hidden(hidden, model.graph)
    head = FAMILIES[family]
    given = {"flow_steps": flow_steps, "flow_hidden": flow_hidden, "scale": scale,
             "logvar_clip": logvar_clip}
    check_scale(scale, logvar_clip)
    if (scale, logvar_clip) != ("softplus", None) and "scale" not in head.options:
        raise ConfigError(f"guide.scale and guide.logvar_clip apply to family 'diag', not "
                          f"'{family}'; leave them out.")
    head_options = {param: given[key] for param, key in head.options.items()}
    encoders = {}
    for group in model.graph:
        shape = model.encoder_input_shape(group.name)
        net = FEATURES[kind] if group.generates_data else FEATURES["mlp"]
        encoders[group.name] = GroupEncoder(
            net(shape, None if channels is None else channels[::-1], activation),
            model.num_classes, widths[group.name], activation,
            lambda in_dim, dim=group.dim: head(in_dim, dim, **head_options),
        )
    return SpecEncoder(model, encoders)


def make_spec_pair(data: DataInfo, model_options: dict, guide_options: dict):
    """A ``spec`` model and its ``spec_encoder`` guide, built together: a latent group with a
    VampPrior, a mixture of the guide's posteriors, takes the guide's encoder of that group as a
    submodule (shared, so one set of parameters)."""
    model = make_spec_model(data, **model_options)
    guide = make_spec_encoder(model, data, **guide_options)
    for name, prior in model.priors.items():
        if isinstance(prior, VampPrior):
            encoder = guide.encoders[name]
            if not encoder.head.closed_form:
                closed = [k for k, f in FAMILIES.items() if f.closed_form]
                family = next(k for k, f in FAMILIES.items() if isinstance(encoder.head, f))
                raise ConfigError(
                    f"guide.family = '{family}' cannot serve the VampPrior of latent '{name}': "
                    f"the prior evaluates the encoder's density at other points than its samples, "
                    f"which a flow does only by slow inversion. Choose one of: {', '.join(closed)}."
                )
            prior.encoder = encoder
    return model, guide
