"""The declarative model, ``spec``: a model written as a TOML ``[model]`` table or a Python
:class:`ModelSpec` (latent groups with their priors, a decoder, a likelihood, a conditioning),
from which the model ``spec`` and its guide ``spec_encoder`` are assembled out of the building
blocks of :mod:`pyrovae.blocks`."""

from pyrovae.spec.graph import LatentGraph
from pyrovae.spec.schema import CONDITIONING, Decoder, Latent, Likelihood, ModelSpec

__all__ = ["CONDITIONING", "Decoder", "Latent", "LatentGraph", "Likelihood", "ModelSpec"]
