"""Training in several processes with :mod:`torch.distributed`, as ``torchrun`` launches them.

Under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE`` > 1 in the environment) every process
joins one process group (``gloo`` on CPU, ``nccl`` on CUDA) and trains a copy of the pair:

- each epoch, every rank draws the same permutation of the training data from a generator seeded
  by the run's seed and the epoch, cuts it into global batches of ``batch_size`` points (a last
  batch smaller than the number of ranks joins the one before it), and takes its contiguous share
  of each (:func:`global_batches`, :meth:`ProcessGroup.shard`);
- rank :math:`r`'s loss on its :math:`b_r` points of a global batch of :math:`B` is
  :math:`\\frac{W N}{B} \\sum_{i \\in r} \\ell_i`, so the mean of the ranks' gradients, which
  ``DistributedDataParallel`` computes, is :math:`\\frac{N}{B} \\sum_i \\nabla \\ell_i`, the
  gradient of the global batch;
- every rank draws its own noise (:meth:`World.set_rng_seed` mixes the rank into the seed; rank 0 draws
  what a one-process run draws);
- the valid ELBO is summed over the ranks' shards of the validation set, so every rank holds the
  same number, and rank 0's decisions (early stopping, a callback's stop) are broadcast.

Only rank 0 writes files; the checkpoint holds every rank's random state, so a run resumes with
the same number of processes to the same numbers.
"""

from __future__ import annotations

import os
import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pyro
import torch
import torch.distributed as dist

from pyrovae.base.errors import ConfigError, TrainingError
from pyrovae.infer.batches import InMemory
from pyrovae.infer.rng import tile_seed


#: The tag of the ranks' seeds among :func:`pyrovae.infer.rng.tile_seed`'s positions.
RANK_STREAM = 0xDD


@dataclass(frozen=True)
class World:
    """The processes training together, as a strategy: this one's ``rank`` among ``size``, and
    what a loop or an evaluation asks of them (its batches, its share of the points, sums,
    gathers, the objective to step). This class is one process, where each of them is the
    identity or the plain thing; :class:`ProcessGroup` is several, under
    :mod:`torch.distributed`. Callers never branch on which it is."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """This process writes the files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process trains."""
        return self.size > 1

    def rank_seed(self, seed: int) -> int:
        """The seed of this rank's random streams: ``seed`` itself on rank 0, elsewhere
        ``tile_seed(seed, RANK_STREAM, rank)`` (cut to the 32 bits every generator takes), a
        stream no other (seed, rank) shares."""
        return seed if self.rank == 0 else tile_seed(seed, RANK_STREAM, self.rank) % 2**32

    def set_rng_seed(self, seed: int) -> None:
        """Seed every generator for this rank with :meth:`rank_seed`, so that ranks draw
        independent noise."""
        pyro.set_rng_seed(self.rank_seed(seed))

    def epoch_batches(self, n: int, batch_size: int, seed: int, epoch: int,
                      device) -> list[tuple[torch.Tensor, int]]:
        """This process's index batches of epoch ``epoch`` (on ``device``), each with the size
        of its global batch, which scales its loss: here a fresh permutation drawn from the
        global random stream, in batches of ``batch_size`` (``seed`` and ``epoch`` choose the
        permutation only in several processes)."""
        return [(index, len(index)) for index in torch.randperm(n, device=device).split(batch_size)]

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of ``index`` (sizes differ by at most one)."""
        return index

    def share(self, source: InMemory) -> InMemory:
        """This rank's contiguous share of the points of ``source``."""
        return source

    def gathered(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` of every rank, concatenated in rank order, on this rank's device."""
        return values

    def all_sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum of ``value`` over the ranks."""
        return value

    def from_main(self, value):
        """Rank 0's ``value`` (a picklable object), on every rank."""
        return value

    def gather(self, value) -> list:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        return [value]

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""

    def wrap(self, objective: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """What a training step calls: ``objective``, or its ``DistributedDataParallel``
        wrapper in several processes."""
        return objective

    @contextmanager
    def answering(self):
        """Run the block; in several processes, a collective step in it that timed out waiting
        for the others becomes a :class:`~pyrovae.base.errors.TrainingError` saying which stopped
        answering."""
        yield


#: This process alone.
SINGLE = World()


def launched() -> bool:
    """The environment says this process is one of several (``torchrun`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> World:
    """The process group this process belongs to, or :data:`SINGLE` where there is none."""
    if dist.is_available() and dist.is_initialized():
        return ProcessGroup(dist.get_rank(), dist.get_world_size())
    return SINGLE


#: Seconds a process waits for the others at a collective step before it gives up, unless
#: ``PYROVAE_DDP_TIMEOUT`` says otherwise (torch's own default is 30 minutes of silence).
DEFAULT_TIMEOUT_S = 300


def timeout() -> timedelta:
    """How long a process waits for the others: ``$PYROVAE_DDP_TIMEOUT`` seconds, else
    :data:`DEFAULT_TIMEOUT_S`.

    :raises ConfigError: the variable is not a positive number.
    """
    text = os.environ.get("PYROVAE_DDP_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"PYROVAE_DDP_TIMEOUT must be a number of seconds > 0; got '{text}'.")
    return timedelta(seconds=seconds)


def join(device: torch.device) -> World:
    """Join the process group ``torchrun`` set up (backend ``nccl`` for CUDA, else ``gloo``),
    once, with :func:`timeout`; :data:`SINGLE` when the process was not launched as one of
    several."""
    if not launched():
        return SINGLE
    if not dist.is_initialized():
        wait = timeout()
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=wait)
    return current()


def _stalled(error: RuntimeError, world: World) -> TrainingError | None:
    """The error to raise for ``error`` of a collective step when it says that the others did
    not answer in time (naming them where torch does), else None."""
    text = str(error)
    if not re.search(r"time[ds]? ?out|timeout|monitoredBarrier", text, re.I):
        return None
    found = (re.search(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier", text)
             or re.search(r"send/recv from rank (\d+)", text))
    who = f"process(es) {found[1].strip()}" if found else "another process"
    return TrainingError(
        f"process {world.rank} of {world.size}: {who} stopped answering for "
        f"{timeout().total_seconds():g} s (PYROVAE_DDP_TIMEOUT), so training stopped: a process "
        f"was stopped, deadlocked or died. The last checkpoint is whole; resume the run with "
        f"the same number of processes.")


def leave() -> None:
    """Leave the process group (after every rank got here), if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def global_batches(n: int, batch_size: int, seed: int, epoch: int, world: World):
    """Index tensors of epoch ``epoch``'s global batches, the same on every rank: a permutation of
    ``range(n)`` seeded by ``(seed, epoch)``, cut into ``batch_size`` points, the last batch
    joining the one before when it has fewer points than there are ranks.

    :raises ConfigError: fewer training points than ranks.
    """
    if n < world.size:
        raise ConfigError(f"{n} training points cannot be shared by {world.size} processes.")
    generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)
    batches = list(torch.randperm(n, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < world.size:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


class ProcessGroup(World):
    """Several processes training together under :mod:`torch.distributed` (module
    docstring): the same methods as :class:`World`, each doing its part across the ranks."""

    def epoch_batches(self, n: int, batch_size: int, seed: int, epoch: int,
                      device) -> list[tuple[torch.Tensor, int]]:
        """This rank's share of each of :func:`global_batches`, on ``device``, with the size of
        its global batch."""
        return [(self.shard(index).to(device), len(index))
                for index in global_batches(n, batch_size, seed, epoch, self)]

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        return torch.tensor_split(index, self.size)[self.rank]

    def share(self, source: InMemory) -> InMemory:
        return source.mapped(self.shard)

    def gathered(self, values: torch.Tensor) -> torch.Tensor:
        return torch.cat([v.to(values.device) for v in self.gather(values.cpu())])

    def all_sum(self, value: torch.Tensor) -> torch.Tensor:
        total = value.clone()
        dist.all_reduce(total)
        return total

    def from_main(self, value):
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        out = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        """Under ``gloo``, waits for at most :func:`timeout`; then a
        :class:`~pyrovae.base.errors.TrainingError` names the ranks that did not come."""
        with self.answering():
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timeout(), wait_all_ranks=True)
            else:
                dist.barrier()

    def wrap(self, objective: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device] if device.type == "cuda" else None
        return DistributedDataParallel(objective, device_ids=ids, gradient_as_bucket_view=True)

    @contextmanager
    def answering(self):
        try:
            yield
        except RuntimeError as e:
            stalled = _stalled(e, self)
            if stalled is None:
                raise
            raise stalled from None


def free_port() -> int:
    """A TCP port of this machine that is free now (for a process group's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_rank(rank: int, size: int, port: int, function, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(size), LOCAL_RANK=str(rank))
    function(rank, *args)
    leave()  # an error ends this process instead, and spawn ends the others


def spawn(function, size: int, *args) -> None:
    """Run ``function(rank, *args)`` in ``size`` new local processes set up as ``torchrun
    --nproc_per_node=size`` sets them up (the process group is joined where pyrovae first needs
    it); returns when all have, raises when one fails. ``function`` must be importable by name.
    """
    import torch.multiprocessing as mp

    mp.spawn(_as_rank, args=(size, free_port(), function, args), nprocs=size, join=True)
