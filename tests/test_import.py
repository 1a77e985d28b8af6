"""Importing pyrovae (and its built-in models and guides) changes no global state of the process:
Pyro's settings, the random streams and Pyro's param store stay as the user left them."""

import subprocess
import sys

PROBE = """
import pyro, torch
from pyro.nn import PyroModule

settings = dict(pyro.settings.get())
rng = torch.get_rng_state()

import pyrovae
import pyrovae.models.m2, pyrovae.models.ppca, pyrovae.models.spec, pyrovae.models.vae
import pyrovae.guides.m2, pyrovae.guides.mlp_normal, pyrovae.guides.ppca, pyrovae.guides.spec_encoder

assert dict(pyro.settings.get()) == settings, (settings, pyro.settings.get())
assert torch.equal(torch.get_rng_state(), rng)
assert list(pyro.get_param_store().keys()) == []

class Users(PyroModule):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))

    def forward(self):
        return self.weight * 2

Users()()
assert "weight" in pyro.get_param_store(), "a user's PyroModule parameter left the param store"
print("ok")
"""


def test_importing_pyrovae_leaves_global_state_alone():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
