"""
AIS against importance sampling
===============================

Importance sampling from the guide is a lower bound in expectation that tightens with K; when
the guide is poor it needs very many particles. Annealed importance sampling (AIS) moves
particles from the guide to the posterior with HMC. :func:`pyrovae.evaluate` gives both on the
same points, in the rows ``pyrovae evaluate`` writes.
"""

import tempfile

import matplotlib.pyplot as plt
import torch

import pyrovae
from pyrovae import config, run

cfg = config.from_dict({
    "seed": 0,
    "data": {"name": "sprites", "num_train": 1500, "num_valid": 200, "num_test": 200},
    "model": {"name": "vae", "latent_dim": 8, "hidden": [128], "likelihood": "bernoulli"},
    "guide": {"name": "mlp_normal", "hidden": [128]},
    "train": {"epochs": 4, "batch_size": 100, "lr": 2e-3},
})
trained = run.train(cfg, tempfile.mkdtemp(), quiet=True)  # pyrovae train, in Python
built = trained.built
test = built.data.split("test")[:40]

rows = []
for steps in (10, 40):
    torch.manual_seed(0)
    table = pyrovae.evaluate(built.model, built.guide, test, num_samples=500, ks=[1, 10, 100],
                             estimator="ais", chains=8, steps=steps, leapfrog=5)
    rows.append(table.assign(ais_steps=steps))
print(rows[-1][["estimator", "K", "steps", "mean", "stderr_of_mean"]].to_string(index=False))

# %%
# The IWAE bounds grow with K towards log p(x); AIS with more annealing steps reaches above them.
fig, ax = plt.subplots(figsize=(6, 3.5))
iwae = rows[0][rows[0]["estimator"] == "iwae"]
ax.plot(iwae["K"], iwae["mean"], "o-", label="IWAE bound (importance sampling)")
for table in rows:
    ais = table[table["estimator"] == "ais_log_px"]
    ax.axhline(float(ais["mean"].iloc[0]), linestyle="--",
               label=f"AIS, {int(table['ais_steps'].iloc[0])} steps, 8 chains")
ax.set(xscale="log", xlabel="K (particles)", ylabel="mean log p(x) (nats)")
ax.legend(fontsize=8)
