"""Trilinear sampling of feature volumes in torch ``grid_sample`` coordinates.

A normalised coordinate :math:`g \\in [-1, 1]` along an axis of size :math:`n` maps to the index

- ``align_corners=False`` (cell centres at the ends; deformable sampling):
  :math:`i = ((g + 1) n - 1) / 2`, so :math:`g = \\pm 1` is half a cell outside the first/last
  centre;
- ``align_corners=True`` (corner centres at the ends; CRPB table lookups):
  :math:`i = (g + 1)(n - 1) / 2`.

Points are clamped to :math:`[-1, 1]` first (as TBCNet clamps its deformed grid), then sampled by
order-1 interpolation with **zero padding** (``grid_sample(padding_mode="zeros")``; also
``jax.scipy.ndimage.map_coordinates(order=1, mode="constant")``): each of the 8 corners outside
the volume contributes 0. The gather is one vectorised ``take`` per corner.
"""

import itertools

import jax
import jax.numpy as jnp

__all__ = ["grid_to_index", "sample_batched", "trilinear_sample"]


def grid_to_index(grid: jax.Array, sizes: tuple[int, ...], align_corners: bool) -> jax.Array:
    """Normalised ``grid [..., 3]`` -> fractional indices, after clamping to ``[-1, 1]``."""
    g = jnp.clip(grid, -1.0, 1.0)
    n = jnp.asarray(sizes, g.dtype).reshape((1,) * (g.ndim - 1) + (3,))
    return (g + 1.0) * (n - 1.0) / 2.0 if align_corners else ((g + 1.0) * n - 1.0) / 2.0


def trilinear_sample(volume: jax.Array, index: jax.Array) -> jax.Array:
    """Order-1 interpolation of ``volume [D0, D1, D2, C]`` at fractional ``index [..., 3]``.

    Returns ``[..., C]``; corners outside the volume count as 0. Exact at integer indices.
    """
    if volume.ndim != 4 or index.shape[-1] != 3:
        raise ValueError(
            f"trilinear_sample needs volume [D0, D1, D2, C] and index [..., 3], got "
            f"{volume.shape} and {index.shape}."
        )
    sizes = volume.shape[:3]
    flat = volume.reshape(-1, volume.shape[3])
    lo = jnp.floor(index)
    frac = index - lo
    lo = lo.astype(jnp.int32)
    out = jnp.zeros((*index.shape[:-1], volume.shape[3]), volume.dtype)
    lead = (1,) * (index.ndim - 1)
    upper = jnp.asarray(sizes, jnp.int32).reshape(*lead, 3)
    for corner in itertools.product((0, 1), repeat=3):
        c = jnp.asarray(corner, jnp.int32).reshape(*lead, 3)
        idx = lo + c
        w = jnp.prod(jnp.where(c == 1, frac, 1.0 - frac), axis=-1)
        inside = jnp.all((idx >= 0) & (idx < upper), axis=-1)
        idx = jnp.clip(idx, 0, upper - 1)
        lin = (idx[..., 0] * sizes[1] + idx[..., 1]) * sizes[2] + idx[..., 2]
        vals = jnp.take(flat, lin, axis=0)
        out = out + jnp.where(inside, w, 0.0)[..., None].astype(volume.dtype) * vals
    return out


def sample_batched(volume: jax.Array, grid: jax.Array, align_corners: bool = False) -> jax.Array:
    """``volume [B, D0, D1, D2, C]`` at normalised ``grid [B, ..., 3]`` -> ``[B, ..., C]``."""
    index = grid_to_index(grid, volume.shape[1:4], align_corners)
    return jax.vmap(trilinear_sample)(volume, index)
