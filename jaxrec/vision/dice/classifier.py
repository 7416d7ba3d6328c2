"""The digits world's attribute classifier, caption alignment and a Frechet distance.

:class:`AttributeClassifier`: four 3x3 convolutions (32, 32, 64, 64 channels; the second and
third with stride 2) to an ``S/4`` grid, average-pooled per quadrant to ``f [B, 4, 64]``, then per quadrant
a digit head (11 classes: 0-9, empty) and a size head (small, large, empty). Its features for
the Frechet distance are ``f`` flattened (``[B, 256]``).

Alignment of images with the captions that generated them (:func:`alignment`):

- ``position``: the set of occupied quadrants equals the caption's (per image);
- ``digit`` / ``size``: per captioned object, the classifier's digit / size at its quadrant;
- ``exact``: the whole image (occupancy, every digit and size) matches its caption.

Frechet distance (Heusel et al. 2017) between Gaussians fitted to two feature sets:
``|mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})``.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
import optax
import scipy.linalg
from flax import nnx

from jaxrec.models.vision_layers import Conv2d, Linear
from jaxrec.vision.dice.world import EMPTY_DIGIT, EMPTY_SIZE

__all__ = ["AttributeClassifier", "alignment", "classifier_loss", "frechet_distance"]


class AttributeClassifier(nnx.Module):
    """``images [B, S, S, 1] -> {"digit" [B, 4, 11], "size" [B, 4, 3], "features" [B, 256]}``."""

    def __init__(self, *, rngs: nnx.Rngs) -> None:
        self.conv0 = Conv2d(1, 32, 3, rngs=rngs)
        self.conv1 = Conv2d(32, 32, 3, stride=2, rngs=rngs)
        self.conv2 = Conv2d(32, 64, 3, stride=2, rngs=rngs)
        self.conv3 = Conv2d(64, 64, 3, rngs=rngs)
        self.digit = Linear(64, EMPTY_DIGIT + 1, rngs=rngs)
        self.size = Linear(64, EMPTY_SIZE + 1, rngs=rngs)

    def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
        h = jax.nn.relu(self.conv0(images))
        h = jax.nn.relu(self.conv1(h))
        h = jax.nn.relu(self.conv2(h))
        h = jax.nn.relu(self.conv3(h))
        b, s, _, c = h.shape
        f = h.reshape(b, 2, s // 2, 2, s // 2, c).mean(axis=(2, 4)).reshape(b, 4, c)
        return {"digit": self.digit(f), "size": self.size(f), "features": f.reshape(b, 4 * c)}


def classifier_loss(model, batch: Mapping[str, jax.Array], *, key, context, extra):
    """Mean cross-entropy of the digit and size heads over quadrants (a ``LossFn``)."""
    del key, context, extra
    out = model(batch["images"])
    ce_d = optax.softmax_cross_entropy_with_integer_labels(out["digit"], batch["digits"]).mean()
    ce_s = optax.softmax_cross_entropy_with_integer_labels(out["size"], batch["sizes"]).mean()
    return ce_d + ce_s, {"ce_digit": ce_d, "ce_size": ce_s}


def alignment(
    pred_digits: np.ndarray, pred_sizes: np.ndarray, digits: np.ndarray, sizes: np.ndarray
) -> dict[str, float]:
    """Caption alignment of predicted ``[N, 4]`` quadrant labels against the caption's."""
    present = digits != EMPTY_DIGIT
    occupancy = (pred_digits != EMPTY_DIGIT) == present
    digit_ok = pred_digits == digits
    size_ok = pred_sizes == sizes
    exact = np.all(np.where(present, digit_ok & size_ok, occupancy), axis=1)
    n_obj = max(int(present.sum()), 1)
    return {
        "position": float(np.all(occupancy, axis=1).mean()),
        "digit": float((digit_ok & present).sum() / n_obj),
        "size": float((size_ok & present).sum() / n_obj),
        "exact": float(exact.mean()),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of features ``a [N, F]`` and ``b [M, F]``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))
