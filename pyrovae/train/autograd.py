"""Reading an autograd graph: its nodes, and the leaf tensors a gradient reaches."""

from __future__ import annotations

from typing import Iterator

import torch


def graph_nodes(output: torch.Tensor) -> Iterator:
    """Every node of ``output``'s autograd graph, each once."""
    stack = [output.grad_fn] if output.grad_fn is not None else []
    seen = set(stack)
    while stack:
        node = stack.pop()
        yield node
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)


def leaves(output: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors (parameters) ``output``'s gradient flows to, in a fixed order."""
    return [node.variable for node in graph_nodes(output) if hasattr(node, "variable")]
