"""Decoders: a feature vector (latents, label) -> likelihood parameters per data value."""

from __future__ import annotations

import math

import torch
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import activation, mlp
from pyrovae.blocks.tensors import flatten_batch

CONV_CHANNELS = (1, 3)
CONV_SIZES = (28, 32, 64)


def conv_stages(event_shape, field: str = "model.decoder.kind") -> tuple[int, int]:
    """``(base, stages)``: an image of side ``H`` is ``stages`` halvings of a ``base`` x
    ``base`` grid (28 -> 14 -> 7; 32 -> 16 -> 8 -> 4; 64 -> ... -> 4).

    :raises ConfigError: ``event_shape`` is not a square grayscale or RGB image whose side
        halves down to at most 7.
    """
    shape = tuple(event_shape)
    if len(shape) == 3 and shape[0] in CONV_CHANNELS and shape[1] == shape[2]:
        base, stages = shape[1], 0
        while base % 2 == 0 and base > 7:
            base, stages = base // 2, stages + 1
        if stages and base <= 7:
            return base, stages
    raise ConfigError(
        f"{field} = 'conv' needs image data of shape (C, H, H) with C in "
        f"{', '.join(map(str, CONV_CHANNELS))} and H one of {', '.join(map(str, CONV_SIZES))} "
        f"(e.g. (1, 28, 28), (3, 32, 32), (3, 64, 64)); the data have shape {shape}. "
        f"Use decoder kind 'mlp' for these data."
    )


def default_channels(stages: int) -> tuple[int, ...]:
    """Channels from the base grid up, halving per stage: 2 stages -> (64, 32)."""
    return tuple(32 * 2 ** (stages - 1 - i) for i in range(stages))


class MLPDecoder(nn.Module):
    """:math:`\\eta = \\mathrm{MLP}(h)`, reshaped to ``[..., P, *event_shape]``.

    :param in_dim: size of the input feature vector.
    :param event_shape: shape of one data point.
    :param num_params: ``P``, likelihood parameters per data value.
    :param hidden: hidden layer widths.
    :param act: activation name.
    """

    def __init__(self, in_dim, event_shape, num_params, hidden=(200, 200), act="tanh"):
        super().__init__()
        self.out_shape = (num_params, *event_shape)
        self.net = mlp([in_dim, *hidden, math.prod(self.out_shape)], act)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h).reshape(*h.shape[:-1], *self.out_shape)

    @torch.no_grad()
    def init_output_bias(self, values: torch.Tensor) -> None:
        """Set the output layer's bias to ``values`` ``[P, *event_shape]``."""
        self.net[-1].bias.copy_(values.reshape(-1))


class ConvDecoder(nn.Module):
    """An MLP to a ``channels[0]`` x base x base grid, then one transposed convolution
    (kernel 4, stride 2) per stage, each doubling the side, to ``P * C`` output channels.

    :param in_dim: size of the input feature vector.
    :param event_shape: ``(C, H, H)``, see :func:`conv_stages`.
    :param num_params: ``P``, likelihood parameters per data value.
    :param hidden: widths of the MLP before the grid.
    :param act: activation name.
    :param channels: channels of each stage's input, from the base grid up (one per stage).
    """

    def __init__(self, in_dim, event_shape, num_params, hidden=(), act="relu", channels=None):
        super().__init__()
        base, stages = conv_stages(event_shape)
        self.channels = tuple(channels) if channels is not None else default_channels(stages)
        if len(self.channels) != stages:
            raise ConfigError(
                f"model.decoder.channels has {len(self.channels)} entries but data of shape "
                f"{tuple(event_shape)} need {stages} upsampling stages from {base}x{base}: give "
                f"{stages} channel counts, e.g. {list(default_channels(stages))}."
            )
        self.event_shape, self.num_params = tuple(event_shape), num_params
        self.grid = (self.channels[0], base, base)
        self.mlp = nn.Sequential(mlp([in_dim, *hidden, math.prod(self.grid)], act), activation(act))
        outs = [*self.channels[1:], num_params * event_shape[0]]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(self.channels, outs)):
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1))
            if i < stages - 1:
                layers.append(activation(act))
        self.convs = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        flat, batch = flatten_batch(h, 1)
        out = self.convs(self.mlp(flat).reshape(-1, *self.grid))
        return out.reshape(*batch, self.num_params, *self.event_shape)


class ConvFeatures(nn.Module):
    """The mirror of :class:`ConvDecoder` for encoders: one convolution (kernel 4, stride 2)
    per stage halving the side, then the flattened grid.

    :param event_shape: ``(C, H, H)``.
    :param channels: output channels of each stage (the decoder's, reversed).
    :param act: activation name.
    """

    def __init__(self, event_shape, channels, act="relu", field="guide.features"):
        super().__init__()
        base, stages = conv_stages(event_shape, field)
        channels = tuple(channels) if channels is not None else default_channels(stages)[::-1]
        layers: list[nn.Module] = []
        for c_in, c_out in zip((event_shape[0], *channels[:-1]), channels):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1), activation(act)]
        self.convs = nn.Sequential(*layers)
        self.out_dim = channels[-1] * base * base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, batch = flatten_batch(x, 3)
        return self.convs(flat).reshape(*batch, self.out_dim)


def make_decoder(kind: str, in_dim: int, event_shape, num_params: int, hidden, act, channels):
    """The decoder ``kind`` (a key of :data:`DECODERS`)."""
    return DECODERS[kind](in_dim, event_shape, num_params, hidden, act, channels)


#: name -> the decoder class: latents (and a label) -> likelihood parameters.
DECODERS = {
    "mlp": lambda in_dim, shape, p, hidden, act, channels: MLPDecoder(
        in_dim, shape, p, (200, 200) if hidden is None else hidden, act
    ),
    "conv": lambda in_dim, shape, p, hidden, act, channels: ConvDecoder(
        in_dim, shape, p, () if hidden is None else hidden, act, channels
    ),
}
