"""The declarative model ``spec``: latent groups, a decoder and a likelihood named in a config.

.. code-block:: toml

    [model]
    name = "spec"
    latents = [{ name = "z", dim = 50, prior = "mixture", components = 10 }]
    decoder = { kind = "mlp", hidden = [200, 200], activation = "tanh" }
    likelihood = "bernoulli"
"""

from __future__ import annotations

from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.blocks.decoders import make_decoder
from pyrovae.blocks.likelihoods import LIKELIHOODS
from pyrovae.blocks.priors import PRIORS, ConditionalNormal, VampPrior
from pyrovae.blocks.tensors import cat_features, cycled_labels, one_hot
from pyrovae.data.info import DataInfo
from pyrovae.spec.schema import CONDITIONING, ModelSpec


class SpecModel(nn.Module):
    r"""The generative model of a :class:`~pyrovae.spec.ModelSpec`:

    .. math:: p(x, z_{1:G} \mid y) = p(x \mid z_{\text{bottom}}, y)
              \prod_{g} p(z_g \mid z_{\text{parents}(g)}, y),

    one sample site per latent group in topological order, then the observed site ``x``. A top
    group has the prior its spec names; a group given others has a conditional diagonal Normal
    whose MLP reads its parents; the decoder reads the groups no other group is given. The label
    :math:`y` (one-hot) enters only with ``conditioning = "label"``, into the decoder and the
    conditional priors (a top group's prior does not read it); without given labels (prior
    samples) the labels cycle through the classes.

    :param spec: the checked spec.
    :param data: what the model knows about the data.
    """

    label_role = "input"  # a conditional model: y is an input, evaluation reports log p(x | y)

    def __init__(self, spec: ModelSpec, data: DataInfo):
        super().__init__()
        # device and dtype of prior draws without data
        self.register_buffer("anchor", torch.zeros(()), persistent=False)
        self.spec = spec
        self.graph = spec.graph
        self.event_shape = tuple(data.event_shape)
        self.num_classes = data.num_classes if spec.conditioning == "label" else 0
        self.uses_labels = self.num_classes > 0
        likelihood = LIKELIHOODS[spec.likelihood.kind]
        self.likelihood = likelihood(
            self.event_shape, **{k: getattr(spec.likelihood, k) for k in likelihood.options}
        )
        decoder = spec.decoder
        self.priors = nn.ModuleDict()
        for latent in spec.latents:
            group = self.graph[latent.name]
            if group.parents:
                self.priors[group.name] = ConditionalNormal(
                    self.graph.input_dim(group) + self.num_classes, group.dim,
                    next(h for h in (latent.hidden, decoder.hidden, (200, 200)) if h is not None),
                    latent.activation or decoder.activation,
                )
            else:
                given = {"pseudo_inputs": latent.pseudo_inputs,
                         "init_mean": latent.pseudo_inputs_mean,
                         "init_std": latent.pseudo_inputs_std} if latent.prior == "vamp" else {}
                options = {key: value for key, value in given.items() if value is not None}
                self.priors[group.name] = PRIORS[latent.prior](
                    group.dim, latent.components, self.encoder_input_shape(group.name), **options
                )
        vamp = [name for name, p in self.priors.items() if isinstance(p, VampPrior)]
        if vamp and self.num_classes:
            raise ConfigError(
                f"model.latents: the VampPrior of '{vamp[0]}' is a mixture of posteriors at "
                f"pseudo-inputs that carry no label, so it cannot be used with conditioning = "
                f"'label'. Choose another prior (normal, learned_normal, mixture) or "
                f"conditioning = 'none'."
            )
        self.decoder = make_decoder(
            decoder.kind, self.graph.data_dim + self.num_classes, self.event_shape,
            likelihood.num_params, decoder.hidden, decoder.activation, decoder.channels,
        )

    def encoder_input_shape(self, name: str) -> tuple[int, ...]:
        """Shape of one input of the guide's encoder of group ``name``: a data point for a
        group that generates the data, else the concatenated groups given it."""
        group = self.graph[name]
        return self.event_shape if group.generates_data else (self.graph.children_dim(group),)

    def label_features(self, y, n: int, like: torch.Tensor) -> torch.Tensor | None:
        """One-hot labels ``[n, C]`` (cycled when ``y`` is None), or None when unconditioned."""
        if not self.num_classes:
            return None
        y = cycled_labels(n, self.num_classes, like.device) if y is None else y
        return one_hot(y, self.num_classes, like)

    def prior_dist(self, name: str, n: int, values: dict, label, like) -> dist.Distribution:
        """:math:`p(z_g \\mid \\text{parents})` of group ``name`` given the sampled ``values``."""
        group, prior = self.graph[name], self.priors[name]
        if group.parents:
            return prior.dist(cat_features(*(values[p] for p in group.parents), label))
        return prior.dist(n, like)

    def init_output_bias(self, mean: torch.Tensor) -> None:
        """Set the decoder's output bias so that the likelihood's mean at it is ``mean``, the
        training data's mean point (``train.output_bias = "data_mean"``)."""
        if not hasattr(self.decoder, "init_output_bias"):
            raise ConfigError(f'train.output_bias = "data_mean" needs an mlp decoder; this model '
                              f'has decoder kind "{self.spec.decoder.kind}".')
        self.decoder.init_output_bias(self.likelihood.output_bias(mean))

    def forward(self, x=None, y=None, *, batch_size=None):
        n = x.shape[0] if x is not None else y.shape[0] if y is not None else batch_size
        like = x if x is not None else self.anchor
        label = self.label_features(y, n, like)
        values = {}
        with pyro.plate("data", n):
            for group in self.graph:
                values[group.name] = pyro.sample(
                    group.name, self.prior_dist(group.name, n, values, label, like)
                )
            h = cat_features(*(values[g.name] for g in self.graph if g.generates_data), label)
            return pyro.sample("x", self.likelihood(self.decoder(h)), obs=x)


def check_fits_data(spec: ModelSpec, data: DataInfo) -> None:
    """Raise :class:`ConfigError` where the spec cannot model these data."""
    likelihood = LIKELIHOODS[spec.likelihood.kind]
    if likelihood.needs_binary and not data.binary:
        fitting = [k for k, v in LIKELIHOODS.items() if not v.needs_binary]
        raise ConfigError(
            f"model.likelihood = '{spec.likelihood.kind}' needs binary data (every value 0 or 1), "
            f"but these data are not binary. Choose one of: {', '.join(fitting)} "
            f"(discretized_logistic for 8-bit images), or binarize the data (the mnist dataset "
            f"takes data.dynamic_binarize = true; binarize your own files before saving them)."
        )
    if spec.conditioning == "label" and data.num_classes == 0:
        raise ConfigError(
            "model.conditioning = 'label' needs labelled data, but this dataset has no labels. "
            "Choose one of: conditioning = 'none', or a labelled dataset (mnist, sprites)."
        )


def build(spec: ModelSpec | dict, data: DataInfo) -> SpecModel:
    """The model of ``spec`` (a :class:`ModelSpec` or its dict form) for ``data``."""
    spec = ModelSpec.from_dict(spec.to_dict() if isinstance(spec, ModelSpec) else spec)
    check_fits_data(spec, data)
    return SpecModel(spec, data)


def make_spec_model(
    data: DataInfo,
    latents: list[dict] | None = None,
    decoder: str | dict = "mlp",
    likelihood: str | dict = "bernoulli",
    conditioning: Literal[CONDITIONING] = "none",
) -> SpecModel:
    """A model declared by its latent groups, decoder, likelihood and conditioning; see
    :class:`~pyrovae.spec.ModelSpec` for the fields and their choices."""
    options = {"decoder": decoder, "likelihood": likelihood, "conditioning": conditioning}
    if latents is not None:
        options["latents"] = latents
    return build(options, data)
