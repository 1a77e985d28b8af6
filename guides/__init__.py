"""Amortized Pyro guides. Importing this package registers the built-in guides."""

from guides import mlp_normal  # noqa: F401
from guides import ppca  # noqa: F401
from guides import spec_encoder  # noqa: F401
from guides import m2  # noqa: F401
