"""Network building blocks: gated dense layers and MLPs built with them."""

import pytest
import torch
from pyro.infer import config_enumerate
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import GatedDense, activation, hidden_mlp, mlp, module_of


def test_a_gated_layer_multiplies_a_linear_map_by_a_sigmoid_gate():
    torch.manual_seed(0)
    layer = GatedDense(3, 2)
    x = torch.randn(4, 3)
    W1, b1, W2, b2 = layer.h.weight, layer.h.bias, layer.g.weight, layer.g.bias
    expected = (x @ W1.T + b1) / (1 + torch.exp(-(x @ W2.T + b2)))
    torch.testing.assert_close(layer(x), expected)


def test_a_gated_mlp_has_gated_hidden_layers_and_a_linear_output():
    net = mlp([5, 4, 3, 2], "gated")
    assert [type(m) for m in net] == [GatedDense, GatedDense, nn.Linear]
    assert net[-1].out_features == 2
    hidden = hidden_mlp([5, 4, 3], "gated")
    assert [type(m) for m in hidden] == [GatedDense, GatedDense]


def test_a_pointwise_mlp_keeps_its_layout():
    """Checkpoints name the layers by position: ``0`` linear, ``1`` activation, ``2`` linear."""
    net = mlp([5, 4, 2], "tanh")
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear]
    hidden = hidden_mlp([5, 4], "relu")
    assert list(hidden.state_dict()) == ["0.0.weight", "0.0.bias"]
    assert isinstance(hidden[1], nn.ReLU)


def test_gated_units_have_no_pointwise_form():
    with pytest.raises(ConfigError, match="gated.*choose one of: tanh"):
        activation("gated")
    with pytest.raises(ConfigError, match="unknown activation 'tahn'.*tanh"):
        activation("tahn")


def test_the_module_of_a_program_is_found_through_pyros_handlers():
    """A guide wrapped in config_enumerate (as Pyro's SS-VAE writes it) still belongs to its
    module: eval mode and parameter collection reach it."""
    class Pair(nn.Module):
        def guide(self, x):
            return x

    pair = Pair()
    assert module_of(pair) is pair and module_of(pair.guide) is pair
    assert module_of(config_enumerate(pair.guide)) is pair
    assert module_of(config_enumerate(lambda x: x)) is None
