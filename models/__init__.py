"""The built-in Pyro models (installed as ``pyrovae.models``): the VAE (:mod:`.vae`), the
declarative ``spec`` model (:mod:`.spec`), probabilistic PCA with its exact log p(x)
(:mod:`.ppca`), the semi-supervised M2 (:mod:`.m2`) and Tomczak and Welling's two-level HVAE
(:mod:`.hvae`). Configs name them through :mod:`pyrovae.registry`."""
