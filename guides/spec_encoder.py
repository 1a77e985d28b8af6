"""The guide derived from a ``spec`` model: one amortized encoder per latent group.

Groups are sampled bottom-up, the reverse of the model's order: a group that generates the data
reads ``x``, a group given to others reads their samples (``z2 -> z1 -> x`` gives
:math:`q(z_1 \\mid x)\\, q(z_2 \\mid z_1)`, the IWAE paper's recognition network), each also the
one-hot label of a conditional model.
"""

from __future__ import annotations

from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from models.spec import SpecModel
from pyrovae.errors import ConfigError, ModelSpecError
from pyrovae.nn import ACTIVATIONS, Activation, activation, mlp
from pyrovae.options import PositiveInt, Widths
from pyrovae.registry import DataInfo, register_guide
from pyrovae.spec import checks
from pyrovae.spec.decoders import ConvFeatures
from pyrovae.spec.families import FAMILIES
from pyrovae.spec.priors import VampPrior
from pyrovae.spec.tensors import cat_features, one_hot


class FlatFeatures(nn.Module):
    """A data point (or a latent vector) as a flat vector.

    :param input_shape: shape of one input.
    """

    def __init__(self, input_shape):
        super().__init__()
        self.rank = len(input_shape)
        self.out_dim = int(torch.Size(input_shape).numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(-self.rank) if self.rank > 1 else x


# name -> factory(input_shape, channels, activation) of the network reading a data point
FEATURES = {
    "mlp": lambda shape, channels, act: FlatFeatures(shape),
    "conv": lambda shape, channels, act: ConvFeatures(shape, channels, act),
}


class GroupEncoder(nn.Module):
    r""":math:`q(z \mid u, y) = \text{family}(\mathrm{MLP}([f(u), y]))` for one latent group,
    where :math:`f` is :class:`FlatFeatures` or :class:`~pyrovae.spec.decoders.ConvFeatures`.

    :param features: the network :math:`f` (with an ``out_dim``).
    :param label_dim: size of the one-hot label, 0 without.
    :param hidden: hidden widths of the MLP (its output is the last hidden layer, activated).
    :param act: activation name.
    :param head: the posterior family, reading the MLP's output.
    """

    def __init__(self, features: nn.Module, label_dim: int, hidden, act: str, head_factory):
        super().__init__()
        self.features = features
        in_dim = features.out_dim + label_dim
        self.trunk = nn.Sequential(mlp([in_dim, *hidden], act), activation(act)) if hidden else \
            nn.Identity()
        self.head = head_factory(hidden[-1] if hidden else in_dim)

    def forward(self, inputs: torch.Tensor, label: torch.Tensor | None = None) -> dist.Distribution:
        return self.head(self.trunk(cat_features(self.features(inputs), label)))


class SpecEncoder(nn.Module):
    """Samples every latent group of a :class:`~models.spec.SpecModel`, bottom-up.

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
        checks.known_keys("guide.hidden", hidden, [g.name for g in graph])
        missing = [g.name for g in graph if g.name not in hidden]
        if missing:
            raise ConfigError(f"guide.hidden gives no widths for latent(s) {', '.join(missing)}; "
                              f"give every latent group, or one list for all.")
        return {k: checks.int_list(f"guide.hidden.{k}", v) for k, v in hidden.items()}
    widths = checks.int_list("guide.hidden", hidden) if hidden else ()
    return {g.name: widths for g in graph}


@register_guide("spec_encoder")
def make_spec_encoder(
    model,
    data: DataInfo,
    family: Literal[tuple(FAMILIES)] = "diag",
    flow_steps: PositiveInt = 2,
    flow_hidden: Widths = (),
    hidden: Widths | dict[str, Widths] = (200, 200),
    activation: Activation = "tanh",
    features: Literal[("auto", *FEATURES)] = "auto",
) -> SpecEncoder:
    """Amortized encoders for every latent group of a ``spec`` model.

    :param family: posterior family of every group, a key of
        :data:`~pyrovae.spec.families.FAMILIES`: ``diag`` (diagonal Normal), ``full`` (full
        covariance, Cholesky factor) or ``iaf`` (inverse autoregressive flow).
    :param flow_steps: ``iaf``: number of flow steps.
    :param flow_hidden: ``iaf``: hidden widths of each step's autoregressive network (default
        ``[max(4 dim, 32)]``).
    :param hidden: MLP widths of every encoder, or a table latent name -> widths.
    :param activation: activation name.
    :param features: network reading the data: ``mlp`` (flattened), ``conv`` (the decoder's
        mirror) or ``auto`` (the model's decoder kind).
    """
    if not isinstance(model, SpecModel):
        raise ModelSpecError(
            f"guide 'spec_encoder' derives its encoders from a 'spec' model's latent groups, but "
            f"the model is a {type(model).__name__}. Use [model] name = \"spec\", or name a guide "
            f"for this model."
        )
    checks.choice("guide.family", family, list(FAMILIES))
    checks.choice("guide.activation", activation, list(ACTIVATIONS))
    checks.positive_int("guide.flow_steps", flow_steps)
    flow_hidden = checks.int_list("guide.flow_hidden", flow_hidden)
    kind = checks.choice("guide.features", features, ["auto", *FEATURES])
    kind = model.spec.decoder.kind if kind == "auto" else kind
    channels = getattr(model.decoder, "channels", None)
    widths = _group_hidden(hidden, model.graph)
    head = FAMILIES[family]
    head_options = {param: {"flow_steps": flow_steps, "flow_hidden": flow_hidden}[key]
                    for param, key in head.options.items()}
    encoders = {}
    for group in model.graph:
        shape = model.encoder_input_shape(group.name)
        net = FEATURES[kind] if group.generates_data else FEATURES["mlp"]
        encoders[group.name] = GroupEncoder(
            net(shape, None if channels is None else channels[::-1], activation),
            model.num_classes, widths[group.name], activation,
            lambda in_dim, dim=group.dim: head(in_dim, dim, **head_options),
        )
    for name, prior in model.priors.items():
        if isinstance(prior, VampPrior):
            if not head.closed_form:
                closed = [k for k, f in FAMILIES.items() if f.closed_form]
                raise ConfigError(
                    f"guide.family = '{family}' cannot serve the VampPrior of latent '{name}': "
                    f"the prior evaluates the encoder's density at other points than its samples, "
                    f"which a flow does only by slow inversion. Choose one of: {', '.join(closed)}."
                )
            prior.bind(encoders[name])
    return SpecEncoder(model, encoders)
