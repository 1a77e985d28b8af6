"""The fast path of the one-particle ELBO, behind one function: :func:`trace_elbo`.

It computes what Pyro's :class:`~pyro.infer.Trace_ELBO` computes, with less Python per step:
:mod:`.lean` sums the sites' log-densities with one small messenger per program instead of two
full traces, :mod:`.replay` records the tensor operations of a step and replays them, and
:mod:`.replayer` checks a replay against the Pyro program (bit for bit on the CPU) before it is
trusted and once per epoch after.
The rest of :mod:`pyrovae.train` sees only a Pyro ELBO object.
"""

from pyrovae.train.fast.lean import LeanTraceELBO


def trace_elbo(replay: bool = True) -> LeanTraceELBO:
    """Pyro's one-particle ``Trace_ELBO``: the same loss and gradients, computed leanly.

    :param replay: record and replay each input signature's tensor operations (see
        :mod:`.replay`). Turn it off for a model whose operations depend on Python state that
        changes during training, not only on its inputs' shapes.
    :returns: an ELBO object with Pyro's interface (``differentiable_loss``, ``loss``) and
        ``reverify()``, which the training loop calls once per epoch.
    """
    return LeanTraceELBO(replay=replay)


__all__ = ["trace_elbo"]
