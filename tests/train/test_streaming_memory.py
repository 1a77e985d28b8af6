"""fit streams a data set larger than the memory it may use: a lazily generated IterableDataset
of 1 GiB of float32 trains for an epoch while the process's peak resident memory grows by less
than a quarter of that. Measured in a fresh process (its peak is its own)."""

import json
import math
import os
import subprocess
import sys

SCRIPT = r"""
import json, resource
import pyro, pyro.distributions as dist, torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset
import pyrovae

D, N = 1024, 1 << 18  # 2**18 points of 1024 float32: 1 GiB in all


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, D)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.net(z), 1.0).to_event(1), obs=x)


class Guide(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(D, 4)

    def forward(self, x):
        loc, raw = self.net(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


class Generated(IterableDataset):
    # blocks of 256 points made as they are read, handed out one point at a time
    def __init__(self, n):
        self.n, self.made = n, 0

    def __len__(self):
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(1)
        for _ in range(self.n // 256):
            block = torch.randn(256, D, generator=g)
            self.made += 256
            yield from block.unbind()


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


torch.manual_seed(0)
# the same training on 1/64 of the points first: imports, allocator pools and the checks' memory
pyrovae.fit(Model(), Guide(), DataLoader(Generated(N // 64), batch_size=1024), epochs=1)
before = peak_mib()
big = Generated(N)
result = pyrovae.fit(Model(), Guide(), DataLoader(big, batch_size=1024), epochs=1)
print(json.dumps({"data_mib": N * D * 4 / 2**20, "made": big.made, "before_mib": before,
                  "growth_mib": peak_mib() - before,
                  "loss": float(result.history["train_objective"].iloc[0])}))
"""


def test_a_streamed_data_set_larger_than_the_memory_bound_trains_within_it():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    bound = figures["data_mib"] / 4  # 256 MiB
    assert figures["made"] >= 1 << 18  # every point was generated (and the checks' first batch)
    assert figures["growth_mib"] < bound, figures
    assert math.isfinite(figures["loss"])
