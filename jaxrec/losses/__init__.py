"""Losses: pure functions of arrays (they import only jax). See ``_ranking`` and
``_masked_softmax`` for the math."""

from jaxrec.losses._masked_softmax import lm_loss, masked_softmax_loss, masked_softmax_loss_gather
from jaxrec.losses._ranking import bpr_loss, psl_loss, softmax_loss
from jaxrec.losses._tbc import classification_ce, tbc_loss, tbcnet_objective

__all__ = [
    "bpr_loss",
    "lm_loss",
    "masked_softmax_loss",
    "masked_softmax_loss_gather",
    "psl_loss",
    "softmax_loss",
    "classification_ce",
    "tbc_loss",
    "tbcnet_objective",
]
