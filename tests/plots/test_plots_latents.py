import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from pyrovae.plots.grids import pick_pairs, traversal_dims
from pyrovae.plots.latents import decode, posterior_means
from pyrovae.plots.scatter import pca2

W = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])  # x = W z1, D = 2, d1 = 3


class Hierarchy(PyroModule):
    """z2 ~ N(0, I_2); z1 | z2 ~ N(A z2 + 1, I_3); x | z1 ~ N(W z1, 0.1)."""

    def __init__(self):
        super().__init__()
        self.A = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])

    def forward(self, x=None, *, batch_size=None):
        n = x.shape[0] if x is not None else batch_size
        with pyro.plate("data", n):
            z2 = pyro.sample("z2", dist.Normal(torch.zeros(n, 2), 1.0).to_event(1))
            z1 = pyro.sample("z1", dist.Normal(z2 @ self.A.T + 1, 1.0).to_event(1))
            return pyro.sample("x", dist.Normal(z1 @ W.T, 0.1).to_event(1), obs=x)


class Guide(PyroModule):
    """q(z1 | x) = N(x_0 + x_1, 1) in every coordinate, then q(z2 | z1) = N(z1[:2], 1)."""

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0]):
            loc = (x[:, :1] + x[:, 1:]).expand(-1, 3)
            z1 = pyro.sample("z1", dist.Normal(loc, 1.0).to_event(1))
            pyro.sample("z2", dist.Normal(z1[:, :2], 1.0).to_event(1))


def test_posterior_means_use_the_guides_first_latent_site():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    site, means = posterior_means(Guide(), x)
    assert site == "z1"
    assert torch.allclose(means, torch.tensor([[3.0] * 3, [-1.0] * 3]))


def test_decode_sets_the_site_and_puts_other_latents_at_their_prior_means():
    model, like = Hierarchy(), torch.zeros(2, 2)
    z1 = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(decode(model, "z1", z1, like=like), z1 @ W.T)
    z2 = torch.tensor([[1.0, -1.0]])
    # z1 takes its conditional mean A z2 + 1 given the set z2
    assert torch.allclose(decode(model, "z2", z2, like=like), (z2 @ model.A.T + 1) @ W.T)


def test_pca2_recovers_a_plane():
    gen = torch.Generator().manual_seed(0)
    coords = torch.randn(200, 2, generator=gen) * torch.tensor([3.0, 1.0])
    basis = torch.linalg.qr(torch.randn(5, 2, generator=gen))[0]
    xy, share = pca2(coords @ basis.T + 7.0)
    assert abs(sum(share) - 1) < 1e-9 and share[0] > share[1]
    # distances within the plane are kept
    assert torch.allclose(torch.cdist(xy, xy), torch.cdist(coords.double(), coords.double()),
                          atol=1e-6)


def test_traversal_dims_and_pairs():
    means = torch.zeros(10, 40)
    means[:, 7] = torch.arange(10.0)
    dims = traversal_dims(means, max_rows=32)
    assert len(dims) == 32 and dims[0] == 7
    assert traversal_dims(torch.zeros(5, 3)).tolist() == [0, 1, 2]
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    pairs = pick_pairs(labels, 8, 4)
    assert len(pairs) == 4 and all(labels[a] != labels[b] for a, b in pairs)
    assert pick_pairs(labels, 8, 4) == [(0, 4), (2, 6), (4, 0), (6, 2)]
    assert pick_pairs(None, 3, 4) == [(0, 1)] and pick_pairs(None, 1, 4) == []


def test_factor_labels_name_the_factor_each_dimension_captures_best():
    from pyrovae.data import load_dataset
    from pyrovae.plots.grids import factor_labels

    data = load_dataset("sprites", seed=0, num_train=10, num_valid=10, num_test=400)
    classes = data.factor_classes("test").double()
    noise = torch.randn(400, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    means = torch.cat([classes[:, [3]], noise, -2 * classes[:, [1]]], 1)
    labels = factor_labels(means, data, "test", torch.tensor([2, 0, 1]), site="z")
    assert labels[0] == "z[2] ~ scale (1.00)" and labels[1] == "z[0] ~ pos_x (1.00)"
    assert labels[2].startswith("z[1] ~ ") and float(labels[2][-5:-1]) < 0.1
    data.factor_table = ()
    assert factor_labels(means, data, "test", torch.tensor([0])) is None


def test_row_labels_go_in_a_margin_left_of_the_grid(tmp_path):
    from PIL import Image

    from pyrovae.pictures import save_png

    images = torch.ones(6, 1, 28, 28)
    save_png(images, tmp_path / "plain.png", nrow=3)
    save_png(images, tmp_path / "labelled.png", nrow=3, row_labels=["first", "second row"])
    with Image.open(tmp_path / "plain.png") as plain, Image.open(tmp_path / "labelled.png") as out:
        margin = out.size[0] - plain.size[0]
        assert out.size[1] == plain.size[1] and margin > 20
        pixels = np.asarray(out)
        assert (pixels[:, :margin] < 128).any()  # text
        assert np.array_equal(pixels[:, margin:], np.asarray(plain))
