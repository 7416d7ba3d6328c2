"""Edge complement by extension-adjustment (jaxrec's design; the paper's rule is unpublished).

SER rejects points whose plateaus are contaminated (a nearby edge, a corner, a chain end). For
such a candidate the nearest *accepted* candidate of the same frame within ``reach`` columns and
rows (fewest columns away first) lends its local curve and plateaus:

* **extension** — the neighbour's curve ``a_n + b_n x + c_n x^2`` (its own offsets), re-expressed
  around the rejected pixel (``dj, dk`` = neighbour offset): ``a' = dk + a_n - b_n dj + c_n dj^2``,
  ``b' = b_n - 2 c_n dj``, ``c' = c_n``;
* **adjustment** — CIS on the rejected pixel's three columns with the sharp window around that
  curve (``margin`` rows beyond the transition) and the neighbour's plateaus ``A_n, B_n``, fitting
  ``a, b`` with the curvature fixed to ``c'`` (``a = mean_j g_j``, ``b = (g_1 - g_-1)/2``,
  ``g_j = F_j - c' (j^2 + 1/12)``).

The complemented point is kept when ``|a - a'| <= tol`` (the data agree with the extension) and it
stays in its pixel (``|a| <= 1``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.vision.edges import _columns as col
from jaxrec.vision.edges.cis import ColumnFit
from jaxrec.vision.edges.pixel import Candidates
from jaxrec.vision.edges.ser import HALF_COLS, window_core


class ComplementParams(NamedTuple):
    """Parameters of the extension-adjustment complement (module docstring)."""

    reach: int = 2
    margin: float = 1.0
    tol: float = 0.5


def _neighbours(
    cand: Candidates,
    table: jax.Array,
    accepted: jax.Array,
    row: jax.Array,
    column: jax.Array,
    shape: tuple[int, int],
) -> jax.Array:
    """Rows of ``table`` (P, 6) of the accepted same-frame candidates at the pixels
    ``(row, column)`` (P, N): shape (P, N, 6), zero where there is none.

    Candidates come in raster order (`pixel.first_true`) and a pixel is at most one candidate,
    so the keys ``row * W + col`` of the valid ones increase strictly (the padded slots after
    them get a key past the image): a binary search finds each pixel's slot without a dense
    per-pixel map of the image.
    """
    h, w = shape
    keys = jnp.where(cand.valid, cand.row * w + cand.col, h * w)
    query = row * w + column
    slot = jnp.searchsorted(keys, query.reshape(-1)).reshape(query.shape)
    slot = jnp.minimum(slot, keys.size - 1)
    inside = (row >= 0) & (row < h) & (column >= 0) & (column < w)
    same_frame = cand.is_x[slot] == cand.is_x[:, None]
    hit = inside & (keys[slot] == query) & accepted[slot] & same_frame
    return jnp.where(hit[..., None], table[slot], 0.0)


def complement_fit(
    v: jax.Array, cand: Candidates, fit: ColumnFit, shape: tuple[int, int], p: ComplementParams
) -> ColumnFit:
    """Fill candidates rejected by SER (``fit.ok`` False) from accepted neighbours."""
    if p.reach < 1:
        raise ValueError(f"complement reach must be >= 1, got {p.reach}")
    accepted = cand.valid & fit.ok
    one = jnp.ones_like(fit.a)
    table = jnp.stack([fit.a, fit.b, fit.c, fit.above, fit.below, one], axis=-1)

    span = np.arange(-p.reach, p.reach + 1)
    dj_np, dk_np = np.repeat(span, span.size), np.tile(span, span.size)
    dj, dk = jnp.asarray(dj_np[dj_np != 0]), jnp.asarray(dk_np[dj_np != 0])
    x = cand.is_x[:, None]
    row = cand.row[:, None] + jnp.where(x, dj[None, :], dk[None, :])
    column = cand.col[:, None] + jnp.where(x, dk[None, :], dj[None, :])
    nb = _neighbours(cand, table, accepted, row, column, shape)  # (P, N, 6)
    prio = jnp.where(nb[..., 5] > 0, (10 * jnp.abs(dj) + jnp.abs(dk))[None, :], 10**6)
    best = jnp.argmin(prio, axis=1)
    n = jnp.take_along_axis(nb, best[:, None, None], axis=1)[:, 0]  # (P, 6)
    has = n[:, 5] > 0
    bj, bk = dj[best].astype(fit.a.dtype), dk[best].astype(fit.a.dtype)
    a_n, b_n, c_n, above, below = (n[:, i] for i in range(5))
    a_e = bk + a_n - b_n * bj + c_n * bj * bj
    b_e = b_n - 2.0 * c_n * bj
    cols = jnp.arange(-1, 2)
    lo, hi = window_core(a_e, b_e, c_n, cols, p.margin)
    v3 = v[:, HALF_COLS - 1 : HALF_COLS + 2]
    f = col.strip_means(col.column_sums(v3, lo, hi), lo, hi, above, below)
    g = f - c_n[:, None] * (cols[None, :].astype(f.dtype) ** 2 + 1.0 / 12.0)
    a = jnp.mean(g, axis=1)
    b = (g[:, 2] - g[:, 0]) / 2.0
    _, contrast_ok = col.safe_contrast(above, below)
    filled = (
        cand.valid
        & ~accepted
        & has
        & contrast_ok
        & (jnp.abs(a - a_e) <= p.tol)
        & (jnp.abs(a) <= 1.0)
    )
    pick = lambda new, old: jnp.where(filled, new, old)
    return ColumnFit(
        pick(a, fit.a),
        pick(b, fit.b),
        pick(c_n, fit.c),
        pick(above, fit.above),
        pick(below, fit.below),
        accepted | filled,
    )
