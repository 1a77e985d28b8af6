r"""
Semi-supervised M2 with few labels
==================================

Kingma et al.'s M2 model treats the class label as a latent variable where it is unknown: the
zoo's ``m2`` config keeps a class-balanced subset of the training labels (``data.num_labelled``),
and ``trace_enum_elbo`` sums the unknown labels out by enumeration. The evaluation reports
log p(x) and the test accuracy of the guide's classifier :math:`\arg\max_y q(y \mid x)`.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from pyrovae.cli import main

work = Path(tempfile.mkdtemp())
(work / "m2.toml").write_text('''
seed = 0

[data]
name = "sprites"         # 5 shapes: the labels
num_train = 2000
num_valid = 200
num_test = 500
num_labelled = 500       # 100 labels per class; the other 1500 are unknown

[model]
name = "m2"
latent_dim = 8
hidden = [128]
likelihood = "bernoulli"

[guide]
name = "m2_encoder"
hidden = [128]
classifier_hidden = [128]
classifier_weight = 50.0

[train]
epochs = 20
batch_size = 100
loss = "trace_enum_elbo"
lr = 2e-3
''')
main(["train", str(work / "m2.toml"), "--out", str(work / "run"), "--quiet"])
main(["evaluate", str(work / "run"), "--num-samples", "100", "--ks", "1,100", "--limit", "500",
      "--out", str(work / "results.csv")])

# %%
# The rows: log p(x) with the label summed out, and the classifier's accuracy on the test set
# (chance is 0.2 for the 5 shapes; this short run on few labels is well above it, and longer
# runs with more labels go further).
rows = pd.read_csv(work / "results.csv")
print(rows[["estimator", "K", "n", "mean", "stderr_of_mean"]].to_string(index=False))
history = pd.read_csv(work / "run" / "history.csv")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(history["epoch"], history["valid_elbo"], "o-")
ax.set(xlabel="epoch", ylabel="valid ELBO (nats)", title="M2 on sprites, 500 labels")
