"""CIS: converted intensity summation over a fixed window across the edge.

For each candidate, three frame columns ``j = -1, 0, 1`` are summed over rows
``shift_j - h .. shift_j + h`` with ``shift_j = round(slope * j)`` (the gradient's slope, so the
window follows oblique edges). The plateaus ``A`` (above) and ``B`` (below) are the means of the
three window-end pixels on each side. The CIS inversion gives the strip means ``F_j`` and the
three-column closed form gives ``a, b, c`` (see `_columns.py`).

Exact on area-sampled straight edges with ``|slope| <= 1`` once ``h >= 3``, and invariant to any
symmetric blur whose support keeps the window ends on the plateaus (the window sum is preserved).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec.vision.edges import _columns as col
from jaxrec.vision.edges.pixel import Candidates


class ColumnFit(NamedTuple):
    """Per-candidate frame estimate: curve ``a + b x + c x^2`` and plateaus; shapes (P,)."""

    a: jax.Array
    b: jax.Array
    c: jax.Array
    above: jax.Array  # plateau A (rows above the edge)
    below: jax.Array  # plateau B
    ok: jax.Array


def cis_fit(v: jax.Array, cand: Candidates, half_window: int) -> ColumnFit:
    """CIS on profiles ``v`` (P, J, 2K+1) with J odd >= 3 (the middle three columns are used)."""
    if not 1 <= half_window <= col.K - 2:
        raise ValueError(f"half_window must be in [1, {col.K - 2}], got {half_window=}")
    mid = v.shape[1] // 2
    v3 = v[:, mid - 1 : mid + 2]
    cols = jnp.arange(-1, 2)
    shift = jnp.round(cand.slope[:, None] * cols[None, :]).astype(jnp.int32)
    m1, m2 = shift - half_window, shift + half_window
    above = jnp.mean(col.take_rows(v3, m1), axis=1)
    below = jnp.mean(col.take_rows(v3, m2), axis=1)
    f = col.strip_means(col.column_sums(v3, m1, m2), m1, m2, above, below)
    c = (f[:, 2] + f[:, 0] - 2.0 * f[:, 1]) / 2.0
    b = (f[:, 2] - f[:, 0]) / 2.0
    a = f[:, 1] - c / 12.0
    _, ok = col.safe_contrast(above, below)
    return ColumnFit(a, b, c, above, below, ok & (jnp.abs(a) <= 1.0))
