"""The built-in Pyro models (installed as ``pyrovae.models``): the VAE (:mod:`.vae`), the
declarative ``spec`` model (:mod:`.spec`), probabilistic PCA with its exact log p(x)
(:mod:`.ppca`) and the semi-supervised M2 (:mod:`.m2`). Configs name them through
:mod:`pyrovae.registry`."""
