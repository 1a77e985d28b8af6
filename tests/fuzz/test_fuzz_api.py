"""Fuzzed arguments of pyrovae.fit, pyrovae.evaluate and pyrovae.infer.log_px on a toy pair
small enough that a valid example trains in milliseconds: each returns, or raises a typed
pyrovae error, and writes nothing outside ``out``."""

import math

import pyro
import pyro.distributions as dist
import torch
from fuzzing import snapshot, typed
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import pyrovae
from pyrovae.infer import log_px

ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                     st.lists(st.integers(-2, 5), max_size=3))


class Model(nn.Module):
    """z ~ N(0, 1), x ~ N(w z + b, 1) in 3 dimensions."""

    def __init__(self):
        super().__init__()
        self.decoder = nn.Linear(1, 3)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 1), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(z), 1.0).to_event(1), obs=x)


class Guide(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(3, 2)

    def forward(self, x):
        loc, raw = self.encoder(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


def data(n: int = 12) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(0))


@given(options=st.fixed_dictionaries({}, optional={
    "epochs": st.one_of(st.integers(-1, 3), ANYTHING),
    "batch_size": st.one_of(st.integers(-1, 20), ANYTHING),
    "lr": st.one_of(st.floats(1e-4, 1e-1), ANYTHING),
    "beta": ANYTHING, "num_particles": st.one_of(st.integers(0, 3), ANYTHING),
    "loss": st.one_of(st.sampled_from(["trace_elbo", "iwae", "trace_enum_elbo", "elbo"]),
                      ANYTHING),
    "optimizer": st.one_of(st.sampled_from(["adam", "sgd", "adamw"]), ANYTHING),
    "seed": ANYTHING, "device": st.one_of(st.sampled_from(["cpu", "mps", "cuda:3"]), ANYTHING),
    "callbacks": st.one_of(st.just([]), st.just(print), ANYTHING),
    "patience": ANYTHING, "clip_norm": ANYTHING, "kl_warmup_epochs": ANYTHING,
    "valid": st.sampled_from([None, "text", 3]),
    "out": st.sampled_from([None, "run", "notes.txt", "notes.txt/run"]),
    "resume": st.booleans(),
}))
def test_fit_returns_or_raises_a_pyrovae_error(tmp_path, options):
    (tmp_path / "notes.txt").write_text("someone's notes\n")
    for key, most in (("epochs", 3), ("num_particles", 3)):
        if isinstance(options.get(key), int) and options[key] > most:
            options[key] = most  # valid, and quick
    if options.get("out") is not None:
        options["out"] = tmp_path / options["out"]
    valid = options.pop("valid", None)
    valid = data(6) if valid is None else valid
    before = snapshot(tmp_path)
    result = typed(lambda: pyrovae.fit(Model(), Guide(), data(), valid=valid, **options))
    after = snapshot(tmp_path)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    out = options.get("out")
    assert all(out is not None and out in p.parents for p in changed), changed
    if result is not None:
        assert len(result.history) >= 1


@given(num_samples=ANYTHING, ks=ANYTHING, seed=ANYTHING, batch_size=ANYTHING, limit=ANYTHING,
       labels=st.one_of(st.none(), ANYTHING, st.integers(0, 14).map(
           lambda n: torch.zeros(n, dtype=torch.long))))
def test_evaluate_returns_or_raises_a_pyrovae_error(num_samples, ks, seed, batch_size, limit,
                                                    labels):
    settings = {k: v for k, v in dict(num_samples=num_samples, ks=ks, seed=seed,
                                      batch_size=batch_size, limit=limit).items()
                if v is not None}
    if isinstance(settings.get("num_samples"), int) and settings["num_samples"] > 200:
        settings["num_samples"] = 200  # valid, and quick
    rows = typed(lambda: pyrovae.evaluate(Model(), Guide(), data(), labels=labels, **settings))
    if rows is not None:
        assert rows["mean"].map(math.isfinite).all()


@given(num_samples=ANYTHING, ks=ANYTHING, batch_size=ANYTHING, particle_chunk=ANYTHING,
       method=st.one_of(st.sampled_from(["is", "ais"]), ANYTHING), steps=ANYTHING,
       step_size=ANYTHING, proposal=st.one_of(st.sampled_from(["guide", "prior"]), ANYTHING))
def test_log_px_returns_or_raises_a_pyrovae_error(num_samples, ks, batch_size, particle_chunk,
                                                  method, steps, step_size, proposal):
    settings = {k: v for k, v in dict(
        num_samples=num_samples, ks=ks, batch_size=batch_size, particle_chunk=particle_chunk,
        method=method, steps=steps, step_size=step_size, proposal=proposal).items()
        if v is not None}
    for key, most in (("num_samples", 64), ("steps", 5)):
        if isinstance(settings.get(key), int) and settings[key] > most:
            settings[key] = most  # valid, and quick
    if settings.get("method") != "ais":
        settings.pop("steps", None)
        settings.pop("step_size", None)
    typed(lambda: log_px(Model(), Guide(), data(), **settings))
