"""Record the tensor operations of one call and replay them without the Python around them.

An SVI step on inputs of fixed shapes runs the same tensor operations every time: Pyro's
messengers, plates and distribution objects only decide *which* operations run, and decide the
same way on every step. :func:`record` runs a function once under a
:class:`~torch.utils._python_dispatch.TorchDispatchMode` that notes each ATen operation (after
autograd, so composite operations arrive decomposed) and turns that list into a
straight-line Python function, a :class:`Program`. Replaying it calls the same operations in the
same order on the new inputs, so under autograd it gives the same values and gradients bit for
bit, and random operations draw from the same generators in the same order.

What a program assumes, and how it is checked:

- **The inputs change, nothing else.** Tensors that are not inputs (parameters, buffers,
  constants) are held by reference, so in-place optimizer updates are seen; their shapes must not
  change. Python values that steer the program (a float attribute that changes during training,
  a global flag) are frozen at recording time, and Python code in the function (a forward hook,
  a counter) does not run in a replay.
- **No data-dependent control flow.** An operation that hands a value to Python (``.item()``,
  ``bool(tensor)``, ``torch.equal``) or whose output shape depends on the data (``nonzero``,
  boolean indexing) makes :func:`record` raise :class:`NotReplayable`.
- **Every gradient is the derivative of the recorded operations.** The replay is differentiated
  by autograd through the recorded ATen operations, so it has the gradients of the original
  call exactly when the original's backward pass is made of those operations' derivatives.
  :func:`record` refuses a call whose autograd graph holds anything else: a custom
  :class:`torch.autograd.Function` (a straight-through estimator, Pyro's relaxed
  straight-through distributions, ``torch.utils.checkpoint`` with reentrant segments, a module's
  full backward hook), a hook on an intermediate tensor (``Tensor.register_hook``,
  ``retain_grad``), or saved-tensor hooks (``torch.utils.checkpoint`` without reentrant
  segments, activation offloading). Operations run under ``torch.no_grad()`` are replayed under
  it. Hooks on an autograd node itself (``grad_fn.register_hook``) cannot be seen from Python:
  the comparison of :mod:`.replayer` is what catches them.

A program is trusted only after :class:`~pyrovae.train.fast.replayer.Replayer` has compared it
with the original call, values and gradients, on the same random draws.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import torch
from torch.autograd.function import BackwardCFunction

from pyrovae._compat import (
    TorchDispatchMode,
    has_tensor_hooks,
    saved_tensor_hooks_active,
    tree_flatten,
    tree_map,
)
from pyrovae.train.autograd import graph_nodes

_DATA_TO_PYTHON = torch.Tag.data_dependent_output
_DYNAMIC_SHAPE = torch.Tag.dynamic_output_shape


class NotReplayable(Exception):
    """The recorded function cannot be replayed as a fixed list of tensor operations."""


class _Ref:
    """A tensor in a recording: slot ``index`` of the program's variables."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _is_ref(v) -> bool:
    return isinstance(v, _Ref)


class _Op(NamedTuple):
    """One recorded operation: its arguments with tensors as :class:`_Ref`, the slots of its
    outputs, whether it returns a sequence, and whether autograd was recording it."""

    func: Any
    args: Any
    kwargs: Any
    outs: list[int | None]
    sequence: bool
    grad: bool


def _refusal(func) -> str | None:
    """Why a call of ``func`` (now) cannot be part of a replayed program, or None."""
    if saved_tensor_hooks_active():
        return ("saved-tensor hooks are active (torch.utils.checkpoint or activation "
                "offloading): the backward pass recomputes or moves tensors outside the recorded "
                "operations")
    if _DATA_TO_PYTHON in func.tags:
        return (f"{func} hands a tensor's value to Python (.item(), bool(tensor), a branch on "
                f"the data)")
    if _DYNAMIC_SHAPE in func.tags:
        return f"the output shape of {func} depends on the data"
    return None


class _Recorder(TorchDispatchMode):
    def __init__(self, inputs: Sequence[torch.Tensor]):
        super().__init__()
        self.slots: dict[int, int] = {}
        self.held: list[torch.Tensor] = []  # keeps every seen tensor alive, so ids stay unique
        self.constants: dict[int, torch.Tensor] = {}
        self.ops: list[_Op] = []
        for t in inputs:
            self._new_slot(t)
        self.num_inputs = len(inputs)
        self.grad_at_entry = torch.is_grad_enabled()
        # Why the call cannot be replayed. The call runs on to its end all the same: raising
        # inside it would leave the user's context managers (a checkpoint's saved-tensor hooks
        # on some torch versions) half unwound.
        self.refused: str | None = None

    def _new_slot(self, t: torch.Tensor) -> int:
        index = len(self.held)
        self.held.append(t)
        self.slots[id(t)] = index
        return index

    def _ref(self, v):
        if not isinstance(v, torch.Tensor):
            return v
        index = self.slots.get(id(v))
        if index is None:
            index = self._new_slot(v)
            self.constants[index] = v
        return _Ref(index)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.refused is None:
            self.refused = _refusal(func)
        if self.refused is not None:
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        flat, _ = tree_flatten(out)
        if any(not isinstance(o, torch.Tensor) and o is not None for o in flat):
            self.refused = f"{func} hands a value to Python (a branch on the data)"
            return out
        refs = (tree_map(self._ref, args), tree_map(self._ref, kwargs))
        outs = [self._new_slot(o) if o is not None else None for o in flat]
        sequence = isinstance(out, (list, tuple))
        self.ops.append(_Op(func, *refs, outs, sequence, torch.is_grad_enabled()))
        return out


_aten = torch.ops.aten
# Fresh tensors whose values do not depend on the values of their tensor arguments.
_SHAPE_ONLY = {_aten.new_zeros.default, _aten.new_ones.default, _aten.new_full.default,
               _aten.zeros_like.default, _aten.ones_like.default, _aten.full_like.default,
               _aten.lift_fresh.default, _aten.lift_fresh_copy.default}
# Fresh tensors with undefined contents, to be filled in place (by a random draw, say).
_UNINITIALIZED = {_aten.empty.memory_format, _aten.empty_like.default, _aten.new_empty.default,
                  _aten.empty_strided.default, _aten.new_empty_strided.default}
_VIEWS = {_aten.expand.default, _aten.view.default, _aten._unsafe_view.default, _aten.alias.default}


def _keeps_state(func) -> bool:
    """Operations that must run even if nothing reads their output: in-place and random ones."""
    return func._schema.is_mutable or torch.Tag.nondeterministic_seeded in func.tags


def _tensor_refs(args, kwargs) -> list[int]:
    return [v.index for v in tree_flatten((args, kwargs), is_leaf=_is_ref)[0] if _is_ref(v)]


def _static_slots(rec: _Recorder) -> set[int]:
    """Slots whose values are the same on every call: built from Python constants alone (the
    prior's ``Normal(0, 1)`` parameters, say). Empty when an in-place operation writes to one."""
    static: set[int] = set()
    for func, args, kwargs, outs, *_ in rec.ops:
        refs = _tensor_refs(args, kwargs)
        if _keeps_state(func):
            if any(i in static for i in refs):
                return set()
            continue
        if func in _SHAPE_ONLY or (func not in _UNINITIALIZED and all(i in static for i in refs)):
            static.update(i for i in outs if i is not None)
    return static


def _aliases(rec: _Recorder) -> dict[int, int]:
    """Views that change nothing (an ``expand`` or ``view`` to the same shape and strides): the
    slot of each such output, mapped to the slot of the tensor it views."""
    alias: dict[int, int] = {}
    for func, args, _, outs, *_ in rec.ops:
        if func in _VIEWS and _is_ref(args[0]) and len(outs) == 1:
            src, out = rec.held[args[0].index], rec.held[outs[0]]
            layout = (src.shape, src.stride(), src.storage_offset())
            if layout == (out.shape, out.stride(), out.storage_offset()):
                alias[outs[0]] = alias.get(args[0].index, args[0].index)
    return alias


class Program:
    """A recorded list of tensor operations, callable on new inputs of the recorded shapes.

    :param source: the generated Python source (for reading and debugging).
    :param num_ops: operations it runs, after dropping those whose results nothing uses,
        precomputing those that depend on constants alone and skipping views that change nothing.
    """

    def __init__(self, fn: Callable, source: str, num_ops: int):
        self._fn = fn
        self.source = source
        self.num_ops = num_ops

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self._fn(*inputs)


def _compile(rec: _Recorder, output: torch.Tensor) -> Program:
    out_index = rec.slots.get(id(output))
    if out_index is None or out_index < rec.num_inputs:
        raise NotReplayable("the output is not computed by tensor operations on the inputs")
    static, alias = _static_slots(rec), _aliases(rec)

    def canonical(i: int) -> int:
        return alias.get(i, i)

    live, kept, produced = {canonical(out_index)}, [], set()
    for op in reversed(rec.ops):
        func, args, kwargs, outs = op[:4]
        if len(outs) == 1 and outs[0] in alias:
            continue
        if _keeps_state(func) or any(i in live and i not in static for i in outs if i is not None):
            kept.append(op)
            produced.update(i for i in outs if i is not None)
            live.update(canonical(i) for i in _tensor_refs(args, kwargs))
    kept.reverse()

    scope: dict[str, Any] = {}

    def name_of(value, prefix: str) -> str:
        key = f"{prefix}{len(scope)}"
        scope[key] = value
        return key

    def source_of(v) -> str:
        if _is_ref(v):
            return f"v{canonical(v.index)}"
        if isinstance(v, (list, tuple)):
            inner = ", ".join(source_of(u) for u in v)
            return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
        return name_of(v, "c")

    lines = [f"def replay({', '.join(f'v{i}' for i in range(rec.num_inputs))}):"]
    lines += [f"    v{i} = {name_of(rec.held[i], 'k')}"
              for i in sorted(live - produced) if i >= rec.num_inputs]
    scope["_grad_mode"] = torch.set_grad_enabled
    block = rec.grad_at_entry
    for func, args, kwargs, outs, sequence, grad in kept:
        if grad != block:  # a torch.no_grad() (or enable_grad()) block of the recorded call
            if grad != rec.grad_at_entry:
                lines.append(f"    with _grad_mode({grad}):")
            block = grad
        call = ", ".join([source_of(a) for a in args]
                         + [f"{k}={source_of(v)}" for k, v in kwargs.items()])
        targets = ", ".join(f"v{i}" if i is not None else "_" for i in outs) or "_"
        if sequence:
            targets = f"({targets},)" if outs else "_"
        indent = "    " if grad == rec.grad_at_entry else "        "
        lines.append(f"{indent}{targets} = {name_of(getattr(func, '_op', func), 'op')}({call})")
    lines.append(f"    return v{canonical(out_index)}")
    source = "\n".join(lines)
    exec(compile(source, "<pyrovae replay>", "exec"), scope)  # noqa: S102 - our own generated code
    return Program(scope["replay"], source, len(kept))


def record(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> tuple[torch.Tensor, Program]:
    """Call ``fn(*inputs)`` once, recording its tensor operations.

    :param fn: a function of tensors returning one tensor.
    :param inputs: the tensors that change from call to call (a minibatch); every other tensor
        ``fn`` touches is held by reference.
    :returns: ``fn``'s result (with its autograd graph, as an ordinary call gives) and the
        :class:`Program` that replays it for inputs of the same shapes.
    :raises NotReplayable: ``fn`` has data-dependent control flow or output shapes.
    """
    rec = _Recorder(inputs)
    with rec:
        output = fn(*inputs)
    if rec.refused is not None:
        raise NotReplayable(rec.refused)
    if not isinstance(output, torch.Tensor):
        raise NotReplayable("the recorded function must return one tensor")
    _check_backward(output, rec.held)
    return output, _compile(rec, output)


def _check_backward(output: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
    """Raise :class:`NotReplayable` when ``output``'s backward pass is not made of the
    derivatives of its recorded operations alone (see the module docstring)."""
    for node in graph_nodes(output):
        if isinstance(node, BackwardCFunction):
            name = type(node).__name__.removesuffix("Backward")
            raise NotReplayable(f"its autograd graph holds the custom torch.autograd.Function "
                                f"'{name}', whose backward is its own, not the derivative of "
                                f"the operations it records")
    for t in tensors:
        if not t.is_leaf and (has_tensor_hooks(t) or t.retains_grad):
            raise NotReplayable("a hook is registered on an intermediate tensor "
                                "(Tensor.register_hook or retain_grad), which a replay would "
                                "not call")


def signature(args) -> tuple | None:
    """What a recording depends on in ``args``: each tensor's shape, dtype, device, strides and
    ``requires_grad``, and each plain value (``None`` where an argument is neither)."""
    sig: list = [torch.is_grad_enabled()]
    for a in args:
        if isinstance(a, torch.Tensor):
            sig.append((a.shape, a.dtype, a.device, a.stride(), a.requires_grad))
        elif a is None or isinstance(a, (bool, int, float, str)):
            sig.append((type(a), a))
        else:
            return None
    return tuple(sig)
