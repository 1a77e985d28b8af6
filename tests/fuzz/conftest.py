"""Hypothesis profiles of the fuzz tests: ``ci`` (the default: few examples, derandomized, so
that a run is seeded and repeats) and ``long`` (many random examples, run by hand:
``PYROVAE_FUZZ=long python -m pytest tests/fuzz``; ``PYROVAE_FUZZ_EXAMPLES`` sets how many)."""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps caches in a folder of its own: outside the checkout, which tests leave as it is.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "pyrovae-hypothesis")

# The tests reuse one temporary folder per test across examples (restored after each), and
# some examples build a model: neither is a problem here.
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=25, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("PYROVAE_FUZZ_EXAMPLES", 500)),
                          **_COMMON)
settings.load_profile(os.environ.get("PYROVAE_FUZZ", "ci"))
