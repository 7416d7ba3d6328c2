"""A planted real-vs-generated world for offline detection experiments (spec section 7).

Real images: random ``crop x crop`` crops of scikit-image's bundled photographs at half
resolution (2x2 mean-pooled, so no up-sampling trace), training and test photographs disjoint.
Generated images: a ``crop / 2`` crop of the same photographs at quarter resolution up-sampled
x2 by a "generator"'s last layer:

- ``"nearest"``: nearest-neighbour (every 2x2 cell constant: NPR exactly 0);
- ``"tconv"``: a stride-2 ``2x2`` transposed convolution with a random per-image, per-channel
  kernel ``1 + 0.25 N(0, 1)`` normalised to mean 1 (a periodic 2x2 pattern);
- ``"bilinear"``: bilinear interpolation (smooth, no cell structure).

Every image is quantised to 8 bits, as a saved file would be. Detectors train on one generator
and are tested on all (cross-generator generalisation).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

__all__ = ["GENERATORS", "TEST_PHOTOS", "TRAIN_PHOTOS", "DetectWorldConfig", "detect_world",
           "generate"]  # fmt: skip

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
                "camera", "brick", "grass")  # fmt: skip
TEST_PHOTOS = ("chelsea", "coins", "moon", "gravel", "colorwheel")
GENERATORS = ("nearest", "tconv", "bilinear")


@dataclasses.dataclass(frozen=True)
class DetectWorldConfig:
    """Attributes: crop (even), num_train / num_test images per class (and per test generator),
    train_generator, test_generators, world_seed."""

    crop: int = 32
    num_train: int = 2048
    num_test: int = 512
    train_generator: str = "nearest"
    test_generators: tuple[str, ...] = GENERATORS
    world_seed: int = 0

    def __post_init__(self) -> None:
        if self.crop % 4 or self.crop < 8:
            raise ValueError(f"world.crop must be a multiple of 4 and >= 8, got {self.crop}")
        for g in (self.train_generator, *self.test_generators):
            if g not in GENERATORS:
                raise ValueError(f"unknown generator {g!r}; known: {GENERATORS}")


def _pool2(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[-3] // 2 * 2, x.shape[-2] // 2 * 2
    x = x[..., :h, :w, :]
    return x.reshape(*x.shape[:-3], h // 2, 2, w // 2, 2, x.shape[-1]).mean(axis=(-4, -2))


def _photos(names: tuple[str, ...]) -> list[np.ndarray]:
    """Half-resolution float photographs ``[H, W, 3]`` in [-1, 1] (grey replicated)."""
    import skimage.data

    out = []
    for name in names:
        img = getattr(skimage.data, name)().astype(np.float32) / 127.5 - 1.0
        img = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]
        out.append(_pool2(img))
    return out


def _crops(photos: list[np.ndarray], n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    which = rng.integers(len(photos), size=n)
    out = np.empty((n, size, size, 3), np.float32)
    for i, p in enumerate(which):
        h, w = photos[p].shape[:2]
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        out[i] = photos[p][y : y + size, x : x + size]
    return out


def _quantise(x: np.ndarray) -> np.ndarray:
    return (np.rint(np.clip(x, -1, 1) * 127.5 + 127.5) / 127.5 - 1.0).astype(np.float32)


def generate(z: np.ndarray, generator: str, rng: np.random.Generator) -> np.ndarray:
    """``z [N, s, s, 3]`` up-sampled x2 by ``generator`` -> ``[N, 2s, 2s, 3]``."""
    n, s, _, c = z.shape
    if generator == "nearest":
        return z.repeat(2, 1).repeat(2, 2)
    if generator == "bilinear":
        return np.asarray(jax.image.resize(z, (n, 2 * s, 2 * s, c), "bilinear"))
    if generator == "tconv":
        k = 1.0 + 0.25 * rng.standard_normal((n, 1, 2, 1, 2, c)).astype(np.float32)
        k /= k.mean(axis=(2, 4), keepdims=True)
        return (z[:, :, None, :, None] * k).reshape(n, 2 * s, 2 * s, c)
    raise ValueError(f"unknown generator {generator!r}; known: {GENERATORS}")


def _split(photos, n: int, crop: int, generator: str, rng) -> dict[str, np.ndarray]:
    real = _crops(photos, n, crop, rng)
    fake = generate(_pool2(_crops(photos, n, crop, rng)), generator, rng)
    images = _quantise(np.concatenate([real, fake]))
    labels = np.repeat(np.array([0, 1], np.int32), n)
    return {"images": images, "labels": labels}


def detect_world(cfg: DetectWorldConfig) -> dict[str, dict[str, np.ndarray]]:
    """``{"train": {...}, "test/<generator>": {...}}``, each ``{"images" [2n, S, S, 3],
    "labels" [2n]}`` with the ``n`` reals first; test splits use the test photographs."""
    rng = np.random.default_rng(cfg.world_seed)
    train_photos, test_photos = _photos(TRAIN_PHOTOS), _photos(TEST_PHOTOS)
    out = {"train": _split(train_photos, cfg.num_train, cfg.crop, cfg.train_generator, rng)}
    for g in cfg.test_generators:
        out[f"test/{g}"] = _split(test_photos, cfg.num_test, cfg.crop, g, rng)
    return out
