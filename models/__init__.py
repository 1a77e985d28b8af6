"""Pyro model functions. Importing this package registers the built-in models."""

from models import vae  # noqa: F401
from models import ppca  # noqa: F401
from models import spec  # noqa: F401
from models import m2  # noqa: F401
