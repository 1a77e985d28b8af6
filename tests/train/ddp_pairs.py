"""What the two-process tests run in each spawned process (a module of its own, so that
``torch.multiprocessing.spawn`` can import it)."""

from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
from torch import nn

import pyrovae
from pyrovae.train import distributed

D, Z = 6, 2


class LinearGaussian(nn.Module):
    """``z ~ N(0, I)``, ``x ~ N(W z + b, I)``; called with the data and their noise ``eps``."""

    def __init__(self):
        super().__init__()
        self.decoder = nn.Linear(Z, D)

    def forward(self, x, eps):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(Z), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(z), 1.0).to_event(1), obs=x)


class NoiseGuide(nn.Module):
    """``q(z | x) = N(A x + c, diag(s)^2)``, reparameterized with the given noise ``eps`` when
    ``fixed_noise`` (so the loss is a deterministic function of the data), else sampled."""

    def __init__(self, fixed_noise: bool):
        super().__init__()
        self.encoder = nn.Linear(D, 2 * Z)
        self.fixed_noise = fixed_noise

    def forward(self, x, eps):
        loc, raw = self.encoder(x).split(Z, -1)
        q = dist.Normal(loc, nn.functional.softplus(raw)).to_event(1)
        with pyro.plate("data", x.shape[0]):
            if not self.fixed_noise:
                return pyro.sample("z", q)
            z = loc + q.base_dist.scale * eps
            return pyro.sample("z", dist.Delta(z, log_density=q.log_prob(z), event_dim=1))


def pair(fixed_noise: bool):
    torch.manual_seed(0)
    return LinearGaussian(), NoiseGuide(fixed_noise)


def data(n: int = 40):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(n, D, generator=generator), torch.randn(n, Z, generator=generator)


# Adam's step is nearly lr * sign(g); a huge epsilon makes it lr * m / eps, linear in the gradient,
# so that a wrongly scaled gradient shows.
LINEAR_ADAM = {"adam_eps": 1e6, "lr": 1e3, "replay": False}


def one_step(fixed_noise: bool = True):
    """One step on 8 points: with two processes, 4 each."""
    model, guide = pair(fixed_noise)
    result = pyrovae.fit(model, guide, tuple(t[:8] for t in data()), epochs=1, batch_size=8,
                         **LINEAR_ADAM)
    return {"params": {k: v.detach().clone() for k, v in
                       [*model.state_dict().items(), *guide.state_dict().items()]},
            "loss": result.history["train_objective"].tolist()}


def train_resume_and_straight(out: str):
    """Three epochs, resumed to five; and five straight: histories and weights."""
    out = Path(out)
    results = {}
    for name, plan in (("resumed", [(3, False), (5, True)]), ("straight", [(5, False)])):
        for epochs, resume in plan:
            model, guide = pair(fixed_noise=False)
            fit = pyrovae.fit(model, guide, data(), valid=data(12), epochs=epochs,
                              batch_size=10, out=out / name, resume=resume, seed=3, replay=False)
        results[name] = {"history": fit.history.drop(columns="seconds"),
                         "best": fit.best,
                         "files": sorted(p.name for p in (out / name).iterdir())}
    return results


def score_points():
    """The summary and per-point rows of an evaluation of 40 points, scored in shares by the
    ranks."""
    from pyrovae import evaluation

    distributed.join(torch.device("cpu"))
    model, guide = pair(fixed_noise=False)
    x, eps = data()
    names = {"run": "r", "model": "m", "guide": "g", "dataset": "d", "split": "test"}
    return evaluation.score(model, guide, (x, eps), names=names, num_samples=50,
                            ks=[1, 50], batch_size=10, quiet=True)


def run(rank: int, function: str, args, out_dir: str) -> None:
    """What each spawned rank runs: ``function(*args)``, its result saved as ``rankN.pt``."""
    torch.set_num_threads(1)
    torch.save(globals()[function](*args), Path(out_dir) / f"rank{rank}.pt")


def stall(out: str, seconds: float):
    """Rank 1 stops answering (sleeps ``seconds``, then leaves without a word); rank 0 waits at
    a barrier and writes what it raised to ``out``."""
    import os
    import time

    world = distributed.join(torch.device("cpu"))
    if world.rank == 1:
        time.sleep(seconds)
        os._exit(0)
    start = time.perf_counter()
    try:
        world.barrier()
        message = "no error"
    except Exception as e:  # noqa: BLE001 - the test reads what it was
        message = f"{type(e).__name__}: {e}"
    Path(out).write_text(f"{time.perf_counter() - start:.1f}\n{message}")
    os._exit(0)
