"""DICE (Zhou et al., AAAI 2026): distilling classifier-free guidance into a sharpener of the
text embedding, so that one unguided denoiser call per step reproduces CFG (spec: DICE)."""

from jaxrec.vision.dice.distill import LOSSES, dice_loss, make_dice_loss
from jaxrec.vision.dice.sharpener import (
    Sharpener,
    SharpenerConfig,
    scale_embedding,
    sharpen,
    sharpener_param_count,
)

__all__ = [
    "LOSSES",
    "Sharpener",
    "SharpenerConfig",
    "dice_loss",
    "make_dice_loss",
    "scale_embedding",
    "sharpen",
    "sharpener_param_count",
]
