"""PAE baseline (Trujillo-Pino et al. 2013), restated from the spec and re-derived.

Three frame columns ``j = -1, 0, 1``. Each column's summation limits start at rows ``-1..1``
(side columns shifted by ``sign(slope) * j`` rows so they follow oblique edges) and float outward,
at most 3 more rows per side, while ``|dI/drow|`` keeps decreasing. ``A`` is the mean of the two
top-end pixels of the middle column and of the side column where the edge is lowest, ``B`` the
mean of the two bottom-end pixels of the middle column and of the side column where it is highest.
With the strip means ``F_j`` (CIS inversion, `_columns.py`):

* second order: ``c = (F_1 + F_-1 - 2 F_0) / 2``, ``b = (F_1 - F_-1) / 2``, ``a = F_0 - c / 12``;
* first order: ``c = 0``, ``b = (F_1 - F_-1) / 2``, ``a = F_0``.

``smooth=True`` (the PAE paper's smoothed variant, one pass): detection and sums run on the 3 x 3
mean-filtered image. For a parabola the filter maps ``F_j`` to the mean of ``F_{j-1..j+1}``, i.e.
``a + b j + c (j^2 + 1/12 + 2/3)``, so ``a = F_0 - c (1/12 + 2/3)`` (and ``b``, ``c`` unchanged).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrec.vision.edges import _columns as col
from jaxrec.vision.edges.cis import ColumnFit
from jaxrec.vision.edges.pixel import Candidates

MAX_FLOAT = 3  # rows each limit may float beyond its start (limits reach +-4 around the start)


def _floating_limits(v3: jax.Array, start: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Limits ``(m1, m2)`` (P, 3): from ``start -+ 1`` outward while ``|gradient|`` decreases."""
    grad = jnp.abs(v3[:, :, 2:] - v3[:, :, :-2]) / 2.0  # grad[..., i] is at row offset i + 1 - K
    pad = jnp.zeros(v3.shape[:2] + (1,), v3.dtype)
    grad = jnp.concatenate([pad, grad, pad], axis=2)  # now aligned with v3 rows

    def extend(edge: jax.Array, step: int) -> jax.Array:
        steps = jnp.arange(1, MAX_FLOAT + 1)[None, None, :]
        outer = col.take_rows(grad, edge[..., None] + step * steps)
        inner = col.take_rows(grad, edge[..., None] + step * (steps - 1))
        return edge + step * col.leading_true(outer < inner)

    return extend(start - 1, -1), extend(start + 1, 1)


def pae_fit(v: jax.Array, cand: Candidates, *, order: int, smooth: bool) -> ColumnFit:
    """PAE estimate from profiles ``v`` (P, J, 2K+1), J odd >= 3 (middle three columns used)."""
    if order not in (1, 2):
        raise ValueError(f"PAE order must be 1 or 2, got {order=}")
    mid = v.shape[1] // 2
    v3 = v[:, mid - 1 : mid + 2]
    cols = jnp.arange(-1, 2)
    sgn = jnp.sign(cand.slope)
    start = (sgn[:, None] * cols[None, :]).astype(jnp.int32)
    m1, m2 = _floating_limits(v3, start)
    top = col.take_rows(v3, m1)
    bottom = col.take_rows(v3, m2)
    low_side = jnp.where(sgn >= 0, 2, 0)  # column where the edge is lowest
    high_side = 2 - low_side
    pick = lambda t, i: jnp.take_along_axis(t, i[:, None], axis=1)[:, 0]
    above = (top[:, 1] + pick(top, low_side)) / 2.0
    below = (bottom[:, 1] + pick(bottom, high_side)) / 2.0
    f = col.strip_means(col.column_sums(v3, m1, m2), m1, m2, above, below)
    b = (f[:, 2] - f[:, 0]) / 2.0
    if order == 2:
        c = (f[:, 2] + f[:, 0] - 2.0 * f[:, 1]) / 2.0
        a = f[:, 1] - c * (1.0 / 12.0 + (2.0 / 3.0 if smooth else 0.0))
    else:
        c = jnp.zeros_like(b)
        a = f[:, 1]
    _, ok = col.safe_contrast(above, below)
    return ColumnFit(a, b, c, above, below, ok & (jnp.abs(a) <= 1.0))
