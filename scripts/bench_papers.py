"""Speed of pyrovae on the paper configs against a hand-written PyTorch loop of the same networks.

For each config (``configs/papers/`` and the zoo's mixture, VampPrior and hierarchical priors)
the script builds the model and guide, then times, back to back in one process:

- **evaluation**: ``pyrovae.log_px`` (importance sampling, ``K`` particles per point) against
  :func:`floor_log_px`, the same estimator written as plain tensor code on the same modules:
  the encoders' and decoders' layers, the densities by hand (a mixture prior as three matrix
  products and a logsumexp);
- **the particle-layout check**: what ``log_px`` spends once per call on its first batch to
  check that vectorized particles give the log weights of single particles
  (:func:`pyrovae.infer.tiles.vectorized_fault`), and its share of the timed call;
- **a training epoch**: the second epoch of ``pyrovae.fit`` with the config's ``[train]``
  options (objective, particles, optimizer, warm-up, validation ELBO; the first epoch also
  records and checks the replay, once per run) against the second of :func:`floor_epoch`: the
  same number of steps of the hand-written loss, its backward pass and the same optimizer
  class on copies of the modules, then the hand-written validation ELBO. An epoch here is
  ``--train-points`` training points (default 10,000, a fifth of binarized MNIST's) and
  ``--valid-points`` validation points (default 2,000), in the same proportion as a full one.
  With ``--set train.gradient=stl`` or ``dreg`` the hand-written loop is STL or DReG
  (:meth:`HandWritten.log_weights` with ``path``; vae and spec models).

ratio = pyrovae time / hand-written time (1.0 is the floor), the median over ``--rounds`` rounds
that each time both back to back. The last line is one JSON object.

    python scripts/bench_papers.py [--quick] [--configs a.toml,b.toml] [--points 20] \\
        [--num-samples 5000] [--train-points 50000] [--data-dir ../shared/data]

``--quick`` runs every config on 4 points, ``K = 1000`` and 2,000 training points (a few
minutes on 2 cores); ``--set KEY=VALUE`` overrides a key of every config (tiny shapes in tests).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import pyro
import torch
import torch.nn.functional as F

import pyrovae
from pyrovae import config, run
from pyrovae.base.boundary import run_main
from pyrovae.infer.modes import eval_mode
from pyrovae.infer.tiles import CHECKED_PARTICLES, tile_plan, vectorized_fault
from pyrovae.models.hvae import TwoLevelVAE
from pyrovae.blocks.priors import ConditionalNormal, LearnedNormal, MixturePrior, StandardNormal, \
    VampPrior

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    "configs/papers/burda_vae_k1.toml",
    "configs/papers/burda_iwae_k50.toml",
    "configs/papers/tomczak_vampprior.toml",
    "configs/papers/tomczak_hvae_vampprior.toml",
    "configs/papers/tomczak_hvae_paper.toml",
    "configs/zoo/gmm_prior.toml",
    "configs/zoo/vamp_prior.toml",
    "configs/zoo/iwae_two_layer.toml",
]
LOG_2PI = math.log(2 * math.pi)


def normal_log_prob(z, loc, scale):
    """Diagonal Normal log-density summed over the last dim."""
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * LOG_2PI).sum(-1)


def mixture_log_prob(z, logits, locs, scales):
    """A diagonal Gaussian mixture's log-density by three matrix products and a logsumexp."""
    precision = scales.pow(-2)
    rows = z.reshape(-1, z.shape[-1])
    quad = (rows * rows) @ precision.T - 2 * rows @ (locs * precision).T \
        + (locs * locs * precision).sum(-1)
    log_norm = torch.log_softmax(logits, -1) - scales.log().sum(-1) - 0.5 * z.shape[-1] * LOG_2PI
    return (log_norm - 0.5 * quad).logsumexp(-1).reshape(z.shape[:-1])


class _Posterior(torch.nn.Module):
    """:meth:`HandWritten.posterior` of one encoder as a module, for ``functional_call``."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, inputs):
        return HandWritten.posterior(self.encoder, inputs)


class HandWritten:
    """The log weights :math:`\\log p(x, z) - \\log q(z \\mid x)` of a built pair, written against
    its modules' layers: a ``vae`` model with an ``mlp_normal`` guide, a ``spec`` model with
    its ``spec_encoder`` guide, or an ``hvae`` model with its ``hvae_encoder`` (diagonal Normal
    posteriors, MLP decoder, Bernoulli data)."""

    def __init__(self, model, guide):
        self.model, self.guide = model, guide
        self.spec = hasattr(model, "graph")

    @staticmethod
    def normal(head, h):
        """``(loc, scale)`` of a :class:`~pyrovae.blocks.families.DiagNormal` head at ``h``."""
        loc, raw = head.linear(h).split(head.dim, -1)
        if head.scale == "softplus":
            return loc, F.softplus(raw) + 1e-5
        if head.logvar_clip is not None:
            raw = F.hardtanh(raw, *head.logvar_clip)
        return loc, torch.exp(0.5 * raw)

    @classmethod
    def posterior(cls, encoder, inputs):
        """``(loc, scale)`` of a :class:`~pyrovae.blocks.encoders.GroupEncoder` at ``inputs``."""
        return cls.normal(encoder.head, encoder.trunk(encoder.features(inputs)))

    def hvae_log_weights(self, x, particles: int, beta: float):
        """``[particles, B]`` log weights of the two-level HVAE: :math:`z_2 \\sim q(z_2 \\mid x)`,
        :math:`z_1 \\sim q(z_1 \\mid x, z_2)`, then :math:`\\log p(x \\mid z_1, z_2)` plus ``beta``
        times :math:`\\log p(z_2) + \\log p(z_1 \\mid z_2) - \\log q(z_1, z_2 \\mid x)`."""
        m, g = self.model, self.guide
        flat = x.flatten(1)
        loc2, scale2 = self.normal(g.q_z2[2], g.q_z2[1](flat))
        z2 = loc2 + scale2 * torch.randn(particles, *loc2.shape, device=x.device)
        h = torch.cat([g.x_features[1](flat).expand(particles, -1, -1), g.z2_features(z2)], -1)
        loc1, scale1 = self.normal(g.q_z1[1], g.q_z1[0](h))
        z1 = loc1 + scale1 * torch.randn_like(loc1)
        if isinstance(m.prior, VampPrior):
            locs, scales = self.normal(g.q_z2[2], g.q_z2[1](m.prior.pseudo_inputs.flatten(1)))
            prior = mixture_log_prob(z2, locs.new_zeros(len(locs)), locs, scales)
        else:
            prior = (-0.5 * z2 * z2 - 0.5 * LOG_2PI).sum(-1)
        ploc, pscale = self.normal(m.p_z1[1], m.p_z1[0](z2))
        latent = prior + normal_log_prob(z1, ploc, pscale) \
            - normal_log_prob(z2, loc2, scale2) - normal_log_prob(z1, loc1, scale1)
        logits = m.out(m.joint(torch.cat([m.from_z1(z1), m.from_z2(z2)], -1)))
        log_lik = -F.binary_cross_entropy_with_logits(
            logits, flat.expand(particles, *flat.shape), reduction="none").sum(-1)
        return log_lik + beta * latent

    def prior_log_prob(self, name, z, values):
        prior = self.model.priors[name]
        if isinstance(prior, StandardNormal):
            return (-0.5 * z * z - 0.5 * LOG_2PI).sum(-1)
        if isinstance(prior, LearnedNormal):
            return normal_log_prob(z, prior.loc, F.softplus(prior.raw_scale) + 1e-5)
        if isinstance(prior, MixturePrior):
            return mixture_log_prob(z, prior.logits, prior.locs,
                                    F.softplus(prior.raw_scales) + 1e-5)
        if isinstance(prior, VampPrior):
            locs, scales = self.posterior(self.guide.encoders[name], prior.pseudo_inputs)
            return mixture_log_prob(z, locs.new_zeros(len(locs)), locs, scales)
        if isinstance(prior, ConditionalNormal):
            parents = torch.cat([values[p] for p in self.model.graph[name].parents], -1)
            loc, raw = prior.net(parents).split(prior.dim, -1)
            return normal_log_prob(z, loc, F.softplus(raw) + 1e-5)
        raise NotImplementedError(type(prior).__name__)

    @classmethod
    def stopped_posterior(cls, encoder, inputs):
        """:meth:`posterior` with the encoder's parameters cut from the graph and the inputs
        not: :math:`q` of the STL and DReG log weights."""
        params = {f"encoder.{name}": p.detach() for name, p in encoder.named_parameters()}
        return torch.func.functional_call(_Posterior(encoder), params, (inputs,))

    def log_weights(self, x, particles: int, beta: float = 1.0, path=None):
        """``[particles, B]`` log weights (the latent terms times ``beta``) with
        reparameterized draws. ``path`` (a list) asks for the path log weights of STL and
        DReG: :math:`\\log q` at stopped guide parameters, and the model and :math:`\\log q`
        reading views of the draws whose gradient is multiplied by ``path[0]`` (``[particles,
        B]``, DReG's normalized weights, set before the backward pass) when it is set."""
        if isinstance(self.model, TwoLevelVAE):
            if path is not None:
                raise ValueError("bench_papers: the hand-written STL and DReG cover the vae "
                                 "and spec models.")
            return self.hvae_log_weights(x, particles, beta)

        def view(z):  # what the log weights read of a draw
            if path is None:
                return z
            out = z.view_as(z)
            out.register_hook(lambda g: g * path[0].unsqueeze(-1) if path else g)
            return out

        flat = x.flatten(1)
        if not self.spec:
            loc, scale = self.posterior(self.guide.encoder, x)
            eps = torch.randn(particles, *loc.shape, device=x.device)
            z = view(loc + scale * eps)
            q = normal_log_prob(z, loc, scale) if path is None else \
                normal_log_prob(z, loc.detach(), scale.detach())
            latent = (-0.5 * z * z).sum(-1) - q - 0.5 * z.shape[-1] * LOG_2PI
            logits = self.model.decoder(z)
        else:
            graph, values, read, latent = self.model.graph, {}, {}, 0.0
            for group in reversed(graph.groups):
                encoder = self.guide.encoders[group.name]
                inputs = x if group.generates_data else \
                    torch.cat([values[c] for c in group.children], -1)
                loc, scale = self.posterior(encoder, inputs)
                if group.generates_data:
                    loc, scale = loc.expand(particles, *loc.shape), scale.expand(particles,
                                                                                 *scale.shape)
                z = loc + scale * torch.randn_like(loc)
                values[group.name] = z
                read[group.name] = view(z)
                if path is None:
                    q_loc, q_scale = loc, scale
                elif group.generates_data:
                    q_loc, q_scale = loc.detach(), scale.detach()
                else:
                    q_loc, q_scale = self.stopped_posterior(
                        encoder, torch.cat([read[c] for c in group.children], -1))
                latent = latent - normal_log_prob(read[group.name], q_loc, q_scale)
            for group in graph:
                latent = latent + self.prior_log_prob(group.name, read[group.name], read)
            h = torch.cat([read[g.name] for g in graph if g.generates_data], -1)
            logits = self.model.decoder(h).reshape(*h.shape[:-1], -1)
        log_lik = -F.binary_cross_entropy_with_logits(
            logits, flat.expand(particles, *flat.shape), reduction="none").sum(-1)
        return log_lik + beta * latent


@torch.no_grad()
def floor_log_px(hand: HandWritten, x, num_samples: int) -> torch.Tensor:
    """log-mean-exp of the hand-written log weights, tile by tile (pyrovae's tile sizes)."""
    batch, chunk = tile_plan(x, num_samples, None, None)
    out = []
    for lo in range(0, x.shape[0], batch):
        xb = x[lo:lo + batch]
        running = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
        for start in range(0, num_samples, chunk):
            w = hand.log_weights(xb, min(chunk, num_samples - start)).double()
            running = torch.logaddexp(running, w.logsumexp(0))
        out.append(running - math.log(num_samples))
    return torch.cat(out)


def floor_epoch(hand: HandWritten, train_x, valid_x, t) -> float:
    """Seconds of one hand-written epoch: ``t``'s objective on shuffled batches, backward (of
    ``t.gradient``'s surrogate: STL's path ELBO, or DReG's sum of normalized weights times path
    log weights in one pass), the optimizer ``t`` names, then the one-sample validation ELBO."""
    from pyrovae.train.optim import make_optimizer

    params = [*hand.model.parameters(), *hand.guide.parameters()]
    opt = make_optimizer(params, t)
    n, b = train_x.shape[0], t.batch_size
    iwae = t.loss == "iwae"
    beta = min(1.0, 1.0 / t.kl_warmup_epochs) * t.beta if t.kl_warmup_epochs else t.beta
    start = time.perf_counter()
    for idx in torch.randperm(n, device=train_x.device).split(b):
        path = None if t.gradient == "reparam" else []
        w = hand.log_weights(train_x[idx], t.num_particles, beta, path)
        if t.gradient == "dreg":
            path.append(torch.softmax(w.detach(), 0))
            per_point = (path[0] * w).sum(0)
        else:
            per_point = w.logsumexp(0) - math.log(w.shape[0]) if iwae else w.mean(0)
        loss = -per_point.sum() * (n / len(idx))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        for lo in range(0, valid_x.shape[0], t.eval_batch_size):
            hand.log_weights(valid_x[lo:lo + t.eval_batch_size], 1).sum()
    return time.perf_counter() - start


def pyrovae_epoch(model, guide, train_x, valid_x, t, seed: int) -> float:
    """Seconds of pyrovae's second epoch (training and validation ELBO) with ``t``'s options:
    the first also records and checks the replay, once per run."""
    options = {k: v for k, v in vars(t).items() if k != "epochs"}
    result = pyrovae.fit(model, guide, train_x, valid=valid_x, epochs=2, seed=seed, **options)
    return float(result.history["seconds"].iloc[1])


def bench(path: str, args) -> dict:
    cfg = config.load(path if Path(path).is_file() else ROOT / path, args.set)
    pyro.set_rng_seed(cfg.seed)
    built = run.build(cfg, data_dir=args.data_dir, device=args.device)
    model, guide, t = built.model, built.guide, built.cfg.train
    test = built.data.split("test")
    x = test[torch.linspace(0, test.shape[0] - 1, args.points).long()]
    hand = HandWritten(model, guide)

    def timed(fn):
        sync(built.device)
        start = time.perf_counter()
        value = fn()
        sync(built.device)
        return time.perf_counter() - start, value

    pyrovae.log_px(model, guide, x[:1], num_samples=min(100, args.num_samples))  # warm-up
    floor_log_px(hand, x[:1], min(100, args.num_samples))
    evals = []
    for _ in range(args.rounds):
        t_ours, ours = timed(lambda: pyrovae.log_px(model, guide, x,
                                                    num_samples=args.num_samples))
        t_floor, floor = timed(lambda: floor_log_px(hand, x, args.num_samples))
        evals.append((t_ours, t_floor))

    train_x = built.data.split("train")[:args.train_points]
    valid_x = built.data.split("valid")[:args.valid_points]
    floor_pair = HandWritten(copy.deepcopy(model), copy.deepcopy(guide))
    epochs = []
    for _ in range(args.rounds):
        e_ours = pyrovae_epoch(model, guide, train_x, valid_x, t, cfg.seed)
        floor_epoch(floor_pair, train_x, valid_x, t)  # as pyrovae's, the second epoch is timed
        epochs.append((e_ours, floor_epoch(floor_pair, train_x, valid_x, t)))
    # the particle-layout check log_px makes once per call, on its first batch
    batch, _ = tile_plan(x, args.num_samples, None, None)
    with eval_mode(model, guide):
        t_check, fault = timed(lambda: vectorized_fault(model, guide, (x[:batch],), {},
                                                        CHECKED_PARTICLES))
    (t_ours, t_floor), eval_ratio = median_round(evals)
    (e_ours, e_floor), epoch_ratio = median_round(epochs)
    return {
        "config": path, "points": args.points, "K": args.num_samples,
        "eval_s_per_point": round(t_ours / args.points, 4),
        "floor_eval_s_per_point": round(t_floor / args.points, 4),
        "eval_ratio": round(eval_ratio, 3),
        "log_px_mean": round(float(ours.value.mean()), 3),
        "log_px_stderr": round(float(ours.stderr.pow(2).mean().sqrt() / math.sqrt(args.points)), 3),
        "floor_log_px_mean": round(float(floor.mean()), 3),
        "layout_check_s": round(t_check, 4), "layout": "vectorized" if fault is None else fault,
        "layout_check_share": round(t_check / t_ours, 5),
        "train_points": train_x.shape[0], "epoch_s": round(e_ours, 3),
        "floor_epoch_s": round(e_floor, 3), "epoch_ratio": round(epoch_ratio, 3),
        "rounds": args.rounds,
    }


def median_round(rounds):
    """The round ``(pyrovae seconds, hand-written seconds)`` of median ratio, and that ratio:
    each round times the two back to back, so a ratio is robust to the machine's drift."""
    ranked = sorted(rounds, key=lambda r: r[0] / r[1])
    middle = ranked[len(ranked) // 2]
    return middle, middle[0] / middle[1]


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", help="comma-separated config paths (default: the papers' "
                                          "and the zoo's mixture, VampPrior and hierarchical)")
    parser.add_argument("--points", type=int, help="test points scored (default 20)")
    parser.add_argument("--num-samples", type=int, help="K (default 5000)")
    parser.add_argument("--train-points", type=int, help="training points of the timed epoch "
                                                        "(default 10,000)")
    parser.add_argument("--valid-points", type=int, help="validation points (default 2,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each timing, back "
                                                                "to back; the median ratio "
                                                                "is shown (default 3)")
    parser.add_argument("--quick", action="store_true", help="4 points, K = 1000, 2,000 "
                                                             "training and 500 validation points")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of every config (repeatable)")
    parser.add_argument("--data-dir")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    quick = {"points": 4, "num_samples": 1000, "train_points": 2000, "valid_points": 500}
    full = {"points": 20, "num_samples": 5000, "train_points": 10000, "valid_points": 2000}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("points", "num_samples", "train_points", "valid_points", "rounds"):
        value = getattr(args, key)
        if value is not None and value < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1, got {value}.")
    paths = args.configs.split(",") if args.configs else CONFIGS
    rows = []
    for path in paths:
        row = bench(path, args)
        rows.append(row)
        print(f"{row['config']}: evaluation {row['eval_s_per_point']:.3f} s/point "
              f"(floor {row['floor_eval_s_per_point']:.3f}, ratio {row['eval_ratio']:.2f}); "
              f"epoch of {row['train_points']} points {row['epoch_s']:.1f} s "
              f"(floor {row['floor_epoch_s']:.1f}, ratio {row['epoch_ratio']:.2f}); layout check "
              f"{row['layout_check_s']:.3f} s ({100 * row['layout_check_share']:.2f}% of the "
              f"call)", flush=True)
    print(json.dumps({
        "threads": torch.get_num_threads(), "device": args.device,
        "eval_ratio": {r["config"]: r["eval_ratio"] for r in rows},
        "epoch_ratio": {r["config"]: r["epoch_ratio"] for r in rows},
        "layout_check_share": {r["config"]: r["layout_check_share"] for r in rows},
        "rows": rows,
    }))
    return 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("bench_papers", lambda: _main(argv))


if __name__ == "__main__":
    raise SystemExit(main())
