"""Losses: pure functions of arrays (they import only jax). See ``_ranking`` for the math."""

from jaxrec.losses._ranking import bpr_loss, psl_loss, softmax_loss

__all__ = ["bpr_loss", "psl_loss", "softmax_loss"]
