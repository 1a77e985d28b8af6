r"""
A beta sweep: the rate-distortion trade-off and latent traversals
=================================================================

``pyrovae sweep`` trains a grid of configs and seeds and evaluates each into one CSV (resumable:
rerun it and finished points are reused). Here the KL weight :math:`\beta` of a small VAE on the
sprites takes three values; the report's trade-off table and figure show log p(x) falling and the
KL (rate) shrinking as :math:`\beta` grows, and ``pyrovae plot`` draws a run's traversals.
"""

import tempfile
import tomllib
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from pyrovae.cli import main
from pyrovae.plots.sweep import plot_sweep

work = Path(tempfile.mkdtemp())
(work / "base.toml").write_text('''
seed = 0
[data]
name = "sprites"
num_train = 1500
num_valid = 200
num_test = 200
[model]
name = "vae"
latent_dim = 6
hidden = [128]
likelihood = "bernoulli"
[guide]
name = "mlp_normal"
hidden = [128]
[train]
epochs = 4
lr = 2e-3
''')
(work / "sweep.toml").write_text(f'''
base = "{work / 'base.toml'}"
out = "{work / 'results.csv'}"
runs_dir = "{work / 'runs'}"
seeds = [0]
[grid]
"train.beta" = [1.0, 4.0, 16.0]
[evaluate]
split = "test"
num_samples = 200
ks = [1, 200]
limit = 100
''')
main(["sweep", str(work / "sweep.toml")])

# %%
# The report: log p(x), the IWAE bound and the ELBO for each beta; then the trade-off figure:
# log p(x), the rate (KL) and the reconstruction term against beta.
main(["report", str(work / "results.csv"), "--by", "train.beta"])
figure, table = plot_sweep(work / "results.csv", by="train.beta",
                           columns="log p(x)=is_log_px,KL=is_log_px:kl,reconstruction=is_log_px:reconstruction")
plt.figure(figsize=(7, 4))
plt.imshow(Image.open(figure))
_ = plt.axis("off")

# %%
# The traversals of the beta = 16 run: each row moves one latent dimension over [-3, 3].
run_dir = next(p for p in (work / "runs").iterdir()
               if tomllib.loads((p / "config.toml").read_text())["train"]["beta"] == 16)
main(["plot", str(run_dir)])
plt.figure(figsize=(7, 5))
plt.imshow(Image.open(run_dir / "traversals.png"), cmap="gray")
_ = plt.axis("off")
