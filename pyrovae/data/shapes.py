"""Implicit inside-tests of the sprite shapes.

Each test takes canonical coordinates ``u`` (right) and ``v`` (up) and returns a bool tensor of
the same shape. Every shape lies inside the unit disc, so a shape drawn with radius ``r`` around
a centre stays within ``r`` of it at any rotation.
"""

from __future__ import annotations

import math

import torch


def square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Axis-aligned square of half-side 0.7 (corners at radius 0.99)."""
    return torch.maximum(u.abs(), v.abs()) <= 0.7


def ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Ellipse with semi-axes 0.95 (along u) and 0.5 (along v)."""
    return (u / 0.95) ** 2 + (v / 0.5) ** 2 <= 1.0


def triangle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Equilateral triangle of circumradius 0.98 with one vertex pointing up."""
    inradius = 0.98 / 2
    inside = torch.ones_like(u, dtype=torch.bool)
    for angle in (-90.0, 30.0, 150.0):  # outward normals of the three edges
        a = math.radians(angle)
        inside &= u * math.cos(a) + v * math.sin(a) <= inradius
    return inside


def heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Heart: two lobes (discs) over a wedge that narrows to a point at the bottom."""
    # Coordinates are stretched by 0.95 so that the heart, which reaches radius 0.95 at
    # these parameters, fills the unit disc like the other shapes.
    ax, v = 0.95 * u.abs(), 0.95 * v
    lobes = (ax - 0.44) ** 2 + (v - 0.2) ** 2 <= 0.46**2
    wedge = (v >= -0.95 + 1.15 * ax) & (v <= 0.2) & (ax <= 0.81)
    return lobes | wedge


def cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Plus sign with arms of half-length 0.95 and half-width 0.3."""
    au, av = u.abs(), v.abs()
    return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))


# Name -> inside-test; a shape's class index is its position here.
SHAPES = {
    "square": square,
    "ellipse": ellipse,
    "triangle": triangle,
    "heart": heart,
    "cross": cross,
}
