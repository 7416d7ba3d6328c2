"""Pixel-level edge detection: central-difference gradients, 1-D non-maximum suppression, threshold.

A pixel is a *y-edge* when ``|gy| >= |gx|``, ``|gy|`` is a local maximum along its column
(``|gy[r-1]| <= |gy[r]| > |gy[r+1]|``) and ``hypot(gx, gy) > threshold``; *x-edges* are the same
with the axes swapped (``|gx| > |gy|``). Every later stage works in the edge's **frame**: for a
y-edge frame rows/columns are image rows/columns, for an x-edge they are image columns/rows, so one
column-sum code path serves both and a transposed image gives transposed results.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

BORDER = 2  # candidates closer than this to the image border are ignored


class Candidates(NamedTuple):
    """Edge pixels in frame coordinates, padded to ``max_points`` (shapes ``(P,)``)."""

    row: jax.Array  # image row of the pixel
    col: jax.Array  # image column of the pixel
    is_x: jax.Array  # bool: x-edge (frame = transposed image)
    slope: jax.Array  # edge slope d(row)/d(col) in the frame, from the gradient, clipped to [-1, 1]
    valid: jax.Array  # bool
    count: jax.Array  # int32 scalar: edge pixels found, valid or cut by max_points


def gradients(img: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Central differences ``gx = (I[r, c+1] - I[r, c-1]) / 2``, ``gy`` likewise; zero on the border."""
    gy = jnp.zeros_like(img).at[1:-1, :].set((img[2:, :] - img[:-2, :]) / 2)
    gx = jnp.zeros_like(img).at[:, 1:-1].set((img[:, 2:] - img[:, :-2]) / 2)
    return gx, gy


def edge_masks(img: jax.Array, threshold: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Boolean ``(H, W)`` masks of y-edge and x-edge pixels (see module docstring)."""
    gx, gy = gradients(img)
    ax, ay = jnp.abs(gx), jnp.abs(gy)
    strong = jnp.hypot(gx, gy) > threshold
    h, w = img.shape
    r = jnp.arange(h)[:, None]
    c = jnp.arange(w)[None, :]
    inner = (r >= BORDER) & (r < h - BORDER) & (c >= BORDER) & (c < w - BORDER)
    ymax = (ay >= jnp.roll(ay, 1, axis=0)) & (ay > jnp.roll(ay, -1, axis=0))
    xmax = (ax >= jnp.roll(ax, 1, axis=1)) & (ax > jnp.roll(ax, -1, axis=1))
    y_edge = inner & strong & (ay >= ax) & ymax
    x_edge = inner & strong & (ax > ay) & xmax
    return y_edge, x_edge


def first_true(mask: jax.Array, size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Row and column of the first ``size`` True pixels of an ``(H, W)`` mask in raster order
    (``(0, 0)`` beyond the count), and the count; ``jnp.nonzero(mask, size=size)`` without its
    whole-image scatter.

    With ``c`` the inclusive running count in raster order (two levels: within rows, then across
    row totals), the ``k``-th True pixel (``k = 1..size``) is the first flat index with
    ``c >= k``: ``size`` binary searches of ``log2(H W)`` steps each.
    """
    within = jnp.cumsum(mask.astype(jnp.int32), axis=1)
    before = jnp.cumsum(within[:, -1]) - within[:, -1]
    running = (within + before[:, None]).reshape(-1)
    k = jnp.arange(1, size + 1, dtype=jnp.int32)
    flat = jnp.searchsorted(running, k, side="left").astype(jnp.int32)
    count = running[-1]
    flat = jnp.where(k <= count, flat, 0)
    return flat // mask.shape[1], flat % mask.shape[1], count


def candidates(img: jax.Array, threshold: jax.Array, max_points: int) -> Candidates:
    """The first ``max_points`` edge pixels in raster order, as frame-coordinate candidates;
    ``count`` is how many there were (``count > max_points``: the rest were cut)."""
    y_edge, x_edge = edge_masks(img, threshold)
    mask = y_edge | x_edge  # disjoint by construction
    row, col, count = first_true(mask, max_points)
    valid = jnp.arange(max_points) < count
    is_x = x_edge[row, col]
    gx, gy = gradients(img)
    g_par = jnp.where(is_x, gy[row, col], gx[row, col])  # along the frame column axis
    g_perp = jnp.where(is_x, gx[row, col], gy[row, col])  # across, along the frame row axis
    safe = jnp.where(g_perp == 0, 1.0, g_perp)
    slope = jnp.clip(jnp.where(g_perp == 0, 0.0, -g_par / safe), -1.0, 1.0)
    return Candidates(row, col, is_x, slope, valid, count)


def noise_sigma(img: jax.Array, max_samples: int = 4096) -> jax.Array:
    """Robust noise std: ``median|N * I| / (0.6745 * 6)`` with ``N = [1 -2 1; -2 4 -2; 1 -2 1]``.

    ``N`` annihilates locally planar intensity and has ``||N||_2 = 6``, so for i.i.d. Gaussian noise
    ``N * I ~ N(0, 36 sigma^2)``; the median ignores the few pixels on edges. Large images use a
    regular subsample of about ``max_samples`` responses (the median is what costs).
    """
    lap = (
        img[:-2, :-2]
        - 2 * img[:-2, 1:-1]
        + img[:-2, 2:]
        - 2 * img[1:-1, :-2]
        + 4 * img[1:-1, 1:-1]
        - 2 * img[1:-1, 2:]
        + img[2:, :-2]
        - 2 * img[2:, 1:-1]
        + img[2:, 2:]
    )
    step = max(1, int((lap.size / max_samples) ** 0.5))
    return jnp.median(jnp.abs(lap[::step, ::step])) / (0.6745 * 6.0)


def box3(img: jax.Array) -> jax.Array:
    """3 x 3 mean filter with edge-replicated borders (the PAE pre-smoothing)."""
    p = jnp.pad(img, 1, mode="edge")
    h, w = img.shape
    return sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
