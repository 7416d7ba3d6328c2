"""Losses: pure functions of arrays (they import only jax). See ``_ranking`` and
``_masked_softmax`` for the math."""

from jaxrec.losses._masked_softmax import lm_loss, masked_softmax_loss, masked_softmax_loss_gather
from jaxrec.losses._ranking import bpr_loss, psl_loss, softmax_loss

__all__ = [
    "bpr_loss",
    "lm_loss",
    "masked_softmax_loss",
    "masked_softmax_loss_gather",
    "psl_loss",
    "softmax_loss",
]
