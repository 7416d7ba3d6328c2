"""Shared pieces of the DICE tests."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from flax import nnx

from jaxrec.models.vision_layers import Conv2d, Linear, attention


class StandInDenoiser(nnx.Module):
    """``eps = conv(x_feat + attn(x_feat, context)) * (1 + t / 1000)``, ``x_feat = conv(x)``."""

    def __init__(self, *, rngs: nnx.Rngs) -> None:
        self.conv_in = Conv2d(1, 8, 3, rngs=rngs)
        self.to_q = Linear(8, 8, bias=False, rngs=rngs)
        self.to_k = Linear(16, 8, bias=False, rngs=rngs)
        self.to_v = Linear(16, 8, bias=False, rngs=rngs)
        self.conv_out = Conv2d(8, 1, 3, rngs=rngs)

    def __call__(self, x, t, context):
        b, h, w, _ = x.shape
        f = self.conv_in(x).reshape(b, h * w, 8)
        f = f + attention(self.to_q(f), self.to_k(context), self.to_v(context), 2)
        scale = 1.0 + t.astype(jnp.float32)[:, None, None, None] / 1000.0
        return self.conv_out(f.reshape(b, h, w, 8)) * scale


@pytest.fixture(scope="session")
def stand_in_denoiser():
    """A one-block frozen denoiser for DICE step tests: it compiles in seconds where the UNet
    takes tens (the suite's time budget); the UNet's own steps are tested in tests/diffusion/."""
    return StandInDenoiser
