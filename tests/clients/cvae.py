"""The conditional VAE of Pyro's ``examples/cvae``, re-typed at a small size: a baseline net
(trained first, then frozen) predicts the hidden quadrants of an image from the visible one; the
CVAE's prior net takes the input and the baseline's prediction, its recognition net the input
and the target; ``pyro.plate("data")`` without a size. The target ``ys`` holds -1 where a
pixel is an input (not to be predicted), and the likelihood scores the other pixels: masked
(``.mask(ys != -1)``, ``masked=True``: a form that broadcasts over particles) or picked out by
boolean indexing as the example writes it (``masked=False``; ``ys`` must then have -1 exactly
where ``xs`` does not)."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn


class BaselineNet(nn.Module):
    def __init__(self, hidden_1, hidden_2):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden_1)
        self.fc2 = nn.Linear(hidden_1, hidden_2)
        self.fc3 = nn.Linear(hidden_2, 784)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = x.view(-1, 784)
        hidden = self.relu(self.fc1(x))
        hidden = self.relu(self.fc2(hidden))
        return torch.sigmoid(self.fc3(hidden))


class Encoder(nn.Module):
    def __init__(self, z_dim, hidden_1, hidden_2):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden_1)
        self.fc2 = nn.Linear(hidden_1, hidden_2)
        self.fc31 = nn.Linear(hidden_2, z_dim)
        self.fc32 = nn.Linear(hidden_2, z_dim)
        self.relu = nn.ReLU()

    def forward(self, x, y):
        # the input and the (predicted or true) rest in one image
        xc = x.clone()
        xc[x == -1] = y[x == -1]
        xc = xc.view(-1, 784)
        hidden = self.relu(self.fc1(xc))
        hidden = self.relu(self.fc2(hidden))
        return self.fc31(hidden), torch.exp(self.fc32(hidden))


class Decoder(nn.Module):
    def __init__(self, z_dim, hidden_1, hidden_2):
        super().__init__()
        self.fc1 = nn.Linear(z_dim, hidden_1)
        self.fc2 = nn.Linear(hidden_1, hidden_2)
        self.fc3 = nn.Linear(hidden_2, 784)
        self.relu = nn.ReLU()

    def forward(self, z):
        y = self.relu(self.fc1(z))
        y = self.relu(self.fc2(y))
        return torch.sigmoid(self.fc3(y))


class CVAE(nn.Module):
    def __init__(self, z_dim, hidden_1, hidden_2, pre_trained_baseline_net, masked=True):
        super().__init__()
        self.masked = masked
        self.baseline_net = pre_trained_baseline_net
        self.prior_net = Encoder(z_dim, hidden_1, hidden_2)
        self.generation_net = Decoder(z_dim, hidden_1, hidden_2)
        self.recognition_net = Encoder(z_dim, hidden_1, hidden_2)

    def model(self, xs, ys=None):
        pyro.module("generation_net", self)
        batch_size = xs.shape[0]
        with pyro.plate("data"):
            with torch.no_grad():  # the baseline is not trained further
                y_hat = self.baseline_net(xs).view(xs.shape)
            prior_loc, prior_scale = self.prior_net(xs, y_hat)
            zs = pyro.sample("z", dist.Normal(prior_loc, prior_scale).to_event(1))
            loc = self.generation_net(zs)
            if ys is not None and self.masked:
                pyro.sample("y", dist.Bernoulli(loc, validate_args=False).mask(ys != -1)
                            .to_event(1), obs=ys)
            elif ys is not None:  # the example's own form: the predicted pixels picked out
                mask_loc = loc[(xs == -1).view(-1, 784)].view(batch_size, -1)
                mask_ys = ys[xs == -1].view(batch_size, -1)
                pyro.sample("y", dist.Bernoulli(mask_loc).to_event(1), obs=mask_ys)
            else:
                pyro.deterministic("y", loc.detach())
            return loc

    def guide(self, xs, ys=None):
        with pyro.plate("data"):
            if ys is None:
                y_hat = self.baseline_net(xs).view(xs.shape)
                loc, scale = self.prior_net(xs, y_hat)
            else:
                loc, scale = self.recognition_net(xs, ys)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))


def quadrant_data(images):
    """``(inputs, targets)`` of ``[N, 784]`` images: the input shows the bottom-left quadrant
    (-1 elsewhere), the target the other three (-1 on the input's quadrant)."""
    images = images.reshape(-1, 28, 28)
    targets = images.clone()
    targets[:, 14:, :14] = -1
    inputs = images.clone()
    inputs[targets != -1] = -1
    return inputs.reshape(-1, 784), targets.reshape(-1, 784)


def train_baseline(net, inputs, targets, steps=30, lr=1e-2):
    """A few Adam steps of the example's masked binary cross-entropy."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    mask = targets != -1
    for _ in range(steps):
        optimizer.zero_grad()
        pred = net(inputs)
        loss = nn.functional.binary_cross_entropy(pred[mask], targets[mask])
        loss.backward()
        optimizer.step()
    return net
