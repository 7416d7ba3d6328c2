"""Column-sum machinery shared by PAE, CIS, SER and the complement.

Frame coordinates (see `pixel.py`): the edge crosses frame columns ``j`` (offsets from the
candidate's column) roughly horizontally, as ``y = a + b x + c x^2`` in offsets from the candidate
pixel centre. Pixel ``k`` of a column covers rows ``[k - 1/2, k + 1/2]`` and stores the scene mean
over its area (partial area effect). With intensity ``A`` above the edge (smaller rows) and ``B``
below, the sum of column ``j`` over rows ``m1..m2`` (both ends on the plateaus) is

    S_j = A (F_j - m1 + 1/2) + B (m2 + 1/2 - F_j),   F_j = mean of y over x in [j - 1/2, j + 1/2]
    =>  F_j = (S_j - A (1/2 - m1) - B (m2 + 1/2)) / (A - B)                       (CIS inversion)

and ``F_j = a + b j + c (j^2 + 1/12)`` exactly for a parabola, so three columns give ``a, b, c``
in closed form (PAE/CIS three-column curvature correction) and more columns a least-squares fit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.vision.edges._types import EdgePoints
from jaxrec.vision.edges.pixel import Candidates

K = 14  # profiles hold frame rows -K..K around the candidate
PAD = K + 8  # image padding (edge-replicated) so every gather is in bounds


def profiles(img: jax.Array, cand: Candidates, half_cols: int) -> jax.Array:
    """Frame values ``V[p, j, k] = I_frame[R_p + k - K, C_p + j - half_cols]``, shape (P, J, 2K+1).

    ``I_frame`` is the image for y-edges and its transpose for x-edges; borders edge-replicated.
    """
    padded = jnp.pad(img, PAD, mode="edge")
    j = jnp.arange(-half_cols, half_cols + 1)[None, :, None]
    k = jnp.arange(-K, K + 1)[None, None, :]
    r = cand.row[:, None, None]
    c = cand.col[:, None, None]
    x = cand.is_x[:, None, None]
    rows = jnp.where(x, r + j, r + k) + PAD
    cols = jnp.where(x, c + k, c + j) + PAD
    return padded[rows, cols]


def take_rows(v: jax.Array, k: jax.Array) -> jax.Array:
    """``v[p, j, k[p, j, ...] + K]`` with ``k`` a frame row offset, clipped to the profile."""
    idx = jnp.clip(k + K, 0, 2 * K)
    return jnp.take_along_axis(v, idx.reshape(idx.shape[0], idx.shape[1], -1), axis=2).reshape(
        idx.shape
    )


def column_sums(v: jax.Array, m1: jax.Array, m2: jax.Array) -> jax.Array:
    """``S[p, j] = sum_{k=m1..m2} V[p, j, k]`` for integer limits of shape (P, J)."""
    k = jnp.arange(-K, K + 1)[None, None, :]
    inside = (k >= m1[..., None]) & (k <= m2[..., None])
    return jnp.sum(jnp.where(inside, v, 0.0), axis=2)


def leading_true(flags: jax.Array) -> jax.Array:
    """Number of leading True values along the last (short, static) axis; unrolled, no scan."""
    run = jnp.ones(flags.shape[:-1], jnp.bool_)
    total = jnp.zeros(flags.shape[:-1], jnp.int32)
    for i in range(flags.shape[-1]):
        run = run & flags[..., i]
        total = total + run
    return total


def safe_contrast(a_int: jax.Array, b_int: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(A - B)`` with zeros replaced by 1, and the mask of non-degenerate contrasts."""
    d = a_int - b_int
    ok = d != 0
    return jnp.where(ok, d, 1.0), ok


def strip_means(
    s: jax.Array, m1: jax.Array, m2: jax.Array, a_int: jax.Array, b_int: jax.Array
) -> jax.Array:
    """CIS inversion ``F_j`` (module docstring) for sums (P, J), limits (P, J), plateaus (P,)."""
    d, _ = safe_contrast(a_int, b_int)
    return (s - a_int[:, None] * (0.5 - m1) - b_int[:, None] * (m2 + 0.5)) / d[:, None]


def fit_columns(
    f: jax.Array, half: int, w: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Least squares of ``F_j = a + b j + c (j^2 + 1/12)`` over the columns ``|j| <= w``.

    Args:
      f: (P, 2 half + 1) strip means for columns ``j = -half..half``; ``1 <= w <= half``.
    Returns:
      ``(a, b, c, ssr)`` each (P,), ``ssr`` the residual sum of squares over the used columns.
      ``w = 1`` is the exact three-column closed form. The fit is a fixed linear map, precomputed.
    """
    j = np.arange(-half, half + 1, dtype=np.float64)
    used = np.abs(j) <= w
    basis = np.stack([np.ones_like(j), j, j * j + 1.0 / 12.0], axis=1) * used[:, None]
    pinv = np.linalg.pinv(basis)  # (3, J): zero weight on unused columns
    resid_map = (np.eye(j.size) - basis @ pinv) * used[:, None]  # (J, J)
    coef = f @ jnp.asarray(pinv.T, f.dtype)
    resid = f @ jnp.asarray(resid_map.T, f.dtype)
    return coef[:, 0], coef[:, 1], coef[:, 2], jnp.sum(resid * resid, axis=1)


def to_points(
    cand: Candidates,
    a: jax.Array,
    b: jax.Array,
    c: jax.Array,
    a_int: jax.Array,
    b_int: jax.Array,
    ok: jax.Array,
) -> EdgePoints:
    """Frame estimate ``y = a + b x + c x^2`` (offsets from the candidate) -> image `EdgePoints`.

    The point is on the candidate's frame column; the frame normal ``s (-b, 1) / sqrt(1 + b^2)``
    with ``s = sign(B - A)`` points to the brighter side; curvature ``s 2c / (1 + b^2)^{3/2}``.
    """
    valid = cand.valid & ok & jnp.isfinite(a) & jnp.isfinite(b) & jnp.isfinite(c)
    a, b, c = (jnp.where(valid, t, 0.0) for t in (a, b, c))
    s = jnp.where(b_int >= a_int, 1.0, -1.0)
    norm = jnp.sqrt(1.0 + b * b)
    n_across, n_along = s / norm, -s * b / norm  # frame row / frame column components
    row, col = cand.row.astype(a.dtype), cand.col.astype(a.dtype)
    x = jnp.where(cand.is_x, col + a, col)
    y = jnp.where(cand.is_x, row, row + a)
    nx = jnp.where(cand.is_x, n_across, n_along)
    ny = jnp.where(cand.is_x, n_along, n_across)
    curvature = s * 2.0 * c / norm**3
    i0 = jnp.minimum(a_int, b_int)
    i1 = jnp.maximum(a_int, b_int)
    z = lambda t: jnp.where(valid, t, 0.0)
    points = (z(x), z(y), z(nx), z(ny), z(curvature), z(i0), z(i1), valid)
    overflow = cand.count > cand.valid.shape[-1]
    return EdgePoints(*points, num_candidates=cand.count, overflow=overflow)
