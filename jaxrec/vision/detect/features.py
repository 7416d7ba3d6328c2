"""Imperceptible-feature inputs of generated-image detectors (images ``[B, H, W, C]``).

- NPR (Tan et al., CVPR 2024): ``npr(x) = x - U(D(x))`` with ``D`` nearest-neighbour
  down-sampling x1/2 (the top-left pixel of each 2 x 2 cell) and ``U`` nearest up-sampling x2:
  each pixel minus its cell's anchor. An image that was nearest-up-sampled x2 has
  ``npr(x) == 0`` exactly; a constant shift of ``x`` leaves it unchanged. The authors' network
  reads ``NPR_SCALE * npr(x)``.
- Spectra (FreDect / FreqNet style): the centred log-magnitude 2-D FFT per channel and its
  azimuthal (radial) mean, where up-sampling leaves periodic peaks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["NPR_SCALE", "log_spectrum", "npr", "radial_spectrum"]

NPR_SCALE = 2.0 / 3.0


def _images(x: ArrayLike, name: str = "x") -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must be images [B, H, W, C], got shape {x.shape}")
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def npr(x: ArrayLike) -> jax.Array:
    """``x - U(D(x))`` in float (uint8 input is promoted first), ``[B, H, W, C]``; H, W even."""
    x = _images(x)
    if x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError(f"npr needs even height and width, got images of shape {x.shape}")
    anchor = x[:, ::2, ::2]
    return x - jnp.repeat(jnp.repeat(anchor, 2, axis=1), 2, axis=2)


def log_spectrum(x: ArrayLike, eps: float = 1e-6) -> jax.Array:
    """``log(|FFT2(x)| + eps)`` per channel, zero frequency at ``(H // 2, W // 2)``."""
    f = jnp.fft.fft2(_images(x), axes=(1, 2))
    return jnp.log(jnp.abs(jnp.fft.fftshift(f, axes=(1, 2))) + eps)


def radial_spectrum(x: ArrayLike, bins: int, eps: float = 1e-6) -> jax.Array:
    """Azimuthal mean of the channel-mean image's centred log power ``[B, bins]``.

    Bin ``k`` holds the frequencies with radius ``r`` (in cycles per image, from the centre) in
    ``[k R / bins, (k + 1) R / bins)``, ``R = max radius + 1e-9``; the mean is a one-hot
    matrix product (static shapes, jit-friendly). Empty bins are 0.
    """
    x = _images(x)
    h, w = x.shape[1:3]
    power = 2 * log_spectrum(x.mean(-1, keepdims=True), eps)[..., 0].reshape(x.shape[0], -1)
    yy, xx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    radius = np.hypot(yy, xx).ravel()
    index = np.minimum((radius / (radius.max() + 1e-9) * bins).astype(int), bins - 1)
    onehot = np.eye(bins, dtype=np.float32)[index]  # [H W, bins]
    counts = np.maximum(onehot.sum(0), 1)
    return power @ jnp.asarray(onehot / counts)
