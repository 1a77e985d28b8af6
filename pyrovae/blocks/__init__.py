"""Building blocks of models and guides, kept in tables by name: the priors of latent groups
(:data:`PRIORS`), decoders (:data:`DECODERS`), likelihoods (:data:`LIKELIHOODS`), the guides'
encoders and posterior families (:data:`FAMILIES`), and the checks of their settings
(:mod:`pyrovae.blocks.fields`). The declarative model (:mod:`pyrovae.spec`) is assembled from
them, and so are the ``vae``, ``m2`` and ``mlp_normal`` models and guides."""

from pyrovae.blocks.decoders import DECODERS
from pyrovae.blocks.discretized_logistic import DiscretizedLogistic
from pyrovae.blocks.families import FAMILIES
from pyrovae.blocks.likelihoods import LIKELIHOODS
from pyrovae.blocks.priors import PRIORS

__all__ = ["DECODERS", "DiscretizedLogistic", "FAMILIES", "LIKELIHOODS", "PRIORS"]
