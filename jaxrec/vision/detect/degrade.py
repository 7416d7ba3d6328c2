"""Test-time degradations for the robustness rows (GenImage's degraded-image task; UnivFD /
sidbench flags): JPEG round-trip, resize down and back, Gaussian blur.

Images are NHWC float in [-1, 1]. ``jpeg`` goes through Pillow's encoder (data preparation, not
traced); ``resize`` and ``gaussian_blur`` are pure jnp and jit-able.
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DEGRADATIONS", "degrade", "gaussian_blur", "jpeg", "resize"]


def _check(images) -> None:
    if np.ndim(images) != 4 or np.shape(images)[-1] not in (1, 3):
        raise ValueError(f"expected NHWC images with 1 or 3 channels, got {np.shape(images)}")


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode + decode at ``quality`` (1-95, Pillow's 4:2:0 default) of every image."""
    from PIL import Image

    _check(images)
    if not 1 <= quality <= 100:
        raise ValueError(f"jpeg quality must be in [1, 100], got {quality}")
    u8 = np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    out = np.empty_like(u8)
    for i, img in enumerate(u8):  # Pillow encodes one image at a time
        buf = io.BytesIO()
        Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(
            buf, format="JPEG", quality=quality
        )
        out[i] = np.asarray(Image.open(buf)).reshape(img.shape)
    return out.astype(np.float32) / 127.5 - 1.0


def resize(images: jax.Array, scale: float, method: str = "bilinear") -> jax.Array:
    """Down-scale by ``scale`` (antialiased) and back to the original size with ``method``:
    the resolution is lost, the detector's input size is kept."""
    _check(images)
    if not 0 < scale <= 1:
        raise ValueError(f"resize scale must be in (0, 1], got {scale}")
    b, h, w, c = images.shape
    small = (b, max(1, round(h * scale)), max(1, round(w * scale)), c)
    down = jax.image.resize(images, small, method, antialias=True)
    return jax.image.resize(down, images.shape, method)


def gaussian_blur(images: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian blur, radius ``int(4 sigma + 0.5)``, symmetric edge padding: equal to
    ``scipy.ndimage.gaussian_filter(x, (0, sigma, sigma, 0), mode="reflect")``."""
    _check(images)
    if sigma <= 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    r = int(4.0 * sigma + 0.5)
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k = jnp.asarray(k / k.sum(), jnp.float32)
    x = jnp.pad(images, ((0, 0), (r, r), (r, r), (0, 0)), mode="symmetric")
    n = 2 * r + 1
    x = sum(k[i] * x[:, i : i + images.shape[1]] for i in range(n))
    return sum(k[i] * x[:, :, i : i + images.shape[2]] for i in range(n))


# name -> degradation of an image batch (the robustness rows of the reports)
DEGRADATIONS = {
    "jpeg95": lambda x: jpeg(np.asarray(x), 95),
    "jpeg75": lambda x: jpeg(np.asarray(x), 75),
    "resize0.5": lambda x: np.asarray(resize(jnp.asarray(x), 0.5)),
    "blur1": lambda x: np.asarray(gaussian_blur(jnp.asarray(x), 1.0)),
}


def degrade(images: np.ndarray, name: str) -> np.ndarray:
    """``DEGRADATIONS[name](images)`` (``"none"`` returns them unchanged)."""
    if name == "none":
        return images
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; known: {['none', *DEGRADATIONS]}")
    return DEGRADATIONS[name](images)
