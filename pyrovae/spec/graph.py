"""The dependency graph of a model's latent groups: ``z2 -> z1 -> x``.

A group ``given`` other groups has a conditional prior :math:`p(z \\mid \\text{parents})`; the
groups that no other group is given (the last layer of every chain) generate the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyrovae.base.errors import ConfigError


@dataclass(frozen=True)
class Group:
    """One latent group in the graph.

    :param name: sample-site name.
    :param dim: dimension of the group's vector.
    :param parents: groups this one is given (its prior's inputs).
    :param children: groups given this one.
    """

    name: str
    dim: int
    parents: tuple[str, ...]
    children: tuple[str, ...]

    @property
    def generates_data(self) -> bool:
        """No group is given this one, so the decoder reads it."""
        return not self.children


def _find_cycle(parents: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle ``[a, b, ..., a]`` following ``given`` links, or ``None``."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = "open"
        path.append(name)
        for parent in parents[name]:
            if state.get(parent) == "open":
                return path[path.index(parent):] + [parent]
            if parent not in state and (cycle := visit(parent)):
                return cycle
        state[name] = "done"
        path.pop()
        return None

    for name in parents:
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


class LatentGraph:
    """Latent groups in topological order (every group after the groups it is given).

    :param dims: group name -> dimension, in the order the spec lists them.
    :param parents: group name -> names of the groups it is given.
    :raises ConfigError: a duplicate or unknown name, a group given itself, or a cycle.
    """

    def __init__(self, dims: dict[str, int], parents: dict[str, tuple[str, ...]]):
        for name, given in parents.items():
            for parent in given:
                if parent not in dims:
                    raise ConfigError(
                        f"latent '{name}' is given '{parent}', which is not a latent of the "
                        f"model. Latents: {', '.join(dims)}."
                    )
        cycle = _find_cycle(parents)
        if cycle:
            raise ConfigError(
                f"model.latents: the 'given' links form a cycle {' -> '.join(reversed(cycle))}; "
                f"a hierarchy must be acyclic (e.g. z2 -> z1 -> x: z1 given z2, z2 given nothing)."
            )
        order: list[str] = []
        while len(order) < len(dims):
            order += [n for n in dims if n not in order and all(p in order for p in parents[n])]
        children = {n: tuple(c for c in dims if n in parents[c]) for n in dims}
        self.groups = tuple(Group(n, dims[n], tuple(parents[n]), children[n]) for n in order)
        self.by_name = {g.name: g for g in self.groups}

    def __iter__(self):
        return iter(self.groups)

    def __getitem__(self, name: str) -> Group:
        return self.by_name[name]

    @property
    def data_dim(self) -> int:
        """Total dimension of the groups that generate the data."""
        return sum(g.dim for g in self.groups if g.generates_data)

    def input_dim(self, group: Group) -> int:
        """Total dimension of the groups ``group`` is given."""
        return sum(self[p].dim for p in group.parents)

    def children_dim(self, group: Group) -> int:
        """Total dimension of the groups given ``group``."""
        return sum(self[c].dim for c in group.children)
