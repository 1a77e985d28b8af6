"""Evaluating a trained run: importance-sampled log p(x), IWAE bounds, ELBO, rate/distortion and
active units on a data split, and on request annealed importance sampling (AIS) and BDMC bounds,
as tidy rows (one per estimator, K and annealing steps)."""

from __future__ import annotations

import dataclasses
import math
import time

import pandas as pd
import torch
from tqdm.auto import tqdm

from pyrovae import checks, run
from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import program_device
from pyrovae.base.options import PositiveFloat, PositiveInt, Seed, check, choice
from pyrovae.base.protocols import Classifier
from pyrovae.base.versions import versions
from pyrovae.infer import LogPxResult, active_units, bdmc, log_px, rate_distortion, rng
from pyrovae.infer.modes import in_eval_mode
from pyrovae.results import SUMMARY_COLUMNS
from pyrovae.train import distributed

#: The particle counts K of an evaluation's rows unless told otherwise.
DEFAULT_KS = (1, 10, 100, 1000, 5000)
#: What ``estimator`` may name: importance sampling alone, or with AIS rows, or with AIS and
#: BDMC rows.
ESTIMATORS = ("is", "ais", "bdmc")


def cli_option(name: str) -> str:
    """The command-line spelling of a setting of :func:`evaluate`: ``num_samples`` ->
    ``--num-samples``."""
    return "--" + name.replace("_", "-")


def check_settings(*, num_samples, ks=None, seed=0, batch_size=100, limit=None, estimator="is",
                   chains=16, steps=100, leapfrog=10, step_size=0.05,
                   option=cli_option) -> list[int]:
    """The sorted distinct IWAE sizes ``ks`` (default: those of :data:`DEFAULT_KS` up to
    ``num_samples``), once every setting of :func:`evaluate` is checked.

    :param option: how a setting is named in messages (default: as on the command line).
    :raises ConfigError: naming the first setting out of its range, and the range.
    """
    check(option("num_samples"), num_samples, PositiveInt)
    check(option("seed"), seed, Seed)
    check(option("batch_size"), batch_size, PositiveInt)
    check(option("limit"), limit, PositiveInt | None)
    choice(option("estimator"), estimator, ESTIMATORS)
    for name, value in (("chains", chains), ("steps", steps), ("leapfrog", leapfrog)):
        check(option(name), value, PositiveInt)
    check(option("step_size"), step_size, PositiveFloat)
    if ks is None:
        return [k for k in DEFAULT_KS if k <= num_samples]
    ks = list(ks) if isinstance(ks, (tuple, range)) else ks
    ks = sorted(set(check(option("ks"), ks, list[PositiveInt])))
    if ks and ks[-1] > num_samples:
        raise ConfigError(f"{option('ks')} {[k for k in ks if k > num_samples]} must lie in "
                          f"1..{num_samples} ({option('num_samples')}): the IWAE bounds are "
                          f"computed from the same {num_samples} samples.")
    return ks


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """How the points of an evaluation are scored: one checked value for every way in (``pyrovae
    evaluate``, :func:`pyrovae.evaluate`, a sweep's ``[evaluate]`` table, :func:`score`).

    :param num_samples: K of the importance-sampled log p(x).
    :param ks: IWAE bounds reported from the same samples (sorted, distinct, each at most K;
        None: those of :data:`DEFAULT_KS` up to K).
    :param seed: seed of every draw of the evaluation.
    :param batch_size: data points per estimator call.
    :param limit: evaluate this many points spread evenly over the split (None: all).
    :param estimator: ``"is"`` (importance sampling rows), ``"ais"`` (and annealed importance
        sampling) or ``"bdmc"`` (and BDMC bounds on data simulated from the model).
    :param chains, steps, leapfrog, step_size: AIS and BDMC: chains per point, annealing steps,
        leapfrog steps per HMC transition, initial step size.
    :raises ConfigError: a setting out of its range (:func:`check_settings`), named as the
        command line spells it; :meth:`checked` names them otherwise.
    """

    num_samples: int = 5000
    ks: tuple[int, ...] | None = None
    seed: int = 0
    batch_size: int = 100
    limit: int | None = None
    estimator: str = "is"
    chains: int = 16
    steps: int = 100
    leapfrog: int = 10
    step_size: float = 0.05

    def __post_init__(self):
        object.__setattr__(self, "ks", tuple(check_settings(**dataclasses.asdict(self))))

    @classmethod
    def checked(cls, option=cli_option, **values) -> EvalSettings:
        """Settings from ``values`` (the others at their defaults), each checked and named in a
        message by ``option(name)``: ``str`` for the Python API, ``"evaluate.<name>"`` in a
        sweep file."""
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        check_settings(**{**defaults, **values}, option=option)
        return cls(**values)

    @property
    def annealing(self) -> dict:
        """The AIS settings, as :func:`~pyrovae.infer.log_px` takes them."""
        return {"steps": self.steps, "leapfrog": self.leapfrog, "step_size": self.step_size}

    def estimators(self) -> list[tuple[str, int]]:
        """The ``(estimator, K)`` of the rows one evaluation of a split writes, in row order
        (without ``accuracy``, which a classifying guide adds)."""
        rows = [("is_log_px", self.num_samples), *(("iwae", k) for k in self.ks), ("elbo", 1)]
        if self.estimator != "is":
            rows.append(("ais_log_px", self.chains))
        if self.estimator == "bdmc":
            rows += [("bdmc_lower", self.chains), ("bdmc_upper", self.chains)]
        return rows


def _settings(settings: EvalSettings | None, values: dict) -> EvalSettings:
    """``settings``, or the settings of the keywords ``values`` (not both)."""
    if settings is not None and values:
        raise TypeError(f"give settings or its fields ({', '.join(values)}), not both.")
    return settings or EvalSettings(**values)


def _mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    values = values.double()
    n = values.numel()
    return float(values.mean()), float(values.std() / math.sqrt(n)) if n > 1 else math.nan


def evaluate(built: run.Built, run_name: str, *, split: str = "test",
             settings: EvalSettings | None = None, quiet: bool = False,
             **values) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate a built run on ``split``; returns (summary rows, per-data-point rows) of
    :func:`score`.

    A conditional model (label role ``"input"``, e.g. a CVAE) is given the labels, so its rows
    estimate :math:`\\log p(x \\mid y)`: they are named ``is_log_px_given_y``, ``iwae_given_y``
    and ``elbo_given_y`` (per data point: ``log_px_given_y``). A model that observes labels
    (role ``"observed"``, e.g. M2) is not given them: its rows estimate :math:`\\log p(x)`.
    A run trained with dynamic binarization is scored on one Bernoulli draw of the split's
    grayscale images, seeded with the settings' ``seed``.

    :param settings: how to score (:class:`EvalSettings`); or its fields as keywords. Its
        ``limit`` evaluates only that many data points spread evenly over the split
        (:meth:`~pyrovae.data.Dataset.subset`); the per-point ``index`` column says which.
    :raises ConfigError: a setting is out of range.
    """
    settings = _settings(settings, values)
    limit, seed = settings.limit, settings.seed
    data, index = built.data.subset(split, limit)
    built = dataclasses.replace(built, data=data)
    tensors = built.tensors(split, marginal=True)
    if built.data.dynamic_binarize:  # trained on Bernoulli draws: score one fixed draw
        tensors = (run.binarized_once(tensors[0], seed), *tensors[1:])
    checks.check_fits(built.model, built.cfg.model["name"], split, *tensors,
                      dataset=built.data.name)
    names = {"run": run_name, "model": built.cfg.model["name"], "guide": built.cfg.guide["name"],
             "dataset": built.cfg.data["name"], "split": split, "weights": built.weights}
    return score(built.model, built.guide, tensors, names=names, labels=data.labels.get(split),
                 index=index, given_y=built.label_role == "input", settings=settings,
                 quiet=quiet)


def _annealed(model, guide, tensors, settings: EvalSettings, seed, device, quiet):
    """AIS log p(x) of every point (:func:`~pyrovae.infer.log_px`, ``method="ais"``), batch by
    batch, seeded with ``rng.tile_seed(seed, 1)`` (importance sampling's particles come from
    ``seed``: the chains' starting states must not coincide with them)."""
    n, parts, batch_size = tensors[0].shape[0], [], settings.batch_size
    with rng.seeded(rng.tile_seed(seed, 1), device), tqdm(total=n, desc=f"AIS, {settings.steps} steps",
                                        unit="point", disable=True if quiet else None) as bar:
        for lo in range(0, n, batch_size):
            batch = tuple(t[lo:lo + batch_size] for t in tensors)
            parts.append(log_px(model, guide, *batch, method="ais", num_samples=settings.chains,
                                **settings.annealing))
            bar.update(batch[0].shape[0])
    return LogPxResult(**{k: torch.cat([getattr(p, k) for p in parts])
                          for k in ("value", "stderr", "ess", "elbo", "khat", "acceptance")},
                       num_samples=settings.chains, proposal="guide", method="ais",
                       steps=settings.steps)


@in_eval_mode
def score(model, guide, tensors, *, names: dict, labels=None, index=None, given_y: bool = False,
          settings: EvalSettings | None = None, quiet: bool = False,
          **values) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``pyrovae evaluate`` for ``model``/``guide`` on ``tensors`` (the data, then
    the model's other per-data-point arguments): (summary rows, per-data-point rows).

    Summary rows: ``is_log_px`` (the importance-sampled estimate of log p(x) with K =
    ``settings.num_samples``), ``iwae`` for each k in ``settings.ks`` (the IWAE bound with k samples, from the
    same particles) and ``elbo`` (K = 1, averaged over the particles); ``mean`` and
    ``stderr_of_mean`` are over the data points; ``kl`` and ``reconstruction`` are the mean rate
    :math:`E_q[\\log q(z|x) - \\log p(z)]` and :math:`E_q[\\log p(x|z)]`. When the guide has
    ``predict(x)`` (a classifier) and ``labels`` are given, a row ``accuracy`` (K = 1: one
    prediction per point) gives the fraction of labelled points it predicts right, with the
    binomial standard error. The ``particles`` column says where importance sampling ran its
    particles: the layout :func:`~pyrovae.infer.importance.log_px` chose on the first batch,
    which the other batches keep.

    With ``settings.estimator="ais"`` a row ``ais_log_px`` adds the AIS estimate of log p(x) (``K`` its
    chains, ``steps`` its annealing steps; per data point: ``ais_log_px``, ``ais_stderr``,
    ``ais_ess``, ``acceptance``); with ``"bdmc"`` rows ``bdmc_lower`` and ``bdmc_upper`` follow
    it, the mean forward and reverse AIS bounds on as many points simulated from the model
    (:func:`~pyrovae.infer.bdmc_bounds`), whose gap bounds the error of AIS with these settings. The
    ``steps`` column is empty on the other rows.

    :param names: the ``run``, ``model``, ``guide``, ``dataset`` and ``split`` columns, and
        ``weights`` (which of a run's checkpoints was loaded, :data:`pyrovae.run.WEIGHTS`;
        empty if absent).
    :param labels: class labels of the points (-1 where unknown), for ``accuracy``.
    :param index: the points' indices in their split (the per-point ``index`` column).
    :param given_y: the model's extra arguments condition it (a CVAE's labels): the rows
        estimate :math:`\\log p(x \\mid y)` and carry the suffix ``_given_y``.
    :param settings: how to score (:class:`EvalSettings`; its ``limit`` is the caller's), or
        its fields as keywords.
    :param quiet: no progress bar (there is none either when stderr is not a terminal).

    Under ``torchrun`` (several processes, :mod:`pyrovae.train.distributed`) each rank scores a
    contiguous share of the points with draws of its own (rank 0's are those of one process)
    and every rank returns the rows of all points. The modules of model and guide run in eval
    mode (:func:`~pyrovae.infer.modes.in_eval_mode`).
    """
    settings = _settings(settings, values)
    if settings.estimator == "bdmc" and len(tensors) > 1:
        raise ConfigError("--estimator bdmc simulates data from the model alone, and this model "
                          "takes other arguments (labels) too: use --estimator ais.")
    suffix = "_given_y" if given_y else ""
    device = program_device(model) or program_device(guide) or tensors[0].device
    full = tuple(t.to(device) for t in tensors)
    labels = None if labels is None else labels.to(device)
    n_all = full[0].shape[0]
    world = distributed.current()
    # this rank scores its share of the points (all of them in one process), with its own draws
    mine = world.shard(torch.arange(n_all, device=device))
    tensors = tuple(t[mine] for t in full)
    labels = None if labels is None else labels[mine]
    index = mine.cpu() if index is None else torch.as_tensor(index)[mine.cpu()]
    seed = world.rank_seed(settings.seed)
    start = time.perf_counter()
    found = _importance(model, guide, tensors, full, settings, seed, device, quiet, world)
    estimates = _importance_estimates(found, settings.ks, settings.num_samples, suffix)
    annealed = None
    if settings.estimator != "is":
        annealed = _annealed(model, guide, tensors, settings, seed, device, quiet)
        estimates.append((f"ais_log_px{suffix}", settings.chains, annealed.value, settings.steps))
    if settings.estimator == "bdmc":
        estimates += _bdmc_estimates(model, guide, tensors[0].shape[0], settings, seed, device,
                                     quiet)
    seconds = time.perf_counter() - start
    predictions = _predictions(guide, tensors[0], labels, settings.batch_size)
    if predictions is not None:
        known = labels >= 0
        estimates.append(("accuracy", 1, (predictions[known] == labels[known]).double()))
    common = {
        "device": str(device), "weights": "", **names, "seed": settings.seed, "n": n_all,
        "kl": float(world.gathered(found.rate).double().mean()),
        "reconstruction": float(world.gathered(found.recon).double().mean()),
        "active_units": math.nan if found.units.count is None else
        world.from_main(found.units.count),
        "seconds": max(world.gather(seconds)),
        "particles": ",".join(sorted({p.layout for p in found.parts})),
        **versions(),
    }
    summary = _summary_rows([(name, k, world.gathered(v), *rest)
                             for name, k, v, *rest in estimates], common)
    per_point = _per_point_rows(found, index, labels, predictions, annealed, suffix, common,
                                settings.num_samples)
    return summary, pd.concat(world.gather(per_point), ignore_index=True)


@dataclasses.dataclass
class _Importance:
    """Importance sampling on this rank's points: each batch's :class:`LogPxResult` (``parts``),
    the rate and reconstruction per point, and the active units (of all points)."""

    parts: list[LogPxResult]
    rate: torch.Tensor
    recon: torch.Tensor
    units: object


def _importance(model, guide, tensors, full, settings: EvalSettings, seed, device, quiet,
                world) -> _Importance:
    """:func:`~pyrovae.infer.log_px` and :func:`~pyrovae.infer.rate_distortion` batch by batch,
    every draw from ``seed`` (the caller's random streams are left as they were); the first
    batch chooses the particle layout (``log_px`` checks it) and the others keep it."""
    n, size = tensors[0].shape[0], settings.batch_size
    parts, rates = [], []
    with rng.seeded(seed, device), tqdm(total=n, desc=f"log p(x), K={settings.num_samples}",
                                        unit="point",
                                        disable=True if quiet or not world.main else None) as bar:
        for lo in range(0, n, size):
            batch = tuple(t[lo:lo + size] for t in tensors)
            layout = parts[0].layout if parts else None
            parts.append(log_px(model, guide, *batch, num_samples=settings.num_samples,
                                ks=settings.ks, particles=layout))
            rates.append(rate_distortion(model, guide, *batch,
                                         num_samples=min(settings.num_samples, 100),
                                         particles=parts[0].layout,
                                         data_plate=parts[0].data_plate))
            bar.update(batch[0].shape[0])
        units = active_units(guide, *full, data_plate=parts[0].data_plate)  # on each rank alike
    return _Importance(parts, torch.cat([r.rate for r in rates]),
                       -torch.cat([r.distortion for r in rates]), units)


def _importance_estimates(found: _Importance, ks, num_samples: int, suffix: str) -> list[tuple]:
    """The ``(estimator, K, per-point values)`` of importance sampling: log p(x), the IWAE bound
    for each k, the ELBO."""
    parts = found.parts
    return [(f"is_log_px{suffix}", num_samples, torch.cat([p.value for p in parts])),
            *((f"iwae{suffix}", k, torch.cat([p.iwae[k] for p in parts])) for k in ks),
            (f"elbo{suffix}", 1, torch.cat([p.elbo for p in parts]))]


def _bdmc_estimates(model, guide, n: int, settings: EvalSettings, seed, device,
                    quiet) -> list[tuple]:
    """The BDMC bounds on ``n`` points simulated from the model (as many as this rank scores),
    seeded with ``rng.tile_seed(seed, 2)``, as ``(estimator, chains, values, steps)``."""
    with rng.seeded(rng.tile_seed(seed, 2), device):
        bounds = bdmc(model, guide, n, num_chains=settings.chains, **settings.annealing,
                      batch_size=settings.batch_size, progress=not quiet)
    return [("bdmc_lower", settings.chains, bounds.lower, settings.steps),
            ("bdmc_upper", settings.chains, bounds.upper, settings.steps)]


def _predictions(guide, x: torch.Tensor, labels, batch_size: int) -> torch.Tensor | None:
    """The guide's class predictions of ``x`` when it is a classifier and labels are given."""
    if not isinstance(guide, Classifier) or labels is None:
        return None
    return torch.cat([guide.predict(x[lo:lo + batch_size]) for lo in range(0, len(x), batch_size)])


def _summary_rows(estimates: list[tuple], common: dict) -> pd.DataFrame:
    """One summary row per ``(estimator, K, values[, steps])``: the mean of the values over the
    points and its standard error, beside the ``common`` columns."""
    rows = []
    for name, k, values, *steps in estimates:
        mean, stderr = _mean_and_stderr(values)
        rows.append({**common, "estimator": name, "K": k, "steps": steps[0] if steps else None,
                     "n": values.numel(), "mean": mean, "stderr_of_mean": stderr})
    summary = pd.DataFrame(rows)
    summary["steps"] = summary["steps"].astype("Int64")
    return summary[SUMMARY_COLUMNS]


def _per_point_rows(found: _Importance, index, labels, predictions, annealed, suffix: str,
                    common: dict, num_samples: int) -> pd.DataFrame:
    """This rank's per-point rows: index, label and prediction, importance sampling's columns,
    AIS's, the rate and reconstruction, and the run's seed, split and name."""
    per_point = pd.concat([p.to_frame() for p in found.parts], ignore_index=True)
    per_point.insert(0, "index", index.tolist())
    per_point = per_point.rename(columns={"log_px": f"log_px{suffix}"})
    if labels is not None:
        per_point.insert(1, "label", labels.cpu().numpy())
    if predictions is not None:
        per_point.insert(2, "prediction", predictions.cpu().numpy())
    if annealed is not None:
        per_point[f"ais_log_px{suffix}"] = annealed.value.cpu().numpy()
        per_point["ais_stderr"] = annealed.stderr.cpu().numpy()
        per_point["ais_ess"] = annealed.ess.cpu().numpy()
        per_point["acceptance"] = annealed.acceptance.cpu().numpy()
    per_point["kl"] = found.rate.cpu().numpy()
    per_point["reconstruction"] = found.recon.cpu().numpy()
    for key in ("seed", "split", "run"):
        per_point.insert(0, key, common[key])
    per_point["K"] = num_samples
    return per_point
