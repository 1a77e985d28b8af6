"""Declarative latent-variable models: a spec (latent groups with their priors, a decoder, a
likelihood, a conditioning) from which the model ``spec`` and its guide ``spec_encoder`` are
built, out of small parts kept in tables: :data:`PRIORS`, :data:`DECODERS`,
:data:`LIKELIHOODS` and the guide's posterior :data:`FAMILIES`."""

from pyrovae.spec.decoders import DECODERS
from pyrovae.spec.discretized_logistic import DiscretizedLogistic
from pyrovae.spec.families import FAMILIES
from pyrovae.spec.graph import LatentGraph
from pyrovae.spec.likelihoods import LIKELIHOODS
from pyrovae.spec.priors import PRIORS
from pyrovae.spec.schema import CONDITIONING, Decoder, Latent, Likelihood, ModelSpec

__all__ = [
    "CONDITIONING",
    "DECODERS",
    "Decoder",
    "DiscretizedLogistic",
    "FAMILIES",
    "LIKELIHOODS",
    "Latent",
    "LatentGraph",
    "Likelihood",
    "ModelSpec",
    "PRIORS",
]
