"""SER: a stable-edge-region rule for CIS (jaxrec's design; the paper's rule is unpublished).

CIS with window n has position noise ``sigma sqrt(n) / |A - B|`` plus the plateau error amplified
by about ``n / 2``. SER therefore makes each of the three ingredients of CIS as small or as well
estimated as the geometry allows, starting from a pilot fit (``a, b, c`` in frame offsets; jaxrec
uses CIS with PAE's floating limits, which stop at the gradient minimum before a nearby edge):

1. **Across the edge — minimal window.** Column ``j`` of the pilot curve ``f(j) = a + b j + c j^2``
   has transition rows inside ``f(j) -+ (e_j + 1/2 + margin)``, ``e_j = |f'(j)| / 2 + |c| / 4``
   (vertical extent of the edge within the strip); the window is exactly those rows, widened by
   ``blur_rows`` on each side (step 2). For a sharp edge this is 1-3 pixels instead of 2h + 1.
2. **Plateaus — robust, many pixels.** Beyond each window end the rows ``d = 1..D``
   (``D = max_blur_rows + plateau_rows``) of the ``2 plateau_cols + 1`` central columns are read.
   The level is the median of the row means beyond ``max_blur_rows`` unless it differs from the
   median of the nearest ``plateau_rows`` row means by more than
   ``1.5 sigma + clip_frac |A - B| + 0.5`` (another edge lies beyond: the near median is used).
   Leading rows whose mean still leans towards the other side by more than
   ``max(blur_k sigma / sqrt(cols), blur_floor |A - B|)`` — or, since one point's tail drowns in
   noise, the image-wide mean tail (rows above ``global_tail_max`` ignored) when it exceeds both
   ``global_blur_floor`` and three standard errors — are blur tail (``blur_rows`` <=
   ``max_blur_rows``, never past a row where the deviation grows again) and join the window. The
   next ``plateau_rows`` rows give the plateau as the mean of pixels within
   ``clip_k sigma + clip_frac |A - B| + 0.5`` of the level (pixels of a nearby edge are cut; the
   contrast term tolerates texture, the 0.5 grey-level quantisation).
3. **Along the edge — stable extent.** Strip means ``F_j`` for ``j = -5..5`` are fitted by the
   quadratic ``a + b j + c (j^2 + 1/12)`` over ``|j| <= w``; the widest ``w <= max_half_cols``
   whose residual is consistent with noise (``ssr / (2w - 2) <= (res_k sigma_F)^2 + res_floor^2``,
   ``sigma_F = sigma sqrt(n) / |A - B|``) is kept, so straight stretches average 11 columns while
   corners, small circles and neighbouring edges fall back to the exact 3-column CIS.

Steps 1-3 are iterated ``iters`` times from the refined curve. A point is *rejected* when the
plateau contrast is below ``contrast_k sigma``, fewer than ``min_kept`` of either side's plateau
pixels survive the clipping (another edge sits there), or the point leaves its pixel (``|a| > 1``);
rejected points are left to `complement.py`. ``sigma`` is the image's robust noise estimate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec.vision.edges import _columns as col
from jaxrec.vision.edges.cis import ColumnFit

HALF_COLS = 5  # SER reads frame columns -5..5


class SERParams(NamedTuple):
    """Parameters of the stable-edge-region rule (module docstring); hashable, pass as static."""

    margin: float = 0.3
    plateau_rows: int = 3
    plateau_cols: int = 2
    max_blur_rows: int = 3
    blur_k: float = 3.0
    blur_floor: float = 0.0005
    global_blur_floor: float = 0.01
    global_tail_max: float = 0.15
    clip_k: float = 2.5
    clip_frac: float = 0.05
    min_kept: float = 0.5
    max_half_cols: int = 5
    res_k: float = 2.0
    res_floor: float = 0.003
    contrast_k: float = 3.0
    iters: int = 2


def window_core(
    a: jax.Array, b: jax.Array, c: jax.Array, cols: jax.Array, margin: float
) -> tuple[jax.Array, jax.Array]:
    """Rows ``[lo, hi]`` (P, J) that may hold the transition of a sharp edge ``a + b j + c j^2``."""
    j = cols[None, :].astype(a.dtype)
    f = a[:, None] + b[:, None] * j + c[:, None] * j * j
    ext = jnp.abs(b[:, None] + 2.0 * c[:, None] * j) / 2.0 + jnp.abs(c[:, None]) / 4.0
    lo = jnp.floor(f - ext - 0.5 - margin).astype(jnp.int32) + 1
    hi = jnp.ceil(f + ext + 0.5 + margin).astype(jnp.int32) - 1
    return lo, hi


def _median(x: jax.Array) -> jax.Array:
    """Lower median over the last axis by ranking (no sort: faster for the few values here)."""
    xi, xj = x[..., :, None], x[..., None, :]
    n = x.shape[-1]
    tie = (jnp.arange(n)[:, None] > jnp.arange(n)[None, :])[None]  # x is (P, n)
    rank = jnp.sum((xj < xi) | ((xj == xi) & tie), axis=-1)
    return jnp.sum(jnp.where(rank == (n - 1) // 2, x, 0.0), axis=-1)


def _levels(
    v: jax.Array, end: jax.Array, step: int, sigma: jax.Array, contrast: jax.Array, p: SERParams
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Rows beyond window ends ``end`` (P, J) in direction ``step``: values, level, deviations.

    Returns ``vals`` (P, cols, D), the robust ``level`` (P,), the row-mean deviation towards the
    other side ``dev`` (P, max_blur_rows) and the clip half-width (P,).
    """
    depth = p.max_blur_rows + p.plateau_rows
    d = jnp.arange(1, depth + 1)[None, None, :]
    sl = slice(HALF_COLS - p.plateau_cols, HALF_COLS + p.plateau_cols + 1)
    vals = col.take_rows(v[:, sl], end[:, sl, None] + step * d)  # (P, cols, D)
    clip = p.clip_k * sigma + p.clip_frac * jnp.abs(contrast) + 0.5
    row_means = jnp.mean(vals, axis=1)  # (P, D)
    near = _median(row_means[:, : p.plateau_rows])  # least likely on another edge
    far = _median(row_means[:, p.max_blur_rows :])  # beyond any blur tail
    agree = 1.5 * sigma + p.clip_frac * jnp.abs(contrast) + 0.5  # ~3 std of a median difference
    level = jnp.where(jnp.abs(far - near) <= agree, far, near)
    towards = jnp.sign(contrast) * step  # +1 when the other side is brighter: tails are positive
    dev = (row_means[:, : p.max_blur_rows] - level[:, None]) * towards[:, None]
    return vals, level, dev, clip


def _blur_rows(
    dev: jax.Array,
    sigma: jax.Array,
    contrast: jax.Array,
    ncols: int,
    global_frac: jax.Array,
    global_floor: jax.Array,
    p: SERParams,
) -> jax.Array:
    """Tail rows that join the window: the point's own significant tail or the image-wide one
    (``global_frac``: mean over points of the tail fraction, ignoring values beyond
    ``global_tail_max`` that come from another edge; it must exceed ``global_floor``), cut where
    the deviation grows again."""
    noise = jnp.broadcast_to(p.blur_k * sigma / ncols**0.5, contrast.shape)
    tau = jnp.maximum(noise, p.blur_floor * jnp.abs(contrast))
    prev = jnp.concatenate([jnp.full_like(dev[:, :1], jnp.inf), dev[:, :-1]], axis=1)
    mono = col.leading_true(dev <= prev + noise[:, None])
    own = col.leading_true(dev > tau[:, None])
    image = col.leading_true(global_frac > global_floor)
    return jnp.minimum(jnp.maximum(own, image), mono)


def _plateau(
    vals: jax.Array, level: jax.Array, clip: jax.Array, blur_rows: jax.Array, p: SERParams
) -> tuple[jax.Array, jax.Array]:
    """Clipped mean of the ``plateau_rows`` rows after the tail, and the kept fraction."""
    d = jnp.arange(1, vals.shape[2] + 1)[None, None, :]
    first = blur_rows[:, None, None] + 1
    in_rows = (d >= first) & (d < first + p.plateau_rows)
    keep = in_rows & (jnp.abs(vals - level[:, None, None]) <= clip[:, None, None])
    n_keep = jnp.sum(keep, axis=(1, 2))
    mean = jnp.sum(jnp.where(keep, vals, 0.0), axis=(1, 2)) / jnp.maximum(n_keep, 1)
    frac = n_keep / (vals.shape[1] * p.plateau_rows)
    return jnp.where(n_keep > 0, mean, level), frac


def ser_fit(
    v: jax.Array, pilot: ColumnFit, valid: jax.Array, sigma: jax.Array, p: SERParams
) -> ColumnFit:
    """Refine a pilot fit with the SER rule; ``v`` has 2 HALF_COLS + 1 columns, ``valid`` (P,)
    marks real candidates (they alone enter the image-wide blur estimate)."""
    if v.shape[1] != 2 * HALF_COLS + 1:
        raise ValueError(f"SER needs {2 * HALF_COLS + 1} profile columns, got {v.shape[1]}")
    if not 1 <= p.max_half_cols <= HALF_COLS:
        raise ValueError(f"max_half_cols must be in [1, {HALF_COLS}], got {p.max_half_cols}")
    cols = jnp.arange(-HALF_COLS, HALF_COLS + 1)
    if not 0 <= p.plateau_cols <= HALF_COLS:
        raise ValueError(f"plateau_cols must be in [0, {HALF_COLS}], got {p.plateau_cols}")
    a, b, c, above, below = pilot.a, pilot.b, pilot.c, pilot.above, pilot.below
    for _ in range(p.iters):
        lo, hi = window_core(a, b, c, cols, p.margin)
        contrast = above - below
        vals_a, lev_a, dev_a, clip_a = _levels(v, lo - 1, -1, sigma, contrast, p)
        vals_b, lev_b, dev_b, clip_b = _levels(v, hi + 1, 1, sigma, contrast, p)
        base = valid & pilot.ok & (contrast != 0)
        use = base[:, None]
        scale = jnp.abs(jnp.where(contrast == 0, 1.0, contrast))[:, None]
        tail = (dev_a + dev_b) / (2.0 * scale)
        use = use & (jnp.abs(tail) <= p.global_tail_max)  # drop rows that reach another edge
        n_use = jnp.maximum(jnp.sum(use, axis=0), 1)
        global_frac = jnp.sum(jnp.where(use, tail, 0.0), axis=0) / n_use
        ncols = 2 * p.plateau_cols + 1
        # the image-wide tail must beat its own sampling noise (3 standard errors) and the floor
        n_base = jnp.maximum(jnp.sum(base), 1)
        typical = jnp.sum(jnp.where(base[:, None], scale, 0.0)) / n_base
        std_err = sigma / (2 * ncols) ** 0.5 / typical / n_use**0.5
        global_floor = jnp.maximum(p.global_blur_floor, 3.0 * std_err)
        blur_a = _blur_rows(dev_a, sigma, contrast, ncols, global_frac, global_floor, p)
        blur_b = _blur_rows(dev_b, sigma, contrast, ncols, global_frac, global_floor, p)
        above, frac_a = _plateau(vals_a, lev_a, clip_a, blur_a, p)
        below, frac_b = _plateau(vals_b, lev_b, clip_b, blur_b, p)
        m1 = lo - blur_a[:, None]
        m2 = hi + blur_b[:, None]
        inside = (m1 > -col.K) & (m2 < col.K)
        f = col.strip_means(col.column_sums(v, m1, m2), m1, m2, above, below)
        d, _ = col.safe_contrast(above, below)
        n = jnp.mean((m2 - m1 + 1)[:, HALF_COLS - 1 : HALF_COLS + 2], axis=1)
        tol = (p.res_k * sigma * jnp.sqrt(n) / jnp.abs(d)) ** 2 + p.res_floor**2
        best = None
        for w in range(1, p.max_half_cols + 1):
            fit = col.fit_columns(f, HALF_COLS, w)
            if best is None:  # three columns: always acceptable
                best = fit[:3]
                continue
            used = jnp.all(inside[:, HALF_COLS - w : HALF_COLS + w + 1], axis=1)
            good = used & (fit[3] <= tol * (2 * w - 2))
            best = tuple(jnp.where(good, new, old) for new, old in zip(fit[:3], best))
        a, b, c = best
    ok = (
        pilot.ok
        & (jnp.abs(above - below) > p.contrast_k * sigma)
        & (frac_a >= p.min_kept)
        & (frac_b >= p.min_kept)
        & (jnp.abs(a) <= 1.0)
        & (jnp.abs(b) <= 1.5)
    )
    return ColumnFit(a, b, c, above, below, ok)
