"""The built-in amortized guides (installed as ``pyrovae.guides``): the diagonal-Normal MLP
encoder (:mod:`.mlp_normal`), the encoders derived from a ``spec`` model (:mod:`.spec_encoder`),
PPCA's exact posterior (:mod:`.ppca`), M2's encoder and classifier (:mod:`.m2`) and the HVAE's
top-down encoder (:mod:`.hvae`). Configs name them through :mod:`pyrovae.registry`."""
