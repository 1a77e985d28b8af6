"""The declarative model specification: dataclasses, and their parsing from a config's
``[model]`` table (TOML) or a Python dict.

.. code-block:: toml

    [model]
    name = "spec"
    latents = [{ name = "z2", dim = 50 }, { name = "z1", dim = 100, given = "z2" }]
    decoder = { kind = "mlp", hidden = [200, 200], activation = "tanh" }
    likelihood = "bernoulli"
    conditioning = "none"
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import ACTIVATION_CHOICES
from pyrovae.base.options import NonNegativeFloat, check
from pyrovae.blocks import fields
from pyrovae.blocks.decoders import DECODERS
from pyrovae.blocks.likelihoods import LIKELIHOODS
from pyrovae.blocks.priors import CONDITIONAL_PRIORS, DEFAULT_COMPONENTS, PRIORS, PSEUDO_INPUTS
from pyrovae.spec.graph import LatentGraph

CONDITIONING = ("none", "label")
#: A ``vamp`` latent's options, each with the type its value is checked against.
VAMP_OPTIONS = {"pseudo_inputs": Literal[PSEUDO_INPUTS], "pseudo_inputs_mean": float,
                "pseudo_inputs_std": NonNegativeFloat}


@dataclass
class Latent:
    """One latent group.

    :param name: its sample-site name.
    :param dim: dimension.
    :param prior: a key of :data:`~pyrovae.blocks.priors.PRIORS` for a top group; a group
        ``given`` others has the conditional Normal prior ``"normal"``.
    :param components: :math:`K` of a ``mixture`` or ``vamp`` prior (default 10 and 500).
    :param given: names of the groups its prior is conditioned on (``z2 -> z1``: z1 is given
        z2).
    :param hidden: hidden widths of a conditional prior's MLP (default: the decoder's, or
        ``[200, 200]`` when the decoder names none).
    :param activation: a conditional prior's activation (default: the decoder's).
    :param pseudo_inputs: a ``vamp`` prior's, one of
        :data:`~pyrovae.blocks.priors.PSEUDO_INPUTS` (None: ``free``).
    :param pseudo_inputs_mean: a ``vamp`` prior's pseudo-inputs start at
        :math:`\\mathcal N(\\text{mean}, \\text{std}^2)` (None: the
        :class:`~pyrovae.blocks.priors.VampPrior`'s defaults).
    :param pseudo_inputs_std: see ``pseudo_inputs_mean``; at least 0.
    """

    name: str
    dim: int
    prior: str = "normal"
    components: int | None = None
    given: tuple[str, ...] = ()
    hidden: tuple[int, ...] | None = None
    activation: str | None = None
    pseudo_inputs: str | None = None
    pseudo_inputs_mean: float | None = None
    pseudo_inputs_std: float | None = None

    def __post_init__(self):
        self.given = (self.given,) if isinstance(self.given, str) else tuple(self.given)


@dataclass
class Decoder:
    """The network from the latents (and label) to the likelihood's parameters.

    :param kind: ``mlp`` or ``conv`` (square 1- or 3-channel images: 28, 32, 64 pixels).
    :param hidden: MLP widths (default ``[200, 200]`` for mlp, none before a conv stack).
    :param activation: one of :data:`pyrovae.base.nn.ACTIVATION_CHOICES`.
    :param channels: conv only, channels per upsampling stage from the smallest grid up.
    """

    kind: str = "mlp"
    hidden: tuple[int, ...] | None = None
    activation: str = "tanh"
    channels: tuple[int, ...] | None = None


@dataclass
class Likelihood:
    """:math:`p(x \\mid z)`.

    :param kind: a key of :data:`~pyrovae.blocks.likelihoods.LIKELIHOODS`.
    :param scale: ``normal`` only: ``"learned"`` (per data value) or a fixed positive number.
    """

    kind: str = "bernoulli"
    scale: str | float = "learned"


@dataclass
class ModelSpec:
    """A latent-variable model: latent groups, a decoder, a likelihood and the conditioning.

    :param latents: the latent groups, in any order (the ``given`` links order them).
    :param decoder: see :class:`Decoder`.
    :param likelihood: see :class:`Likelihood`.
    :param conditioning: ``"none"``, or ``"label"``: a conditional model :math:`p(x \\mid y)`
        whose decoder, conditional priors and encoders also read the one-hot label.

    The weight of the KL terms (beta-VAE) is the training option ``train.beta``, not a field
    here: it changes the objective, not the model.
    """

    latents: list[Latent]
    decoder: Decoder = field(default_factory=Decoder)
    likelihood: Likelihood = field(default_factory=Likelihood)
    conditioning: str = "none"

    def __post_init__(self):
        self.graph = LatentGraph({z.name: z.dim for z in self.latents},
                                 {z.name: tuple(z.given) for z in self.latents})

    @classmethod
    def from_dict(cls, options: dict) -> ModelSpec:
        """Parse and check a ``[model]`` table's options (without ``name``).

        :raises ConfigError: naming the field and its valid choices.
        """
        fields.known_keys("model", options, [f.name for f in dataclasses.fields(cls)])
        if "latents" not in options:
            raise ConfigError('model.latents is missing: give the latent groups, e.g. '
                              'latents = [{ name = "z", dim = 50 }].')
        latents = options["latents"]
        if not isinstance(latents, list) or not latents:
            raise ConfigError(f"model.latents must be a non-empty list of tables "
                              f"[{{ name = ..., dim = ... }}, ...], got {latents!r}.")
        parsed = [_latent(f"model.latents[{i}]", z) for i, z in enumerate(latents)]
        seen = [z.name for z in parsed]
        dup = next((n for n in seen if seen.count(n) > 1), None)
        if dup is not None:
            raise ConfigError(f"model.latents: two latents are named '{dup}'; names must differ.")
        return cls(
            latents=parsed,
            decoder=_decoder(_table(options.get("decoder", {}), "kind")),
            likelihood=_likelihood(_table(options.get("likelihood", {}), "kind")),
            conditioning=fields.choice("model.conditioning", options.get("conditioning", "none"),
                                       CONDITIONING),
        )

    def to_dict(self) -> dict:
        """The ``[model]`` options (without ``name``): ``from_dict(spec.to_dict())`` equals
        ``spec``; ``None`` fields are left out."""
        def clean(obj):
            return {k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(obj).items() if v is not None and v != ()}

        likelihood = clean(self.likelihood)
        if self.likelihood.kind != "normal":  # a scale is an option of the Normal alone
            del likelihood["scale"]
        return {"latents": [clean(z) for z in self.latents], "decoder": clean(self.decoder),
                "likelihood": likelihood, "conditioning": self.conditioning}


def _table(value, key: str) -> dict:
    """``"bernoulli"`` is short for ``{ kind = "bernoulli" }``."""
    return {key: value} if isinstance(value, str) else value


def _latent(where: str, table) -> Latent:
    fields.known_keys(where, table, [f.name for f in dataclasses.fields(Latent)])
    name = fields.required(where, table, "name")
    if not isinstance(name, str) or not name.isidentifier() or name == "x":
        raise ConfigError(f"{where}.name must be an identifier other than 'x', got {name!r}.")
    dim = fields.positive_int(f"{where}.dim", fields.required(where, table, "dim"))
    given = fields.names(f"{where}.given", table.get("given", ()))
    prior = table.get("prior", "normal")
    if given:
        fields.choice(f"{where}.prior (latent '{name}' is given {', '.join(given)}, so its prior "
                      f"is a conditional Normal)", prior, CONDITIONAL_PRIORS)
    else:
        fields.choice(f"{where}.prior", prior, list(PRIORS))
        for key in ("hidden", "activation"):
            if key in table:
                raise ConfigError(f"{where}.{key} sets the network of a conditional prior, but "
                                  f"latent '{name}' is given no other latent (add given = ...).")
    components = table.get("components")
    if components is not None:
        if prior not in DEFAULT_COMPONENTS or given:
            raise ConfigError(f"{where}.components applies only to the priors "
                              f"{', '.join(DEFAULT_COMPONENTS)}; latent '{name}' has prior "
                              f"'{prior}'.")
        fields.positive_int(f"{where}.components", components)
    elif prior in DEFAULT_COMPONENTS and not given:
        components = DEFAULT_COMPONENTS[prior]
    hidden = table.get("hidden")
    activation = table.get("activation")
    if activation is not None:
        fields.choice(f"{where}.activation", activation, list(ACTIVATION_CHOICES))
    vamp = {key: table[key] for key in VAMP_OPTIONS if key in table}
    if vamp and (prior != "vamp" or given):
        raise ConfigError(f"{where}.{next(iter(vamp))} applies to a VampPrior (prior = 'vamp'); "
                          f"latent '{name}' has prior '{prior}'.")
    for key, tp in VAMP_OPTIONS.items():
        if key in vamp:
            vamp[key] = check(f"{where}.{key}", vamp[key], tp)
    return Latent(name, dim, prior, components, given,
                  None if hidden is None else fields.int_list(f"{where}.hidden", hidden),
                  activation, **vamp)


def _decoder(table) -> Decoder:
    fields.known_keys("model.decoder", table, [f.name for f in dataclasses.fields(Decoder)])
    kind = fields.choice("model.decoder.kind", table.get("kind", "mlp"), list(DECODERS))
    hidden, channels = table.get("hidden"), table.get("channels")
    if channels is not None and kind != "conv":
        raise ConfigError("model.decoder.channels applies only to decoder kind 'conv'.")
    return Decoder(
        kind,
        None if hidden is None else fields.int_list("model.decoder.hidden", hidden),
        fields.choice("model.decoder.activation", table.get("activation", "tanh"),
                      list(ACTIVATION_CHOICES)),
        None if channels is None else fields.int_list("model.decoder.channels", channels),
    )


def _likelihood(table) -> Likelihood:
    fields.known_keys("model.likelihood", table, [f.name for f in dataclasses.fields(Likelihood)])
    kind = fields.choice("model.likelihood.kind", table.get("kind", "bernoulli"),
                         list(LIKELIHOODS))
    scale = table.get("scale", "learned")
    if "scale" in table and kind != "normal":
        raise ConfigError(f"model.likelihood.scale applies only to likelihood 'normal', not "
                          f"'{kind}'.")
    numeric = isinstance(scale, (int, float)) and not isinstance(scale, bool)
    if not (scale == "learned" or (numeric and scale > 0)):
        raise ConfigError(f"model.likelihood.scale must be \"learned\" or a positive number, "
                          f"got {scale!r}.")
    return Likelihood(kind, scale)
