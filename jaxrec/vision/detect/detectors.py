"""CNN detectors on an input transform: NPR (Tan et al. CVPR'24), raw pixels (CNNSpot-style
baseline, Wang et al. CVPR'20) and the centred log spectrum (FreDect-style frequency baseline,
Frank et al. ICML'20), each into the same :class:`~jaxrec.models.resnet.ResNet`.

``CNNDetector(cfg, input_kind)(images [B, H, W, 3] in [-1, 1], train=False) -> logits [B]``
(logit > 0: fake). ``input_kind``:

- ``"npr"``: ``(2/3) (x - U(D(x)))``, the authors' ``NPR * 2/3`` (H, W even);
- ``"pixels"``: ``x``;
- ``"spectrum"``: ``log(|FFT2 x| + 1e-6)`` per channel, standardised by a fixed
  ``(s - SPECTRUM_MEAN) / SPECTRUM_STD`` so its scale is comparable to the others.

:func:`bce_loss` is the binary cross-entropy on ``{"images", "labels"}`` (1 = fake), a
:class:`jaxrec.train.LossFn` that also reports the batch accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxrec.models.resnet import ResNet, ResNetConfig
from jaxrec.vision.detect.features import NPR_SCALE, log_spectrum, npr

__all__ = ["INPUT_KINDS", "CNNDetector", "bce_loss", "detector_input"]

INPUT_KINDS = ("npr", "pixels", "spectrum")
SPECTRUM_MEAN, SPECTRUM_STD = 0.0, 3.0


def _check_kind(kind: str) -> None:
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown detector input {kind!r}; expected one of {INPUT_KINDS}")


def detector_input(images: jax.Array, kind: str) -> jax.Array:
    """The transform a detector of ``kind`` applies to ``images [B, H, W, C]``."""
    _check_kind(kind)
    if kind == "npr":
        return NPR_SCALE * npr(images)
    if kind == "pixels":
        return images
    return (log_spectrum(images) - SPECTRUM_MEAN) / SPECTRUM_STD


class CNNDetector(nnx.Module):
    """A ResNet (one output) on :func:`detector_input` of the images."""

    def __init__(self, cfg: ResNetConfig, input_kind: str = "npr", *, rngs: nnx.Rngs):
        _check_kind(input_kind)
        if cfg.num_outputs != 1:
            raise ValueError(f"a detector's ResNet has one output, got {cfg.num_outputs=}")
        self.input_kind = input_kind
        self.backbone = ResNet(cfg, rngs=rngs)

    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        return self.backbone(detector_input(images, self.input_kind), train=train)[:, 0]


def bce_loss(model, batch: Mapping[str, jax.Array], *, key, context, extra):
    """Mean ``BCE(sigmoid(logit), label)`` with batch statistics (``train=True``)."""
    del key, context, extra
    logits = model(batch["images"], train=True)
    labels = batch["labels"].astype(jnp.float32)
    loss = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
    acc = ((logits > 0) == (labels > 0.5)).mean()
    return loss, {"acc": acc}
