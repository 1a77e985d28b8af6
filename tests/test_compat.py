"""The fence around private torch and Pyro names: they are used in pyrovae/_compat.py only, and
a torch or Pyro version the fast path was not checked on turns it off with one line, training
with Pyro's Trace_ELBO instead of crashing or computing something else."""

import re
import warnings
from pathlib import Path

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from torch import nn

import pyrovae
from pyrovae import _compat
from pyrovae.train.fast import LeanTraceELBO
from pyrovae.train.objective import make_elbo

PACKAGE = Path(pyrovae.__file__).resolve().parent
PRIVATE = re.compile(r"torch\._C\b|torch\.utils\._|_PYRO_STACK|\._get_traces\(|"
                     r"\._guess_max_plate_nesting\(|\._vectorized_num_particles\(|"
                     r"_sum_rightmost|\._backward_hooks\b|nn\.modules import module|"
                     r"from (torch|pyro)[\w.]* import _")


def test_private_names_are_used_in_the_compat_module_only():
    found = [f"{path.relative_to(PACKAGE)}:{n}" for path in PACKAGE.rglob("*.py")
             if path.name != "_compat.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if PRIVATE.search(line) and not line.lstrip().startswith(("#", ":"))]
    assert found == []


def test_the_installed_versions_are_checked_ones():
    assert _compat.fast_path_refusal() is None
    assert isinstance(make_elbo("trace_elbo", 1), LeanTraceELBO)


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder, self.encoder = nn.Linear(2, 4), nn.Linear(4, 4)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(z), 1.0).to_event(1), obs=x)

    def guide(self, x):
        loc, raw = self.encoder(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


@pytest.mark.parametrize("fake", [("TORCH_VERSION", "9.1.0"), ("PYRO_VERSION", "1.10.0"),
                                  ("_MISSING", "torch 9.1.0 lacks torch.utils._pytree")])
def test_an_unchecked_version_turns_the_fast_path_off_with_one_line(monkeypatch, fake):
    monkeypatch.setattr(_compat, *fake)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        elbo = make_elbo("trace_elbo", 1)
        result = pyrovae.fit((pair := Pair()).model, pair.guide, torch.randn(40, 4), epochs=2,
                             batch_size=10, lr=1e-2)
    assert type(elbo) is Trace_ELBO
    lines = [str(w.message) for w in caught if "fast path is off" in str(w.message)]
    assert len(lines) == 2 and "\n" not in lines[0]  # make_elbo's, then fit's
    assert fake[1].split(" lacks")[0].split()[-1] in lines[0]
    assert result.history["train_objective"].notna().all()
