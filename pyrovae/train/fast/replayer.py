"""When to trust a recorded :class:`~pyrovae.train.fast.replay.Program`: :class:`Replayer`
records a call, runs the replay beside the original on the same random draws, and keeps it only
if the values, the gradients of every leaf tensor (every parameter) and the tensors written in
place (module buffers) are equal, bit for bit on the CPU; it repeats that comparison whenever
asked (the training loop asks once per epoch). A call that cannot be recorded, or a replay that
differs, turns replay off for good, and the original runs from then on.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch

from pyrovae.train.autograd import leaves
from pyrovae.train.fast.replay import NotReplayable, Program, record


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit on the CPU (NaN equal to NaN); on an accelerator, whose reductions may
    accumulate in another order from call to call, within 1e-6 of the largest magnitude."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    if a.device.type == "cpu":
        return torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)
    scale = float(b.detach().abs().nan_to_num(posinf=0.0, neginf=0.0).max()) if b.numel() else 0.0
    return torch.allclose(a, b, rtol=0.0, atol=1e-6 * scale, equal_nan=True)


class Reference(NamedTuple):
    """A call's result, the leaf tensors (parameters) its gradient reaches and that gradient."""

    value: torch.Tensor
    leaves: list[torch.Tensor]
    grads: tuple


def reference(output: torch.Tensor) -> Reference:
    """The :class:`Reference` of ``output``, back-propagated through its graph (which is freed)."""
    params = leaves(output) if output.requires_grad else []
    grads = torch.autograd.grad(output, params, allow_unused=True) if params else ()
    return Reference(output.detach(), params, grads)


def differs(result: torch.Tensor, expected: Reference) -> str | None:
    """What differs between a replayed ``result`` (with its autograd graph, which is kept for
    the caller's backward pass) and the :func:`reference` of the original call: the value, the
    leaf tensors (parameters) the gradient reaches, or the gradient of one of them; ``None`` when
    nothing does."""
    if not _equal(result.detach(), expected.value):
        return "the value"
    replayed = leaves(result) if result.requires_grad else []
    if {id(p) for p in expected.leaves} != {id(p) for p in replayed}:
        return "the parameters its gradient reaches"
    if not replayed:
        return None
    got = torch.autograd.grad(result, expected.leaves, retain_graph=True, allow_unused=True)
    for i, (g, w) in enumerate(zip(got, expected.grads)):
        if (g is None) != (w is None) or (g is not None and not _equal(g, w)):
            shape = tuple(expected.leaves[i].shape)
            return f"the gradient of a parameter of shape {shape}"
    return None


def _values(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().clone() for t in tensors]


@torch.no_grad()
def _assign(tensors: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> None:
    for t, v in zip(tensors, values):
        if not torch.equal(t, v):  # an untouched tensor may be saved for the backward pass
            t.copy_(v)


def _rng_states(devices) -> list:
    cuda = [torch.cuda.get_rng_state(d) for d in devices if d.type == "cuda"]
    return [torch.get_rng_state(), *cuda]


def _set_rng_states(devices, states) -> None:
    torch.set_rng_state(states[0])
    for d, s in zip([d for d in devices if d.type == "cuda"], states[1:]):
        torch.cuda.set_rng_state(s, d)


class _Unverified:
    """A freshly recorded program, not yet compared with the function it replays."""

    def __init__(self, program: Program):
        self.program = program


class Replayer:
    """Calls of a function, replayed once it has been recorded and checked for a signature.

    For each key (see :func:`signature`): the first call runs the function; the second records
    it (:func:`record`, its result is that call's result); the third runs the function and the
    replay on the same random draws and keeps the program only if the two results and their
    gradients with respect to every leaf tensor are equal (:func:`differs`); later calls replay.
    :meth:`reverify` makes the next call of each key a comparison again. A call that cannot be
    recorded or a replay that differs turns replay off for good, restoring the random streams of
    a failed recording, and calls ``on_stop(reason)``.

    :param on_stop: told why replay was turned off (to warn the user once).
    :param max_programs: keys to keep; calls with other keys run the function.
    """

    def __init__(self, on_stop: Callable[[str], None], max_programs: int = 4):
        self.on_stop = on_stop
        self.max_programs = max_programs
        self.enabled = True
        self._entries: dict[tuple, object] = {}  # key -> "seen" | _Unverified | Program

    def reverify(self) -> None:
        """Compare the next replay of each program with the function again."""
        self._entries = {k: _Unverified(v) if isinstance(v, Program) else v
                         for k, v in self._entries.items()}

    def _stop(self, reason: str) -> None:
        self.enabled = False
        self._entries.clear()
        self.on_stop(reason)

    @property
    def programs(self) -> list[Program]:
        """The programs in use."""
        return [v for v in self._entries.values() if isinstance(v, Program)]

    def __call__(self, key: tuple | None, fn: Callable[..., torch.Tensor],
                 tensors: Sequence[torch.Tensor], devices=(),
                 check: Callable[[], str | None] = lambda: None,
                 state: Callable[[], Sequence[torch.Tensor]] = tuple) -> torch.Tensor:
        """``fn(*tensors)``, run or replayed; ``key=None`` always runs it.

        :param devices: accelerators whose random streams ``fn`` draws from (besides the CPU's).
        :param check: why ``fn`` must not be replayed (a hook the caller can see, say), or
            ``None``; asked before each recording and each comparison.
        :param state: the tensors ``fn`` may write in place (a module's buffers, such as batch
            norm's running statistics), asked for where ``fn`` runs twice for one call (a failed
            recording, a comparison): they end as one run leaves them, and a replay must write
            what ``fn`` writes.
        """
        entry = self._entries.get(key) if key is not None and self.enabled else None
        if isinstance(entry, Program):
            return entry(*tensors)
        if entry is None:
            if key is not None and self.enabled and len(self._entries) < self.max_programs:
                self._entries[key] = "seen"
            return fn(*tensors)
        reason = check()
        if reason:
            self._stop(reason)
            return fn(*tensors)
        state = state()
        before = _values(state)
        if entry == "seen":
            states = _rng_states(devices)
            try:
                result, program = record(fn, *tensors)
            except NotReplayable as e:
                # the call runs again, drawing and writing what it would have
                _set_rng_states(devices, states)
                _assign(state, before)
                self._stop(str(e))
                return fn(*tensors)
            self._entries[key] = _Unverified(program)
            return result
        states = _rng_states(devices)
        with torch.random.fork_rng(devices=[d for d in devices if d.type == "cuda"]):
            expected = reference(fn(*tensors))
        written = _values(state)
        _assign(state, before)
        result = entry.program(*tensors)
        difference = differs(result, expected)
        if not difference and not all(_equal(a, b) for a, b in zip(_values(state), written)):
            difference = "a tensor it writes in place, such as a module's buffer"
        if difference:
            self._stop(f"a replay differed from the program it recorded ({difference}): its "
                       f"operations depend on more than the inputs' shapes, e.g. on a Python "
                       f"attribute that changed, or its backward pass is not the derivative of "
                       f"its operations")
            _set_rng_states(devices, states)  # the call runs once more, as it would have run
            _assign(state, before)
            return fn(*tensors)
        self._entries[key] = entry.program
        return result
