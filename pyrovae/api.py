"""The Python API: train any Pyro model/guide pair (:func:`fit`), score it the way papers do
(:func:`evaluate`), and load a run that ``pyrovae train`` wrote (:func:`load`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import torch

from pyrovae import checks, config, evaluation, run
from pyrovae.base.device import resolve_device
from pyrovae.base.errors import ConfigError, DataError, Interrupted, TrainingError
from pyrovae.base.nn import module_of, program_device
from pyrovae.data.convert import as_tensors
from pyrovae.data.splitting import spread_rows
from pyrovae.infer import batches
from pyrovae.train import checkpoint, distributed, session
from pyrovae.train.loop import Diverged
from pyrovae.train.params import collect
from pyrovae.train.session import FitResult


def _name(program) -> str:
    owner = module_of(program)
    return type(owner).__name__ if owner is not None else getattr(program, "__name__", "model")


def _place(tensors, device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) for t in tensors)


def _source(data, what: str, batch_size: int, device) -> batches.Batches:
    """``data`` as the loop's batches: a DataLoader (or IterableDataset) streamed, anything
    else held in memory on ``device``."""
    return batches.streamed(data, batch_size, what) or \
        batches.InMemory(_place(as_tensors(data, what), device), {}, batch_size)


def _fingerprint(train: batches.Batches, valid: batches.Batches | None):
    """What tells the data of a run apart (:func:`pyrovae.train.checkpoint.data_fingerprint`
    for tensors in memory; for a streamed DataLoader, which cannot be read twice cheaply, its
    dataset's type and length)."""
    if not train.streamed and (valid is None or not valid.streamed):
        return checkpoint.data_fingerprint(train.tensors, None if valid is None else
                                           valid.tensors)
    return [{"dataset": type(s.loader.dataset).__name__, "points": s.num_data} if s.streamed
            else checkpoint.data_fingerprint(s.tensors) for s in (train, valid) if s is not None]


def _checked_callbacks(callbacks) -> tuple:
    """``callbacks`` as a tuple, each callable; a ConfigError for anything else."""
    if callable(callbacks):
        raise ConfigError("callbacks must be a list of functions; got one function: give "
                          "callbacks=[f].")
    try:
        given = tuple(callbacks)
    except TypeError:
        raise ConfigError(f"callbacks must be a list of functions; got "
                          f"{type(callbacks).__name__}.") from None
    for i, callback in enumerate(given):
        if not callable(callback):
            raise ConfigError(f"callbacks[{i}] is not callable ({type(callback).__name__}); each "
                              f"callback is a function called with the training state.")
    return given


def fit(model, guide, data, *, valid=None, epochs: int = 10, batch_size: int = 100,
        loss: str = "trace_elbo", num_particles: int = 1, optimizer: str = "adam",
        lr: float = 1e-3, beta: float = 1.0, out=None, resume: bool = False, seed: int = 0,
        device=None, callbacks=(), quiet: bool = True, **options) -> FitResult:
    """Train ``model``/``guide`` by stochastic variational inference, as ``pyrovae train``
    does (one loop, objectives, checkpoints and fast path for both).

    ``model`` and ``guide`` are Pyro programs taking the data (then any labels) and sampling in
    a ``pyro.plate("data", N)``: ``nn.Module`` s (``PyroModule`` s or plain modules), methods of
    one (``vae.model``, ``vae.guide``), or functions whose parameters live in Pyro's param store
    (``pyro.param``, ``pyro.module``). Their parameters are collected as Pyro's ``SVI`` collects
    them (:func:`pyrovae.train.params.collect`).

    :param data: the training data, held in memory: a tensor ``[N, ...]``, a tuple of
        tensors (the model's per-point arguments: data, labels, ...) or a map-style
        ``torch.utils.data.Dataset`` (its items stacked); the loop shuffles and batches them
        itself, so that a run is reproducible and resumable bit for bit. Or streamed: a
        ``DataLoader`` read batch by batch in its own order and batches (never held together;
        each batch is the model's arguments, built by your ``collate_fn``: sequences of
        different lengths with masks, packed sequences, dicts of tensors; see
        :mod:`pyrovae.infer.batches`), or an ``IterableDataset`` batched by ``batch_size``.
        Its dataset must have a length, the ``N`` that scales each batch's loss.
    :param valid: validation data in the same forms: the valid ELBO of each epoch, the best
        epoch and early stopping. None: the best epoch is the last.
    :param epochs: passes over the training data.
    :param batch_size: data points per step.
    :param loss: ``trace_elbo``, ``meanfield_elbo``, ``trace_enum_elbo`` or ``iwae``.
    :param num_particles: samples per data point (the IWAE bound's K).
    :param optimizer: ``adam``, ``clipped_adam`` or ``adam_normgrad``.
    :param lr: learning rate.
    :param beta: weight of the latent sites' terms (1 is the ELBO).
    :param options: the other ``[train]`` options of a config (``patience``, ``lr_schedule``,
        ``kl_warmup_epochs``, ``clip_norm``, ``gradient``, ...); every one is described by
        :class:`pyrovae.config.TrainConfig`.
    :param out: a run directory for ``checkpoint.pt``, ``best.pt`` and ``history.csv``
        (written after every epoch); None keeps everything in memory.
    :param resume: continue the run in ``out`` from its checkpoint (same settings; ``epochs``
        may grow).
    :param seed: seeds every random stream when training starts (the model's initial weights
        are those you built).
    :param device: where to train (``"cpu"``, ``"cuda"``, ...); the modules and the data move
        there. Default: where the model's parameters are, else the CPU.
    :param callbacks: called with the training state after each epoch; one returning True
        stops training.
    :param quiet: no progress bar and no per-epoch line.

    Launched by ``torchrun`` (``WORLD_SIZE`` > 1), every process trains its share of each batch
    in ``DistributedDataParallel`` and rank 0 writes the files; see
    :mod:`pyrovae.train.distributed`.

    :raises ConfigError: an option of the wrong type or range, a callback that is not callable,
        ``out`` already holding a run (without ``resume``).
    :raises DataError: data the model cannot take.
    :raises ModelGuideError: a guide that does not fit the model (a latent site missing or
        extra), as :func:`pyrovae.infer.log_px` would refuse it.
    :raises CheckpointError: ``resume`` with other data or settings than the run in ``out``.
    :raises TrainingError: the loss became NaN or infinite.
    :raises Interrupted: Ctrl-C; the message says how to continue.
    """
    callbacks = _checked_callbacks(callbacks)
    train_options = {"epochs": epochs, "batch_size": batch_size, "loss": loss,
                     "num_particles": num_particles, "optimizer": optimizer, "lr": lr,
                     "beta": beta, **options}
    cfg = config.from_dict({"seed": seed, "train": train_options})
    t = cfg.train
    run_dir = None if out is None else Path(out)
    has_run = run_dir is not None and session.claim_run_dir(
        run_dir, resume, what="out", continue_with="resume=True", new_with="give another out")
    if resume and not has_run:
        raise ConfigError(f"resume=True continues the run in out, but {run_dir} holds no "
                          f"checkpoint: give the out of an earlier fit, or leave resume out.")
    modules = [m for m in dict.fromkeys(map(module_of, (model, guide))) if m is not None]
    if device is not None:
        device = resolve_device(device)
        for m in modules:
            m.to(device)
    else:
        device = next((p.device for m in modules for p in m.parameters()), torch.device("cpu"))
    world = distributed.join(device)
    train = _source(data, "data", t.batch_size, device)
    valid = None if valid is None else _source(valid, "valid", t.eval_batch_size, device)
    # before the seed: reading a shuffling DataLoader's first batch draws from the RNG
    first = train.first().to(device)
    for source, split in ((train, "train"), (valid, "valid")):
        if source is not None:
            given = source.first().to(device).args if source.streamed else source.tensors
            checks.check_fits(model, _name(model), split, *given, whole=source.streamed)
    checks.check_pair(model, guide, *first.args, whole=train.streamed)
    world.set_rng_seed(cfg.seed)
    parameters = collect(model, guide, first.args)
    settings = config.decisive({"seed": cfg.seed, "train": dataclasses.asdict(t)})
    event_shape = () if train.streamed else train.x.shape[1:]  # a streamed batch's may vary
    identity = {**checkpoint.identity(settings, event_shape, parameters.shapes()),
                "data": _fingerprint(train, valid)}
    try:
        return session.train_pair(model, guide, train, valid, t, identity=identity,
                                  seed=cfg.seed, run_dir=run_dir, resume=resume, quiet=quiet,
                                  device=device, callbacks=callbacks, parameters=parameters)
    except Diverged as e:
        kept = (f"The checkpoint in {run_dir} holds epoch {e.completed}, but resuming it would "
                f"diverge again. " if run_dir is not None and e.completed else "")
        raise TrainingError(f"{e} {kept}Train again with a lower rate (e.g. lr={t.lr / 10:g}) "
                            f"or with clip_norm set.") from None
    except KeyboardInterrupt:
        where = (f"; continue with fit(..., out={str(run_dir)!r}, resume=True)"
                 if run_dir is not None and (run_dir / checkpoint.LAST_FILE).is_file() else "")
        raise Interrupted(f"interrupted{where}.") from None


def _checked_labels(labels, n: int) -> torch.Tensor:
    """``labels`` as an integer tensor of ``n`` entries; a DataError for anything else."""
    try:
        labels = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise DataError(f"labels must be a tensor of class labels; got "
                        f"{type(labels).__name__}.") from None
    if labels.dim() != 1 or len(labels) != n:
        raise DataError(f"labels must hold one class label per data point ({n}); got shape "
                        f"{tuple(labels.shape)}.")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise DataError(f"labels must be whole numbers (class labels, -1 where unknown); got "
                        f"{labels.dtype}.")
    return labels


def evaluate(model, guide, data, *, labels=None, num_samples: int = 5000, ks=None,
             seed: int = 0, batch_size: int = 100, limit: int | None = None,
             estimator: str = "is", chains: int = 16, steps: int = 100, leapfrog: int = 10,
             step_size: float = 0.05, name: str = "", quiet: bool = True) -> pd.DataFrame:
    """The rows ``pyrovae evaluate`` writes, for ``model``/``guide`` on ``data``: log p(x) by
    importance sampling with ``num_samples`` samples, the IWAE bounds for ``ks``, the ELBO,
    KL, reconstruction and active units (see :func:`pyrovae.evaluation.score`); with
    ``estimator="ais"`` also annealed importance sampling, with ``"bdmc"`` also its BDMC
    bounds (``chains``, ``steps``, ``leapfrog``, ``step_size``: see
    :class:`pyrovae.evaluation.EvalSettings`).

    :param data: a tensor ``[N, ...]``, or a tuple of tensors (data, then the model's other
        per-data-point arguments: with them, the rows estimate log p(x | y) and are named
        ``..._given_y``), a ``Dataset`` or a ``DataLoader``.
    :param labels: class labels, one per data point (-1 where unknown), for the ``accuracy``
        row of a guide with ``predict``.
    :param limit: only ``limit`` points spread evenly over the data.
    :param name: the ``run`` column.

    Launched by ``torchrun``, each process scores a share of the points and every one returns
    the rows of all of them.
    """
    settings = evaluation.EvalSettings.checked(
        str, num_samples=num_samples, ks=ks, seed=seed, batch_size=batch_size, limit=limit,
        estimator=estimator, chains=chains, steps=steps, leapfrog=leapfrog, step_size=step_size)
    distributed.join(program_device(model) or program_device(guide) or torch.device("cpu"))
    tensors = as_tensors(data, "data")
    given = (*tensors, *(() if labels is None else (_checked_labels(labels, len(tensors[0])),)))
    given, index = spread_rows(given, limit)
    tensors, labels = (given[:-1], given[-1]) if labels is not None else (given, None)
    checks.check_fits(model, _name(model), "data", *tensors)
    names = {"run": name, "model": _name(model), "guide": _name(guide), "dataset": "",
             "split": ""}
    summary, _ = evaluation.score(model, guide, tensors, names=names, labels=labels, index=index,
                                  given_y=len(tensors) > 1, settings=settings, quiet=quiet)
    return summary


def load(run_dir, *, data_dir=None, device=None, weights: str = "best") -> run.Built:
    """The run ``pyrovae train`` wrote into ``run_dir``: its config, data, and model and guide
    (in eval mode) with the weights of the best epoch, or of the last with ``weights="last"``
    (:func:`pyrovae.run.load`)."""
    return run.load(run_dir, data_dir=data_dir, device=device, weights=weights)
