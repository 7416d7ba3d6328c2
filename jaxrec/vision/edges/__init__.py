"""Subpixel edge localisation: CIS, CIS + SER (+ edge complement) and the PAE baseline.

``detect(image, method=...)`` runs pixel-level detection (`pixel.py`) and then one subpixel
estimator, jit-compiled and vmapped over a batch of images, returning fixed-size `EdgePoints`
(``valid`` marks real points; ``EdgePoints.compact()`` gives the numpy version). See README.md.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.vision.edges import _columns as col
from jaxrec.vision.edges._types import POINT_FIELDS, EdgePoints
from jaxrec.vision.edges.cis import cis_fit
from jaxrec.vision.edges.complement import ComplementParams, complement_fit
from jaxrec.vision.edges.pae import pae_fit
from jaxrec.vision.edges.pixel import box3, candidates, edge_masks, noise_sigma
from jaxrec.vision.edges.ser import HALF_COLS, SERParams, ser_fit

__all__ = ["METHODS", "ComplementParams", "EdgePoints", "SERParams", "detect", "slot_bucket"]

_SER_DEFAULT = SERParams()
_COMPLEMENT_DEFAULT = ComplementParams()
METHODS = ("pae", "pae_smooth", "cis", "cis_ser", "cis_ser_complement")


def _threshold(img: jax.Array, threshold: jax.Array, auto: bool) -> jax.Array:
    """The given threshold, or ``max(4 sigma, 0.02 (max - min))`` when ``auto``."""
    if not auto:
        return threshold
    return jnp.maximum(4.0 * noise_sigma(img), 0.02 * (jnp.max(img) - jnp.min(img)))


@functools.partial(jax.jit, static_argnames=("smooth", "auto"))
def _edge_pixel_counts(
    images: jax.Array, threshold: jax.Array, *, smooth: bool, auto: bool
) -> jax.Array:
    """Edge pixels per image (B,) as `candidates` counts them, without gathering any."""

    def one(img):
        work = box3(img) if smooth else img
        y_edge, x_edge = edge_masks(work, _threshold(img, threshold, auto))
        return jnp.sum(y_edge | x_edge, dtype=jnp.int32)

    return jax.vmap(one)(images)


def slot_bucket(count: int, max_points: int) -> int:
    """Static number of candidate slots for ``count`` edge pixels: ``count`` rounded up to a
    quarter octave (``2^(e-2)`` steps for ``2^e <= count``, at least 64), capped at ``max_points``.

    The subpixel stages cost per slot, so a 512 x 512 image with 1,131 edge pixels runs 1,280
    slots instead of the 4,096 of the default ``max_points``; a quarter octave wastes at most
    25 % of the slots while bounding the compiled shapes to four per octave.
    """
    step = max(16, 1 << max(count.bit_length() - 3, 0))
    return min(max_points, max(64, -(-count // step) * step))


def _pad_points(points: EdgePoints, size: int) -> EdgePoints:
    """Pad the point fields (..., n) of `points` with invalid zeros to (..., size)."""
    pad = lambda t: jnp.pad(t, [(0, 0)] * (t.ndim - 1) + [(0, size - t.shape[-1])])
    return dataclasses.replace(points, **{f: pad(getattr(points, f)) for f in POINT_FIELDS})


def _detect_one(
    img: jax.Array,
    threshold: jax.Array,
    *,
    method: str,
    max_points: int,
    half_window: int,
    order: int,
    ser: SERParams,
    comp: ComplementParams,
    auto: bool,
) -> EdgePoints:
    """One image: pixel candidates, then the chosen subpixel estimator (see `detect`)."""
    sigma = noise_sigma(img) if method.startswith("cis_ser") else None
    threshold = _threshold(img, threshold, auto)
    if method.startswith("pae"):
        work = box3(img) if method == "pae_smooth" else img
        cand = candidates(work, threshold, max_points)
        fit = pae_fit(col.profiles(work, cand, 1), cand, order=order, smooth=method == "pae_smooth")
    else:
        cand = candidates(img, threshold, max_points)
        v = col.profiles(img, cand, 1 if method == "cis" else HALF_COLS)
        if method == "cis":
            fit = cis_fit(v, cand, half_window)
        else:  # SER starts from the floating-limit (PAE-window) fit, robust to nearby edges
            fit = ser_fit(v, pae_fit(v, cand, order=2, smooth=False), cand.valid, sigma, ser)
        if method == "cis_ser_complement":
            fit = complement_fit(v, cand, fit, img.shape, comp)
    return col.to_points(cand, fit.a, fit.b, fit.c, fit.above, fit.below, fit.ok)


@functools.partial(
    jax.jit,
    static_argnames=(
        "method",
        "slots",
        "max_points",
        "half_window",
        "order",
        "ser",
        "comp",
        "auto",
    ),
)
def _detect_batch(
    images: jax.Array, threshold: jax.Array, *, slots: int, max_points: int, **kw
) -> EdgePoints:
    """`_detect_one` on ``slots`` candidate slots per image, padded to ``max_points``."""
    points = jax.vmap(lambda im: _detect_one(im, threshold, max_points=slots, **kw))(images)
    # the overflow flag compares with max_points: with fewer slots, every candidate had one
    return _pad_points(points, max_points)


def detect(
    image,
    *,
    method: str = "cis_ser",
    threshold: float | None = None,
    max_points: int = 4096,
    half_window: int = 4,
    order: int = 2,
    ser: SERParams = _SER_DEFAULT,
    complement: ComplementParams = _COMPLEMENT_DEFAULT,
) -> EdgePoints:
    """Subpixel edge points of an image ``(H, W)`` or a batch ``(B, H, W)``.

    Args:
      image: grey levels (any scale; thresholds and noise are in the same units).
      method: one of ``METHODS``.
      threshold: gradient-magnitude threshold (central differences); ``None`` uses
        ``max(4 sigma, 0.02 (max - min))`` with ``sigma`` the robust noise estimate.
      max_points: static size of the padded output per image; edge pixels beyond it (raster
        order) are cut, and the result says so (``overflow``, ``num_candidates``).
      half_window: CIS window half-height ``h`` (rows ``-h..h``) of ``method="cis"``.
      order: PAE order, 1 (line) or 2 (parabola, with curvature).
      ser, complement: parameters of the SER rule and the edge complement.
    Returns:
      `EdgePoints` with point fields of shape ``(max_points,)`` or ``(B, max_points)`` and
      per-image ``num_candidates`` / ``overflow`` of shape ``()`` or ``(B,)``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    try:
        arr = np.asarray(image)
    except jax.errors.TracerArrayConversionError:  # traced under an outer jit: shape checks only
        arr = None
    shape = np.shape(image) if arr is None else arr.shape
    if len(shape) not in (2, 3):
        raise ValueError(f"image must be 2-D (H, W) or a batch (B, H, W), got shape {shape}")
    if arr is not None:
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ValueError(f"image must be real-valued, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("image contains non-finite values (NaN or inf)")
    if min(shape[-2:]) < 8:
        raise ValueError(f"image must be at least 8 x 8 pixels, got shape {shape}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points=}")
    if order not in (1, 2):
        raise ValueError(f"PAE order must be 1 or 2, got {order=}")
    if not 1 <= half_window <= col.K - 2:
        raise ValueError(f"half_window must be in [1, {col.K - 2}], got {half_window=}")
    if threshold is not None and not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0 or None, got {threshold=}")
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    images = jnp.asarray(image, dtype)
    batched = images.ndim == 3
    images = images if batched else images[None]
    thr = jnp.asarray(0.0 if threshold is None else threshold, dtype)
    auto = threshold is None
    slots = max_points
    if arr is not None:  # concrete input: run only as many slots as the busiest image needs
        counts = _edge_pixel_counts(images, thr, smooth=method == "pae_smooth", auto=auto)
        slots = slot_bucket(int(jnp.max(counts)), max_points)
    out = _detect_batch(
        images,
        thr,
        method=method,
        slots=slots,
        max_points=max_points,
        half_window=half_window,
        order=order,
        ser=ser,
        comp=complement,
        auto=auto,
    )
    return out if batched else jax.tree.map(lambda t: t[0], out)
